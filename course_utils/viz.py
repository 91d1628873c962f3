"""Pictures for the course: images, confusion matrices and training curves.

Every plotting function *returns* a :class:`matplotlib.figure.Figure` and never
calls ``plt.show()`` or ``display()``. The figures are built with
``matplotlib.figure.Figure`` directly rather than through ``pyplot``, so Jupyter's
inline backend does not also draw them at the end of the cell: a figure shows
exactly once, when it is the last value of a cell or passed to ``display()``.
Save one with ``fig.savefig("name.png")``.

Histories (:func:`plot_history`, :func:`compare_histories`, :class:`LivePlot`)
may be an ``engine.History`` or any object or dict with the lists ``epoch``,
``train_loss``, ``train_acc``, ``val_loss`` and ``val_acc`` (accuracies as
fractions; they are drawn in percent). Empty ``val_*`` lists are skipped.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .data.transforms import channel_stats

__all__ = [
    "im_convert",
    "show_batch",
    "plot_confusion_matrix",
    "plot_per_class_accuracy",
    "plot_history",
    "compare_histories",
    "LivePlot",
    "in_notebook_kernel",
]

_SHAPE_HELP = (
    "expected one image of shape (C, H, W) with C in {{1, 3}} and mean/std of "
    "length 1 or C; got {got}. For a batch, convert images one at a time: "
    "im_convert(batch[i])"
)


# ---------------------------------------------------------------- images


def im_convert(
    tensor: torch.Tensor | np.ndarray,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> np.ndarray:
    """One normalized image tensor ``(C, H, W)`` back to a displayable numpy array.

    Undoes ``transforms.Normalize(mean, std)`` (``x * std + mean``), moves the
    channels last and clips to [0, 1]: ``(H, W, 3)`` for colour, ``(H, W)`` for
    grey-scale ``(1, H, W)``. ``mean``/``std`` default to 0.5 per channel, the
    course's ``Normalize(data.HALF, data.HALF)``; one value applies to every channel.
    Works for tensors on any device and with gradients. A 4-D batch, a channel
    count other than 1 or 3, or a ``mean``/``std`` whose length does not match the
    channels raises ValueError.
    """
    image = torch.as_tensor(tensor).detach().cpu().float()
    shape = tuple(image.shape)
    if image.dim() != 3 or shape[0] not in (1, 3):
        raise ValueError(_SHAPE_HELP.format(got=shape))
    channels = shape[0]
    for name, values in (("mean", mean), ("std", std)):
        if values is not None and len(values) not in (1, channels):
            raise ValueError(_SHAPE_HELP.format(got=f"{shape} with {name} of length {len(values)}"))
    image = image * channel_stats(std, channels, name="std")[0] + channel_stats(mean, channels)[0]
    array = image.permute(1, 2, 0).numpy().clip(0.0, 1.0)
    return array[..., 0] if channels == 1 else array


def show_batch(
    images: torch.Tensor | Sequence[torch.Tensor],
    labels: Sequence[int] | torch.Tensor,
    classes: Sequence[str],
    *,
    preds: Sequence[int] | torch.Tensor | None = None,
    ncols: int = 10,
    n: int | None = 20,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """A grid of the first ``n`` images (all with ``n=None``) titled with their class names.

    The tutorials' 2 x 10 grid: ``ncols`` images per row. With ``preds`` each title
    reads ``"pred (true)"``, green when right and red when wrong. ``mean``/``std``
    are those of the Normalize the images went through (see :func:`im_convert`).
    """
    count = len(images) if n is None else min(n, len(images))
    if count == 0:
        raise ValueError("show_batch needs at least one image")
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    fig = Figure(figsize=figsize or (2.5 * ncols, 2.0 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for idx, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if idx >= count:
            ax.set_axis_off()
            continue
        picture = im_convert(images[idx], mean, std)
        ax.imshow(picture, cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=1)
        true = classes[int(labels[idx])]
        if preds is None:
            ax.set_title(str(true))
        else:
            guess = int(preds[idx])
            ok = guess == int(labels[idx])
            ax.set_title(f"{classes[guess]} ({true})", color="green" if ok else "red")
    return fig


# ---------------------------------------------------------------- metrics


def _as_array(values: Any) -> np.ndarray:
    """A float numpy copy of a tensor, array or nested list."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    return np.array(values, dtype=float)


