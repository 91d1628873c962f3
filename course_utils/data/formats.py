"""The files the course reads: MNIST's IDX files and the CIFAR-10 array subset, served as datasets.

Files that exist but cannot be used raise :class:`DataFileError` naming the file and
what to do; they are never a reason to fall back to another source.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

SUBSET_FILE = "cifar10_subset.npz"
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}  # by type code
IDX_TYPES = {code: np.dtype(dtype).itemsize for code, dtype in IDX_DTYPES.items()}  # bytes per value
IDX_FIX = "delete it so that it is downloaded again, or replace it with a good copy"


class DataFileError(ValueError):
    """A local data file exists but cannot be used."""


class ArrayImageDataset(Dataset):
    """Images held in a uint8 array, served as PIL images like torchvision's datasets."""

    def __init__(
        self,
        data: np.ndarray,
        targets: Sequence[int],
        classes: Sequence[str],
        *,
        source: str,
        transform: Callable | None = None,
        target_transform: Callable | None = None,
    ) -> None:
        self.data = np.ascontiguousarray(data, dtype=np.uint8)
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.source = source
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        img = Image.fromarray(self.data[index])  # uint8: (H, W) is "L", (H, W, 3) is "RGB"
        target: Any = self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self) -> str:
        return (
            f"ArrayImageDataset(source={self.source!r}, samples={len(self)}, "
            f"image={tuple(self.data.shape[1:])}, classes={len(self.classes)})"
        )


def check_labels(labels: np.ndarray, n_classes: int, *, where: str, training: bool) -> np.ndarray:
    """``labels`` as int64, after checking that they can be trained on: ``DataFileError`` naming
    ``where`` unless they are whole numbers in ``0..n_classes - 1`` and, for a training split,
    at least two different ones (one class alone trains to 100 % and learns nothing)."""
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataFileError(
            f"{where}: labels must be one whole number per image, got {labels.dtype} of shape {labels.shape}"
        )
    bad = np.flatnonzero((labels < 0) | (labels >= n_classes))
    if bad.size:
        raise DataFileError(
            f"{where}: {bad.size:,} label(s) outside 0..{n_classes - 1} for {n_classes} classes (the "
            f"first: {labels[bad[0]]} at index {bad[0]}); replace the file with a good copy"
        )
    if training and len(np.unique(labels)) < 2:
        held = f"every label is {labels[0]}" if len(labels) else "it holds no labels"
        raise DataFileError(
            f"{where}: {held}; training needs images of at least two classes, or it learns nothing"
        )
    return labels.astype(np.int64)


def load_cifar10_subset(path: str | os.PathLike, *, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read the CIFAR-10 array subset; raise ``DataFileError`` naming the file when it is unusable.

    Checked before any training step: the arrays are there, the images are uint8
    ``(N, 32, 32, 3)``, ``classes`` names at least two classes, there is one label per image,
    and the labels fit the classes (:func:`check_labels`).
    """
    path = Path(path)
    split = "train" if train else "test"
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {f"x_{split}", f"y_{split}", "classes"} - set(npz.files)
            if missing:
                raise DataFileError(f"{path}: missing arrays {sorted(missing)}; found {sorted(npz.files)}")
            x, y, classes = npz[f"x_{split}"], npz[f"y_{split}"], npz["classes"]
    except DataFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as err:
        raise DataFileError(f"{path}: not a readable .npz file (truncated or corrupt?): {err}") from err
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3):
        raise DataFileError(
            f"{path}: x_{split} must be uint8 of shape (N, 32, 32, 3), got {x.dtype} {x.shape}"
        )
    if classes.ndim != 1 or len(classes) < 2:
        raise DataFileError(f"{path}: classes must list at least two class names, got {classes.tolist()!r}")
    if len(y) != len(x):
        raise DataFileError(
            f"{path}: x_{split} holds {len(x):,} images but y_{split} {len(y):,} labels; "
            "there must be one label per image: replace the file with a good copy"
        )
    labels = check_labels(y, len(classes), where=f"{path}: y_{split}", training=train)
    return x, labels, [str(c) for c in classes]


def check_idx_file(path: str | os.PathLike) -> tuple[int, ...]:
    """The shape an IDX file (MNIST's format) declares, after checking the file holds all of it.

    Raises ``DataFileError`` naming the file when its header is not IDX or its size
    does not match the header (a truncated download, say).
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_TYPES or not 1 <= head[3] <= 4:
            raise DataFileError(f"{path}: not an IDX file (its first bytes are {head!r}); {IDX_FIX}")
        dims_raw = f.read(4 * head[3])
    if len(dims_raw) < 4 * head[3]:
        raise DataFileError(f"{path}: truncated IDX header; {IDX_FIX}")
    shape = tuple(int.from_bytes(dims_raw[i : i + 4], "big") for i in range(0, len(dims_raw), 4))
    expected = 4 + len(dims_raw) + int(np.prod(shape)) * IDX_TYPES[head[2]]
    size = path.stat().st_size
    if size != expected:
        raise DataFileError(
            f"{path}: truncated or corrupt IDX file: its header promises {expected:,} "
            f"bytes for shape {shape}, the file has {size:,}; {IDX_FIX}"
        )
    return shape


def check_idx_pair(
    images: str | os.PathLike, labels: str | os.PathLike, *, n_classes: int, training: bool
) -> int:
    """Check an IDX image file and its label file as one split; the number of images.

    Beyond :func:`check_idx_file` for each: images are ``(N, rows, columns)``, labels
    ``(N,)`` with the same N (a ``DataFileError`` naming both files otherwise), and the
    labels pass :func:`check_labels`.
    """
    image_shape, label_shape = check_idx_file(images), check_idx_file(labels)
    if len(image_shape) != 3:
        raise DataFileError(f"{images}: IDX images must be (N, rows, columns), got {image_shape}; {IDX_FIX}")
    if len(label_shape) != 1:
        raise DataFileError(f"{labels}: IDX labels must be (N,), got {label_shape}; {IDX_FIX}")
    if image_shape[0] != label_shape[0]:
        raise DataFileError(
            f"{images} holds {image_shape[0]:,} images but {labels} holds {label_shape[0]:,} labels; "
            "the two must come from one download: replace both with a good copy"
        )
    with open(labels, "rb") as f:
        head = f.read(8)
        values = np.frombuffer(f.read(), dtype=np.dtype(IDX_DTYPES[head[2]]))
    check_labels(values, n_classes, where=str(labels), training=training)
    return image_shape[0]
