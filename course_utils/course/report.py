"""Headline results of each lesson, and the runner behind ``make course``.

A lesson ends with ``report.record("03", test_acc=0.54, seconds=81.2)``. That
writes ``build/results/03.json`` with the profile, device, data source and
library versions. ``python -m course_utils.course.report run notebooks/*.ipynb``
executes notebooks headlessly (the runner is :mod:`course_utils.course.runner`),
stores executed copies in ``build/notebooks/`` and writes the table ``build/results.md``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import files
from . import runner
from .results import is_accuracy, results_markdown, results_table
from .runner import NotebookError, notebook_key  # noqa: F401  report.notebook_key, as before


def build_dir() -> Path:
    """``$COURSE_BUILD_DIR``, else ``build/`` of the source checkout, else ``./build``."""
    env = os.environ.get("COURSE_BUILD_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[2]  # course_utils/course/report.py -> the checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "build"
    return Path.cwd() / "build"


def versions() -> dict[str, str]:
    """The versions a result was measured with (a notebook's entry here, ``train``'s result.json)."""
    import numpy
    import torch
    import torchvision

    from .. import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
        "course_utils": __version__,
    }


def _plain(value: Any) -> Any:
    """Numbers from tensors and numpy scalars as plain Python values."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


def check_notebook_id(notebook_id: Any) -> str:
    """``notebook_id`` when it is a plain file name stem (``"03"``); a ValueError otherwise.

    The id names ``build/results/<id>.json``: a separator, ``..`` or an absolute path would
    write outside that folder.
    """
    text = str(notebook_id)
    if (
        not isinstance(notebook_id, str)
        or text in ("", ".", "..")
        or "/" in text
        or "\\" in text
        or "\0" in text
        or Path(text).is_absolute()
        or text != text.strip()
    ):
        raise ValueError(
            f"report.record: notebook id {notebook_id!r} must be a plain name such as "
            "'03' (no '/', '\\', '..' or leading/trailing spaces): it names the file "
            "build/results/<id>.json"
        )
    return text


