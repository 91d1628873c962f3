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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from . import files
from .course import runner
from .course.runner import NotebookError, notebook_key  # noqa: F401  report.notebook_key, as before


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
        if is_accuracy(name) and not 0 <= value <= 1:
            hint = f": it looks like a percentage; record {name}={value / 100:g}" if 1 < value <= 100 else ""
            raise ValueError(
                f"report.record: figure {name}={value:g} is an accuracy, which the course records as a "
                f"fraction in [0, 1] (0.54 for 54 %){hint}; nothing was recorded"
            )
        plain[name] = value
    return plain


def is_accuracy(name: str) -> bool:
    """True for a figure recorded as a fraction of images right: ``test_acc``, ``val_top5``
    (a name that ends so; ``acc_gap``, a difference, may be negative)."""
    return re.search(r"(?:^|_)(?:acc|accuracy|top\d+)$", name) is not None


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


class SourceFigure(NamedTuple):
    """A figure that a source post printed, as the post printed it, and where."""

    text: str  # as the post printed it, e.g. "69.42 %"
    post: str  # the post's short name (../shared/sources/README.md), e.g. "the LeNet experiments post"
    where: str  # the epoch and the data it was measured on


# Figures recorded by the lessons that have a counterpart in the source posts; each post is
# named as the lessons name it (tests/test_report.py checks every figure against its post).
SOURCE_FIGURES: dict[tuple[str, str], SourceFigure] = {
    ("03", "test_acc"): SourceFigure(
        "53 %", "the blitz post", "after epoch 2, on the full CIFAR-10 test set"
    ),
    ("04", "per_sample_test_acc"): SourceFigure(
        "97.66 %", "the MNIST post", "after epoch 1, one image per step, full MNIST"
    ),
    ("04", "batched_test_acc"): SourceFigure(
        "97.25 %", "the MNIST post", "after epoch 1, batches of 50, full MNIST"
    ),
    ("04", "per_sample_seconds"): SourceFigure(
        "70 s", "the MNIST post", "epoch 1, 60,000 images one at a time, printed as 70.17 s"
    ),
    ("04", "batched_seconds"): SourceFigure(
        "18 s", "the MNIST post", "epoch 1, 60,000 images in batches of 50, printed as 18.18 s"
    ),
    ("05", "v1_val_acc"): SourceFigure(
        "69.42 %", "the LeNet experiments post", "LeNet v1 at epoch 12, full CIFAR-10"
    ),
    ("05", "v2_val_acc"): SourceFigure(
        "70.69 %", "the LeNet experiments post", "LeNet v2 at epoch 12, full CIFAR-10"
    ),
    ("06", "plain_val_acc"): SourceFigure(
        "70.69 %", "the LeNet experiments post", "LeNet v2 without augmentation at epoch 12, full CIFAR-10"
    ),
    ("06", "augmented_val_acc"): SourceFigure(
        "70.75 %", "the LeNet experiments post", "LeNet v2 with augmentation at epoch 12, full CIFAR-10"
    ),
}


class Headline(NamedTuple):
    """One row of the results page: recorded figures shown in words and units."""

    words: str  # what was measured, as a learner reads it
    names: tuple[str, ...]  # the recorded figures the row shows (several: one value each)
    unit: str  # "%" (recorded as a fraction), "s", "ms", "images/s", "x", or a word: "images"


def _h(words: str, *names: str, unit: str) -> Headline:
    return Headline(words, names, unit)


