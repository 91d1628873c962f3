"""The checks of lessons 11 and 12 (see ``course_utils.course.check``); importing this registers them."""

from __future__ import annotations

from typing import Any

from .check import Verdict, as_whole_number, register

# ResNet-18's sizes, counted from torchvision.models.resnet18(): the figures the checks need.
_FEATURES = 512  # inputs of resnet18's fc layer
_LAYER4 = 8_393_728  # parameter values in resnet18's layer4
_BATCHNORMS = 20  # bn1, two per BasicBlock (8 blocks), one per downsample (3)


# ---- lesson 11: transfer learning -----------------------------------------
@register("11.1", "trainable parameter values for feature extraction with 5 classes")
def _head_size(value: Any) -> Verdict:
    count = as_whole_number(value)
    if count == _FEATURES * 5 + 5:
        return True, "the new head only: 512 weights per class plus one bias per class."
    if count == _FEATURES * 5:
        return False, "close: a Linear layer also has a bias per output; sum p.numel() of trainable p."
    if count in (_FEATURES * 1000 + 1000, _FEATURES * 10 + 10):
        return False, "that head has the wrong number of outputs: give it one per class folder (5 here)."
    if count > 1_000_000:
        return False, "that counts the frozen backbone too: keep only parameters with p.requires_grad."
    return False, "sum p.numel() over the parameters with p.requires_grad after freezing and replacing fc."


@register("11.2", "BatchNorm layers of ResNet-18 whose running_mean moves in train() mode")
def _moving_batchnorms(value: Any) -> Verdict:
    count = as_whole_number(value)
    if count == _BATCHNORMS:
        return True, (
            "every BatchNorm layer updates its running statistics in training mode, "
            "requires_grad=False or not: freezing stops gradients, not these updates."
        )
    if count == 0:
        return False, "none moved: was the model in train() mode when the batch went through?"
    return False, "compare each BatchNorm2d's running_mean before and after one forward pass in train() mode."


@register("11.3", "parameter values in the optimizer after unfreezing layer4 (5 classes)")
def _unfrozen_layer4(value: Any) -> Verdict:
    count = as_whole_number(value)
    head = _FEATURES * 5 + 5
    if count == _LAYER4 + head:
        return True, "layer4 and the head: the last stage adapts, the earlier, more general ones stay fixed."
    if count == _LAYER4:
        return False, "that is layer4 alone: the head still trains, in its own parameter group."
    if count == head:
        return False, "only the head: did a parameter group with layer4's parameters reach the optimizer?"
    return False, "sum p.numel() over every parameter of every group in optimizer.param_groups."


# (end of lesson 11)


# ---- lesson 12: looking inside a trained network ---------------------------
@register("12.1", "numbers LeNet v1's conv2 outputs per image")
def _conv2_size(value: Any) -> Verdict:
    count = as_whole_number(value)
    if count == 50 * 10 * 10:
        return True, "50 channels of 10x10: conv2's 5x5 filters shrink the pooled 14x14 maps to 10x10."
    if count == 50 * 5 * 5:
        return False, "that is after the pooling (the 1,250 features fc1 gets); hook conv2 itself."
    if count in (50, 20 * 28 * 28, 20 * 14 * 14):
        return False, "hook lenet.conv2 (not conv1) and count output[0].numel() for one image."
    return False, "register a forward hook on lenet.conv2 and print output.shape."


@register("12.2", "height of a Grad-CAM map at ResNet-18's layer4 for 32x32 images")
def _layer4_size(value: Any) -> Verdict:
    size = as_whole_number(value)
    if size == 1:
        return True, (
            "32 is halved five times (stem convolution, max-pool, layer2, layer3, layer4): one "
            "position, so the map cannot say where anything is. layer2 still has 4x4."
        )
    if size == 7:
        return False, "7x7 is layer4's size for 224x224 ImageNet images; our images have 32x32 pixels."
    return False, "run interpret.grad_cam(resnet, resnet.layer4, images, labels) and read the shape."


@register("12.3", "of the MNIST CNN's 8 highest-loss validation images, how many are mistakes")
def _worst_are_mistakes(value: Any) -> Verdict:
    count = as_whole_number(value)
    if not 0 <= count <= 8:
        raise ValueError(f"{count} is not a number of images out of 8")
    if count == 8:
        return True, (
            "confident mistakes: a right answer gives its class at least 1/10 of the probability, "
            "a loss of at most ln 10 = 2.3, and the highest losses lie above that."
        )
    return False, (
        "some of the 8 were right: did you sort by the per-image loss (reduction='none') in "
        "descending order, and compare argmax(1) with the targets of the same images?"
    )


# (end of lesson 12)
