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

Beside the networks, what looks at one: :func:`count_parameters`, :func:`same_architecture`
and :func:`layer_shapes` (taught in lesson 04, *The network, checked against course_utils*),
the output shape of every layer. What the training loops check about a model's inputs, and
``eval_mode``, live with the loops, in :mod:`course_utils.engine.checks`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

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
    "layer_shapes",
    "LayerShapes",
    "LayerRow",
]


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


# ---------------------------------------------------------------- layer shapes


class LayerRow(NamedTuple):
    """One row of :func:`layer_shapes`: where, what and the output shape."""

    name: str
    type: str
    output_shape: tuple


class LayerShapes(list):
    """Rows ``(name, type, output_shape)`` in execution order, printed as a plain-text table."""

    def __str__(self) -> str:
        rows = [("layer", "type", "output shape")]
        rows += [(r.name, r.type, " x ".join(map(str, r.output_shape))) for r in self]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip() for row in rows
        ]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    __repr__ = __str__

    def shapes(self, name: str) -> list[tuple]:
        """Output shapes of every row called ``name`` (a module used twice appears twice)."""
        return [row.output_shape for row in self if row.name == name]


def _shape_of(output: Any) -> tuple:
    """The shape of a tensor output, or a tuple of shapes for tuple outputs."""
    if isinstance(output, torch.Tensor):
        return tuple(output.shape)
    if isinstance(output, (tuple, list)):
        return tuple(_shape_of(o) for o in output if isinstance(o, (torch.Tensor, tuple, list)))
    return ()


# Functional calls that change a shape (the rows hooks cannot see).
# fmt: off
_FUNCTIONAL = frozenset((
    "relu", "relu_", "relu6", "gelu", "silu", "elu", "leaky_relu", "sigmoid", "tanh", "max_pool1d",
    "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d",
    "adaptive_avg_pool2d", "adaptive_max_pool2d", "flatten", "view", "reshape", "dropout", "dropout2d",
    "softmax", "log_softmax", "conv1d", "conv2d", "linear", "batch_norm",
))
# fmt: on


class _FunctionalRecorder(torch.overrides.TorchFunctionMode):
    """Records shape-relevant functional calls (``F.max_pool2d``...) made outside leaf modules."""

    def __init__(self, rows: LayerShapes, stack: list[tuple[str, bool]]) -> None:
        super().__init__()
        self.rows, self.stack, self.counts = rows, stack, {}

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: Any = None) -> Any:
        output = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "").lstrip("_")
        inside_leaf = bool(self.stack) and self.stack[-1][1]
        if name in _FUNCTIONAL and not inside_leaf and isinstance(output, torch.Tensor):
            self.counts[name] = self.counts.get(name, 0) + 1
            parent = self.stack[-1][0] if self.stack else ""
            label = f"{parent}.{name}" if parent else name
            self.rows.append(LayerRow(f"{label}_{self.counts[name]}", f"F.{name}", tuple(output.shape)))
        return output


def _attach_hooks(model: nn.Module, rows: LayerShapes, stack: list[tuple[str, bool]]) -> list[Any]:
    """Forward hooks: every module pushes itself on ``stack``; leaf modules add a row."""
    handles = []
    for name, module in model.named_modules():
        leaf = next(module.children(), None) is None

        def pre(mod: nn.Module, inputs: Any, name: str = name, leaf: bool = leaf) -> None:
            stack.append((name, leaf))

        def post(mod: nn.Module, inputs: Any, output: Any, name: str = name, leaf: bool = leaf) -> None:
            stack.pop()
            if leaf:
                rows.append(LayerRow(name or type(mod).__name__, type(mod).__name__, _shape_of(output)))

        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    return handles


def layer_shapes(model: nn.Module, input_shape: Sequence[int], *, functional: bool = True) -> LayerShapes:
    """The output shape of every layer for one zeros input of ``input_shape`` (batch dim included).

    Forward hooks on the leaf modules (``conv1``, ``pool``, ``fc1`` ...) record
    their outputs, in execution order; a module used twice appears twice. Many
    tutorial models call ``F.relu`` / ``F.max_pool2d`` / ``torch.flatten`` /
    ``x.view`` inside ``forward`` rather than through modules; hooks cannot see
    those, so with ``functional=True`` (default) they are recorded too (rows
    like ``max_pool2d_1``, type ``F.max_pool2d``). With ``functional=False`` the
    table holds only modules, e.g. just the conv and linear layers of ``LeNetV2``.
    The first row is the input itself. Runs in eval mode under ``torch.no_grad``
    and restores the model's mode.
    """
    rows, stack = LayerShapes([LayerRow("input", "Tensor", tuple(input_shape))]), []
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    handles, was_training = _attach_hooks(model, rows, stack), model.training
    try:
        model.eval()  # and back below, as engine.eval_mode does (models imports no training code)
        with torch.no_grad(), _FunctionalRecorder(rows, stack) if functional else contextlib.nullcontext():
            model(torch.zeros(tuple(input_shape), device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return rows
