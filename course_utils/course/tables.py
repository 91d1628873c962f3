"""Tables for the notebooks: helpers build rows (data), one function renders them.

A lesson computes rows (lists of values) with a helper from its section below,
or by hand, and shows them with ``tables.show(rows, headers)``: Markdown in
Jupyter, plain aligned text elsewhere. Keeping the formatting here keeps the
notebook cells about the idea, not about string concatenation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

Row = Sequence[Any]


def _cell(value: Any, fmt: str | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if fmt is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(value, fmt)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _numeric(column: Sequence[Any]) -> bool:
    values = [v for v in column if v is not None]
    return bool(values) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def markdown(
    rows: Sequence[Row], headers: Sequence[str], *, formats: Sequence[str | None] | None = None
) -> str:
    """A Markdown table; ``formats[i]`` is a format spec for column ``i`` (``".1%"``, ``".2f"``)."""
    formats = list(formats) if formats is not None else [None] * len(headers)
    if len(formats) != len(headers) or any(len(r) != len(headers) for r in rows):
        raise ValueError(
            f"every row and the formats need {len(headers)} entries, one per header {list(headers)}"
        )
    columns = list(zip(*rows, strict=False)) if rows else [() for _ in headers]
    align = ["---:" if _numeric(col) else "---" for col in columns]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(v, f) for v, f in zip(r, formats, strict=False)) + " |" for r in rows]
    return "\n".join(lines)


def show(rows: Sequence[Row], headers: Sequence[str], *, formats: Sequence[str | None] | None = None) -> str:
    """Display the table (Markdown in a notebook, text elsewhere) and return its Markdown."""
    text = markdown(rows, headers, formats=formats)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # plain Python without IPython
        print(text)
        return text
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
    return text


# ---- row builders, one section per lesson ---------------------------------
# ---- lesson 03 ------------------------------------------------------------


def per_class_rows(cm: Any, classes: Sequence[str]) -> list[list[Any]]:
    """Rows ``[class, test images, correct, accuracy]`` from a confusion matrix ``cm[true, predicted]``."""
    cm = [[int(v) for v in row] for row in (cm.tolist() if hasattr(cm, "tolist") else cm)]
    if len(cm) != len(classes) or any(len(row) != len(classes) for row in cm):
        raise ValueError(f"cm must be {len(classes)} x {len(classes)}, one row and column per class")
    return [
        [name, sum(row), row[i], row[i] / sum(row) if sum(row) else None]
        for i, (name, row) in enumerate(zip(classes, cm, strict=False))
    ]


def confused_pairs(cm: Any, classes: Sequence[str], *, top: int = 3) -> list[list[Any]]:
    """The ``top`` largest off-diagonal cells of ``cm[true, predicted]``, largest first.

    Rows ``[true class, predicted as, images, share of the true class]``; ties keep class order.
    """
    rows = per_class_rows(cm, classes)  # validates the shape
    cm = [[int(v) for v in row] for row in (cm.tolist() if hasattr(cm, "tolist") else cm)]
    cells = [
        (-cm[t][p], t, p) for t in range(len(classes)) for p in range(len(classes)) if t != p and cm[t][p]
    ]
    return [[classes[t], classes[p], -n, -n / rows[t][1]] for n, t, p in sorted(cells)[:top]]


# (end of lesson 03)


# ---- lesson 04 ------------------------------------------------------------
SPEED_HEADERS = (
    "training",
    "optimizer steps",
    "blog: seconds",
    "blog: test accuracy",
    "ours: seconds",
    "ours: test accuracy",
)
SPEED_FORMATS = (None, None, None, ".2%", ".1f", ".2%")


def speed_rows(
    source: dict[str, tuple[float, float]], ours: dict[str, tuple[float, float]], steps: dict[str, int]
) -> list[list[Any]]:
    """Lesson 04: per training run, its steps, the blog's (seconds, accuracy) and ours.

    Show with ``show(rows, SPEED_HEADERS, formats=SPEED_FORMATS)``.
    """
    if set(source) != set(ours) or set(steps) != set(ours):
        raise ValueError(
            f"source, ours and steps need the same runs; got {sorted(source)}, "
            f"{sorted(ours)} and {sorted(steps)}"
        )
    return [[name, steps[name], *source[name], *ours[name]] for name in ours]


# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------
OVERFITTING_HEADERS = ("epoch", "train loss", "val loss", "train acc", "val acc", "gap (train − val)")
OVERFITTING_FORMATS = (None, ".3f", ".3f", ".1%", ".1%", "+.1%")


def overfitting_summary(history: Any) -> dict[str, Any]:
    """Lesson 05: where a ``History`` overfits.

    ``best_epoch`` has the lowest validation loss, ``gap_from`` is the first epoch from
    which training accuracy stays above validation accuracy (``None`` if never),
    ``final_gap`` the last train − val accuracy gap; ``rise`` is how much the validation
    loss rose after ``best_epoch``.
    """
    if len(history) == 0 or len(history.val_loss) != len(history):
        raise ValueError("overfitting_summary needs a History with a validation figure for every epoch")
    gaps = [t - v for t, v in zip(history.train_acc, history.val_acc, strict=False)]
    best = min(range(len(history)), key=lambda i: history.val_loss[i])
    gap_from = next((history.epoch[i] for i in range(len(gaps)) if min(gaps[i:]) > 0), None)
    return {
        "best_epoch": history.epoch[best],
        "last_epoch": history.epoch[-1],
        "gap_from": gap_from,
        "final_gap": gaps[-1],
        "rise": history.val_loss[-1] - history.val_loss[best],
    }


def overfitting_rows(history: Any) -> list[list[Any]]:
    """Lesson 05: one row per epoch, the lowest validation loss marked; show with OVERFITTING_HEADERS."""
    best = overfitting_summary(history)["best_epoch"]
    return [
        [f"{e} (lowest val loss)" if e == best else str(e), tl, vl, ta, va, ta - va]
        for e, tl, vl, ta, va in zip(
            history.epoch,
            history.train_loss,
            history.val_loss,
            history.train_acc,
            history.val_acc,
            strict=False,
        )
    ]


def overfitting_verdict(name: str, summary: dict[str, Any]) -> list[str]:
    """Lesson 05: the summary in two sentences a learner reads under the table."""
    if summary["best_epoch"] == summary["last_epoch"]:
        loss = (
            f"{name}: validation loss still falling at the last epoch ({summary['last_epoch']}): "
            "no overfitting visible yet"
        )
    else:
        loss = (
            f"{name}: validation loss lowest after epoch {summary['best_epoch']}, then up by "
            f"{summary['rise']:.3f} by epoch {summary['last_epoch']}: overfitting starts there"
        )
    if summary["gap_from"] is None:
        gap = (
            f"{name}: training accuracy not above validation accuracy at the end "
            f"(gap {summary['final_gap']:+.1%})"
        )
    else:
        gap = (
            f"{name}: training accuracy above validation accuracy from epoch {summary['gap_from']} on; "
            f"gap at the end {summary['final_gap']:+.1%}"
        )
    return [loss, gap]


RESULTS_HEADERS = (
    "model",
    "parameters",
    "sources: val acc, epoch 12",
    "ours: val acc, last epoch",
    "ours: lowest val loss at epoch",
    "ours: test acc, weights of that epoch",
    "train − val gap at the end",
)
RESULTS_FORMATS = (None, None, ".2%", ".1%", None, ".1%", "+.1%")


def results_rows(runs: dict[str, dict[str, Any]], source: dict[str, float]) -> list[list[Any]]:
    """Lesson 05: per model, ``runs[name]`` holds parameters, history, summary and test_acc."""
    return [
        [
            name,
            r["parameters"],
            source.get(name),
            r["history"].val_acc[-1],
            r["summary"]["best_epoch"],
            r["test_acc"],
            r["summary"]["final_gap"],
        ]
        for name, r in runs.items()
    ]


# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------
GAP_HEADERS = (
    "run",
    "sources: val acc, epoch 12",
    "ours: val acc, last epoch",
    "train − val acc gap",
    "val − train loss gap",
    "lowest val loss at epoch",
    "val acc trend, points/epoch",
    "ours: test acc",
)
GAP_FORMATS = (None, ".2%", ".1%", "+.1%", "+.3f", None, "+.1f", ".1%")


def gap_summary(history: Any, *, last: int = 4) -> dict[str, Any]:
    """Lesson 06: last-epoch gaps, the lowest-validation-loss epoch and the validation accuracy trend.

    ``trend`` is the slope, in percentage points per epoch, of a line through the last
    ``last`` validation accuracies (one epoch alone is noisy); ``None`` with one epoch.
    """
    if len(history) == 0 or len(history.val_acc) != len(history):
        raise ValueError("gap_summary needs a History with a validation figure for every epoch")
    best = min(range(len(history)), key=lambda i: history.val_loss[i])
    recent = [100 * a for a in history.val_acc[-last:]]
    trend = None
    if len(recent) > 1:
        xs = range(len(recent))
        mx, my = sum(xs) / len(recent), sum(recent) / len(recent)
        trend = sum((x - mx) * (y - my) for x, y in zip(xs, recent, strict=False)) / sum(
            (x - mx) ** 2 for x in xs
        )
    return {
        "val_acc": history.val_acc[-1],
        "acc_gap": history.train_acc[-1] - history.val_acc[-1],
        "loss_gap": history.val_loss[-1] - history.train_loss[-1],
        "best_loss_epoch": history.epoch[best],
        "trend": trend,
    }


def gap_rows(
    summaries: dict[str, dict[str, Any]], source: dict[str, float], test_acc: dict[str, float]
) -> list[list[Any]]:
    """Lesson 06: one row per run from ``gap_summary`` results; show with GAP_HEADERS."""
    return [
        [
            name,
            source.get(name),
            s["val_acc"],
            s["acc_gap"],
            s["loss_gap"],
            s["best_loss_epoch"],
            s["trend"],
            test_acc.get(name),
        ]
        for name, s in summaries.items()
    ]


# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------

# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------
TIME_SPLIT_HEADERS = ("measured", "seconds", "images/s")
FASTER_HEADERS = (
    "way of training",
    "data alone (images/s)",
    "full epoch (images/s)",
    "speed-up",
    "validation acc",
)
COMPILE_HEADERS = ("training step", "ms per step", "images/s", "time vs eager", "compile s")


def time_split_rows(n_images: int, *, data_s: float, model_s: float, epoch_s: float) -> list[Row]:
    """Lesson 08's split of one epoch: rows ``(what, seconds, images/s)`` for ``n_images`` images."""
    parts = [
        ("data alone: DataLoader + PIL pipeline", data_s),
        ("model alone: forward, backward, step", model_s),
        ("full epoch: engine.fit", epoch_s),
    ]
    return [(name, seconds, n_images / seconds) for name, seconds in parts]


