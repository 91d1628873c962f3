"""Tables for the notebooks: helpers build rows (data), one function renders them.

A lesson computes rows (lists of values) with a helper from its section below,
or by hand, and shows them with ``tables.show(rows, headers)``: Markdown in
Jupyter, plain aligned text elsewhere. Keeping the formatting here keeps the
notebook cells about the idea, not about string concatenation.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

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


def markdown(rows: Sequence[Row], headers: Sequence[str], *, formats: Sequence[str | None] | None = None) -> str:
    """A Markdown table; ``formats[i]`` is a format spec for column ``i`` (``".1%"``, ``".2f"``)."""
    formats = list(formats) if formats is not None else [None] * len(headers)
    if len(formats) != len(headers) or any(len(r) != len(headers) for r in rows):
        raise ValueError(f"every row and the formats need {len(headers)} entries, one per header {list(headers)}")
    columns = list(zip(*rows)) if rows else [() for _ in headers]
    align = ["---:" if _numeric(col) else "---" for col in columns]
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(v, f) for v, f in zip(r, formats)) + " |" for r in rows]
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

# (end of lesson 03)


# ---- lesson 04 ------------------------------------------------------------

# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------

# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------

# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------

# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------
TIME_SPLIT_HEADERS = ("measured", "seconds", "images/s")
SPEED_HEADERS = ("way of training", "data alone (images/s)", "full epoch (images/s)", "speed-up",
                 "validation acc")
COMPILE_HEADERS = ("training step", "ms per step", "images/s", "time vs eager", "compile s")


def time_split_rows(n_images: int, *, data_s: float, model_s: float, epoch_s: float) -> list[Row]:
    """Lesson 08's split of one epoch: rows ``(what, seconds, images/s)`` for ``n_images`` images."""
    parts = [("data alone: DataLoader + PIL pipeline", data_s),
             ("model alone: forward, backward, step", model_s),
             ("full epoch: engine.fit", epoch_s)]
    return [(name, seconds, n_images / seconds) for name, seconds in parts]


def speed_rows(n_images: int, results: dict[str, dict[str, float]], *, baseline_epoch_s: float,
               model_alone_s: dict[str, float] | None = None) -> list[Row]:
    """Lesson 08's results: one row ``(way, data images/s, epoch images/s, speed-up, val acc)`` per way.

    ``results`` maps a way's name to ``{"epoch_s": ..., "val_acc": ...}`` and, where the data was
    timed alone, ``"data_s"``. ``model_alone_s`` maps a name to the seconds an epoch's steps take on a
    pre-made batch (no data, no accuracy). Speed-ups are over ``baseline_epoch_s``.
    """
    rows: list[Row] = []
    for name, r in results.items():
        data_rate = n_images / r["data_s"] if "data_s" in r else None
        rows.append((name, data_rate, n_images / r["epoch_s"], baseline_epoch_s / r["epoch_s"],
                     r.get("val_acc")))
    for name, seconds in (model_alone_s or {}).items():
        rows.append((name, None, n_images / seconds, baseline_epoch_s / seconds, None))
    return rows


def compile_rows(batch_size: int, *, eager_s: float, compiled_s: float | None,
                 compile_s: float | None) -> list[Row]:
    """Eager against compiled training steps: rows ``(step, ms, images/s, time vs eager, compile s)``.

    ``compiled_s`` is None when compiling was not possible; its row then says so.
    """
    rows: list[Row] = [("eager", 1000 * eager_s, batch_size / eager_s, 1.0, None)]
    if compiled_s is None:
        rows.append(("torch.compile: not run here", None, None, None, compile_s))
    else:
        rows.append(("torch.compile", 1000 * compiled_s, batch_size / compiled_s, compiled_s / eager_s,
                     compile_s))
    return rows

# (end of lesson 08)
