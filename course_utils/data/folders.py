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
from .images import load_rgb, mode_problem, to_rgb
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
            img = load_rgb(path)
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
    (structure, checksums), decode with ``load()`` (the pixels, as training will) and
    hold pixels that :func:`~course_utils.data.images.to_rgb` shows faithfully.
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
            unusual_mode = mode_problem(img)
            if unusual_mode is None:
                to_rgb(img, name=path)  # the conversion training will do, EXIF orientation included
    except Image.UnidentifiedImageError:
        return (
            f"not an image, although its name ends in {path.suffix!r}: PIL cannot identify "
            "it (a text or other file renamed, or an unsupported format?)"
        )
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError, ... on bad bytes
        return f"corrupt or truncated image: {type(err).__name__}: {err}"
    return unusual_mode


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


def check_classes(root: str | os.PathLike, *, same_classes_as: Dataset | None = None) -> list[str]:
    """The class names of the image folder ``root``, after checking its layout.

    ``DataFileError`` naming the folder unless it has at least two class folders, each
    holding at least one image, and (with ``same_classes_as``, say the training set)
    exactly that dataset's ``classes``: otherwise label 2 would mean "cat" in one split
    and "deer" in the other, and training would look fine while validation measured nonsense.
    """
    root = Path(root)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())  # as ImageFolder finds them
    if len(classes) < 2:
        raise DataFileError(
            f"{root}: {len(classes)} class folder(s) {classes}; a classifier needs at least two "
            "(one sub-folder per class, holding that class's images), or it learns nothing"
        )
    empty = [name for name in classes if not any(_is_image_name(f.name) for f in (root / name).rglob("*"))]
    if empty:
        raise DataFileError(
            f"{root}: class folder(s) {empty} hold no image; put that class's images there, "
            "or remove the folder"
        )
    expected = None if same_classes_as is None else [str(c) for c in classes_of(same_classes_as)]
    if expected is not None and classes != expected:
        other = getattr(same_classes_as, "root", "the other dataset")
        lacks, extra = sorted(set(expected) - set(classes)), sorted(set(classes) - set(expected))
        differ = (
            f"{root} lacks {lacks} and has {extra} that {other} does not"
            if lacks or extra
            else f"{other} lists the same names in another order, {expected}"
        )
        raise DataFileError(
            f"{root} and {other} must have the same class folders (a label is a class's place in "
            f"the sorted list, so any difference shifts the labels): {differ}; add or rename "
            "folders so that both list the same classes"
        )
    return classes


def image_folder(
    root: str | os.PathLike,
    transform: Callable | None = None,
    *,
    check: bool = True,
    same_classes_as: Dataset | None = None,
) -> ImageFolder:
    """``torchvision.datasets.ImageFolder(root, transform)``, after checking the folder.

    The layout is always checked (:func:`check_classes`): at least two class folders,
    none of them empty, and with ``same_classes_as=train_set`` (for a validation folder)
    the training set's classes. With ``check`` every file under the class folders is also
    opened before training starts, and one ``DataFileError`` names each bad file and its cause:

    * a file with an image extension (``.png``, ``.jpg``, ...) that is corrupt,
      truncated or not an image at all (say, a text file renamed ``.png``), or whose
      pixels cannot be shown faithfully (32-bit floating point, say);
    * a file with any other extension (``notes.txt``, ``.gif``, ``.heic``):
      ImageFolder would silently leave it out, so a photo in a format it does
      not read, or a stray file, would go unnoticed. Only images belong in class folders.

    Hidden files (``.DS_Store``) and ``Thumbs.db`` / ``desktop.ini`` are ignored,
    as are files directly in ``root`` (outside any class folder); a hidden file
    with an image extension (macOS's ``._photo.jpg``) is checked, since ImageFolder loads it.
    Images are read by :func:`~course_utils.data.images.load_rgb`: 16-bit, transparent and
    CMYK pictures as they show, not as ``convert("RGB")`` clips them.
    """
    from torchvision import datasets

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist or is not a folder")
    check_classes(root, same_classes_as=same_classes_as)
    if check:
        check_image_folder(root)
    return datasets.ImageFolder(str(root), transform=transform, loader=load_rgb)
