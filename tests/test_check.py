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

def test_lesson_01_checks_judge_values(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    assert check.exercise("01.1", (3, 2)) and not check.exercise("01.1", (3, 3))
    assert not check.exercise("01.1", (2, 2))
    assert check.exercise("01.2", (240, 80)) and not check.exercise("01.2", (80, 80))
    assert not check.exercise("01.2", (160, 80))
    assert check.exercise("01.3", torch.tensor(-2.1179)) and not check.exercise("01.3", -1.0)
    assert "(3, 2)" not in capsys.readouterr().out

# (end of lesson 01)


# ---- lesson 02 ------------------------------------------------------------

def test_lesson_02_checks_judge_values() -> None:
    import torch

    assert check.exercise("02.1", torch.Size([3, 64, 320])) and not check.exercise("02.1", (3, 70, 342))
    assert check.exercise("02.2", torch.tensor(7.0)) and not check.exercise("02.2", 0)
    assert check.exercise("02.3", 3e-8) and not check.exercise("02.3", 0.2)

# (end of lesson 02)


# ---- lesson 03 ------------------------------------------------------------

def test_lesson_03_checks_judge_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("03.1", (400, 500)) and not check.exercise("03.1", (500, 500))
    assert check.exercise("03.1", (404, 504)) and not check.exercise("03.1", (401, 500))
    assert check.exercise("03.2", 59_150 + 476 * 16) and not check.exercise("03.2", 62_006)
    assert not check.exercise("03.2", 62_007)
    assert check.exercise("03.3", 10) and not check.exercise("03.3", 1) and not check.exercise("03.3", 1.9)
    assert check.exercise("03.4", -0.02) and check.exercise("03.4", 3.5)  # fraction or points
    assert not check.exercise("03.4", 0.0) and not check.exercise("03.4", 0.4)
    out = capsys.readouterr().out
    assert "62,006" in out and "16 filters" in out

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

# (end of lesson 09)
