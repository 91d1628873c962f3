"""The exercise checks of lessons 06 to 09: each refuses the typical wrong answers (issue 22, item 4).

One right and two wrong answers per check, taken from what a learner's slip gives: the ratio turned
upside down, the same transform twice, a fraction where points are asked, a bare bool, and so on.
"""

from __future__ import annotations

import pytest
import torch

from course_utils import check

# (exercise id, a right answer, two typical wrong answers)
CASES = [
    ("06.1", -0.05, [0.0, -0.004]),  # same transform twice; a drop within one pass's noise
    ("06.2", (0.5, 1.5), [(0.8, 1.2), (0.0, 1.0)]),  # the sources' 0.2; [0, 1] is not 1 +- b
    ("06.3", 2.4, [0.42, 1.05]),  # plain / augmented; a loader that does not augment
    ("06.5", 0.497, [1.0, 0.0]),  # one coin for all copies; the flip never returned
    ("07.1", (True, False), [(True, True), (False, False)]),  # loader not shuffling; resume broken
    ("07.2", 1e-3 * 0.1**7, [1e-3, 1e-4]),  # never stepped; stepped once per epoch
    ("07.3", 1.995, [0.998, 3.0]),  # one running average; Adam's state counted twice
    ("08.1", 3.5, [0.29, 1.02]),  # with / without; the same preset twice
    ("08.2", 0.0, [0.05, 0.2]),  # not clamped; another draw of factors
    ("08.3", 2.4, [0.0, 0.024]),  # the same seed three times; a fraction instead of points
    ("09.1", 50, [25, 12.5]),  # steps divided by 2 or by 4 processes
    ("09.2", 1.0, [0.0025, 0.5]),  # set_epoch called after all; half-shuffled
    ("09.3", 3, [204, 0]),  # all indices handed out; no padding
    ("09.4", 0.0, [3e-8, 0.2]),  # other arguments; other epochs
    ("09.6", 0.04, [0.0, 3e-8]),  # a model compared with itself; replicas still averaged
]


def test_every_check_of_lessons_06_to_09_is_covered() -> None:
    known = {k for k in check.known() if k.split(".")[0] in {"06", "07", "08", "09"}}
    assert known == {case[0] for case in CASES}


@pytest.mark.parametrize(("exercise_id", "right", "wrong"), CASES, ids=[c[0] for c in CASES])
def test_a_check_accepts_the_right_answer_and_refuses_two_wrong_ones(
    exercise_id: str, right: object, wrong: list[object], capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.exercise(exercise_id, right) is True
    assert "plausible" in capsys.readouterr().out
    for value in wrong:
        assert check.exercise(exercise_id, value) is False, f"{exercise_id} accepted {value!r}"
        assert "not yet" in capsys.readouterr().out


def test_checks_take_tensors_like_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("06.1", torch.tensor(-0.05)) is True
    assert check.exercise("09.6", torch.tensor(0.04)) is True
    assert check.exercise("08.3", torch.tensor(0.0)) is False


def test_07_1_asks_for_both_results_not_a_bare_bool(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("07.1", False) is False
    assert "pass the pair (with_generator, without_generator)" in capsys.readouterr().out
