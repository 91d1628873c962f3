"""A ``DataLoader`` for small images that keeps the whole dataset on the device: :class:`DeviceLoader`.

Taught in lesson 08, *2. Keep the whole dataset on the device*; ``data.DeviceLoader`` is this class.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .subsets import see_through
from .transforms import HALF, channel_stats

if TYPE_CHECKING:
    from .batch_augment import BatchAugment

__all__ = ["DeviceLoader"]


def _images_nchw(images: Any, *, channels_last_input: bool | None) -> torch.Tensor:
    """A uint8 ``(N, C, H, W)`` tensor from ``(N, H, W)``, ``(N, H, W, C)`` or ``(N, C, H, W)``.

    ``channels_last_input`` None guesses the layout from the shape (a channel axis has 1, 3 or 4 entries).
    """
    x = torch.as_tensor(np.asarray(images)) if not torch.is_tensor(images) else images
    if x.dtype != torch.uint8:
        raise TypeError(f"DeviceLoader needs uint8 images (0..255), got {x.dtype}")
    if x.ndim == 3:
        return x.unsqueeze(1)
    if x.ndim != 4:
        raise ValueError(f"images must be (N, H, W), (N, H, W, C) or (N, C, H, W); got {tuple(x.shape)}")
    if channels_last_input is None:
        first, last = x.shape[1] in (1, 3, 4), x.shape[-1] in (1, 3, 4)
        if not (first or last):
            raise ValueError(f"cannot tell the channel axis of images shaped {tuple(x.shape)}")
        channels_last_input = last  # NHWC (torchvision's .data layout) when both could be
    return x.permute(0, 3, 1, 2) if channels_last_input else x


def _extract(source: Any) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images ``(N, C, H, W)`` uint8, labels int64 and class names from a dataset or a tuple."""
    if isinstance(source, (tuple, list)):
        if len(source) not in (2, 3):
            raise ValueError("pass a tuple (images, labels) or (images, labels, classes)")
        images = _images_nchw(source[0], channels_last_input=None)
        labels = torch.as_tensor(np.asarray(source[1]) if not torch.is_tensor(source[1]) else source[1])
        n_classes = int(labels.max()) + 1 if labels.numel() else 0
        classes = list(source[2]) if len(source) == 3 else [str(i) for i in range(n_classes)]
    elif see_through(source)[1] is not None:
        base, indices = see_through(source)
        images, labels, classes = _extract(base)
        idx = torch.as_tensor(indices, dtype=torch.long)
        return images[idx], labels[idx], classes
    elif hasattr(source, "data") and hasattr(source, "targets"):
        images = _images_nchw(source.data, channels_last_input=True)
        labels = torch.as_tensor(source.targets)
        classes = list(
            getattr(source, "classes", None)
            or [str(i) for i in range(int(labels.max()) + 1 if labels.numel() else 0)]
        )
    else:
        raise TypeError(
            f"DeviceLoader needs a dataset with .data and .targets (torchvision "
            f"CIFAR10/MNIST, data.ArrayImageDataset) or a tuple (images, labels); "
            f"got {type(source).__name__}"
        )
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return images, labels.to(torch.long), classes


def _stats(
    values: Sequence[float] | None, channels: int, name: str, device: torch.device
) -> torch.Tensor | None:
    """``(1, C, 1, 1)`` float tensor on ``device`` (``data.channel_stats``); None stays None."""
    return None if values is None else channel_stats(values, channels, name=name, device=device)


