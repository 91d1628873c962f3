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

def per_class_rows(cm: Any, classes: Sequence[str]) -> list[list[Any]]:
    """Rows ``[class, test images, correct, accuracy]`` from a confusion matrix ``cm[true, predicted]``."""
    cm = [[int(v) for v in row] for row in (cm.tolist() if hasattr(cm, "tolist") else cm)]
    if len(cm) != len(classes) or any(len(row) != len(classes) for row in cm):
        raise ValueError(f"cm must be {len(classes)} x {len(classes)}, one row and column per class")
    return [[name, sum(row), row[i], row[i] / sum(row) if sum(row) else None]
            for i, (name, row) in enumerate(zip(classes, cm))]


def confused_pairs(cm: Any, classes: Sequence[str], *, top: int = 3) -> list[list[Any]]:
    """The ``top`` largest off-diagonal cells of ``cm[true, predicted]``, largest first.

    Rows ``[true class, predicted as, images, share of the true class]``; ties keep class order.
    """
    rows = per_class_rows(cm, classes)  # validates the shape
    cm = [[int(v) for v in row] for row in (cm.tolist() if hasattr(cm, "tolist") else cm)]
    cells = [(-cm[t][p], t, p) for t in range(len(classes)) for p in range(len(classes)) if t != p and cm[t][p]]
    return [[classes[t], classes[p], -n, -n / rows[t][1]] for n, t, p in sorted(cells)[:top]]

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

# (end of lesson 08)
