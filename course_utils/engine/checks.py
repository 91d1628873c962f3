"""What the loops check before they trust a batch (engine's third file).

:func:`eval_mode`; :func:`check_optimizer` (an optimizer built for another model object);
and the first-batch checks (:func:`checked_forward`, :func:`check_targets`,
:func:`check_predict_input`) that turn the usual data mistakes (uint8 pixels, an
(N, H, W, C) array, another image size, labels outside the classes, a single image) into
one message naming what the model expects. A model that takes its inputs pays nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

__all__ = [
    "eval_mode",
    "check_logits",
    "check_optimizer",
    "checked_forward",
    "check_targets",
    "check_predict_input",
]

_PROBE_SIZES = (28, 32, 64, 96, 128, 224)  # image sizes the course's models are built for


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the ``with`` block, its previous mode restored after.

    Taught in lesson 05, *Why dropout needs `model.eval()`*. ``with eval_mode(model),
    torch.no_grad(): ...`` is how evaluation, prediction and the layer-shape table run
    without changing how a learner left the model.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- what a model accepts
def check_predict_input(inputs: Any) -> None:
    """For ``predict``: a PIL image, a non-tensor or a single image is an error that says what to do."""
    from PIL import Image  # pillow is a course dependency; imported only when predicting

    if isinstance(inputs, Image.Image):
        raise TypeError(
            "predict() got a PIL Image, but the model needs a tensor batch of shape "
            "(N, C, H, W): apply transforms.ToTensor() (or your test transform) and add "
            "the batch axis, e.g. predict(model, transform(img)[None]) or .unsqueeze(0)"
        )
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"predict() needs a torch.Tensor batch of shape (N, C, H, W), got "
            f"{type(inputs).__name__}; convert it with transforms.ToTensor() or torch.as_tensor"
        )
    if inputs.dim() == 3:
        shape = tuple(inputs.shape)
        raise ValueError(
            f"predict() got a single image of shape (C, H, W) = {shape}, but the model "
            f"needs a batch of shape (N, C, H, W); add the batch axis with x[None] "
            f"(or x.unsqueeze(0)) to get shape {(1, *shape)}"
        )


def _input_channels(model: nn.Module) -> int | None:
    """The channel count the model's first convolution takes (None: no Conv2d)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else None


def _accepted_size(model: nn.Module, channels: int, device: torch.device) -> int | None:
    """The first of a few usual square image sizes the model accepts (None: none of them)."""
    with eval_mode(model), torch.no_grad():
        for size in _PROBE_SIZES:
            try:
                model(torch.zeros(1, channels, size, size, device=device))
            except RuntimeError:
                continue
            return size
    return None


def _diagnose_inputs(model: nn.Module, inputs: torch.Tensor, *, where: str) -> Exception | None:
    """Why ``model`` cannot take ``inputs`` - integer pixels, (N, H, W, C), another size - or None."""
    shape = tuple(inputs.shape)
    param = next(model.parameters(), None)
    wanted = param.dtype if param is not None and param.is_floating_point() else torch.float32
    if inputs.dtype != wanted:
        return TypeError(
            f"{where} got images of dtype {inputs.dtype} with shape {shape}, but the model needs "
            f"{wanted}: convert them with transforms.ToTensor() (pixels 0-255 become 0.0-1.0) "
            "and normalise them as in training, or use x.float() / 255 for a uint8 tensor"
        )
    channels = _input_channels(model)
    if inputs.dim() != 4 or channels is None:
        return None
    if shape[1] != channels and shape[-1] == channels:
        return ValueError(
            f"{where} got a batch of shape {shape}, which looks like (N, H, W, C) = channels "
            f"last, but the model needs (N, C, H, W) with C = {channels}: reorder it with "
            f"x.permute(0, 3, 1, 2) to get {(shape[0], shape[3], shape[1], shape[2])}"
        )
    if shape[1] != channels:
        return ValueError(
            f"{where} got a batch with {shape[1]} channel(s), shape {shape}, but the model's "
            f"first convolution expects {channels}: grey images have 1 channel and colour "
            "images 3; convert them (e.g. transforms.Grayscale or .convert('RGB')) to match"
        )
    size = _accepted_size(model, channels, inputs.device)
    if size is None or shape[2:] == (size, size):
        return None
    return ValueError(
        f"{where}: the model cannot take images of size {shape[2]}x{shape[3]} (batch shape "
        f"{shape}); it accepts {size}x{size} (shape {(shape[0], channels, size, size)}): resize "
        f"the images (e.g. transforms.Resize({size})) or build the model for this size"
    )


def checked_forward(model: nn.Module, inputs: torch.Tensor, *, where: str) -> torch.Tensor:
    """``model(inputs)``; when it fails on the usual input mistakes, an error that names them.

    Diagnosing only after a failure costs nothing when the inputs fit, and never
    refuses inputs a model takes on purpose (e.g. one that converts uint8 itself).
    """
    try:
        return model(inputs)
    except RuntimeError as exc:
        problem = _diagnose_inputs(model, inputs, where=where)
        if problem is None:
            raise
        raise type(problem)(f"{problem}. PyTorch said: {exc}") from exc


def check_targets(outputs: torch.Tensor, targets: torch.Tensor, *, where: str) -> None:
    """Labels must be class indices 0 .. C-1 for a model with C outputs."""
    if outputs.dim() != 2 or targets.dim() != 1 or targets.is_floating_point() or not targets.numel():
        return
    classes = outputs.shape[1]
    low, high = targets.min().item(), targets.max().item()
    if low < 0 or high >= classes:
        raise ValueError(
            f"{where} got labels from {low} to {high}, but the model has {classes} outputs, "
            f"so labels must be class indices 0 .. {classes - 1}: check the dataset's "
            "targets (labels counted from 1?) or the model's number of classes (num_classes=)"
        )


def check_logits(outputs: torch.Tensor, targets: torch.Tensor, ks: list[int], *, where: str) -> None:
    """Accuracy needs outputs ``(N, C)``, one score per class, N labels, and every k in 1 .. C."""
    if outputs.dim() != 2 or targets.shape != outputs.shape[:1]:
        raise ValueError(
            f"{where} measures accuracy from outputs of shape (N, C), one score per class, and N class "
            f"labels, but got outputs of shape {tuple(outputs.shape)} and labels of shape "
            f"{tuple(targets.shape)}: give the model one output per class and the labels as class indices"
        )
    for k in ks:
        if not 1 <= k <= outputs.shape[1]:
            raise ValueError(
                f"{where}: top-k accuracy with k={k} needs k between 1 and the model's "
                f"{outputs.shape[1]} classes: pass topk= with smaller k"
            )


def check_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Refuse an optimizer that updates none of the model's parameters (a re-run cell's stale one)."""
    own = {id(p) for p in model.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if held and not any(id(p) in own for p in held):
        raise ValueError(
            f"the optimizer updates none of this {type(model).__name__}'s parameters, so "
            "training would change nothing: it was built for another model object (did you "
            "re-run the cell that creates the model but not the one that creates the "
            "optimizer?). Build the optimizer again from model.parameters()"
        )
