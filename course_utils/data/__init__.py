"""Datasets, transforms and loaders for the course: ``from course_utils import data``.

The package is split by concern; every name is also importable from here:

* :mod:`.sources`: where a dataset comes from (torchvision, ``$COURSE_DATA_DIR``,
  the offline stand-in), in one fallback order: ``cifar10()``, ``mnist()``, ``describe_source()``;
* :mod:`.formats`: the files read (MNIST's IDX, the CIFAR-10 subset ``.npz``) and
  :class:`ArrayImageDataset`;
* :mod:`.standins`: the generated offline stand-ins;
* :mod:`.subsets`: ``limit``, ``select``, ``targets_of`` (labels without loading images);
* :mod:`.transforms`: :class:`AugmentSpec`, ``pipeline`` and ``preset``;
* :mod:`.loaders`: ``make_loader`` and ``compute_mean_std``;
* :mod:`.folders`: ``export_image_folder``, ``image_folder`` (checked), ``FileStreamDataset``;
* :mod:`.images`: ``load_rgb``, one image file as the RGB picture it shows (16-bit, transparent, CMYK).

Every dataset has ``.classes``, ``.targets`` and ``.source`` (``torchvision``,
``subset`` or ``synthetic``) and yields ``(transform(PIL image), int)``.
* :mod:`.device_loader`, :mod:`.batch_augment`: ``DeviceLoader`` and ``BatchAugment`` (lesson 08).
"""

from __future__ import annotations

from typing import Any

from .folders import (
    EXPORT_MARKER,
    FileStreamDataset,
    check_classes,
    check_image_folder,
    export_image_folder,
    folder_name,
    image_file_problem,
    image_files,
    image_folder,
)
from .formats import (
    SUBSET_FILE,
    ArrayImageDataset,
    DataFileError,
    check_idx_file,
    check_idx_pair,
    check_labels,
    load_cifar10_subset,
)
from .images import load_rgb, to_rgb
from .loaders import compute_mean_std, make_loader
from .sources import (
    DOWNLOAD_HOSTS,
    NETWORK_TIMEOUT_S,
    OfflineDataWarning,
    cifar10,
    default_root,
    describe_source,
    local_data_dir,
    mnist,
    network_available,
)
from .standins import CIFAR10_CLASSES, MNIST_CLASSES, synthetic_cifar10, synthetic_mnist
from .subsets import classes_of, limit, see_through, select, targets_of
from .transforms import (
    HALF,
    IMAGENET_MEAN,
    IMAGENET_STD,
    STATE_KEYS,
    AugmentSpec,
    channel_stats,
    pipeline,
    preset,
)

__all__ = [
    "ArrayImageDataset",
    "AugmentSpec",
    "BatchAugment",
    "CIFAR10_CLASSES",
    "DataFileError",
    "DeviceLoader",
    "DOWNLOAD_HOSTS",
    "EXPORT_MARKER",
    "FileStreamDataset",
    "HALF",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MNIST_CLASSES",
    "NETWORK_TIMEOUT_S",
    "OfflineDataWarning",
    "STATE_KEYS",
    "SUBSET_FILE",
    "channel_stats",
    "check_classes",
    "check_idx_file",
    "check_idx_pair",
    "check_image_folder",
    "check_labels",
    "cifar10",
    "classes_of",
    "compute_mean_std",
    "default_root",
    "describe_source",
    "export_image_folder",
    "folder_name",
    "image_file_problem",
    "image_files",
    "image_folder",
    "limit",
    "load_cifar10_subset",
    "load_rgb",
    "local_data_dir",
    "make_loader",
    "mnist",
    "network_available",
    "pipeline",
    "preset",
    "see_through",
    "select",
    "synthetic_cifar10",
    "synthetic_mnist",
    "targets_of",
    "to_rgb",
]


def __getattr__(name: str) -> Any:
    """``DeviceLoader`` and ``BatchAugment`` (lesson 08), imported on first use."""
    if name == "DeviceLoader":
        from .device_loader import DeviceLoader

        return DeviceLoader
    if name == "BatchAugment":
        from .batch_augment import BatchAugment

        return BatchAugment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