def plot_confusion_matrix(cm: Any, classes: Sequence[str], *, normalize: bool = False) -> Figure:
    """The confusion matrix ``cm[true, predicted]`` as an annotated heat map.

    With ``normalize=True`` each row is divided by its total, so the diagonal
    shows each class's recall (rows without samples stay 0).
    """
    matrix = _as_array(cm)
    k = len(classes)
    if matrix.shape != (k, k):
        raise ValueError(f"cm must be ({k}, {k}) for {k} classes; got {matrix.shape}")
    if normalize:
        totals = matrix.sum(axis=1, keepdims=True)
        matrix = np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)
    side = max(4.0, 0.6 * k + 2.0)
    fig = Figure(figsize=(side + 1.0, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1.0 if normalize else None)
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(k), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_yticks(range(k), [str(c) for c in classes])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix" + (" (row-normalized)" if normalize else ""))
    if k <= 30:
        threshold = matrix.max() / 2 if matrix.size else 0
        for (i, j), value in np.ndenumerate(matrix):
            text = f"{value:.2f}" if normalize else f"{int(round(value))}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    return fig


def plot_per_class_accuracy(acc: Any, classes: Sequence[str]) -> Figure:
    """A bar per class with its accuracy in percent (``acc`` holds fractions; NaN = no samples)."""
    percent = _as_array(acc) * 100
    if percent.shape != (len(classes),):
        raise ValueError(f"acc must hold one value per class ({len(classes)}); got {percent.shape}")
    fig = Figure(figsize=(max(6.0, 0.7 * len(classes) + 2), 4), layout="constrained")
    ax = fig.subplots()
    heights = np.nan_to_num(percent, nan=0.0)
    bars = ax.bar(range(len(classes)), heights, color="tab:blue")
    for bar, value in zip(bars, percent, strict=False):
        label = "n/a" if np.isnan(value) else f"{value:.0f}%"
        ax.annotate(
            label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom", fontsize=8
        )
    if not np.all(np.isnan(percent)):
        mean = np.nanmean(percent)
        ax.axhline(mean, color="gray", linestyle="--", label=f"mean of the classes: {mean:.0f}%")
        ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), frameon=False, fontsize=8)  # above the bars
    ax.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=45, ha="right")
    ax.set_ylim(0, 105)
    ax.set_ylabel("accuracy (%)")
    ax.set_title("accuracy per class")
    return fig


# ---------------------------------------------------------------- histories


def _series(history: Any, name: str) -> list[float]:
    """One list of a History-like object or dict (empty when it has none)."""
    if isinstance(history, Mapping):
        values = history.get(name, [])
    else:
        try:
            values = getattr(history, name)
        except AttributeError:
            values = []
    return [float(v) for v in (values or [])]


def _draw_history(
    axes: Sequence[Any], history: Any, *, color: str | None, prefix: str = "", train_style: str = "--"
) -> None:
    """Training (``train_style``) and validation (solid) loss/accuracy curves on two axes."""
    length = max(len(_series(history, "train_loss")), len(_series(history, "val_loss")))
    epochs = _series(history, "epoch") or list(range(1, length + 1))
    for ax, metric, scale in ((axes[0], "loss", 1.0), (axes[1], "acc", 100.0)):
        for split, label, style in (("train", "training", train_style), ("val", "validation", "-")):
            values = [v * scale for v in _series(history, f"{split}_{metric}")]
            if values:
                ax.plot(
                    epochs[: len(values)],
                    values,
                    style,
                    marker="o",
                    markersize=3,
                    color=color,
                    label=f"{prefix}{label}",
                )


def _history_figure(title: str | None) -> tuple[Figure, Any]:
    """An empty two-panel (loss, accuracy) figure."""
    fig = Figure(figsize=(11, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, ylabel in zip(axes, ("loss", "accuracy (%)"), strict=False):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.set_title(ylabel.split()[0])
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig, axes


def plot_history(history: Any, *, title: str | None = None) -> Figure:
    """Loss (left) and accuracy in percent (right) per epoch: training dashed, validation solid."""
    fig, axes = _history_figure(title)
    _draw_history(axes, history, color=None)
    for ax in axes:
        if ax.lines:
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no epochs yet", ha="center", va="center", transform=ax.transAxes)
    return fig


def compare_histories(histories: Mapping[str, Any], *, title: str | None = None) -> Figure:
    """Several runs on one loss and one accuracy panel: one colour per run,
    training dashed and validation solid (legend entries ``"name training"``...)."""
    if not histories:
        raise ValueError("compare_histories needs at least one {name: history}")
    fig, axes = _history_figure(title)
    for i, (name, history) in enumerate(histories.items()):
        _draw_history(axes, history, color=f"C{i % 10}", prefix=f"{name} ")
    for ax in axes:
        if ax.lines:
            ax.legend(fontsize=8)
    return fig


# ---------------------------------------------------------------- live plot


def in_notebook_kernel() -> bool:
    """True inside a running IPython kernel (Jupyter, Colab, nbval).

    False in plain Python and in terminal IPython.
    """
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LivePlot:
    """Redraws :func:`plot_history` in one notebook output after every epoch.

    Active only inside an IPython kernel and unless ``COURSE_LIVE_PLOT=0``;
    elsewhere (plain ``python``, terminal IPython) :meth:`update` does nothing.
    Under nbval it updates a display like in Jupyter, which is harmless.
    """

    def __init__(self, *, title: str | None = None) -> None:
        self.title = title
        self.active = os.environ.get("COURSE_LIVE_PLOT", "1").strip() != "0" and in_notebook_kernel()
        self.handle: Any = None

    def update(self, history: Any) -> None:
        """Show the curves of ``history`` so far, replacing the previous drawing."""
        if not self.active:
            return
        from IPython.display import display

        fig = plot_history(history, title=self.title)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)


def register_inline_png() -> bool:
    """Let a notebook kernel draw a returned ``Figure`` as a PNG; True when registered.

    IPython registers its PNG formatter for Figures when pyplot is imported, and this
    module never imports pyplot: in a fresh JupyterLab or Colab kernel a Figure would
    show as the text ``<Figure size ... with N Axes>``. ``config.setup()`` calls this.
    """
    if not in_notebook_kernel():
        return False
    if "inline" not in os.environ.get("MPLBACKEND", "module://matplotlib_inline.backend_inline"):
        return False  # e.g. MPLBACKEND=Agg under nbval: leave outputs as they were
    from IPython import get_ipython
    from IPython.core.pylabtools import select_figure_formats

    shell = get_ipython()
    if Figure not in shell.display_formatter.formatters["image/png"].type_printers:
        select_figure_formats(shell, {"png"})
    return True
