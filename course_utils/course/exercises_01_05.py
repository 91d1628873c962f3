"""The checks of lessons 01 to 05 (see ``course_utils.check``); importing this module registers them."""

from __future__ import annotations

import math
from typing import Any

from .check import Verdict, as_fraction, as_whole_number, register

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
    raw = abs(float(value.item() if hasattr(value, "item") else value))
    # Below 0.5 the value is a difference of two fractions (seed1_acc - seed0_acc); from 0.5 on it is in
    # percentage points, so 0.8, 1.0 and 1.2 points are judged alike.
    points = 100.0 * raw if raw < 0.5 else raw
    if points == 0.0:
        return (
            False,
            "exactly no change: both runs probably used the same seed (setup(seed=...) and manual_seed)",
        )
    if points > 25.0:
        hint = f"; if you meant {raw:g} points, pass {raw / 100:g}" if raw < 0.5 else ""
        return False, (
            f"a change of {points:.0f} points is more than a seed moves this network; "
            f"did both runs train equally long{hint}?"
        )
    return True, (
        f"{points:.1f} points is the noise of a single run: "
        "smaller differences between two models mean little"
    )


@register("03.5", "cross-entropy loss of an untrained network over 10 classes")
def _loss_at_init(value: Any) -> Verdict:
    loss = float(value.item() if hasattr(value, "item") else value)
    if abs(loss - math.log(10)) < 0.1:
        return True, "equal scores give each class probability 1/10, and -ln(1/10) = ln 10"
    if abs(loss - 0.1) < 0.02 or abs(loss - math.log10(10)) < 0.02:
        return False, "that is the probability or a base-10 logarithm; cross-entropy uses the natural log"
    return (
        False,
        "what probability does a network with near-equal scores give the true class, and what is -ln of it?",
    )


# (end of lesson 03)


# ---- lesson 04: an MNIST CNN from torch.nn modules ------------------------
@register("04.1", "optimizer steps in one epoch of 60,000 images in batches of 64")
def _steps_at_batch_64(value: Any) -> Verdict:
    steps = as_whole_number(value)
    if steps == math.ceil(60_000 / 64):
        return True, "len(train_loader) counts every batch, the short last one included."
    if steps == math.ceil(2_000 / 64):
        return True, "that is the smoke profile's 2,000 images; on all 60,000 the same rule gives more."
    if steps == 60_000 // 64:
        return False, "one batch is missing: the DataLoader keeps the short last batch (drop_last=False)."
    return False, "build the loader with batch_size=64 and read len(train_loader)."


@register("04.2", "features that reach fc1 with 3x3 instead of 5x5 convolutions")
def _features_with_3x3(value: Any) -> Verdict:
    features = as_whole_number(value)
    if features == 16 * 5 * 5:
        return True, "each 3x3 convolution trims 2 pixels, each pooling halves (rounding down)."
    if features == 16 * 4 * 4:
        return False, "that is the 5x5 network's count; change kernel_size and measure again."
    return False, "run models.layer_shapes on the changed network and read the flatten row."


@register("04.3", "parameters of MnistCNN with padding=2 in both convolutions")
def _parameters_with_padding(value: Any) -> Verdict:
    count = as_whole_number(value)
    conv = (1 * 6 * 25 + 6) + (6 * 16 * 25 + 16)
    if count == conv + 16 * 7 * 7 * 10 + 10:
        return True, "padding keeps 28x28 through conv1, so fc1 sees more features."
    if count == conv + 16 * 4 * 4 * 10 + 10:
        return False, "unchanged: padding adds no convolution weights, but fc1 must now take more features."
    return False, "count with models.count_parameters after fixing fc1's in_features."


