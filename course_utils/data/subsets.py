"""Parts of datasets: labels without loading images, class-balanced limits, copies of a selection.

:func:`see_through` is the one place that looks inside (nested) ``Subset`` wrappers.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset


def see_through(dataset: Dataset) -> tuple[Dataset, np.ndarray | None]:
    """The dataset inside (nested) ``Subset`` wrappers and the indices into it (None: no wrapper)."""
    indices: np.ndarray | None = None
    while isinstance(dataset, Subset):
        outer = np.asarray(dataset.indices, dtype=np.int64)
        indices = outer if indices is None else outer[indices]
        dataset = dataset.dataset
    return dataset, indices


def targets_of(dataset: Dataset) -> np.ndarray:
    """The labels of ``dataset`` as an int64 array (reads ``.targets`` when it has one).

    For a ``Subset`` without ``.targets`` they come from the dataset inside it, so no
    image is loaded (or transformed) just to learn its label.
    """
    targets = getattr(dataset, "targets", None)
    if targets is None:
        base, indices = see_through(dataset)
        if indices is not None:
            return targets_of(base)[indices]
        targets = [dataset[i][1] for i in range(len(dataset))]
    return np.asarray(torch.as_tensor(targets).cpu(), dtype=np.int64)


def classes_of(dataset: Dataset) -> Any:
    """``dataset.classes``, looking inside ``Subset`` wrappers when the wrapper has none."""
    classes = getattr(dataset, "classes", None)
    return classes if classes is not None else getattr(see_through(dataset)[0], "classes", None)


def raw_view(dataset: Dataset) -> Dataset:
    """The dataset without its transform, so items are PIL images (also inside a ``Subset``)."""
    base, indices = see_through(dataset)
    raw = copy.copy(base)
    if hasattr(raw, "transform"):
        raw.transform = None
    if indices is None:
        return raw
    subset = Subset(raw, indices.tolist())
    subset.classes, subset.targets = classes_of(dataset), targets_of(dataset).tolist()
    return subset


def _balanced_indices(targets: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices with class counts differing by at most one (when every class has enough)."""
    rng = np.random.default_rng(seed)
    pools = [rng.permutation(np.flatnonzero(targets == c)) for c in np.unique(targets)]
    quota = np.full(len(pools), n // len(pools))
    quota[rng.permutation(len(pools))[: n % len(pools)]] += 1
    chosen = [pool[:q] for pool, q in zip(pools, quota, strict=True)]
    rest = np.concatenate([pool[q:] for pool, q in zip(pools, quota, strict=True)])
    short = n - sum(len(c) for c in chosen)  # classes too small for their quota
    chosen.append(rng.permutation(rest)[:short])
    return np.sort(np.concatenate(chosen).astype(np.int64))


def select(dataset: Dataset, indices: Sequence[int]) -> Dataset:
    """A copy of ``dataset`` holding only ``indices``, keeping its class and attributes."""
    idx = np.asarray(indices, dtype=np.int64)
    data, targets = getattr(dataset, "data", None), getattr(dataset, "targets", None)
    if data is not None and targets is not None:
        out = copy.copy(dataset)
        out.data = data[torch.as_tensor(idx)] if torch.is_tensor(data) else data[idx]
        out.targets = targets[torch.as_tensor(idx)] if torch.is_tensor(targets) else [targets[i] for i in idx]
        return out
    if hasattr(dataset, "samples"):
        out = copy.copy(dataset)
        out.samples = [dataset.samples[i] for i in idx]
        out.imgs = out.samples
        out.targets = [s[1] for s in out.samples]
        return out
    subset = Subset(dataset, idx.tolist())
    subset.classes = classes_of(dataset)
    subset.targets = targets_of(dataset)[idx].tolist()
    return subset


def limit(dataset: Dataset, n: int | None, *, seed: int = 0) -> Dataset:
    """At most ``n`` samples of ``dataset``, classes balanced; ``n=None`` returns it unchanged."""
    if n is None or n >= len(dataset):
        return dataset
    if n < 1:
        raise ValueError(f"limit needs n >= 1 (or None for all samples), got {n}")
    return select(dataset, _balanced_indices(targets_of(dataset), n, seed))
