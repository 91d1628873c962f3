"""Check an exercise's answer without seeing the solution.

A learner who has tried an exercise calls ``check.exercise("03.2", value)``.
It prints whether the value is plausible and why, or what to look at again,
and returns ``True`` or ``False``. It never prints the expected answer itself:
the solutions notebooks (``notebooks/solutions/``) do that.

Each lesson registers its exercises in its own section of ``exercises_01_05.py``,
``exercises_06_09.py``, ``exercises_10.py`` or ``exercises_11_12.py`` (beside this module), with
``@register("NN.k", "the question in a few words")`` on a function that takes
the learner's value and returns ``(ok, why)``. This registry imports none of them:
``course_utils.course`` does (see its docstring for adding a lesson).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Verdict = tuple[bool, str]


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its id, its question and the function that judges a value."""

    exercise_id: str
    question: str
    judge: Callable[[Any], Verdict]


_EXERCISES: dict[str, Exercise] = {}


def register(
    exercise_id: str, question: str
) -> Callable[[Callable[[Any], Verdict]], Callable[[Any], Verdict]]:
    """Register ``judge(value) -> (ok, why)`` as the check of exercise ``exercise_id`` ("NN.k")."""

    def add(judge: Callable[[Any], Verdict]) -> Callable[[Any], Verdict]:
        if exercise_id in _EXERCISES:
            raise ValueError(f"exercise {exercise_id!r} is registered twice")
        _EXERCISES[exercise_id] = Exercise(exercise_id, question, judge)
        return judge

    return add


def known() -> list[str]:
    """The ids of every exercise that has a check, in lesson order."""
    return sorted(_EXERCISES, key=lambda k: tuple(int(p) for p in k.split(".")))


def exercise(exercise_id: str, value: Any) -> bool:
    """Print whether ``value`` is a plausible answer to exercise ``exercise_id``; return it as a bool."""
    if exercise_id not in _EXERCISES:
        raise KeyError(f"no check for exercise {exercise_id!r}; exercises with a check: {', '.join(known())}")
    entry = _EXERCISES[exercise_id]
    try:
        ok, why = entry.judge(value)
    except (TypeError, ValueError) as err:
        ok, why = False, f"that value cannot be judged ({type(err).__name__}: {err})"
    mark = "plausible" if ok else "not yet"
    print(f"[{exercise_id}] {entry.question}: {mark}. {why}")
    return bool(ok)


def as_whole_number(value: Any) -> int:
    """An integer count from an int, a float without fraction, or a tensor or numpy scalar."""
    number = float(value.item() if hasattr(value, "item") else value)
    if not number.is_integer():
        raise ValueError(f"{number} is not a whole number")
    return int(number)


def as_fraction(value: Any) -> float:
    """A finite number from a float, a tensor or numpy scalar; percentages (1 < v <= 100) become fractions."""
    number = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"{number} is neither a fraction (0 to 1) nor a percentage (0 to 100)")
    return number / 100.0 if number > 1.0 else number
