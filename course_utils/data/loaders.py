"""Loaders with a seeded order, and dataset statistics."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset


def make_loader(
    dataset: Dataset,
    *,
    train: bool,
    batch_size: int,
    seed: int = 0,
    num_workers: int = 0,
    shuffle: bool | None = None,
    drop_last: bool = False,
    pin_memory: bool | None = None,
) -> DataLoader:
    """A DataLoader with a seeded generator: ``make_loader(ds, train=True, batch_size=4, seed=0)``.

    ``shuffle`` defaults to ``train`` (never for an ``IterableDataset``, which sets its own
    order). The generator (``loader.generator``) fixes the shuffling order, so a checkpoint
    can store it and a resumed run repeats it. Workers are not kept alive between epochs:
    persistent workers draw their seeds once, and a resumed run would then shuffle and
    augment differently from an uninterrupted one. ``pin_memory`` defaults to whether CUDA
    is present (pinned pages only speed up copies to a GPU).
    """
    if shuffle is None:
        shuffle = train and not isinstance(dataset, IterableDataset)
    generator = torch.Generator().manual_seed(int(seed))
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        num_workers=num_workers,
        drop_last=drop_last,
        generator=generator,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
    )


def compute_mean_std(
    dataset: Dataset, *, batch_size: int = 500
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and standard deviation of a dataset whose items are tensors (C, H, W)."""
    total = total_sq = None
    count = 0
    for images, _ in DataLoader(dataset, batch_size=batch_size):
        if not torch.is_tensor(images):
            raise TypeError("compute_mean_std needs tensor items; use transform=transforms.ToTensor()")
        x = images.to(torch.float64).transpose(0, 1).flatten(1)
        total = x.sum(1) if total is None else total + x.sum(1)
        total_sq = (x * x).sum(1) if total_sq is None else total_sq + (x * x).sum(1)
        count += x.shape[1]
    if total is None:
        raise ValueError("compute_mean_std got an empty dataset")
    mean = total / count
    std = (total_sq / count - mean**2).clamp_min(0).sqrt()
    return tuple(mean.tolist()), tuple(std.tolist())
