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
        return (
            False,
            "there are 80 different photos; count distinct images by their bytes, as count_items does",
        )
    if items == 80:
        return (
            False,
            "that is what the split stream gives; read PhotoStream(..., split_between_workers=False)",
        )
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
        return (
            False,
            "that is every test image; run the source's loop itself (range(4)), not the bincount version",
        )
    if counted == 4 * (total // 5) + min(total % 5, 4):
        return True, "the loop reads the first four images of every batch and never looks at the rest"
    return False, "look again at which positions i the inner loop visits in each batch of five"


def _tutorial_net_parameters(width: int) -> int:
    """Parameters of the blitz's Net with ``width`` filters in conv1 (and input channels of conv2)."""
    return (
        (5 * 5 * 3 * width + width)
        + (5 * 5 * width * 16 + 16)
        + (400 * 120 + 120)
        + (120 * 84 + 84)
        + (84 * 10 + 10)
    )


@register("03.2", "parameters of the widened network")
def _widened_parameters(value: Any) -> Verdict:
    count = int(value)
    widths = [w for w in range(1, 1025) if _tutorial_net_parameters(w) == count]
    if count == _tutorial_net_parameters(6):
        return False, "that is the blitz's own Net (62,006): change conv1's output and conv2's input channels"
    if widths:
        return True, f"that is the blitz's Net with {widths[0]} filters in conv1 and conv2's input"
    return False, (
        "no width of conv1 gives that count with the rest unchanged; count each layer as "
        "kernel height x width x input channels x output channels + one bias per output channel"
    )


@register("03.3", "how many times lr x gradient a momentum-0.9 step approaches")
def _momentum_factor(value: Any) -> Verdict:
    factor = float(value)
    if abs(factor - 1.0) < 0.05:
        return False, "that is plain SGD; with momentum each step adds 0.9 of the previous one"
    if abs(factor - 10.0) < 0.5:
        return True, "the steps form a geometric series 1 + 0.9 + 0.81 + ..."
    return (
        False,
        "write the velocity for a constant gradient g: v1 = g, v2 = 0.9 v1 + g, ... and sum the series",
    )


@register("03.4", "test accuracy change from seed 0 to seed 1")
def _seed_noise(value: Any) -> Verdict:
    change = as_fraction(abs(float(value)))
    if change == 0.0:
        return (
            False,
            "exactly no change: both runs probably used the same seed (setup(seed=...) and manual_seed)",
        )
    if change > 0.25:
        return False, "that is more than a seed usually moves this network; did both runs train equally long?"
    return True, "this is the noise of a single run: smaller differences between two models mean little"


# (end of lesson 03)


# ---- lesson 04: an MNIST CNN from torch.nn modules ------------------------
def _whole_number(value: Any) -> int:
    number = float(value.item() if hasattr(value, "item") else value)
    if not number.is_integer():
        raise ValueError(f"{number} is not a whole number")
    return int(number)


@register("04.1", "optimizer steps in one epoch of 60,000 images in batches of 64")
def _steps_at_batch_64(value: Any) -> Verdict:
    steps = _whole_number(value)
    if steps == math.ceil(60_000 / 64):
        return True, "len(train_loader) counts every batch, the short last one included."
    if steps == math.ceil(2_000 / 64):
        return True, "that is the smoke profile's 2,000 images; on all 60,000 the same rule gives more."
    if steps == 60_000 // 64:
        return False, "one batch is missing: the DataLoader keeps the short last batch (drop_last=False)."
    return False, "build the loader with batch_size=64 and read len(train_loader)."


@register("04.2", "features that reach fc1 with 3x3 instead of 5x5 convolutions")
def _features_with_3x3(value: Any) -> Verdict:
    features = _whole_number(value)
    if features == 16 * 5 * 5:
        return True, "each 3x3 convolution trims 2 pixels, each pooling halves (rounding down)."
    if features == 16 * 4 * 4:
        return False, "that is the 5x5 network's count; change kernel_size and measure again."
    return False, "run viz.layer_shapes on the changed network and read the flatten row."


@register("04.3", "parameters of MnistCNN with padding=2 in both convolutions")
def _parameters_with_padding(value: Any) -> Verdict:
    count = _whole_number(value)
    conv = (1 * 6 * 25 + 6) + (6 * 16 * 25 + 16)
    if count == conv + 16 * 7 * 7 * 10 + 10:
        return True, "padding keeps 28x28 through conv1, so fc1 sees more features."
    if count == conv + 16 * 4 * 4 * 10 + 10:
        return False, "unchanged: padding adds no convolution weights, but fc1 must now take more features."
    return False, "count with models.count_parameters after fixing fc1's in_features."


@register("04.4", "test accuracy that argmax() without a dimension reports on batches of 50")
def _argmax_without_dim(value: Any) -> Verdict:
    acc = as_fraction(value)
    if acc < 0.15:
        return True, "one index into all 500 scores of the batch is not a class per image."
    return False, "that looks like a per-image prediction; did the loop call argmax() with no dimension?"


# (end of lesson 04)


# ---- lesson 05: LeNet variants --------------------------------------------
@register("05.1", "validation accuracy in eval mode minus in train mode, same trained network")
def _eval_minus_train_mode(value: Any) -> Verdict:
    diff = float(value.item() if hasattr(value, "item") else value)
    if not -1.0 <= diff <= 1.0:
        raise ValueError(f"{diff} is not a difference of two accuracies given as fractions")
    if diff > 0:
        return True, "in train mode dropout still silences units at random, so predictions suffer."
    if diff == 0:
        return False, "identical accuracies: was the first pass really run after model.train()?"
    return False, (
        "train mode came out ahead: with a barely trained network (smoke: one epoch) chance "
        "dominates; train for a few epochs (COURSE_PROFILE=quick) and measure again."
    )


@register("05.2", "parameters of LeNet v1 with padding=2 in both convolutions")
def _lenet_v1_padded(value: Any) -> Verdict:
    count = _whole_number(value)
    conv = (3 * 20 * 25 + 20) + (20 * 50 * 25 + 50)
    if count == conv + (50 * 8 * 8 * 500 + 500) + (500 * 10 + 10):
        return True, "padding keeps the size through each convolution, so fc1 grows, not the convolutions."
    if count == 657_080:
        return False, "that is the unpadded v1; with padding fc1 needs more inputs."
    return False, "measure the flatten size with viz.layer_shapes, fix fc1, then models.count_parameters."


@register("05.3", "train − val accuracy gap at the end: (without dropout, with dropout)")
def _gap_without_dropout(value: Any) -> Verdict:
    without, with_ = (float(v) for v in value)
    if max(abs(without), abs(with_)) > 1:
        raise ValueError("give the gaps as fractions, e.g. (0.12, 0.05)")
    if without > with_:
        return True, "without dropout the network fits its training images more closely."
    return False, (
        "the gap did not grow: after only one or two epochs neither network has overfitted; "
        "train longer (COURSE_PROFILE=quick, or more epochs on fewer images)."
    )


# (end of lesson 05)


# ---- lesson 06: data augmentation -----------------------------------------
@register("06.1", "validation accuracy on augmented minus on plain validation images")
def _augmented_validation(value: Any) -> Verdict:
    diff = float(value.item() if hasattr(value, "item") else value)
    if not -1.0 <= diff <= 1.0:
        raise ValueError(f"{diff} is not a difference of two accuracies given as fractions")
    if diff < 0:
        return True, "augmented images are harder; a validation figure on them measures something else."
    return False, (
        "not lower: is the second loader really built on the augmented transform, and is the "
        "network trained for more than a few batches?"
    )


@register("06.2", "ColorJitter brightness range for brightness=0.5")
def _jitter_range(value: Any) -> Verdict:
    low, high = (float(v) for v in value)
    if math.isclose(low, 0.5) and math.isclose(high, 1.5):
        return True, "a factor drawn from [1 - b, 1 + b] multiplies the brightness."
    if math.isclose(low, 0.8) and math.isclose(high, 1.2):
        return False, "that is the sources' 0.2; change the argument and print the transform again."
    return False, "print the ColorJitter transform and read its brightness=(low, high)."


@register("06.3", "seconds to load one epoch: augmented divided by plain")
def _augmentation_cost(value: Any) -> Verdict:
    ratio = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"{ratio} is not a positive ratio of two times")
    if ratio > 1:
        return True, "every augmentation is extra work per image and per epoch, on the CPU."
    return False, "augmented loading came out faster: time a whole epoch of each loader, twice, and compare."


