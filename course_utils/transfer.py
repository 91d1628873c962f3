"""Pre-trained weights for lesson 11 (transfer learning): torchvision's, or the course's own.

With a network, :func:`pick_weights` returns torchvision's ``ResNet18_Weights.DEFAULT``
(ImageNet). Where nothing can be downloaded (CI, these course machines) it returns
:class:`CourseWeights`: a ResNet-18 the course pre-trains itself on the five CIFAR-10
classes with even labels, cached as a file under the data root with its SHA-256. Both
answer the same three questions, so the lesson has one code path (:func:`build`):
``weights.meta["categories"]``, ``weights.transforms()`` and
``weights.get_state_dict(progress=False, check_hash=True)``.

:class:`FrozenBackbone` is feature extraction done right: a frozen backbone that stays
in eval mode (its BatchNorm keeps its running statistics) under a trainable head.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import files

#: CIFAR-10 labels the course backbone is pre-trained on, and the ones lesson 11 transfers to.
SOURCE_CLASSES = (0, 2, 4, 6, 8)  # airplane, bird, deer, frog, ship
TARGET_CLASSES = (1, 3, 5, 7, 9)  # automobile, cat, dog, horse, truck
WEIGHTS_HOST = "download.pytorch.org"
CACHE_FOLDER = "course_weights"


@dataclass(frozen=True)
class Recipe:
    """How the course backbone is pre-trained; a different recipe is a different file."""

    epochs: int
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0
    classes: tuple[int, ...] = SOURCE_CLASSES
    images_per_class: int | None = None  # None: every training image of those classes

    @classmethod
    def for_profile(cls, profile: str) -> Recipe:
        """Few epochs for ``smoke`` (CI, under a minute), more for a learner's ``quick``/``full``."""
        return cls(epochs={"smoke": 4, "quick": 8}.get(profile, 20))


class WeightsHashError(RuntimeError):
    """A cached weights file whose SHA-256 is not the one recorded when it was written."""


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def writable(folder: Path) -> bool:
    """True when ``folder`` (or its nearest existing parent) is writable and not marked read-only.

    The mode bits count too: as root ``os.access`` says yes to a folder marked ``r-x``
    (like ``../shared/data``), and the course must not write into such a folder.
    """
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)


