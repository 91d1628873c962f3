"""The output shape of every layer of a model: :func:`layer_shapes` and its table.

Moved out of :mod:`course_utils.viz`, which still exports :func:`layer_shapes`,
:class:`LayerShapes` and :class:`LayerRow`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import nn

from .engine import eval_mode

__all__ = ["layer_shapes", "LayerShapes", "LayerRow"]


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


_FUNCTIONAL = frozenset(
    {
        "relu",
        "relu_",
        "relu6",
        "gelu",
        "silu",
        "elu",
        "leaky_relu",
        "sigmoid",
        "tanh",
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
        "adaptive_avg_pool1d",
        "adaptive_avg_pool2d",
        "adaptive_max_pool2d",
        "flatten",
        "view",
        "reshape",
        "dropout",
        "dropout2d",
        "softmax",
        "log_softmax",
        "conv1d",
        "conv2d",
        "linear",
        "batch_norm",
    }
)


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
    handles = _attach_hooks(model, rows, stack)
    try:
        with eval_mode(model), torch.no_grad():
            x = torch.zeros(tuple(input_shape), device=device)
            if functional:
                with _FunctionalRecorder(rows, stack):
                    model(x)
            else:
                model(x)
    finally:
        for handle in handles:
            handle.remove()
    return rows
