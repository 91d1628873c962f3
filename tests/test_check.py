"""course_utils.check: exercise checks judge values without revealing answers."""
from __future__ import annotations

import pytest

from course_utils import check


def test_unknown_exercise_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="no check for exercise '99.9'"):
        check.exercise("99.9", 1)


def test_register_twice_is_refused() -> None:
    check.register("98.1", "a test-only question")(lambda v: (True, "fine"))
    try:
        with pytest.raises(ValueError, match="registered twice"):
            check.register("98.1", "again")(lambda v: (True, "fine"))
        assert check.exercise("98.1", 0) is True
    finally:
        check._EXERCISES.pop("98.1")


def test_a_judge_that_cannot_read_the_value_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    check.register("98.2", "a fraction")(lambda v: (check.as_fraction(v) > 0.5, "above one half"))
    try:
        assert check.exercise("98.2", "abc") is False
        assert "cannot be judged (ValueError" in capsys.readouterr().out
        assert check.exercise("98.2", 75) is True  # a percentage
    finally:
        check._EXERCISES.pop("98.2")


@pytest.mark.parametrize(("value", "expected"), [(0.25, 0.25), (53, 0.53), (1, 1.0), (0, 0.0)])
def test_as_fraction(value: float, expected: float) -> None:
    assert check.as_fraction(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.1, 101])
def test_as_fraction_refuses(value: float) -> None:
    with pytest.raises(ValueError):
        check.as_fraction(value)


# ---- lesson 01 ------------------------------------------------------------

# (end of lesson 01)


# ---- lesson 02 ------------------------------------------------------------

# (end of lesson 02)


# ---- lesson 03 ------------------------------------------------------------

# (end of lesson 03)


# ---- lesson 04 ------------------------------------------------------------

# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------

# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------

# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------

# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------

# (end of lesson 08)


# ---- lesson 09 ------------------------------------------------------------

@pytest.mark.parametrize(("exercise_id", "right", "wrong", "hint"), [
    ("09.1", 50, 12, "divides the steps by the processes"),
    ("09.2", 1.0, 0.02, "did you call set_epoch"),
    ("09.3", 3, 204, "how many indices it hands out in all"),
    ("09.4", 0.0, 3e-7, "should be bitwise equal"),
])
def test_lesson_09_checks(exercise_id: str, right: float, wrong: float, hint: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise(exercise_id, right) is True
    assert check.exercise(exercise_id, wrong) is False
    out = capsys.readouterr().out
    assert hint in out and f"{right}" not in out.split("not yet")[1]  # never tells the answer


def test_lesson_09_counts_are_measured_against_the_real_samplers() -> None:
    import torch

    from course_utils import distributed

    loader = distributed.train_loader(range(800), global_batch=16, seed=0,
                                      ctx=distributed.Context(rank=0, world_size=4))
    assert check.exercise("09.1", len(loader))
    handed_out = sum(len(torch.utils.data.DistributedSampler(range(201), num_replicas=4, rank=r))
                     for r in range(4))
    assert check.exercise("09.3", handed_out - 201)
    assert not check.exercise("09.3", 2.5)  # not a whole number

# (end of lesson 09)
