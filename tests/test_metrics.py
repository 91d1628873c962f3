"""Tests for course_utils.metrics, checked against torchmetrics and hand-made cases."""

from __future__ import annotations

import math

import pytest
import torch
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
)

from course_utils import metrics

C = 10


def random_case(n: int = 203, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, C, generator=g), torch.randint(0, C, (n,), generator=g)


def batches(n: int, size: int) -> list[slice]:
    """Slices of a loader with batch ``size``; the last one is shorter when n % size."""
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_per_class_accuracy_matches_torchmetrics(seed):
    logits, targets = random_case(seed=seed)
    expected = MulticlassAccuracy(num_classes=C, average=None)(logits, targets)
    got = metrics.per_class_accuracy(logits, targets, C)
    assert got.dtype == torch.float32 and got.shape == (C,)
    torch.testing.assert_close(got, expected)
    # labels instead of logits give the same answer
    torch.testing.assert_close(metrics.per_class_accuracy(logits.argmax(1), targets, C), got)


def test_per_class_accuracy_from_batches_with_short_last_batch():
    # 203 samples in batches of 4: the last batch holds 3, the blitz loop assumed 4
    logits, targets = random_case()
    preds = torch.cat([logits[s].argmax(1) for s in batches(203, 4)])
    expected = MulticlassAccuracy(num_classes=C, average=None)(logits, targets)
    torch.testing.assert_close(metrics.per_class_accuracy(preds, targets, C), expected)


def test_per_class_accuracy_hand_made_and_absent_class():
    preds = torch.tensor([0, 0, 1, 1, 2, 0])
    targets = torch.tensor([0, 0, 1, 2, 2, 2])
    got = metrics.per_class_accuracy(preds, targets, 4)
    assert got[:3].tolist() == pytest.approx([1.0, 1.0, 1 / 3])
    assert math.isnan(got[3].item())  # no sample of class 3
    tm = MulticlassAccuracy(num_classes=4, average=None)(preds, targets)
    torch.testing.assert_close(got[:3], tm[:3])


@pytest.mark.parametrize("seed", [0, 1])
def test_confusion_matrix_matches_torchmetrics(seed):
    logits, targets = random_case(seed=seed)
    expected = MulticlassConfusionMatrix(num_classes=C)(logits.argmax(1), targets)
    got = metrics.confusion_matrix(logits, targets, C)
    assert got.dtype == torch.int64
    assert torch.equal(got, expected)
    assert got.sum().item() == 203
    assert torch.equal(got.sum(1), torch.bincount(targets, minlength=C))


def test_confusion_matrix_summed_over_batches_with_short_last_batch():
    logits, targets = random_case(n=50)
    total = sum(metrics.confusion_matrix(logits[s], targets[s], C) for s in batches(50, 8))
    assert torch.equal(total, MulticlassConfusionMatrix(num_classes=C)(logits, targets))


def test_confusion_matrix_hand_made_rows_are_true_labels():
    cm = metrics.confusion_matrix(torch.tensor([1, 1, 0, 2]), torch.tensor([0, 1, 0, 1]), 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 1], [0, 0, 0]]


def test_confusion_matrix_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="0..2"):
        metrics.confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_topk_accuracy_matches_torchmetrics(k):
    logits, targets = random_case()
    expected = MulticlassAccuracy(num_classes=C, top_k=k, average="micro")(logits, targets)
    got = metrics.topk_accuracy(logits, targets, ks=(k,))
    assert got[k] == pytest.approx(expected.item(), abs=1e-6)


def test_correct_topk_counts_summed_over_batches_are_sample_weighted():
    logits, targets = random_case()  # 203 samples, batches of 8: the last holds 3
    counts = {1: 0, 5: 0}
    for s in batches(203, 8):
        c = metrics.correct_topk(logits[s], targets[s], ks=(1, 5))
        counts = {k: counts[k] + c[k] for k in counts}
    whole = metrics.topk_accuracy(logits, targets, ks=(1, 5))
    assert counts[1] / 203 == pytest.approx(whole[1])
    assert counts[5] / 203 == pytest.approx(whole[5])
    assert whole[5] >= whole[1]


def test_topk_hand_made():
    logits = torch.tensor([[0.1, 0.5, 0.4], [0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
    targets = torch.tensor([2, 0, 0])
    assert metrics.correct_topk(logits, targets, ks=(1, 2, 3)) == {1: 1, 2: 2, 3: 3}
    assert metrics.topk_accuracy(logits, targets, ks=(1, 2)) == {1: 1 / 3, 2: 2 / 3}


def test_topk_with_k_above_num_classes_names_k_and_classes():
    logits, targets = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(ValueError, match=r"k=5.*3 classes"):
        metrics.topk_accuracy(logits, targets)  # default ks=(1, 5)


def test_accuracy_accepts_logits_or_labels():
    targets = torch.tensor([0, 1, 2, 2, 1])
    preds = torch.tensor([0, 1, 1, 2, 0])
    assert metrics.accuracy(preds, targets) == pytest.approx(0.6)
    logits = torch.nn.functional.one_hot(preds, 3).float()
    assert metrics.accuracy(logits, targets) == pytest.approx(0.6)
    logits, targets = random_case()
    expected = MulticlassAccuracy(num_classes=C, average="micro")(logits, targets).item()
    assert metrics.accuracy(logits, targets) == pytest.approx(expected, abs=1e-6)


def test_length_mismatch_is_reported():
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        metrics.accuracy(torch.tensor([0, 1, 2]), torch.tensor([0, 1]))
