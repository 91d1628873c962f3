"""Check an exercise's answer without seeing the solution.

A learner who has tried an exercise calls ``check.exercise("03.2", value)``.
It prints whether the value is plausible and why, or what to look at again,
and returns ``True`` or ``False``. It never prints the expected answer itself:
the solutions notebooks (``notebooks/solutions/``) do that.

Each lesson registers its exercises below, in its own section, with
``@register("NN.k", "the question in a few words")`` on a function that takes
the learner's value and returns ``(ok, why)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

Verdict = tuple[bool, str]


@dataclass(frozen=True)
class Exercise:
    """One registered exercise: its id, its question and the function that judges a value."""

    exercise_id: str
    question: str
    judge: Callable[[Any], Verdict]


_EXERCISES: dict[str, Exercise] = {}


def register(exercise_id: str, question: str) -> Callable[[Callable[[Any], Verdict]], Callable[[Any], Verdict]]:
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


def as_fraction(value: Any) -> float:
    """A finite number from a float, a tensor or numpy scalar; percentages (1 < v <= 100) become fractions."""
    number = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    if not 0.0 <= number <= 100.0:
        raise ValueError(f"{number} is neither a fraction (0 to 1) nor a percentage (0 to 100)")
    return number / 100.0 if number > 1.0 else number


# ---- lesson 01: datasets and data loaders ---------------------------------

# (end of lesson 01)


# ---- lesson 02: visualizing batches ---------------------------------------

# (end of lesson 02)


# ---- lesson 03: the tutorial CNN on CIFAR-10 ------------------------------

# (end of lesson 03)


# ---- lesson 04: an MNIST CNN from torch.nn modules ------------------------

# (end of lesson 04)


# ---- lesson 05: LeNet variants --------------------------------------------

# (end of lesson 05)


# ---- lesson 06: data augmentation -----------------------------------------

# (end of lesson 06)


# ---- lesson 07: ResNet-50, train, evaluate, checkpoint --------------------

# (end of lesson 07)


# ---- lesson 08: going faster ----------------------------------------------

# (end of lesson 08)


# ---- lesson 09: torchrun and DistributedDataParallel ----------------------

def _whole(value: Any) -> int:
    """An integer count from an int, a float without fraction, or a tensor/numpy scalar."""
    number = float(value.item() if hasattr(value, "item") else value)
    if not number.is_integer():
        raise ValueError(f"{number} is not a whole number")
    return int(number)


@register("09.1", "optimizer steps per epoch: global batch 16, 800 images, 4 processes")
def _steps_on_four(value: Any) -> Verdict:
    steps = _whole(value)
    if steps == 800 // 16:
        return True, "the global batch decides the number of steps, not the number of processes."
    if steps == 800 // 16 // 4 or steps == 800 // 16 // 2:
        return False, ("that divides the steps by the processes; but each step already uses "
                       "all processes' images together. What does --batch-size mean here?")
    return False, "count how many global batches of 16 fit into 800 images."


@register("09.2", "fraction of epoch 2's order equal to epoch 1's without set_epoch")
def _same_order(value: Any) -> Verdict:
    fraction = as_fraction(value)
    if fraction > 0.999:
        return True, "without set_epoch the sampler shuffles with the same seed every epoch."
    return False, ("that is the fraction you would expect from two different shuffles; "
                   "did you call set_epoch after all? Leave it out for this measurement.")


@register("09.3", "duplicates DistributedSampler adds for 201 images on 4 processes")
def _duplicates(value: Any) -> Verdict:
    extra = _whole(value)
    if extra == -(-201 // 4) * 4 - 201:
        return True, "the sampler pads to a multiple of the number of processes."
    if extra == -(-201 // 4) * 4:
        return False, "that is how many indices it hands out in all; how many of them are extra?"
    return False, "compare the total of len(sampler) over the 4 ranks with 201."


@register("09.4", "largest weight difference: restarted run vs uninterrupted run (CPU)")
def _restart_difference(value: Any) -> Verdict:
    diff = float(value.item() if hasattr(value, "item") else value)
    if diff == 0.0:
        return True, "bitwise equal: the restart resumed from the checkpoint with every RNG state."
    if diff < 1e-4:
        return False, ("close, but on the CPU a resumed run should be bitwise equal; did both runs "
                       "use exactly the same arguments (--cpu, --seed, --batch-size, samples)?")
    return False, "far apart: compare checkpoints of runs with the same arguments and the same --epochs."

# (end of lesson 09)
