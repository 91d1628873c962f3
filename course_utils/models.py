"""The networks the course trains, written the way the source tutorials write them.

Attribute names (``conv1``, ``conv2``, ``conv3``, ``fc1``, ``fc2``, ``fc3``,
``dropout``) follow the tutorials, so a class typed out in a notebook the same
way has exactly the same ``state_dict`` keys as the one here
(see :func:`same_architecture`).

=============  ===========  ==========
model          input        parameters
=============  ===========  ==========
TutorialNet    3 x 32 x 32      62,006
MnistCNN       1 x 28 x 28       5,142
LeNetV1        3 x 32 x 32     657,080
LeNetV2        3 x 32 x 32     541,094
resnet50(10)   3 x H x W    23,528,522
=============  ===========  ==========

Beside the networks, what looks at one: :func:`count_parameters`,
:func:`same_architecture`, :func:`eval_mode`, and the first-batch checks
(:func:`checked_forward`, :func:`check_targets`, :func:`check_predict_input`) that
turn the usual data mistakes (uint8 pixels, an (N, H, W, C) array, another image
size, labels outside the classes) into one message naming what the model expects.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TutorialNet",
    "MnistCNN",
    "LeNetV1",
    "LeNetV2",
    "resnet50",
    "count_parameters",
    "same_architecture",
    "eval_mode",
    "checked_forward",
    "check_targets",
    "check_predict_input",
    "diagnose_inputs",
]

_PROBE_SIZES = (28, 32, 64, 96, 128, 224)  # image sizes the course's models are built for


class TutorialNet(nn.Module):
    """The CNN of PyTorch's "Deep Learning with PyTorch: A 60 Minute Blitz".

    Input ``(N, 3, 32, 32)`` (CIFAR-10), output ``(N, num_classes)`` logits;
    62,006 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 3, 32, 32)``."""
        x = self.pool(F.relu(self.conv1(x)))  # (N, 6, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MnistCNN(nn.Module):
    """A small CNN for 28x28 grey-scale digits: two conv/ReLU/pool blocks, one linear layer.

    Input ``(N, 1, 28, 28)``: 28 -> 24 -> 12 -> 8 -> 4, so 16 * 4 * 4 = 256
    features reach the linear layer. 5,142 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 1, 28, 28)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 6, 12, 12)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 4, 4)
        return self.fc1(torch.flatten(x, 1))


class LeNetV1(nn.Module):
    """LeNet for CIFAR-10: conv 3->20 5x5, pool, conv 20->50 5x5, pool, 1250->500, dropout, 500->10.

    Input ``(N, 3, 32, 32)``: 32 -> 28 -> 14 -> 10 -> 5, so 50 * 5 * 5 = 1250
    features. 657,080 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(5 * 5 * 50, 500)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 3, 32, 32)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)  # (N, 20, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)  # (N, 50, 5, 5)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


class LeNetV2(nn.Module):
    """Deeper LeNet: three 3x3 conv layers (3->16->32->64, padding 1), each ReLU + pool 2.

    Input ``(N, 3, 32, 32)``: 32 -> 16 -> 8 -> 4, so 64 * 4 * 4 = 1024 features,
    then 1024->500, dropout 0.5, 500->10. 541,094 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, 1, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 64, 500)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 3, 32, 32)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)  # (N, 16, 16, 16)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)  # (N, 32, 8, 8)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2, 2)  # (N, 64, 4, 4)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def resnet50(num_classes: int = 10) -> nn.Module:
    """An untrained torchvision ResNet-50 with a ``num_classes``-way final layer.

    No weights are downloaded (``weights=None``); 23,528,522 parameters with 10 classes.
    """
    from torchvision import models as tv_models

    return tv_models.resnet50(weights=None, num_classes=num_classes)


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter values in ``model`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _shapes(obj: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    state = obj.state_dict() if isinstance(obj, nn.Module) else obj
    return {key: tuple(value.shape) for key, value in state.items()}


def same_architecture(
    a: nn.Module | Mapping[str, torch.Tensor], b: nn.Module | Mapping[str, torch.Tensor]
) -> bool:
    """True when ``a`` and ``b`` (models or state dicts) have equal state_dict keys and shapes.

    Then the weights of one load into the other with ``load_state_dict``.
    """
    return _shapes(a) == _shapes(b)


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
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a course dependency
        Image = None
    if Image is not None and isinstance(inputs, Image.Image):
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


def diagnose_inputs(model: nn.Module, inputs: torch.Tensor, *, where: str) -> Exception | None:
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
        problem = diagnose_inputs(model, inputs, where=where)
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