# (end of lesson 06)


# ---- lesson 07: ResNet-50, train, evaluate, checkpoint --------------------
_STEPLR_07 = {"lr": 1e-3, "step_size": 20, "gamma": 0.1, "batches": 159}


@register("07.1", "resumed weights equal without restoring the loader's generator")
def _resume_without_generator(value: Any) -> Verdict:
    if not isinstance(value, bool):
        raise TypeError(f"pass True or False (the result of same_state), not {type(value).__name__}")
    if value:
        return False, (
            "equal? Check that you removed loader.generator.set_state(...) and that the "
            "loader shuffles (train=True): a fresh generator starts the order from the beginning."
        )
    return True, (
        "a fresh loader starts its shuffling from the seed again, so the resumed epochs draw "
        "other batches than the uninterrupted run's."
    )


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
        return True, (
            f"{p['batches']} steps in epoch 1 cross the step size {p['step_size']} several "
            "times, and every crossing divides the rate by 10."
        )
    return False, (
        f"count the scheduler steps taken in epoch 1 ({p['batches']} batches) and how many "
        f"times that passes a multiple of step_size={p['step_size']}."
    )


@register("07.3", "bytes of Adam's state per byte of model state")
def _adam_state_ratio(value: Any) -> Verdict:
    ratio = float(value)
    if 1.9 <= ratio <= 2.05:
        return True, (
            "Adam keeps two running averages (exp_avg, exp_avg_sq) of every parameter's "
            "size; the model's state also holds batch-norm buffers that Adam does not track."
        )
    if 0.9 <= ratio <= 1.05:
        return False, "about one: did you count both of Adam's running averages for every parameter?"
    return False, (
        "count the bytes (numel() * element_size()) of every tensor in both state_dicts, "
        "including the tensors nested in the optimizer's 'state'."
    )


