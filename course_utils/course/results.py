"""The results page: each lesson's headline figures in words and units, beside the posts' figures.

Course machinery behind ``build/results.md`` and the site's results page (``make course``,
``make site``). :mod:`course_utils.course.report` records the figures; this module only presents them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple


def is_accuracy(name: str) -> bool:
    """True for a figure recorded as a fraction of images right: ``test_acc``, ``val_top5``
    (a name that ends so; ``acc_gap``, a difference, may be negative)."""
    return re.search(r"(?:^|_)(?:acc|accuracy|top\d+)$", name) is not None


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
