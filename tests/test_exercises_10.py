"""Lesson 10's exercise checks accept the right answers and explain the common wrong ones."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import check


def test_lesson_10_exercises_are_registered() -> None:
    assert [k for k in check.known() if k.startswith("10.")] == ["10.1", "10.2", "10.3", "10.4"]


@pytest.mark.parametrize("value", [math.log(100), 4.8, torch.tensor(4.7)])
def test_init_loss_near_ln_100_is_plausible(value, capsys) -> None:
    assert check.exercise("10.1", value)
    assert "ln 100" in capsys.readouterr().out


def test_init_loss_of_ten_classes_is_named(capsys) -> None:
    assert not check.exercise("10.1", math.log(10))
    assert "num_classes=100" in capsys.readouterr().out


def test_init_loss_that_is_not_a_number_is_refused(capsys) -> None:
    assert not check.exercise("10.1", float("nan"))
    assert "cannot be judged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("ratio", "ok", "hint"),
    [(1.0, True, "add up"), (1.0004, True, "add up"), (4.0, False, "divide"), (0.3, False, "zero_grad")],
)
def test_accumulation_ratio(ratio, ok, hint, capsys) -> None:
    assert check.exercise("10.2", ratio) is ok
    assert hint in capsys.readouterr().out


def test_flipped_copy_is_not_found_by_a_fingerprint(capsys) -> None:
    assert check.exercise("10.3", False)
    assert not check.exercise("10.3", True)
    assert not check.exercise("10.3", "no")
    assert "True or False" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("std", "ok"), [(0.486, True), (torch.tensor(0.49), True), (1.0, False), (0.243, False)]
)
def test_blitz_std(std, ok) -> None:
    assert check.exercise("10.4", std) is ok


def _accumulation_ratio(*, divide: bool) -> float:
    """Gradient norm of 4 accumulated micro-batches of 4 over that of one batch of 16 (a tiny linear net)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5))
    x, y = torch.randn(16, 3, 2, 2), torch.randint(5, (16,))
    torch.nn.functional.cross_entropy(model(x), y).backward()
    one_batch = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad()
    for xs, ys in zip(x.split(4), y.split(4), strict=True):
        loss = torch.nn.functional.cross_entropy(model(xs), ys)
        (loss / 4 if divide else loss).backward()
    return (torch.cat([p.grad.flatten() for p in model.parameters()]).norm() / one_batch.norm()).item()


def test_accumulation_check_agrees_with_real_gradients() -> None:
    assert check.exercise("10.2", _accumulation_ratio(divide=True))
    assert not check.exercise("10.2", _accumulation_ratio(divide=False))