# (end of lesson 07)


# ---- lesson 08: going faster ----------------------------------------------


@register("08.1", "PIL data rate without augmentation / with it")
def _augmentation_cost(value: Any) -> Verdict:
    ratio = float(value)
    if not math.isfinite(ratio) or ratio <= 0:
        return False, "a ratio of two rates (images/s) is a positive number."
    if ratio < 1.1:
        return False, (
            "the pipeline without augmentation should be clearly faster: did you time "
            "data.preset('lenet') against data.preset('lenet_augment') on the same images?"
        )
    return True, (
        "flip, rotation, affine and colour jitter each run per image in PIL; without them "
        "only ToTensor and Normalize remain."
    )


@register("08.2", "largest difference between brightness by hand and BatchAugment")
def _brightness_by_hand(value: Any) -> Verdict:
    diff = float(value)
    if not math.isfinite(diff) or diff < 0:
        return False, "a largest absolute difference is a number >= 0."
    if diff < 1e-5:
        return True, "the same arithmetic: multiply each image by its factor, then clamp to [0, 1]."
    return False, (
        "use BatchAugment's own draw (sample_params) for the factors, with every other "
        "augmentation switched off, and clamp to [0, 1] after multiplying."
    )


@register("08.3", "spread of validation accuracy over seeds, in percentage points")
def _seed_spread(value: Any) -> Verdict:
    points = float(value)
    if not math.isfinite(points) or points < 0:
        return False, "a spread (largest minus smallest accuracy) is >= 0."
    if points == 0:
        return False, (
            "no spread at all: pass each seed to both the DeviceLoader (seed=) and BatchAugment's generator."
        )
    if points > 25:
        return False, "more than 25 points: is it in percentage points, and did every run train as long?"
    return True, (
        "chance alone moves a short run's accuracy by about this much; compare the "
        "PIL-vs-DeviceLoader difference with it before calling either better."
    )


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
        return False, (
            "that divides the steps by the processes; but each step already uses "
            "all processes' images together. What does --batch-size mean here?"
        )
    return False, "count how many global batches of 16 fit into 800 images."


@register("09.2", "fraction of epoch 2's order equal to epoch 1's without set_epoch")
def _same_order(value: Any) -> Verdict:
    fraction = as_fraction(value)
    if fraction > 0.999:
        return True, "without set_epoch the sampler shuffles with the same seed every epoch."
    return False, (
        "that is the fraction you would expect from two different shuffles; "
        "did you call set_epoch after all? Leave it out for this measurement."
    )


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
        return False, (
            "close, but on the CPU a resumed run should be bitwise equal; did both runs "
            "use exactly the same arguments (--cpu, --seed, --batch-size, samples)?"
        )
    return False, "far apart: compare checkpoints of runs with the same arguments and the same --epochs."


# (end of lesson 09)