@register("04.4", "test accuracy that argmax() without a dimension reports on batches of 50")
def _argmax_without_dim(value: Any) -> Verdict:
    acc = as_fraction(value)
    if acc <= 0.03:
        return True, (
            "one index into all 500 scores of the batch is rarely below 10, "
            "and only then can it equal a label."
        )
    if abs(acc - 0.10) <= 0.03:
        return False, (
            "that is chance, what an untrained network scores with argmax(1); "
            "with argmax() the prediction is an index from 0 to 499, not a class."
        )
    return False, "that looks like a per-image prediction; did the loop call argmax() with no dimension?"


@register("04.5", "size of Adam's first step for a weight whose gradient is 5.0 (lr=0.001)")
def _adam_first_step(value: Any) -> Verdict:
    step = abs(float(value.item() if hasattr(value, "item") else value))
    if abs(step - 0.001) < 1e-5:
        return (
            True,
            "after bias correction m / sqrt(v) = g / |g|: the first step is lr, whatever the gradient.",
        )
    if abs(step - 0.005) < 1e-5:
        return False, "that is plain SGD's lr x gradient; Adam divides by the root of the second moment."
    if abs(step - 0.001 * 0.1 / math.sqrt(0.001)) < 1e-5:
        return False, "that is without bias correction: divide m by 1 - 0.9 and v by 1 - 0.999 first."
    return (
        False,
        "write m, v and their bias-corrected values for one step with g = 5, then lr x m_hat / sqrt(v_hat).",
    )


# (end of lesson 04)


# ---- lesson 05: LeNet variants --------------------------------------------
@register("05.1", "validation accuracy in eval mode minus in train mode, same trained network")
def _eval_minus_train_mode(value: Any) -> Verdict:
    diff = float(value.item() if hasattr(value, "item") else value)
    if not -1.0 <= diff <= 1.0:
        raise ValueError(f"{diff} is not a difference of two accuracies given as fractions")
    if 0.005 <= diff <= 0.25:
        return True, "in train mode dropout still silences units at random, so predictions suffer."
    if diff > 0.25:
        return False, (
            "more than dropout on one layer costs a trained network; did both passes use the same "
            "trained weights and the same validation images?"
        )
    if -0.25 <= diff <= -0.005:
        return False, "negative: did you subtract eval mode from train mode? The question asks eval − train."
    if abs(diff) < 0.005:
        return False, "(nearly) identical accuracies: was the first pass really run after model.train()?"
    return False, (
        "train mode came out far ahead: with a barely trained network chance dominates; "
        "train for a few epochs (COURSE_PROFILE=quick) and measure again."
    )


@register("05.2", "parameters of LeNet v1 with padding=2 in both convolutions")
def _lenet_v1_padded(value: Any) -> Verdict:
    count = as_whole_number(value)
    conv = (3 * 20 * 25 + 20) + (20 * 50 * 25 + 50)
    if count == conv + (50 * 8 * 8 * 500 + 500) + (500 * 10 + 10):
        return True, "padding keeps the size through each convolution, so fc1 grows, not the convolutions."
    if count == 657_080:
        return False, "that is the unpadded v1; with padding fc1 needs more inputs."
    return False, "measure the flatten size with models.layer_shapes, fix fc1, then models.count_parameters."


@register("05.3", "train − val accuracy gap at the end: (without dropout, with dropout)")
def _gap_without_dropout(value: Any) -> Verdict:
    without, with_ = (float(v) for v in value)
    if max(abs(without), abs(with_)) > 1:
        raise ValueError("give the gaps as fractions, e.g. (0.12, 0.05)")
    if without <= 0.0:
        return False, (
            "without dropout the network should fit its training images better than the validation "
            "images; a gap of zero or less means it has not overfitted yet: train longer on fewer images."
        )
    if without - with_ >= 0.03:
        return True, "without dropout the network fits its training images more closely."
    if with_ - without >= 0.03:
        return False, "the larger gap is the one with dropout: is the pair in the order (without, with)?"
    return False, (
        "the two gaps differ by less than a rerun moves them: after only a few epochs neither network "
        "has overfitted much; train longer (COURSE_PROFILE=quick, or more epochs on fewer images)."
    )


# (end of lesson 05)