LESSON_TIME = _h("time to run the whole lesson", "seconds", unit="s")
# Each lesson's headline figures; any other figure it records stays in build/results/NN.json.
HEADLINES: dict[str, tuple[Headline, ...]] = {
    "00": (
        _h("CIFAR-10 training images found", "cifar10_train_images", unit="images"),
        _h("MNIST training images found", "mnist_train_images", unit="images"),
        LESSON_TIME,
    ),
    "01": (
        _h("training images", "train_images", unit="images"),
        _h("batches in one epoch", "batches_per_epoch", unit="batches"),
        _h("loading speed, no worker processes", "images_per_s_0_workers", unit="images/s"),
        _h("loading speed, 2 worker processes", "images_per_s_2_workers", unit="images/s"),
        LESSON_TIME,
    ),
    "02": (
        _h("mean of the red, green and blue channels", "mean_r", "mean_g", "mean_b", unit=""),
        _h("standard deviation of the red, green and blue channels", "std_r", "std_g", "std_b", unit=""),
        LESSON_TIME,
    ),
    "03": (_h("test accuracy of the blitz network", "test_acc", unit="%"), LESSON_TIME),
    "04": (
        _h("test accuracy after one epoch, one image per step", "per_sample_test_acc", unit="%"),
        _h("test accuracy after one epoch, batches of 50", "batched_test_acc", unit="%"),
        _h("time for that epoch, one image per step", "per_sample_seconds", unit="s"),
        _h("time for that epoch, batches of 50", "batched_seconds", unit="s"),
        LESSON_TIME,
    ),
    "05": (
        _h("LeNet v1: validation accuracy after the last epoch", "v1_val_acc", unit="%"),
        _h("LeNet v2: validation accuracy after the last epoch", "v2_val_acc", unit="%"),
        _h("LeNet v1: test accuracy, weights of its best epoch", "v1_test_acc", unit="%"),
        _h("LeNet v2: test accuracy, weights of its best epoch", "v2_test_acc", unit="%"),
        _h("best epoch (lowest validation loss) of v1 and v2", "v1_best_epoch", "v2_best_epoch", unit=""),
        LESSON_TIME,
    ),
    "06": (
        _h("LeNet v2 without augmentation: validation accuracy", "plain_val_acc", unit="%"),
        _h("LeNet v2 with augmentation: validation accuracy", "augmented_val_acc", unit="%"),
        _h("without augmentation: test accuracy", "plain_test_acc", unit="%"),
        _h("with augmentation: test accuracy", "augmented_test_acc", unit="%"),
        LESSON_TIME,
    ),
    "07": (
        _h("ResNet-50: top-1 validation accuracy", "val_top1", unit="%"),
        _h("ResNet-50: top-5 validation accuracy", "val_top5", unit="%"),
        LESSON_TIME,
    ),
    "08": (
        _h("training speed, DataLoader with the PIL pipeline", "pil_images_per_s", unit="images/s"),
        _h("training speed, DeviceLoader + BatchAugment", "device_images_per_s", unit="images/s"),
        _h("DeviceLoader's speed over the PIL pipeline's", "speedup", unit="x"),
        _h("training speed, DeviceLoader + channels_last", "channels_last_images_per_s", unit="images/s"),
        _h("training speed, DeviceLoader + AMP", "amp_images_per_s", unit="images/s"),
        _h(
            "training speed, DeviceLoader + AMP + channels_last",
            "amp_channels_last_images_per_s",
            unit="images/s",
        ),
        _h("validation accuracy, PIL pipeline", "pil_val_acc", unit="%"),
        _h("validation accuracy, DeviceLoader + BatchAugment", "device_loader_val_acc", unit="%"),
        _h("validation accuracy, DeviceLoader + channels_last", "channels_last_val_acc", unit="%"),
        _h("validation accuracy, DeviceLoader + AMP", "amp_val_acc", unit="%"),
        _h("validation accuracy, DeviceLoader + AMP + channels_last", "amp_channels_last_val_acc", unit="%"),
        _h(
            "time per training step, eager and compiled",
            "eager_ms_per_step",
            "compiled_ms_per_step",
            unit="ms",
        ),
        _h("time torch.compile took to compile", "compile_seconds", unit="s"),
        LESSON_TIME,
    ),
    "09": (
        _h("validation accuracy, 1 process", "one_process_val_acc", unit="%"),
        _h("validation accuracy, 2 processes (torchrun + DDP)", "two_process_val_acc", unit="%"),
        _h("largest difference between the two runs' weights", "max_weight_diff", unit=""),
        _h(
            "training time, 1 process and 2 processes", "one_process_seconds", "two_process_seconds", unit="s"
        ),
        LESSON_TIME,
    ),
}

RESULTS_NOTE = (
    "Each lesson's figures were measured in the profile, on the device and on the data named "
    "above its table. The smoke profile (what CI runs) trains briefly on part of the data, each "
    "lesson says how much; quick trains at most 3 epochs on all of it; full keeps the lessons' "
    "own settings (the posts' where the posts give them). The posts trained on the full data "
    "sets for the epochs given; only our figures measured in the full profile on real data are "
    "comparable with theirs. Figures on the CIFAR-10 subset (5,085 training images) or the "
    "offline stand-in show that the lesson learns, not that it reproduces the post."
)
DATASET_NAMES = {"cifar10": "CIFAR-10", "mnist": "MNIST"}


def short_source(source: str) -> str:
    """A data-source description without machine paths: ``subset (cifar10_subset.npz)``."""

    def last_part(match: re.Match[str]) -> str:
        return "(" + re.split(r"[/\\]", match.group(1).rstrip("/\\"))[-1] + ")"

    return re.sub(r"\((?:download to )?([^()]*[/\\][^()]*)\)", last_part, source)


def data_words(source: str) -> str:
    """A data-source description in words, e.g.
    ``CIFAR-10 subset (cifar10_subset.npz), MNIST (torchvision's files)``.
    """
    kinds = {
        "torchvision": " (torchvision's files)",
        "subset": " subset",
        "synthetic": " offline stand-in (synthetic)",
    }
    parts = []
    for part in short_source(source).split(", "):
        name, _, rest = part.partition(": ")
        kind = rest.split(" (")[0]
        if name in DATASET_NAMES and kind in kinds:
            file = rest.partition(" (")[2].rstrip(")") if kind == "subset" else ""
            parts.append(DATASET_NAMES[name] + kinds[kind] + (f" ({file})" if file else ""))
        else:
            parts.append(part)
    return ", ".join(parts)