def cache_dir(root: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Where the course backbone is cached, and why there.

    ``root`` if given; else the data root ``$COURSE_DATA_DIR`` when writable; else the
    course's own data folder (``data.default_root()``, ``~/.cache/course_utils/data``).
    """
    from .data import default_root, local_data_dir

    if root is not None:
        return Path(root) / CACHE_FOLDER, "the folder given"
    local = local_data_dir()
    if local is not None and writable(local):
        return local / CACHE_FOLDER, "under the data root COURSE_DATA_DIR"
    why = (
        f"COURSE_DATA_DIR ({local}) is read-only, so under the course's data folder"
        if local is not None
        else "under the course's data folder (COURSE_DATA_DIR is not set)"
    )
    return default_root() / CACHE_FOLDER, why


def _chosen(labels: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Indices of the training images a recipe pre-trains on: its classes, the first N of each."""
    return np.concatenate([np.flatnonzero(labels == c)[: recipe.images_per_class] for c in recipe.classes])


def _tensors(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) images as what ``transforms()`` makes of them: floats, normalized."""
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 255
    mean_t, std_t = (torch.tensor(v, dtype=torch.float32).view(1, 3, 1, 1) for v in (mean, std))
    return (x - mean_t) / std_t


class CourseWeights:
    """The course's own pre-trained ResNet-18, with the interface of torchvision's weights.

    ``meta["categories"]`` (the classes it was trained on), ``transforms()`` (the input
    pipeline it expects) and ``get_state_dict(progress=..., check_hash=True)``, which
    refuses a file whose SHA-256 is not the one recorded when it was written.
    """

    def __init__(self, path: Path, record: dict[str, Any]) -> None:
        self.path, self.record = Path(path), record
        self.meta = dict(record["meta"])
        self.url = self.path.as_uri()

    def transforms(self) -> Callable:
        """The input pipeline of these weights: resize and crop to 32 px, normalize with their statistics."""
        from torchvision.transforms._presets import ImageClassification

        size = self.meta["image_size"]
        return ImageClassification(
            crop_size=size, resize_size=size, mean=self.meta["mean"], std=self.meta["std"]
        )

    def get_state_dict(self, progress: bool = False, check_hash: bool = True) -> dict[str, torch.Tensor]:
        """The weights, read with ``weights_only=True`` after checking the file's SHA-256."""
        if check_hash:
            found, wanted = sha256_of(self.path), self.record["sha256"]
            if found != wanted:
                raise WeightsHashError(
                    f"{self.path}: its SHA-256 is {found[:16]}..., but {self.path.with_suffix('.json').name} "
                    f"recorded {wanted[:16]}... when it was written (damaged or replaced); delete both "
                    "files and run again to pre-train the backbone anew"
                )
        return torch.load(self.path, map_location="cpu", weights_only=True)

    def describe(self) -> str:
        """One line: what these weights are, what they were measured on, and the file's hash."""
        m = self.meta
        return (
            f"course backbone: ResNet-18 pre-trained by course_utils.transfer on CIFAR-10's "
            f"{', '.join(m['categories'])} ({m['train_images']:,} {m['data']} training images, "
            f"{m['recipe']['epochs']} epochs, {m['image_size']} px; training accuracy "
            f"{m['train_acc']:.1%} measured on them); "
            f"{self.path.name}, sha256 {self.record['sha256'][:12]}..."
        )

    def __repr__(self) -> str:
        return f"CourseWeights({self.path.name!r})"


def _weights_name(recipe: Recipe, data_kind: str, images: int) -> str:
    """A file name that changes with the recipe and the data it was pre-trained on."""
    key = json.dumps({"recipe": asdict(recipe), "data": data_kind, "images": images}, sort_keys=True)
    return f"resnet18_cifar10_even_{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def pretrain(recipe: Recipe, *, verbose: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Train a ResNet-18 on ``recipe.classes`` of CIFAR-10's training images; the model and its meta."""
    import torchvision
    from torch.utils.data import TensorDataset

    from . import data, engine

    ds = data.cifar10(train=True)
    images, labels = np.asarray(ds.data), np.asarray(ds.targets)
    keep = _chosen(labels, recipe)
    mean = images[keep].reshape(-1, 3).mean(0) / 255
    std = images[keep].reshape(-1, 3).std(0) / 255
    x = _tensors(images[keep], mean, std)
    y = torch.as_tensor(np.searchsorted(recipe.classes, labels[keep]))
    torch.manual_seed(recipe.seed)
    model = torchvision.models.resnet18(num_classes=len(recipe.classes))
    loader = data.make_loader(TensorDataset(x, y), train=True, batch_size=recipe.batch_size, seed=recipe.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr)
    history = engine.fit(
        model,
        loader,
        epochs=recipe.epochs,
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        progress=False,
        verbose=verbose,
    )
    meta = {
        "categories": [ds.classes[c] for c in recipe.classes],
        "image_size": 32,
        "mean": mean.tolist(),
        "std": std.tolist(),
        "recipe": asdict(recipe),
        "data": getattr(ds, "source", "unknown"),
        "train_images": len(keep),
        "train_acc": history.train_acc[-1],
    }
    return model, meta


def course_weights(
    *, recipe: Recipe | None = None, root: str | os.PathLike | None = None, verbose: bool = True
) -> CourseWeights:
    """The course backbone for ``recipe`` (default: the active profile's), pre-trained once and cached.

    The file ``<cache>/resnet18_cifar10_even_<key>.pt`` and its record ``.json`` (meta and
    SHA-256) live in :func:`cache_dir`; a later call reads them instead of training again.
    """
    from . import config, data

    recipe = recipe or Recipe.for_profile(config.resolve_profile())
    folder, why = cache_dir(root)
    ds = data.cifar10(train=True)
    count = len(_chosen(np.asarray(ds.targets), recipe))
    path = folder / f"{_weights_name(recipe, getattr(ds, 'source', 'unknown'), count)}.pt"
    record_path = path.with_suffix(".json")
    if path.exists() != record_path.exists():
        present = path if path.exists() else record_path
        raise WeightsHashError(
            f"{present} is there without its partner ({path.name} and {record_path.name} "
            "belong together); delete it and run again to pre-train the backbone anew"
        )
    if not path.exists():
        if verbose:
            print(
                f"[course] pre-training the course backbone once ({recipe.epochs} epochs); "
                f"cached in {folder} ({why})"
            )
        model, meta = pretrain(recipe, verbose=verbose)
        folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        torch.save(model.state_dict(), buffer)
        files.write_atomically(path, buffer.getvalue())
        record = {"sha256": sha256_of(path), "meta": meta}
        files.write_atomically(record_path, json.dumps(record, indent=2) + "\n")
    elif verbose:
        print(f"[course] course backbone read from {folder} ({why})")
    return CourseWeights(path, json.loads(record_path.read_text()))


def pick_weights(
    *, recipe: Recipe | None = None, root: str | os.PathLike | None = None, verbose: bool = True
) -> Any:
    """torchvision's ``ResNet18_Weights.DEFAULT`` when its file is cached or reachable, else the course's.

    The network probe takes at most ``data.NETWORK_TIMEOUT_S`` seconds (none with
    ``COURSE_OFFLINE=1``), so an offline machine never waits for a download.
    """
    from torchvision.models import ResNet18_Weights

    from .data import network_available

    imagenet = ResNet18_Weights.DEFAULT
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(imagenet.url).name
    if cached.is_file() or network_available(WEIGHTS_HOST):
        return imagenet
    if verbose:
        print(
            f"[course] {WEIGHTS_HOST} cannot be reached and {cached.name} is not cached: "
            "using the course's own backbone instead of ImageNet weights"
        )
    return course_weights(recipe=recipe, root=root, verbose=verbose)


def describe(weights: Any) -> str:
    """Which weights these are, in one line (torchvision's figures are quoted from its documentation)."""
    if isinstance(weights, CourseWeights):
        return weights.describe()
    top1 = weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    return (
        f"torchvision {type(weights).__name__}.{weights.name}: ImageNet-1K, {top1} % top-1 "
        "according to torchvision's documentation"
    )


def build(weights: Any) -> nn.Module:
    """A ResNet-18 with ``weights`` loaded (torchvision's or the course's): one code path for both."""
    import torchvision

    model = torchvision.models.resnet18(num_classes=len(weights.meta["categories"]))
    model.load_state_dict(weights.get_state_dict(progress=False, check_hash=True))
    return model


class FrozenBackbone(nn.Module):
    """Feature extraction: ``model`` without its ``head_name`` layer, frozen, under a new ``head``.

    The backbone's parameters get no gradient (``requires_grad=False``) and it stays in
    eval mode even when ``train()`` is called (as ``engine.fit`` does every epoch), so its
    BatchNorm layers keep the running statistics they were pre-trained with.
    """

    def __init__(self, model: nn.Module, head: nn.Module, *, head_name: str = "fc") -> None:
        super().__init__()
        setattr(model, head_name, nn.Identity())
        self.backbone = model.requires_grad_(False).eval()
        self.head = head

    def train(self, mode: bool = True) -> FrozenBackbone:
        """Set the head's mode; the backbone stays in eval mode."""
        super().train(mode)
        self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of the head on the backbone's features."""
        return self.head(self.backbone(x))
