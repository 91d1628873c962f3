"""Classification metrics that work for any batch size (lessons 03 and 07).

Every function takes whole tensors (or one batch at a time, combined by
counts), so results are weighted by samples, never by batches: a short last
batch counts exactly as much as its samples. Where it makes sense, the first
argument may be logits ``(N, C)`` or predicted labels ``(N,)``.
Accuracies are fractions in [0, 1]. A run's figures per epoch are an
``engine.History``, which ``engine.fit`` returns.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

__all__ = [
    "to_labels",
    "accuracy",
    "correct_topk",
    "topk_accuracy",
    "per_class_accuracy",
    "confusion_matrix",
]


def to_labels(logits_or_preds: torch.Tensor) -> torch.Tensor:
    """Predicted labels ``(N,)``: argmax of logits ``(N, C)``, or the labels unchanged."""
    x = torch.as_tensor(logits_or_preds)
    if x.dim() == 2:
        return x.argmax(dim=1)
    if x.dim() == 1:
        return x.long()
    raise ValueError(f"expected logits of shape (N, C) or labels of shape (N,), got shape {tuple(x.shape)}")


def _check_targets(preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    targets = torch.as_tensor(targets).to(preds.device).long().reshape(-1)
    if targets.numel() != preds.shape[0]:
        raise ValueError(f"got {preds.shape[0]} predictions but {targets.numel()} targets; they must match")
    return targets


def accuracy(logits_or_preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of samples whose predicted label equals the target (0.0 for no samples)."""
    preds = to_labels(logits_or_preds)
    targets = _check_targets(preds, targets)
    if targets.numel() == 0:
        return 0.0
    return (preds == targets).sum().item() / targets.numel()


def correct_topk(logits: torch.Tensor, targets: torch.Tensor, ks: Iterable[int] = (1,)) -> dict[int, int]:
    """Count samples whose target is among the ``k`` largest logits, for each ``k`` in ``ks``.

    Counts (not fractions) so batches can be summed and divided by the sample
    total. Raises ValueError if a ``k`` exceeds the number of classes.
    """
    logits = torch.as_tensor(logits)
    if logits.dim() != 2:
        raise ValueError(f"top-k needs logits of shape (N, C), got shape {tuple(logits.shape)}")
    ks = tuple(int(k) for k in ks)
    num_classes = logits.shape[1]
    for k in ks:
        if not 1 <= k <= num_classes:
            raise ValueError(
                f"top-k accuracy with k={k} needs k between 1 and the number of classes, "
                f"but the logits have {num_classes} classes"
            )
    targets = _check_targets(logits, targets)
    if not ks or targets.numel() == 0:
        return dict.fromkeys(ks, 0)
    hits = logits.topk(max(ks), dim=1).indices == targets[:, None]  # (N, max k), best first
    return {k: int(hits[:, :k].any(dim=1).sum()) for k in ks}


def topk_accuracy(
    logits: torch.Tensor, targets: torch.Tensor, ks: Iterable[int] = (1, 5)
) -> dict[int, float]:
    """Fraction of samples whose target is among the ``k`` largest logits, per ``k``.

    Raises ValueError naming ``k`` and the number of classes if ``k`` is too large.
    """
    counts = correct_topk(logits, targets, ks)
    n = torch.as_tensor(targets).numel()
    return {k: (c / n if n else 0.0) for k, c in counts.items()}


def confusion_matrix(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """int64 matrix ``cm[true, pred]``: how often class ``true`` was predicted as ``pred``.

    ``preds`` may be logits ``(N, C)`` or labels ``(N,)``. Rows sum to the
    number of samples of each true class.
    """
    labels = to_labels(preds)
    targets = _check_targets(labels, targets)
    for name, t in (("predictions", labels), ("targets", targets)):
        if t.numel() and (t.min() < 0 or t.max() >= num_classes):
            raise ValueError(
                f"{name} must lie in 0..{num_classes - 1} for num_classes={num_classes}, "
                f"got values from {t.min().item()} to {t.max().item()}"
            )
    index = targets * num_classes + labels
    counts = torch.bincount(index, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).cpu().long()


def per_class_accuracy(preds: torch.Tensor, targets: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Accuracy of each true class (recall), float ``(num_classes,)``; nan where a class is absent.

    ``preds`` may be logits ``(N, C)`` or labels ``(N,)``; works for any number
    of samples (the source tutorials assumed batches of exactly 4).
    """
    cm = confusion_matrix(preds, targets, num_classes)
    totals = cm.sum(dim=1).double()
    acc = cm.diagonal().double() / totals  # 0 / 0 -> nan for absent classes
    return acc.float()
