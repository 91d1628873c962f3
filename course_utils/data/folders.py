"""Image folders (``root/<class name>/<image>``): export a dataset to one, check one, stream one."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from .formats import DataFileError
from .subsets import classes_of, raw_view, targets_of

if TYPE_CHECKING:  # for annotations only; torchvision is imported when first needed
    from torchvision.datasets import ImageFolder

EXPORT_MARKER = ".course_image_folder"
EXPORT_HEADER = "written by course_utils.data.export_image_folder; files:"
LEGACY_EXPORT_FILE = re.compile(r"[^/]+/\d{6}\.png")  # before the marker listed its files
IGNORED_FOLDER_FILES = ("thumbs.db", "desktop.ini")  # operating-system metadata, never images
MAX_REPORTED_FILES = 20


# ------------------------------------------------------------------ export
def folder_name(name: Any, label: int) -> str:
    """Class ``name`` as one folder name; ValueError when it would leave its folder or is empty."""
    text = str(name)
    separators = {"/", "\\", os.sep, os.altsep} - {None}
    if text in ("", ".", "..") or "\0" in text or any(s in text for s in separators):
        raise ValueError(
            f"class {label} is named {text!r}, which cannot be a folder name (it must be one path "
            "component: not empty, not '.' or '..', without '/' or '\\'); rename it in "
            f"dataset.classes (e.g. classes[{label}] = 'class_{label}') before exporting"
        )
    return text


def _exported_files(out_dir: Path) -> set[str]:
    """The files (relative, '/'-separated) an earlier export listed in its marker."""
    lines = (out_dir / EXPORT_MARKER).read_text().splitlines()
    if lines[:1] == [EXPORT_HEADER]:
        return set(lines[1:])
    every = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()}
    return {f for f in every if LEGACY_EXPORT_FILE.fullmatch(f)}


def _prepare_folder(out_dir: Path, overwrite: bool) -> None:
    """Empty ``out_dir`` of an earlier export's files; refuse when anything else is there."""
    if not out_dir.exists() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(
            f"{out_dir} is not empty; pass overwrite=True to replace an earlier "
            "export there, or choose an empty folder"
        )
    if not (out_dir / EXPORT_MARKER).is_file():
        raise FileExistsError(
            f"{out_dir} was not written by export_image_folder (no "
            f"{EXPORT_MARKER} file); refusing to delete it even with overwrite=True"
        )
    ours = _exported_files(out_dir) | {EXPORT_MARKER}
    present = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if not p.is_dir()}
    foreign = sorted(present - ours)
    if foreign:
        shown = ", ".join(foreign[:MAX_REPORTED_FILES]) + (
            " ..." if len(foreign) > MAX_REPORTED_FILES else ""
        )
        raise FileExistsError(
            f"{out_dir} holds {len(foreign)} file(s) the export did not write ({shown}); "
            "overwrite=True only replaces an export's own files. Move them out, or choose another folder"
        )
    for rel in sorted(present):
        (out_dir / rel).unlink()
    for folder in sorted((p for p in out_dir.rglob("*") if p.is_dir()), reverse=True):
        folder.rmdir()  # empty now: only the export's files were there


def export_image_folder(
    dataset: Dataset, out_dir: str | os.PathLike, *, per_class: int, overwrite: bool = False
) -> Path:
    """Write ``per_class`` PNG images of each class into ``out_dir/<class name>/``.

    The layout is what ``torchvision.datasets.ImageFolder`` reads. A non-empty folder
    is refused unless ``overwrite=True`` and it holds only an earlier export's files
    (listed in its ``.course_image_folder`` file): those are deleted first, so old and
    new files never mix, and nothing else is ever deleted. Class names must each be
    one folder name.
    """
    out_dir = Path(out_dir)
    targets = targets_of(dataset)
    classes = list(classes_of(dataset) or [str(c) for c in np.unique(targets)])
    folders = [folder_name(name, label) for label, name in enumerate(classes)]
    _prepare_folder(out_dir, overwrite)
    out_dir.mkdir(parents=True, exist_ok=True)
    raw, written = raw_view(dataset), []
    for label, name in enumerate(folders):
        (out_dir / name).mkdir(exist_ok=True)
        for index in np.flatnonzero(targets == label)[:per_class]:
            img = raw[int(index)][0]
            if not isinstance(img, Image.Image):
                raise TypeError(
                    f"export_image_folder needs items that are PIL images, got {type(img).__name__}"
                )
            img.save(out_dir / name / f"{int(index):06d}.png")
            written.append(f"{name}/{int(index):06d}.png")
    (out_dir / EXPORT_MARKER).write_text("\n".join([EXPORT_HEADER, *written]) + "\n")
    return out_dir


# ----------------------------------------------------------------- reading
def _is_image_name(name: str) -> bool:
    """True when ImageFolder would load a file of this name (its extension test)."""
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return name.lower().endswith(IMG_EXTENSIONS)


