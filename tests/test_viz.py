"""Tests for course_utils.viz: image conversion, figures and the live plot."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from course_utils import engine, viz

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# ---------------------------------------------------------------- im_convert


def test_im_convert_undoes_normalize_and_moves_channels_last() -> None:
    mean, std = (0.1, 0.2, 0.3), (0.2, 0.3, 0.4)
    x = torch.full((3, 2, 5), 0.5)
    out = viz.im_convert(x, mean, std)
    assert out.shape == (2, 5, 3) and out.dtype == np.float32
    # x * std + mean, not the x * (std + mean) of one source
    np.testing.assert_allclose(out[0, 0], [0.2, 0.35, 0.5], rtol=1e-6)


def test_im_convert_default_is_half_and_clips() -> None:
    x = torch.tensor([[[-1.0, 0.0, 1.0, 3.0]]]).expand(3, 1, 4)
    out = viz.im_convert(x)
    np.testing.assert_allclose(out[0, :, 0], [0.0, 0.5, 1.0, 1.0])
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_im_convert_grayscale_and_grad_tensor() -> None:
    x = torch.zeros(1, 4, 6, requires_grad=True)
    out = viz.im_convert(x, (0.1307,), (0.3081,))
    assert out.shape == (4, 6)
    np.testing.assert_allclose(out, 0.1307, rtol=1e-6)
    assert viz.im_convert(torch.zeros(1, 4, 6)).shape == (4, 6)  # default 0.5 per channel


@pytest.mark.parametrize(
    "shape,kwargs",
    [
        ((2, 3, 4, 4), {}),  # a batch
        ((2, 4, 4), {}),  # two channels
        ((4, 4), {}),  # no channel axis
        ((1, 4, 4), {"mean": (0.5,) * 3, "std": (0.5,) * 3}),  # RGB stats for a grey image
    ],
)
def test_im_convert_rejects_bad_shapes(shape: tuple, kwargs: dict) -> None:
    with pytest.raises(ValueError) as err:
        viz.im_convert(torch.zeros(shape), **kwargs)
    message = str(err.value)
    assert "expected one image of shape (C, H, W) with C in {1, 3}" in message
    assert str(shape) in message and "im_convert(batch[i])" in message


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_im_convert_gpu_tensor() -> None:
    out = viz.im_convert(torch.zeros(3, 2, 2, device="cuda"))
    np.testing.assert_allclose(out, 0.5)


# ---------------------------------------------------------------- show_batch


def test_show_batch_grid_and_titles() -> None:
    images, labels = torch.zeros(25, 3, 4, 4), torch.arange(25) % 10
    fig = viz.show_batch(images, labels, CLASSES)
    assert isinstance(fig, Figure) and len(fig.axes) == 20  # the tutorials' 2 x 10 grid
    assert fig.axes[0].get_subplotspec().get_gridspec().get_geometry() == (2, 10)
    assert [ax.get_title() for ax in fig.axes[:3]] == ["plane", "car", "bird"]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), 0.5)


def test_show_batch_with_predictions_colours_titles() -> None:
    labels, preds = torch.tensor([0, 1, 2]), torch.tensor([0, 3, 2])
    fig = viz.show_batch(torch.zeros(3, 3, 4, 4), labels, CLASSES, preds=preds, ncols=3)
    assert [ax.get_title() for ax in fig.axes] == ["plane (plane)", "cat (car)", "bird (bird)"]
    colours = [to_rgba(ax.title.get_color()) for ax in fig.axes]
    assert colours == [to_rgba("green"), to_rgba("red"), to_rgba("green")]


def test_show_batch_partial_row_and_grayscale() -> None:
    fig = viz.show_batch(torch.zeros(5, 1, 4, 4), [1, 2, 3, 4, 5], CLASSES, ncols=3, mean=(0.5,), std=(0.5,))
    assert len(fig.axes) == 6 and not fig.axes[5].axison
    assert fig.axes[0].images[0].get_array().shape == (4, 4)
    assert len(viz.show_batch(torch.zeros(4, 3, 2, 2), [0] * 4, CLASSES, n=None, ncols=2).axes) == 4
    assert len(viz.show_batch(torch.zeros(4, 3, 2, 2), [0] * 4, CLASSES, n=3).axes) == 3


# ---------------------------------------------------------------- metrics plots


def test_confusion_matrix_counts_and_normalized() -> None:
    cm = torch.tensor([[3, 1, 0], [0, 0, 0], [2, 0, 2]])
    fig = viz.plot_confusion_matrix(cm, ["a", "b", "c"])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), cm.numpy())
    assert [t.get_text() for t in ax.texts][:3] == ["3", "1", "0"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    norm = viz.plot_confusion_matrix(cm, ["a", "b", "c"], normalize=True).axes[0]
    np.testing.assert_allclose(norm.images[0].get_array(), [[0.75, 0.25, 0], [0, 0, 0], [0.5, 0, 0.5]])
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        viz.plot_confusion_matrix(cm, ["a", "b"])


def test_per_class_accuracy_bars_in_percent() -> None:
    fig = viz.plot_per_class_accuracy(torch.tensor([0.5, 0.25, float("nan")]), ["a", "b", "c"])
    ax = fig.axes[0]
    assert [p.get_height() for p in ax.patches] == pytest.approx([50.0, 25.0, 0.0])
    assert [t.get_text() for t in ax.texts] == ["50%", "25%", "n/a"]
    assert ax.lines[0].get_ydata()[0] == pytest.approx(37.5)  # mean of the classes present
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["mean of the classes: 38%"]


# ---------------------------------------------------------------- histories


HIST = {
    "epoch": [1, 2, 3],
    "train_loss": [2.0, 1.5, 1.0],
    "train_acc": [0.3, 0.5, 0.6],
    "val_loss": [1.8, 1.4, 1.2],
    "val_acc": [0.35, 0.5, 0.55],
    "lr": [0.1] * 3,
    "seconds": [1.0] * 3,
}


@pytest.mark.parametrize("history", [HIST, SimpleNamespace(**HIST)], ids=["dict", "object"])
def test_plot_history_two_panels(history: object) -> None:
    fig = viz.plot_history(history, title="run")
    loss, acc = fig.axes
    assert fig._suptitle.get_text() == "run"
    assert [line.get_label() for line in loss.lines] == ["training", "validation"]
    np.testing.assert_allclose(loss.lines[1].get_ydata(), [1.8, 1.4, 1.2])
    np.testing.assert_allclose(acc.lines[0].get_ydata(), [30.0, 50.0, 60.0])  # percent
    np.testing.assert_array_equal(acc.lines[0].get_xdata(), [1, 2, 3])


def test_plot_history_without_validation_or_epochs() -> None:
    fig = viz.plot_history({"train_loss": [1.0, 0.5], "train_acc": [0.1, 0.2], "val_loss": []})
    assert [len(ax.lines) for ax in fig.axes] == [1, 1]
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_xdata(), [1, 2])
    empty = viz.plot_history({})
    assert [t.get_text() for t in empty.axes[0].texts] == ["no epochs yet"]


def test_plot_history_draws_an_engine_history() -> None:
    history = engine.History()
    history.load_state_dict(HIST)
    fig = viz.plot_history(history, title="t")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), HIST["train_loss"])


def test_compare_histories_colour_per_run() -> None:
    other = {**HIST, "val_acc": [0.4, 0.6, 0.7]}
    fig = viz.compare_histories({"sgd": HIST, "adam": other}, title="optimizers")
    acc = fig.axes[1]
    labels = [line.get_label() for line in acc.lines]
    assert labels == ["sgd training", "sgd validation", "adam training", "adam validation"]
    styles = [line.get_linestyle() for line in acc.lines]
    assert styles == ["--", "-", "--", "-"]
    colours = [to_rgba(line.get_color()) for line in acc.lines]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    np.testing.assert_allclose(acc.lines[3].get_ydata(), [40.0, 60.0, 70.0])
    with pytest.raises(ValueError):
        viz.compare_histories({})


# ---------------------------------------------------------------- LivePlot


def test_live_plot_updates_one_display_in_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    import IPython.display

    calls: list = []

    class Handle:
        def update(self, obj: object) -> None:
            calls.append(("update", obj))

    def fake_display(obj: object, display_id: bool = False) -> Handle:
        calls.append(("display", obj, display_id))
        return Handle()

    monkeypatch.setattr(viz, "in_notebook_kernel", lambda: True)
    monkeypatch.setattr(IPython.display, "display", fake_display)
    monkeypatch.delenv("COURSE_LIVE_PLOT", raising=False)
    plot = viz.LivePlot(title="live")
    plot.update(HIST)
    plot.update(HIST)
    assert [c[0] for c in calls] == ["display", "update"] and calls[0][2] is True
    assert isinstance(calls[1][1], Figure)
    monkeypatch.setenv("COURSE_LIVE_PLOT", "0")
    assert not viz.LivePlot().active
