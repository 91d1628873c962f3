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
@pytest.mark.parametrize(("exercise_id", "right", "wrong"), [
    ("04.1", 938, 937), ("04.1", 32, 1875), ("04.2", 400, 256), ("04.3", 10_422, 5_142),
    ("04.4", 0.002, 0.97), ("04.4", 0, 97.5),
])
def test_lesson_04_checks_tell_right_from_wrong(exercise_id: str, right: float, wrong: float,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise(exercise_id, right) is True
    assert check.exercise(exercise_id, wrong) is False
    out = capsys.readouterr().out
    if right > 10:  # the printed verdicts never reveal the answer
        assert str(right) not in out and f"{right:,}" not in out


def test_lesson_04_counts_match_the_networks() -> None:
    """The checks' hand-computed answers are what the changed networks really have."""
    from torch import nn

    from course_utils import models, viz
    net = models.MnistCNN()
    net.conv1, net.conv2, net.fc1 = nn.Conv2d(1, 6, 3), nn.Conv2d(6, 16, 3), nn.Linear(400, 10)
    assert viz.layer_shapes(net, (1, 1, 28, 28)).shapes("flatten_1")[0] == (1, 400)
    padded = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5, padding=2), nn.Linear(16 * 7 * 7, 10))
    assert check.exercise("04.3", models.count_parameters(padded)) is True


def test_whole_number_answers_refuse_fractions() -> None:
    assert check.exercise("04.1", 937.5) is False

# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------
def test_lesson_05_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("05.1", 0.04) is True
    assert check.exercise("05.1", 0.0) is False
    assert check.exercise("05.1", -0.02) is False
    assert check.exercise("05.1", 4) is False            # a percentage point difference, not a fraction
    assert "cannot be judged" in capsys.readouterr().out
    assert check.exercise("05.3", (0.20, 0.08)) is True
    assert check.exercise("05.3", (0.05, 0.08)) is False
    assert check.exercise("05.3", 0.2) is False           # one number where two are asked


def test_lesson_05_padded_lenet_count_is_the_real_one() -> None:
    from torch import nn

    from course_utils import models
    net = models.LeNetV1()
    net.conv1, net.conv2 = nn.Conv2d(3, 20, 5, 1, padding=2), nn.Conv2d(20, 50, 5, 1, padding=2)
    net.fc1 = nn.Linear(8 * 8 * 50, 500)
    assert check.exercise("05.2", models.count_parameters(net)) is True
    assert check.exercise("05.2", models.count_parameters(models.LeNetV1())) is False

# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------
def test_lesson_06_checks() -> None:
    from torchvision import transforms as T
    assert check.exercise("06.1", -0.06) is True
    assert check.exercise("06.1", 0.01) is False
    jitter = T.ColorJitter(brightness=0.5)
    assert check.exercise("06.2", jitter.brightness) is True
    assert check.exercise("06.2", T.ColorJitter(brightness=0.2).brightness) is False
    assert check.exercise("06.3", 1.8) is True
    assert check.exercise("06.3", 0.9) is False
    assert check.exercise("06.3", -1) is False

# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------

# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------

# (end of lesson 08)


# ---- lesson 09 ------------------------------------------------------------

# (end of lesson 09)