def image_files(root: str | os.PathLike) -> tuple[list[str], list[tuple[str, int]]]:
    """Classes and ``(path, label)`` pairs of an ImageFolder-style tree, sorted."""
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [
        (str(f), label)
        for label, name in enumerate(classes)
        for f in sorted((root / name).iterdir())
        if _is_image_name(f.name)
    ]
    return classes, files


class FileStreamDataset(IterableDataset):
    """Streams ``(image, label)`` from an image folder; each worker reads its own share.

    With ``num_workers > 1`` every worker takes every ``num_workers``-th file
    (``get_worker_info``), so no item is lost and none is repeated.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None) -> None:
        self.classes, self.files = image_files(root)
        self.targets = [label for _, label in self.files]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __iter__(self) -> Iterator[tuple[Any, int]]:
        info = get_worker_info()
        start, step = (0, 1) if info is None else (info.id, info.num_workers)
        for path, label in self.files[start::step]:
            with Image.open(path) as img:
                img = img.convert("RGB")
            yield (self.transform(img) if self.transform else img), label


# -------------------------------------------------------------- validation
def _class_folder_files(root: Path) -> list[Path]:
    """The files to check: all files under each class folder, sub-folders included.

    Left out: hidden files (``.DS_Store``) and ``Thumbs.db`` / ``desktop.ini``,
    unless their names end in an image extension (then ImageFolder loads them).
    """
    from torchvision.datasets.folder import find_classes

    classes, _ = find_classes(str(root))
    files: list[Path] = []
    for name in classes:
        for folder, _, names in sorted(os.walk(root / name, followlinks=True)):
            files += [
                Path(folder) / f
                for f in sorted(names)
                if _is_image_name(f) or not (f.startswith(".") or f.lower() in IGNORED_FOLDER_FILES)
            ]
    return files


def image_file_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` does not belong in a class folder, or None for a readable image.

    The file must have an extension ImageFolder reads, pass PIL's ``verify()``
    (structure, checksums) and decode with ``load()`` (the pixels, as training will).
    """
    from torchvision.datasets.folder import IMG_EXTENSIONS

    path = Path(path)
    if not _is_image_name(path.name):
        return (
            f"not an image file (extension {path.suffix or 'none'!r}); only images "
            f"({', '.join(IMG_EXTENSIONS)}) belong in class folders, and ImageFolder "
            "would skip this one silently: move it out of the class folder"
        )
    try:
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            img.load()
    except Image.UnidentifiedImageError:
        return (
            f"not an image, although its name ends in {path.suffix!r}: PIL cannot identify "
            "it (a text or other file renamed, or an unsupported format?)"
        )
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, ... on bad bytes
        return f"corrupt or truncated image: {type(err).__name__}: {err}"
    return None


def check_image_folder(root: str | os.PathLike) -> int:
    """Open every file in the class folders of ``root``; the number of images checked.

    Raises ``DataFileError`` listing each unusable file with its cause (see
    :func:`image_file_problem`); hidden and OS metadata files without an image
    extension are ignored.
    """
    from tqdm.auto import tqdm

    root = Path(root)
    files = _class_folder_files(root)
    problems = [
        f"  {path}: {why}"
        for path in tqdm(files, desc="checking images", unit="file", leave=False)
        if (why := image_file_problem(path)) is not None
    ]
    if problems:
        more = len(problems) - MAX_REPORTED_FILES
        raise DataFileError(
            f"{root}: {len(problems)} of {len(files)} files in the class folders cannot be used; "
            "fix or remove them (or pass check=False to skip this check):\n"
            + "\n".join(problems[:MAX_REPORTED_FILES])
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    return len(files)


def image_folder(
    root: str | os.PathLike, transform: Callable | None = None, *, check: bool = True
) -> ImageFolder:
    """``torchvision.datasets.ImageFolder(root, transform)``, after checking every file once.

    With ``check`` every file under the class folders is opened before training
    starts, and one ``DataFileError`` names each bad file and its cause:

    * a file with an image extension (``.png``, ``.jpg``, ...) that is corrupt,
      truncated or not an image at all (say, a text file renamed ``.png``);
    * a file with any other extension (``notes.txt``, ``.gif``, ``.heic``):
      ImageFolder would silently leave it out, so a photo in a format it does
      not read, or a stray file, would go unnoticed. Only images belong in class folders.

    Hidden files (``.DS_Store``) and ``Thumbs.db`` / ``desktop.ini`` are ignored,
    as are files directly in ``root`` (outside any class folder); a hidden file
    with an image extension (macOS's ``._photo.jpg``) is checked, since ImageFolder loads it.
    """
    from torchvision import datasets

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    if check:
        check_image_folder(root)
    return datasets.ImageFolder(str(root), transform=transform)
