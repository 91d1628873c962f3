"""The exercise checks of lessons 01-05 (course_utils/course/exercises_01_05.py) judge rightly.

Each check gets one right answer and two typical wrong ones (issue 22, item 4): a check that
accepts a typical mistake teaches the mistake.
"""

from __future__ import annotations

import math

import pytest
import torch

from course_utils import check

# (exercise, right answer, [two typical wrong answers]); the wrong ones are what a learner gets
# from the usual slip the check's message names.
CASES = [
    ("01.1", (3, 2), [(3, 3), (2, 2)]),  # drop_last ignored; floor division for both
    ("01.2", (240, 80), [(80, 80), (160, 80)]),  # the split stream; two workers instead of three
    ("01.3", torch.tensor(-2.1179), [-1.0, 0.0]),  # the blitz's 0.5/0.5; forgot Normalize
    ("02.1", (3, 64, 320), [(3, 70, 342), (3, 320, 64)]),  # default padding; height and width swapped
    ("02.2", torch.tensor(7.0), [0.0, 7.5]),  # assumed a copy; not what the code gives
    ("02.3", 3e-8, [0.2, 0.5]),  # converted back with 0.5 / 0.5 instead of the measured statistics
    ("03.1", (400, 500), [(500, 500), (401, 500)]),  # the bincount version; an off-by-one count
    ("03.2", 66_766, [62_006, 62_007]),  # the unwidened Net; a miscount
    ("03.3", 10, [1, 1.9]),  # plain SGD; two steps of the series only
    ("03.4", -0.012, [0.0, 40.0]),  # the same seed twice; runs of different lengths
    ("03.5", math.log(10), [0.1, 1.0]),  # the probability; a base-10 logarithm
    ("04.1", 938, [937, 1875]),  # the short last batch forgotten; batches of 32
    ("04.2", 400, [256, 784]),  # the 5x5 network's count; the padded network's
    ("04.3", 10_422, [5_142, 6_582]),  # unchanged; padding in conv1 only
    ("04.4", 0.002, [0.10, 0.97]),  # chance (an untrained network with argmax(1)); argmax(1) itself
    ("04.5", 0.001, [0.005, 0.001 * 0.1 / math.sqrt(0.001)]),  # SGD's lr x g; no bias correction
    ("05.1", 0.04, [-0.04, 0.0]),  # subtracted the other way round; both passes in eval mode
    ("05.2", 1_632_080, [657_080, 932_080]),  # the unpadded v1; padding in conv1 only
    ("05.3", (0.20, 0.08), [(0.08, 0.20), (0.09, 0.08)]),  # the pair swapped; a difference within noise
]


@pytest.mark.parametrize(("exercise_id", "right", "wrongs"), CASES, ids=[c[0] for c in CASES])
def test_each_check_accepts_the_right_answer_and_refuses_two_typical_wrong_ones(
    exercise_id: str, right: object, wrongs: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.exercise(exercise_id, right) is True
    for wrong in wrongs:
        assert check.exercise(exercise_id, wrong) is False, f"{exercise_id} accepted {wrong!r}"
    assert "not yet" in capsys.readouterr().out  # a refusal says so, with a reason


def test_every_check_of_lessons_01_to_05_is_covered() -> None:
    ours = [k for k in check.known() if "01" <= k.split(".")[0] <= "05"]
    assert sorted(ours) == sorted(c[0] for c in CASES)


def test_argmax_without_dimension_is_not_chance_level(capsys: pytest.CaptureFixture[str]) -> None:
    """0.10 is what an untrained network scores with a correct argmax(1), not the answer to 04.4."""
    assert check.exercise("04.4", 0.10) is False
    assert "chance" in capsys.readouterr().out


@pytest.mark.parametrize("points", [0.8, 1.0, 1.2, -0.8, -1.2])
def test_seed_noise_judges_a_point_alike_in_points_and_as_a_fraction(points: float) -> None:
    assert check.exercise("03.4", points) is True
    assert check.exercise("03.4", points / 100) is True


def test_seed_noise_message_offers_the_fraction_when_the_value_may_be_points(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert check.exercise("03.4", 0.3) is False  # read as a fraction: 30 points
    assert "pass 0.003" in capsys.readouterr().out


def test_dropout_gap_refuses_an_unovertrained_pair(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("05.3", (-0.02, -0.05)) is False
    assert "not overfitted" in capsys.readouterr().out