def check_figures(figures: dict[str, Any]) -> dict[str, float | int]:
    """The figures as plain finite numbers; a TypeError or ValueError naming the bad one."""
    plain = {}
    for name, value in figures.items():
        value = _plain(value)
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(
                f"report.record: figure {name}={value!r} is not a number; record "
                "numbers such as test_acc=0.54 or seconds=81.2"
            )
        if not math.isfinite(value):
            raise ValueError(
                f"report.record: figure {name} is {value}, not a finite number; the "
                "run that produced it went wrong (a loss that blew up, a division by "
                "zero?): fix it and run the notebook again; nothing was recorded"
            )
        if is_accuracy(name) and not 0 <= value <= 1:
            hint = f": it looks like a percentage; record {name}={value / 100:g}" if 1 < value <= 100 else ""
            raise ValueError(
                f"report.record: figure {name}={value:g} is an accuracy, which the course records as a "
                f"fraction in [0, 1] (0.54 for 54 %){hint}; nothing was recorded"
            )
        plain[name] = value
    return plain


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: readers never see half a file."""
    files.write_atomically(path, text)


def record(notebook_id: str, *, cfg: Any = None, data_source: str | None = None, **figures: float) -> Path:
    """Write a lesson's headline figures to ``build/results/<notebook_id>.json``.

    ``cfg`` (a RunConfig) supplies profile, device and data sources; figures are finite
    numbers such as ``test_acc=0.54`` (fractions) or ``seconds=81.2``. A bad id or figure
    raises before anything is written; the file is replaced atomically.
    """
    from .. import config

    notebook_id, figures = check_notebook_id(notebook_id), check_figures(figures)
    profile = getattr(cfg, "profile", None) or config.resolve_profile()
    device = str(getattr(cfg, "device", None) or config.pick_device())
    sources = dict(getattr(cfg, "data_sources", {}) or {})
    source = data_source or ", ".join(f"{k}: {v}" for k, v in sources.items()) or "n/a"
    entry = {
        "notebook": notebook_id,
        "profile": profile,
        "device": device,
        "data_source": source,
        "data_kind": source_kind(source),
        "figures": figures,
        "versions": versions(),
        "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    out = build_dir() / "results" / f"{notebook_id}.json"
    _write_atomically(out, json.dumps(entry, indent=2, allow_nan=False) + "\n")
    print(
        f"[course] recorded {notebook_id}: "
        + ", ".join(f"{k}={_fmt(v)}" for k, v in entry["figures"].items())
    )
    return out


def source_kind(source: str) -> str:
    """``synthetic``, ``subset`` or ``real`` from a data-source description."""
    if "synthetic" in source:
        return "synthetic"
    if "subset" in source:
        return "subset"
    return "real"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


RESULT_TEXTS = ("notebook", "profile", "device", "data_source")  # the strings every result holds


def result_problem(entry: Any, path: Path) -> str | None:
    """Why the JSON in ``path`` is not a result ``record`` wrote, or None when it is one."""
    if not isinstance(entry, dict):
        return f"holds a JSON {type(entry).__name__}, not a result written by report.record"
    missing = [key for key in (*RESULT_TEXTS, "figures") if key not in entry]
    if missing:
        return f"lacks {', '.join(missing)}: not a result written by report.record"
    if not all(isinstance(entry[key], str) for key in RESULT_TEXTS) or not isinstance(entry["figures"], dict):
        return "has a field of the wrong type (edited by hand?)"
    if entry["notebook"] != path.stem:
        return f"names notebook {entry['notebook']!r}, not its file's {path.stem!r}"
    try:
        check_figures(entry["figures"])
    except (TypeError, ValueError) as err:
        return str(err).removeprefix("report.record: ").removesuffix("; nothing was recorded")
    return None


def read_results(directory: Path | None = None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every readable result in ``directory`` (``build/results/``), sorted by notebook id, and
    ``{file: why}`` for each ``.json`` file there that is not one (foreign, broken or edited)."""
    directory = directory or build_dir() / "results"
    results, unreadable = [], {}
    for path in sorted(directory.glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError) as err:  # ValueError: bad JSON or bad UTF-8
            unreadable[str(path)] = f"not readable as JSON ({err})"
            continue
        problem = result_problem(entry, path)
        if problem is None:
            results.append(entry)
        else:
            unreadable[str(path)] = problem
    return results, unreadable


def load_results(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every readable result, sorted by notebook id; each file that is not one is named on
    stderr and left out (see :func:`read_results`)."""
    results, unreadable = read_results(directory)
    for path, why in unreadable.items():
        print(f"[course] left out {path}: {why}", file=sys.stderr)
    return results


def run_notebooks(paths: Sequence[str | os.PathLike], *, timeout: int = -1) -> tuple[Path, dict[str, str]]:
    """Execute notebooks headlessly (:mod:`course_utils.course.runner`); write ``results.md``.

    Lessons' copies go to ``build/notebooks/``, solutions' to ``build/notebooks/solutions/``.
    A failing notebook does not stop the others; returns the table's path and the failures.
    """
    notebooks = runner.read_all(paths)  # every notebook is read before any result is deleted
    for path, _ in notebooks:  # no stale figures from an earlier run
        if path.parent.name != "solutions":
            (build_dir() / "results" / f"{path.stem[:2]}.json").unlink(missing_ok=True)
    wall, failed = runner.execute_all(notebooks, build=build_dir(), timeout=timeout)
    table = build_dir() / "results.md"
    results, unreadable = read_results()
    for name, why in unreadable.items():
        print(f"[course] left out {name}: {why}", file=sys.stderr)
    _write_atomically(table, results_markdown(results, wall, failed, unreadable))
    print(table.read_text())
    return table, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run NOTEBOOK...`` or ``table``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"] and len(args) > 1:
        try:
            _, failed = run_notebooks(args[1:])
        except NotebookError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        return 1 if failed else 0
    if args[:1] == ["table"]:
        results, unreadable = read_results()
        for name, why in unreadable.items():
            print(f"[course] left out {name}: {why}", file=sys.stderr)
        print(results_table(results, unreadable=unreadable))
        return 0
    print("usage: python -m course_utils.course.report run NOTEBOOK... | table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