class DeviceLoader:
    """A ``DataLoader`` for small images that keeps the whole dataset on ``device``.

    The images are stored once as a ``uint8`` tensor ``(N, C, H, W)`` (grey
    ``(N, H, W)`` becomes ``(N, 1, H, W)``); each batch is gathered, converted
    to float in [0, 1], augmented with ``augment`` (a :class:`BatchAugment`,
    only while ``training``), then normalised ``(x - mean) / std`` (``mean=None``
    skips that: plain ``ToTensor`` values). Iterating yields ``(x, y)`` with
    ``x`` float32 and ``y`` int64, both on ``device``; ``len()`` is the number
    of batches.

    ``dataset_or_tensors``: a dataset with ``.data`` (``(N, H, W[, C])`` uint8,
    numpy or tensor) and ``.targets`` (torchvision CIFAR10/MNIST, the course's
    ``ArrayImageDataset``, a ``torch.utils.data.Subset`` of one), or a tuple
    ``(images, labels[, classes])`` with images NHWC, NCHW or NHW. The
    dataset's own ``transform`` is NOT used.

    Shuffling: epoch ``k``'s order (counted from 0) is a ``torch.randperm``
    seeded with ``seed + k``, as torch's ``DistributedSampler`` does; each
    ``iter()`` moves on one epoch and ``set_epoch(k)`` jumps to epoch ``k``.
    ``state_dict()`` (seed, epoch, the augmentation's generator) is what a
    checkpoint stores to resume the same sequence of batches.
    """

    def __init__(
        self,
        dataset_or_tensors: Any,
        batch_size: int,
        *,
        device: str | torch.device = "cpu",
        shuffle: bool = True,
        drop_last: bool = False,
        augment: BatchAugment | None = None,
        mean: Sequence[float] | None = HALF,
        std: Sequence[float] | None = HALF,
        seed: int = 0,
        channels_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if (mean is None) != (std is None):
            raise ValueError("give both mean and std, or neither")
        images, labels, self.classes = _extract(dataset_or_tensors)
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()
        self.labels = labels.to(self.device)
        self.dataset = dataset_or_tensors
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.augment, self.training, self.channels_last = augment, True, channels_last
        channels = self.images.shape[1]
        self.mean = _stats(mean, channels, "mean", self.device)
        self.std = _stats(std, channels, "std", self.device)
        self.seed, self.epoch = int(seed), 0

    @property
    def dataset_size(self) -> int:
        """Number of samples (images) held."""
        return self.images.shape[0]

    def __len__(self) -> int:
        """Number of batches per epoch."""
        n, b = self.dataset_size, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def train(self, mode: bool = True) -> DeviceLoader:
        """Switch augmentation on (``mode=True``) or off; returns ``self``."""
        self.training = mode
        return self

    def eval(self) -> DeviceLoader:
        """Switch augmentation off; returns ``self``."""
        return self.train(False)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` use epoch ``epoch``'s order (epochs count from 0)."""
        self.epoch = int(epoch)

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: ``seed``, ``epoch`` (the next one), ``batch_size``,
        ``samples`` and the augmentation's generator state (``augment``)."""
        return {
            "seed": self.seed,
            "epoch": self.epoch,
            "batch_size": self.batch_size,
            "samples": self.dataset_size,
            "augment": self.augment.state_dict() if self.augment is not None else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`: the same next order and augmentations."""
        seed, epoch = state.get("seed"), state.get("epoch")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (seed, epoch)):
            raise ValueError(
                f"a DeviceLoader state needs integer 'seed' and 'epoch', got {seed!r} and {epoch!r}"
            )
        if self.augment is not None and state.get("augment") is not None:
            self.augment.load_state_dict(state["augment"])
        self.seed, self.epoch = seed, epoch

    def _order(self) -> torch.Tensor | None:
        """This epoch's sample order on the device (None: in storage order)."""
        if not self.shuffle:
            return None
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.dataset_size, generator=generator).to(self.device)

    def _batch(self, start: int, order: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch at ``start`` of this epoch: gathered, converted, augmented, normalised."""
        stop = start + self.batch_size
        if order is None:
            images, y = self.images[start:stop], self.labels[start:stop]
        else:
            idx = order[start:stop]
            images, y = self.images.index_select(0, idx), self.labels.index_select(0, idx)
        x = images.to(torch.float32).div_(255)
        if self.augment is not None and self.training:
            x = self.augment(x)
        if self.mean is not None:
            x = x.sub_(self.mean).div_(self.std)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches for one epoch."""
        order = self._order()
        self.epoch += 1
        for i in range(len(self)):
            yield self._batch(i * self.batch_size, order)

    def __repr__(self) -> str:
        shape = tuple(self.images.shape[1:])
        return (
            f"DeviceLoader(samples={self.dataset_size}, image={shape}, batch_size={self.batch_size}, "
            f"batches={len(self)}, device={str(self.device)!r}, shuffle={self.shuffle}, "
            f"augment={self.augment!r})"
        )
