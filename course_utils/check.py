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

@register("01.1", "batches of 32 from 80 photos, without and with drop_last")
def _drop_last_batches(value: Any) -> Verdict:
    kept, dropped = (int(v) for v in value)
    if (kept, dropped) == (80 // 32 + (80 % 32 > 0), 80 // 32):
        return True, "drop_last only ever removes the one short batch at the end"
    if kept == dropped:
        return False, "the two should differ: 80 is not a multiple of 32, so there is a short last batch"
    return False, "divide 80 by 32: how many full batches, and what is left over?"


@register("01.2", "(items, distinct images) of the unsplit stream with three workers")
def _unsplit_stream(value: Any) -> Verdict:
    items, distinct = (int(v) for v in value)
    if distinct != 80:
        return False, "there are 80 different photos; count distinct images by their bytes, as count_items does"
    if items == 80:
        return False, "that is what the split stream gives; read PhotoStream(..., split_between_workers=False)"
    if items == 3 * 80:
        return True, "each worker holds a full copy of the dataset and reads all of it"
    return False, "how many copies of the dataset do three workers hold, and how much of it does each read?"


@register("01.3", "smallest red value of the ramp after ImageNet's Normalize")
def _imagenet_red_min(value: Any) -> Verdict:
    low = float(value.item() if hasattr(value, "item") else value)
    if abs(low + 1.0) < 1e-3:
        return False, "that is the blitz's Normalize(0.5, 0.5); use ImageNet's mean and std"
    if abs(low - (0.0 - 0.485) / 0.229) < 1e-3:
        return True, "a black pixel lies about two standard deviations below ImageNet's mean red"
    return False, "Normalize computes (x - mean) / std per channel; which x is the smallest in the red row?"

# (end of lesson 01)


# ---- lesson 02: visualizing batches ---------------------------------------

@register("02.1", "shape of make_grid(images[:20], nrow=10, padding=0)")
def _grid_shape(value: Any) -> Verdict:
    shape = tuple(int(v) for v in value)
    if shape == (3, 2 * 32, 10 * 32):
        return True, "without padding the grid is exactly two rows of ten 32 x 32 images"
    if shape == (3, 2 + 2 * (32 + 2), 2 + 10 * (32 + 2)):
        return False, "that is the grid with the default 2-pixel padding; pass padding=0"
    return False, "make_grid returns (channels, height, width): how many rows and columns of 32-pixel images?"


@register("02.2", "t[0] after a = t.numpy(); a[0] = 7")
def _shared_memory(value: Any) -> Verdict:
    number = float(value.item() if hasattr(value, "item") else value)
    if number == 7.0:
        return True, ".numpy() returns a view of the tensor's own memory: writing to one changes the other"
    return False, "did you run it? print(t) after changing a, and think about whether numpy() copies"


@register("02.3", "largest pixel error after Normalize and im_convert with the same statistics")
def _round_trip_error(value: Any) -> Verdict:
    error = abs(float(value.item() if hasattr(value, "item") else value))
    if error < 1e-5:
        return True, "with matching statistics the round trip is exact up to float rounding"
    return False, "im_convert must undo the same Normalize: pass it the measured mean and std"

# (end of lesson 02)


# ---- lesson 03: the tutorial CNN on CIFAR-10 ------------------------------

@register("03.1", "images the source's per-class loop counts at batch_size=5")
def _blitz_loop_at_five(value: Any) -> Verdict:
    counted, total = (int(v) for v in value)
    if total <= 0 or not 0 <= counted <= total:
        return False, "pass (images counted, images in the test set), e.g. (sum(class_total), len(test_set))"
    if counted == total:
        return False, "that is every test image; run the source's loop itself (range(4)), not the bincount version"
    if counted == 4 * (total // 5) + min(total % 5, 4):
        return True, "the loop reads the first four images of every batch and never looks at the rest"
    return False, "look again at which positions i the inner loop visits in each batch of five"


def _tutorial_net_parameters(width: int) -> int:
    """Parameters of the blitz's Net with ``width`` filters in conv1 (and input channels of conv2)."""
    return (5 * 5 * 3 * width + width) + (5 * 5 * width * 16 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)


@register("03.2", "parameters of the widened network")
def _widened_parameters(value: Any) -> Verdict:
    count = int(value)
    widths = [w for w in range(1, 1025) if _tutorial_net_parameters(w) == count]
    if count == _tutorial_net_parameters(6):
        return False, "that is the blitz's own Net (62,006): change conv1's output and conv2's input channels"
    if widths:
        return True, f"that is the blitz's Net with {widths[0]} filters in conv1 and conv2's input"
    return False, ("no width of conv1 gives that count with the rest unchanged; count each layer as "
                   "kernel height x width x input channels x output channels + one bias per output channel")


@register("03.3", "how many times lr x gradient a momentum-0.9 step approaches")
def _momentum_factor(value: Any) -> Verdict:
    factor = float(value)
    if abs(factor - 1.0) < 0.05:
        return False, "that is plain SGD; with momentum each step adds 0.9 of the previous one"
    if abs(factor - 10.0) < 0.5:
        return True, "the steps form a geometric series 1 + 0.9 + 0.81 + ..."
    return False, "write the velocity for a constant gradient g: v1 = g, v2 = 0.9 v1 + g, ... and sum the series"


@register("03.4", "test accuracy change from seed 0 to seed 1")
def _seed_noise(value: Any) -> Verdict:
    change = as_fraction(abs(float(value)))
    if change == 0.0:
        return False, "exactly no change: both runs probably used the same seed (setup(seed=...) and manual_seed)"
    if change > 0.25:
        return False, "that is more than a seed usually moves this network; did both runs train equally long?"
    return True, "this is the noise of a single run: smaller differences between two models mean little"

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

# (end of lesson 09)
