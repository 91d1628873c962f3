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
_STEPLR_07 = {"lr": 1e-3, "step_size": 20, "gamma": 0.1, "batches": 159}


@register("07.1", "resumed weights equal without restoring the loader's generator")
def _resume_without_generator(value: Any) -> Verdict:
    if not isinstance(value, bool):
        raise TypeError(f"pass True or False (the result of same_state), not {type(value).__name__}")
    if value:
        return False, ("equal? Check that you removed loader.generator.set_state(...) and that the "
                       "loader shuffles (train=True): a fresh generator starts the order from the beginning.")
    return True, ("a fresh loader starts its shuffling from the seed again, so the resumed epochs draw "
                  "other batches than the uninterrupted run's.")


@register("07.2", "learning rate at the start of epoch 2 with StepLR stepped every batch")
def _steplr_every_batch(value: Any) -> Verdict:
    lr = float(value)
    p = _STEPLR_07
    if lr <= 0 or not math.isfinite(lr):
        return False, "a learning rate is a positive number."
    if math.isclose(lr, p["lr"]):
        return False, "that is the starting rate: did the scheduler step after every batch of epoch 1?"
    if math.isclose(lr, p["lr"] * p["gamma"]):
        return False, "that is one reduction, what stepping once per epoch gives after 20 epochs."
    expected = p["lr"] * p["gamma"] ** (p["batches"] // p["step_size"])
    if math.isclose(lr, expected, rel_tol=1e-6):
        return True, (f"{p['batches']} steps in epoch 1 cross the step size {p['step_size']} several "
                      "times, and every crossing divides the rate by 10.")
    return False, (f"count the scheduler steps taken in epoch 1 ({p['batches']} batches) and how many "
                   f"times that passes a multiple of step_size={p['step_size']}.")


@register("07.3", "bytes of Adam's state per byte of model state")
def _adam_state_ratio(value: Any) -> Verdict:
    ratio = float(value)
    if 1.9 <= ratio <= 2.05:
        return True, ("Adam keeps two running averages (exp_avg, exp_avg_sq) of every parameter's "
                      "size; the model's state also holds batch-norm buffers that Adam does not track.")
    if 0.9 <= ratio <= 1.05:
        return False, "about one: did you count both of Adam's running averages for every parameter?"
    return False, ("count the bytes (numel() * element_size()) of every tensor in both state_dicts, "
                   "including the tensors nested in the optimizer's 'state'.")

# (end of lesson 07)


# ---- lesson 08: going faster ----------------------------------------------


@register("08.1", "PIL data rate without augmentation / with it")
def _augmentation_cost(value: Any) -> Verdict:
    ratio = float(value)
    if not math.isfinite(ratio) or ratio <= 0:
        return False, "a ratio of two rates (images/s) is a positive number."
    if ratio < 1.1:
        return False, ("the pipeline without augmentation should be clearly faster: did you time "
                       "data.preset('lenet') against data.preset('lenet_augment') on the same images?")
    return True, ("flip, rotation, affine and colour jitter each run per image in PIL; without them "
                  "only ToTensor and Normalize remain.")


@register("08.2", "largest difference between brightness by hand and BatchAugment")
def _brightness_by_hand(value: Any) -> Verdict:
    diff = float(value)
    if not math.isfinite(diff) or diff < 0:
        return False, "a largest absolute difference is a number >= 0."
    if diff < 1e-5:
        return True, "the same arithmetic: multiply each image by its factor, then clamp to [0, 1]."
    return False, ("use BatchAugment's own draw (sample_params) for the factors, with every other "
                   "augmentation switched off, and clamp to [0, 1] after multiplying.")


@register("08.3", "spread of validation accuracy over seeds, in percentage points")
def _seed_spread(value: Any) -> Verdict:
    points = float(value)
    if not math.isfinite(points) or points < 0:
        return False, "a spread (largest minus smallest accuracy) is >= 0."
    if points == 0:
        return False, ("no spread at all: pass each seed to both the DeviceLoader (seed=) and "
                       "BatchAugment's generator.")
    if points > 25:
        return False, "more than 25 points: is it in percentage points, and did every run train as long?"
    return True, ("chance alone moves a short run's accuracy by about this much; compare the "
                  "PIL-vs-DeviceLoader difference with it before calling either better.")

# (end of lesson 08)


# ---- lesson 09: torchrun and DistributedDataParallel ----------------------

# (end of lesson 09)
