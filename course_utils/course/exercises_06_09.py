"""The checks of lessons 06 to 09 (see ``course_utils.check``); importing this module registers them."""

from __future__ import annotations

import math
from typing import Any

from .check import Verdict, as_fraction, as_whole_number, register


# ---- lesson 06: data augmentation -----------------------------------------
@register("06.1", "validation accuracy on augmented minus on plain validation images")
def _augmented_validation(value: Any) -> Verdict:
    diff = float(value.item() if hasattr(value, "item") else value)
    if not -1.0 <= diff <= 1.0:
        raise ValueError(f"{diff} is not a difference of two accuracies given as fractions")
    if diff == 0.0:
        return False, "exactly 0: are both loaders built on the same (plain) transform?"
    if diff > 0:
        return False, (
            "higher on augmented images? Check the order (augmented minus plain) and that the "
            "network was trained on plain images."
        )
    if diff > -0.01:
        return False, (
            "less than one point lower: that is within the noise of one pass. Is every "
            "augmentation switched on, and did you average over a few passes?"
        )
    return True, "augmented images are harder; a validation figure on them measures something else."


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
    if ratio < 1:
        return False, "below 1: is it augmented divided by plain, and not the other way round?"
    if ratio < 1.2:
        return False, (
            "about the same time: does the second loader really augment? Time a whole pass of "
            "each, after one untimed pass, and compare."
        )
    if ratio > 100:
        return False, "over 100 times: did one of the two passes include building the dataset?"
    return True, "every augmentation is extra work per image and per epoch, on the CPU."


@register("06.5", "fraction of 1,000 copies that your random flip mirrored")
def _flip_fraction(value: Any) -> Verdict:
    fraction = as_fraction(value)
    if fraction == 1.0:
        return (
            False,
            "every copy mirrored: draw a new coin for each image, and flip only when it is below 0.5.",
        )
    if fraction == 0.0:
        return False, "no copy mirrored: did you return the flipped tensor, and compare with torch.equal?"
    if 0.4 <= fraction <= 0.6:
        return True, "a coin per image with probability 0.5: about half, like RandomHorizontalFlip()."
    return False, "far from one half: is the probability 0.5, and is a new coin drawn for every copy?"


# (end of lesson 06)


# ---- lesson 07: ResNet-50, train, evaluate, checkpoint --------------------
_STEPLR_07 = {"lr": 1e-3, "step_size": 20, "gamma": 0.1, "batches": 159}


@register("07.1", "resumed weights equal (with the generator state, without it)")
def _resume_without_generator(value: Any) -> Verdict:
    if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, bool) for v in value)):
        raise TypeError("pass the pair (with_generator, without_generator), two results of same_state")
    with_generator, without_generator = value
    if not with_generator:
        return False, (
            "even with the generator state the resumed run differs: is everything else restored "
            "(model, optimizer, scheduler) into objects built the same way?"
        )
    if without_generator:
        return False, (
            "equal without the generator state? Check that you left out loader.generator.set_state(...) "
            "and that the loader shuffles (train=True)."
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
def _pil_augmentation_cost(value: Any) -> Verdict:
    ratio = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(ratio) or ratio <= 0:
        raise ValueError(f"{ratio} is not a positive ratio of two rates (images/s)")
    if ratio < 1:
        return False, "below 1: is it the rate without augmentation divided by the rate with it?"
    if ratio < 1.3:
        return False, (
            "about the same rate: did you time data.preset('lenet') against "
            "data.preset('lenet_augment') on the same images, after an untimed pass?"
        )
    if ratio > 100:
        return False, "over 100 times: did one of the timings include building the dataset?"
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


@register("08.3", "spread of test accuracy over seeds, in percentage points")
def _seed_spread(value: Any) -> Verdict:
    points = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(points) or points < 0:
        raise ValueError(f"{points} is not a spread (largest minus smallest accuracy, >= 0)")
    if points == 0:
        return False, (
            "no spread at all: pass each seed to both the DeviceLoader (seed=) and BatchAugment's generator."
        )
    if points < 0.1:
        return False, "below 0.1: that looks like a fraction; give the spread in percentage points (x 100)."
    if points > 15:
        return False, "more than 15 points: did every run train as long, from the same initial weights?"
    return True, (
        "chance alone moves a short run's accuracy by about this much; compare the "
        "PIL-vs-DeviceLoader difference with it before calling either better."
    )


# (end of lesson 08)


# ---- lesson 09: torchrun and DistributedDataParallel ----------------------


@register("09.1", "optimizer steps per epoch: global batch 16, 800 images, 4 processes")
def _steps_on_four(value: Any) -> Verdict:
    steps = as_whole_number(value)
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
    extra = as_whole_number(value)
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


@register("09.6", "largest weight difference after 10 steps without the all-reduce")
def _no_all_reduce(value: Any) -> Verdict:
    diff = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(diff) or diff < 0:
        raise ValueError(f"{diff} is not a largest absolute difference (a number >= 0)")
    if diff == 0.0:
        return False, "exactly 0: did you compare a model with itself, or step the replicas at all?"
    if diff < 1e-5:
        return False, (
            "that is rounding: the replicas still average their gradients. Let each one step "
            "with its own half-batch gradient only."
        )
    if diff > 10:
        return False, "more than 10: did the runs use the lesson's learning rate (0.05) for 10 steps?"
    return True, (
        "without the all-reduce each replica follows only its half of the data: far beyond "
        "the lesson's tolerance of 1e-5, which is why the check can tell."
    )


# (end of lesson 09)
