"""Headline results of each lesson, and the runner behind ``make course``.

A lesson ends with ``report.record("03", test_acc=0.54, seconds=81.2)``. That
writes ``build/results/03.json`` with the profile, device, data source and
library versions. ``python -m course_utils.report run notebooks/*.ipynb``
executes notebooks headlessly (the runner is :mod:`course_utils.course.runner`),
stores executed copies in ``build/notebooks/`` and writes the table ``build/results.md``.
"""

from __future__ import annotations

import json
import math
import numbers
import os
import platform
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import files
from .course import runner
from .course.runner import notebook_key  # noqa: F401  report.notebook_key, as before


def build_dir() -> Path:
    """``$COURSE_BUILD_DIR``, else ``build/`` of the source checkout, else ``./build``."""
    env = os.environ.get("COURSE_BUILD_DIR")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "notebooks").is_dir():
        return checkout / "build"
    return Path.cwd() / "build"


def _versions() -> dict[str, str]:
    import numpy
    import torch
    import torchvision

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": numpy.__version__,
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
    from . import config

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
        "versions": _versions(),
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


def load_results(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every recorded result, sorted by notebook id."""
    directory = directory or build_dir() / "results"
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


class SourceFigure(NamedTuple):
    """A figure that a source tutorial printed, as the post printed it, and where."""

    text: str  # as the post printed it, e.g. "69.42 %"
    where: str  # the post, the epoch and the data it was measured on


# Figures recorded by the lessons that have a counterpart in the source posts
# (../shared/sources: the post numbers are the files' prefixes).
SOURCE_FIGURES: dict[tuple[str, str], SourceFigure] = {
    ("03", "test_acc"): SourceFigure("53 %", "the blitz, post 000: after epoch 2, full CIFAR-10 test set"),
    ("04", "per_sample_test_acc"): SourceFigure(
        "97.66 %", "MNIST post 003: after epoch 1, one image per step"
    ),
    ("04", "batched_test_acc"): SourceFigure("97.25 %", "MNIST post 003: after epoch 1, batches of 50"),
    ("04", "per_sample_seconds"): SourceFigure(
        "70 s", "MNIST post 003: epoch 1, 60,000 images one at a time, printed as 70.17 s"
    ),
    ("04", "batched_seconds"): SourceFigure(
        "18 s", "MNIST post 003: epoch 1, 60,000 images in batches of 50, printed as 18.18 s"
    ),
    ("05", "v1_val_acc"): SourceFigure(
        "69.42 %", "LeNet v1, post 002: validation accuracy at epoch 12, full CIFAR-10"
    ),
    ("05", "v2_val_acc"): SourceFigure(
        "70.69 %", "LeNet v2, post 002: validation accuracy at epoch 12, full CIFAR-10"
    ),
    ("06", "plain_val_acc"): SourceFigure(
        "70.69 %", "LeNet v2 without augmentation, post 002: epoch 12, full CIFAR-10"
    ),
    ("06", "augmented_val_acc"): SourceFigure(
        "70.75 %", "LeNet v2 with augmentation, post 002: epoch 12, full CIFAR-10"
    ),
}

RESULTS_NOTE = (
    "Each figure of ours was measured in the profile, on the device and on the data named in "
    "its row. The source tutorials trained on the full data sets for the epochs given; only "
    "our rows measured in the full profile on real data are comparable with them. Rows on the "
    "CIFAR-10 subset (5,085 training images) or the offline stand-in show that the lesson "
    "learns, not that it reproduces the tutorial."
)


def short_source(source: str) -> str:
    """A data-source description without machine paths: ``subset (cifar10_subset.npz)``."""

    def last_part(match: re.Match[str]) -> str:
        return "(" + re.split(r"[/\\]", match.group(1).rstrip("/\\"))[-1] + ")"

    return re.sub(r"\((?:download to )?([^()]*[/\\][^()]*)\)", last_part, source)


def format_figure(name: str, value: float) -> str:
    """A figure for the results table: accuracies in percent, durations in seconds."""
    if isinstance(value, float) and ("acc" in name or "top" in name) and 0 <= value <= 1:
        return f"{100 * value:.2f} %"
    if name.endswith("_per_s"):
        return f"{value:,.1f} per s"
    if name.endswith("seconds"):
        return f"{value:.1f} s"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.1f}" if abs(value) >= 100 else f"{value:.4f}"


def data_label(source: str) -> str:
    """The data of a source description, without files: ``cifar10: subset, mnist: torchvision``."""
    return re.sub(r"\s*\([^()]*\)", "", source)


def figures_table(results: Sequence[dict[str, Any]], failed: dict[str, str] | None = None) -> str:
    """A Markdown table, one row per recorded figure: ours, the source tutorial's, and the
    profile, device and data ours was measured on."""
    lines = [
        "| lesson | figure | ours | source tutorial | ours measured on |",
        "| --- | --- | ---: | --- | --- |",
    ]
    by_id, failed = {r["notebook"]: r for r in results}, failed or {}
    for nb_id in sorted(set(by_id) | set(failed)):
        if nb_id in failed:
            lines.append(f"| {nb_id} | FAILED | {failed[nb_id]} | | |")
            continue
        r = by_id[nb_id]
        where = f"{r['profile']} · {r['device']} · {data_label(r['data_source'])}"
        for name, value in r["figures"].items():
            src = SOURCE_FIGURES.get((nb_id, name))
            theirs = f"{src.text} ({src.where})" if src else "—"
            lines.append(f"| {nb_id} | {name} | {format_figure(name, value)} | {theirs} | {where} |")
    return "\n".join(lines) + "\n"


def runs_table(
    results: Sequence[dict[str, Any]],
    wall: dict[str, float] | None = None,
    failed: dict[str, str] | None = None,
) -> str:
    """A Markdown table, one row per notebook: profile, device, data source (no machine
    paths), when it recorded, how long ``make course`` ran it, and whether it failed."""
    lines = [
        "| notebook | profile | device | data source | recorded | run time | status |",
        "| --- | --- | --- | --- | --- | ---: | --- |",
    ]
    by_id, failed, wall = {r["notebook"]: r for r in results}, failed or {}, wall or {}
    for nb_id in sorted(set(by_id) | set(wall) | set(failed)):
        r = by_id.get(nb_id, {})
        cells = [
            r.get("profile", "-"),
            r.get("device", "-"),
            short_source(r.get("data_source", "-")),
            str(r.get("recorded_at", "-")).replace("T", " ")[:16],
            f"{wall[nb_id]:.0f} s" if nb_id in wall else "-",
            f"FAILED: {failed[nb_id]}" if nb_id in failed else "ok" if r else "ran; records no figures",
        ]
        lines.append(f"| {nb_id} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def results_table(
    results: Sequence[dict[str, Any]],
    wall: dict[str, float] | None = None,
    failed: dict[str, str] | None = None,
) -> str:
    """The figures table, then the runs table (see :func:`figures_table`, :func:`runs_table`)."""
    return (
        f"## Figures\n\n{RESULTS_NOTE}\n\n{figures_table(results, failed)}\n"
        f"## Runs\n\nThe run behind each notebook's figures.\n\n{runs_table(results, wall, failed)}"
    )


def results_markdown(
    results: Sequence[dict[str, Any]],
    wall: dict[str, float] | None = None,
    failed: dict[str, str] | None = None,
) -> str:
    """``build/results.md``: the title, then :func:`results_table`."""
    return "# Course results\n\n" + results_table(results, wall, failed)


def run_notebooks(paths: Sequence[str | os.PathLike], *, timeout: int = -1) -> tuple[Path, dict[str, str]]:
    """Execute notebooks headlessly (:mod:`course_utils.course.runner`); write ``results.md``.

    Lessons' copies go to ``build/notebooks/``, solutions' to ``build/notebooks/solutions/``.
    A failing notebook does not stop the others; returns the table's path and the failures.
    """
    for path in map(Path, paths):  # no stale figures from an earlier run
        if path.parent.name != "solutions":
            (build_dir() / "results" / f"{path.stem[:2]}.json").unlink(missing_ok=True)
    wall, failed = runner.execute_all(paths, build=build_dir(), timeout=timeout)
    table = build_dir() / "results.md"
    _write_atomically(table, results_markdown(load_results(), wall, failed))
    print(table.read_text())
    return table, failed


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``run NOTEBOOK...`` or ``table``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"] and len(args) > 1:
        _, failed = run_notebooks(args[1:])
        return 1 if failed else 0
    if args[:1] == ["table"]:
        print(results_table(load_results()))
        return 0
    print("usage: python -m course_utils.report run NOTEBOOK... | table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
