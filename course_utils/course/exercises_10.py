"""The checks of lesson 10, when training goes wrong (see ``course_utils.course.check``).

Importing this module registers them.
"""

from __future__ import annotations

import math
from typing import Any

from .check import Verdict, register


def _number(value: Any) -> float:
    """A finite float from a number, a tensor or a numpy scalar."""
    number = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(number):
        raise ValueError(f"{number} is not a finite number")
    return number


@register("10.1", "loss at initialisation with 100 classes")
def _init_loss_100(value: Any) -> Verdict:
    loss = _number(value)
    if math.log(100) - 0.2 <= loss <= math.log(100) + 1.0:
        return True, "about ln 100: an untrained network gives each of the 100 classes about 1/100."
    if abs(loss - math.log(10)) < 0.5:
        return False, "that is about ln 10: did you build the network with num_classes=100?"
    if loss > math.log(100) + 1.0:
        return False, (
            "well above ln 100: are the random labels drawn from 0 to 99, and is the network untrained "
            "(no optimizer step before measuring)?"
        )
    return False, "below ln 100: measure before any training, on labels drawn at random from 0 to 99."


@register("10.2", "gradient norm: 4 accumulated micro-batches / one batch of 64")
def _accumulation_ratio(value: Any) -> Verdict:
    ratio = _number(value)
    if ratio <= 0:
        raise ValueError(f"{ratio} is not a ratio of two norms")
    if abs(ratio - 1) < 1e-3:
        return True, (
            "the mean loss of 64 images is the mean of 4 micro-batch means, so the 4 backward() "
            "calls of loss / 4 add up to the same gradient."
        )
    if 3.5 < ratio < 4.5:
        return False, "about 4: divide each micro-batch's loss by the number of micro-batches (4)."
    if ratio < 0.9:
        return False, "too small: is there a zero_grad() between the micro-batches? Clear once, before all 4."
    return False, (
        "not equal: use the same 64 images split into 4 x 16, no batch normalization, no dropout, "
        "and compare before any optimizer.step()."
    )


@register("10.3", "does the exact fingerprint find a flipped copy")
def _flipped_copy_found(value: Any) -> Verdict:
    if not isinstance(value, bool):
        raise TypeError(f"pass True or False (whether the check found it), not {type(value).__name__}")
    if value:
        return False, (
            "found? A flipped image has its bytes in another order, so its fingerprint differs: did "
            "you plant image.flip(-1), not the image itself?"
        )
    return True, (
        "an exact fingerprint only finds byte-for-byte copies; a flipped, resized or re-compressed "
        "copy needs a comparison of image content."
    )


@register("10.4", "std of the green channel after the blitz's Normalize(0.5, 0.5)")
def _blitz_std(value: Any) -> Verdict:
    std = _number(value)
    if 0.35 <= std <= 0.65:
        return True, (
            "about 0.49: (x - 0.5) / 0.5 maps [0, 1] to [-1, 1], which doubles the standard deviation "
            "(about 0.24) but does not make it 1. Not a mistake: centred near zero and of order one "
            "is what the network needs."
        )
    if 0.9 <= std <= 1.1:
        return False, "about 1: that is normalizing with the data's own std; use 0.5 as the blitz does."
    if 0.15 <= std < 0.35:
        return False, "that looks like the std before Normalize: apply (x - 0.5) / 0.5 first."
    return False, "apply (x - 0.5) / 0.5 to train_x and take .std() of channel 1, train_x_blitz[:, 1]."
