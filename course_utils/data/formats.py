"""The files the course reads: MNIST's IDX files and the CIFAR-10 array subset, served as datasets.

Files that exist but cannot be used raise :class:`DataFileError` naming the file and
what to do; they are never a reason to fall back to another source.
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

SUBSET_FILE = "cifar10_subset.npz"
IDX_TYPES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}  # type code -> bytes per value


class DataFileError(ValueError):
    """A local data file exists but cannot be used."""


class ArrayImageDataset(Dataset):
    """Images held in a uint8 array, served as PIL images like torchvision's datasets."""

    def __init__(self, data: np.ndarray, targets: Sequence[int], classes: Sequence[str], *,
                 source: str, transform: Callable | None = None,
                 target_transform: Callable | None = None) -> None:
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
        return (f"ArrayImageDataset(source={self.source!r}, samples={len(self)}, "
                f"image={tuple(self.data.shape[1:])}, classes={len(self.classes)})")


def load_cifar10_subset(path: str | os.PathLike, *, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read the CIFAR-10 array subset; raise ``DataFileError`` naming the file when it is unusable."""
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
        raise DataFileError(f"{path}: x_{split} must be uint8 of shape (N, 32, 32, 3), "
                            f"got {x.dtype} {x.shape}")
    if len(y) != len(x) or (len(y) and (y.min() < 0 or y.max() > 9)):
        raise DataFileError(f"{path}: y_{split} must hold {len(x)} labels in 0..9")
    return x, y.astype(np.int64), [str(c) for c in classes]


def check_idx_file(path: str | os.PathLike) -> tuple[int, ...]:
    """The shape an IDX file (MNIST's format) declares, after checking the file holds all of it.

    Raises ``DataFileError`` naming the file when its header is not IDX or its size
    does not match the header (a truncated download, say).
    """
    path = Path(path)
    fix = "delete it so that it is downloaded again, or replace it with a good copy"
    with open(path, "rb") as f:
        head = f.read(4)
        if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in IDX_TYPES or not 1 <= head[3] <= 4:
            raise DataFileError(f"{path}: not an IDX file (its first bytes are {head!r}); {fix}")
        dims_raw = f.read(4 * head[3])
    if len(dims_raw) < 4 * head[3]:
        raise DataFileError(f"{path}: truncated IDX header; {fix}")
    shape = tuple(int.from_bytes(dims_raw[i:i + 4], "big") for i in range(0, len(dims_raw), 4))
    expected = 4 + len(dims_raw) + int(np.prod(shape)) * IDX_TYPES[head[2]]
    size = path.stat().st_size
    if size != expected:
        raise DataFileError(f"{path}: truncated or corrupt IDX file: its header promises {expected:,} "
                            f"bytes for shape {shape}, the file has {size:,}; {fix}")
    return shape