def format_value(value: float, unit: str) -> str:
    """One figure in its unit: ``30.21 %``, ``6.0 s``, ``1,234 images/s``, ``2.31x``, ``5,085 images``."""
    if unit == "%":
        return f"{100 * value:.2f} %"
    if unit in ("s", "ms"):
        return f"{value:,.1f} {unit}" if value >= 1 else f"{value:.3g} {unit}"
    if unit == "images/s":
        return f"{value:,.0f} images/s"
    if unit == "x":
        return f"{value:.2f}x"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}" + (f" {unit}" if unit else "")
    return f"{value:.3g}" if abs(value) < 1e-3 else f"{value:.4f}".rstrip("0")


def guess_headline(name: str) -> Headline | None:
    """Words and unit for a figure of a lesson without a HEADLINES entry; None: an internal figure."""
    words = name.replace("_", " ")
    for short, long in (
        ("val", "validation"),
        ("acc", "accuracy"),
        ("top1", "top-1 accuracy"),
        ("top5", "top-5 accuracy"),
        ("per s", "per second"),
    ):
        words = re.sub(rf"\b{short}\b", long, words)
    if is_accuracy(name):
        return Headline(words, (name,), "%")
    if name == "seconds":
        return LESSON_TIME
    if name.endswith("seconds"):
        return Headline(words.replace("seconds", "time"), (name,), "s")
    if name.endswith("images_per_s"):
        return Headline(words.replace(" images per second", ", speed"), (name,), "images/s")
    return None


def headlines_of(nb_id: str, figures: dict[str, Any]) -> list[Headline]:
    """The rows a lesson's results show: its HEADLINES entry, then any other figure whose
    unit is known (an accuracy, a time, a speed) in guessed words; the rest stays internal."""
    listed = [h for h in HEADLINES.get(nb_id, ()) if any(n in figures for n in h.names)]
    covered = {n for h in HEADLINES.get(nb_id, ()) for n in h.names}
    guessed = [guess_headline(n) for n in figures if n not in covered]
    return listed + [h for h in guessed if h is not None]


def lesson_table(nb_id: str, result: dict[str, Any]) -> str:
    """One lesson's results: the run they come from, then one row per headline figure."""
    figures = result["figures"]
    lines = [
        f"Measured in the **{result['profile']}** profile on **{result['device']}**; data: "
        f"{data_words(result['data_source'])}.",
        "",
        "| what was measured | ours | the post's figure |",
        "| --- | ---: | --- |",
    ]
    shown: set[str] = set()
    for row in headlines_of(nb_id, figures):
        values = [format_value(figures[n], row.unit) for n in row.names if n in figures]
        theirs = [SOURCE_FIGURES[(nb_id, n)] for n in row.names if (nb_id, n) in SOURCE_FIGURES]
        post = "; ".join(f"{f.text}, {f.where} ({f.post})" for f in theirs) or "—"
        lines.append(f"| {row.words} | {' · '.join(values)} | {post} |")
        shown.update(row.names)
    rest = len(set(figures) - shown)
    if rest:
        more = (
            "1 more figure, kept for the course's own checks, is"
            if rest == 1
            else (f"{rest} more figures, kept for the course's own checks, are")
        )
        lines += ["", f"{more} in `results/{nb_id}.json`."]
    return "\n".join(lines) + "\n"


def figures_section(
    results: Sequence[dict[str, Any]],
    failed: dict[str, str] | None = None,
    unreadable: dict[str, str] | None = None,
) -> str:
    """Per lesson, its headline figures in words and units beside the post's (see :func:`lesson_table`);
    failed lessons and unreadable result files are named."""
    by_id, failed = {r["notebook"]: r for r in results}, failed or {}
    parts = [f"## Figures\n\n{RESULTS_NOTE}\n"]
    for nb_id in sorted((set(by_id) | set(failed)) - {k for k in failed if k.endswith(" solutions")}):
        body = f"**Failed** at {failed[nb_id]}\n" if nb_id in failed else lesson_table(nb_id, by_id[nb_id])
        parts.append(f"### Lesson {nb_id}\n\n{body}")
    if unreadable:
        left = "".join(f"- `results/{Path(p).name}`: {why}\n" for p, why in unreadable.items())
        parts.append(f"### Left out\n\nThese files in `results/` are not results of a lesson:\n\n{left}")
    return "\n".join(parts)


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
    unreadable: dict[str, str] | None = None,
) -> str:
    """The figures per lesson, then the runs table (see :func:`figures_section`, :func:`runs_table`)."""
    return (
        f"{figures_section(results, failed, unreadable)}\n"
        f"## Runs\n\nThe run behind each notebook's figures.\n\n{runs_table(results, wall, failed)}"
    )


def results_markdown(
    results: Sequence[dict[str, Any]],
    wall: dict[str, float] | None = None,
    failed: dict[str, str] | None = None,
    unreadable: dict[str, str] | None = None,
) -> str:
    """``build/results.md``: the title, then :func:`results_table`."""
    return "# Course results\n\n" + results_table(results, wall, failed, unreadable)


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
    print("usage: python -m course_utils.report run NOTEBOOK... | table", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