def faster_rows(
    n_images: int,
    results: dict[str, dict[str, float]],
    *,
    baseline_epoch_s: float,
    model_alone_s: dict[str, float] | None = None,
) -> list[Row]:
    """Lesson 08's results: one row ``(way, data images/s, epoch images/s, speed-up, val acc)`` per way.

    ``results`` maps a way's name to ``{"epoch_s": ..., "val_acc": ...}`` and, where the data was
    timed alone, ``"data_s"``. ``model_alone_s`` maps a name to the seconds an epoch's steps take on a
    pre-made batch (no data, no accuracy). Speed-ups are over ``baseline_epoch_s``.
    """
    rows: list[Row] = []
    for name, r in results.items():
        data_rate = n_images / r["data_s"] if "data_s" in r else None
        rows.append(
            (name, data_rate, n_images / r["epoch_s"], baseline_epoch_s / r["epoch_s"], r.get("val_acc"))
        )
    for name, seconds in (model_alone_s or {}).items():
        rows.append((name, None, n_images / seconds, baseline_epoch_s / seconds, None))
    return rows


def compile_rows(
    batch_size: int, *, eager_s: float, compiled_s: float | None, compile_s: float | None
) -> list[Row]:
    """Eager against compiled training steps: rows ``(step, ms, images/s, time vs eager, compile s)``.

    ``compiled_s`` is None when compiling was not possible; its row then says so.
    """
    rows: list[Row] = [("eager", 1000 * eager_s, batch_size / eager_s, 1.0, None)]
    if compiled_s is None:
        rows.append(("torch.compile: not run here", None, None, None, compile_s))
    else:
        rows.append(
            ("torch.compile", 1000 * compiled_s, batch_size / compiled_s, compiled_s / eager_s, compile_s)
        )
    return rows


# (end of lesson 08)
