"""Shared pieces of the benchmark scripts: arguments, device, timing, tables."""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from course_utils import config

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as `python benchmarks/x.py` without installing the package
    sys.path.insert(0, str(REPO))


def default_data_dir() -> Path:
    """``$COURSE_DATA_DIR``, else ``../shared/data`` next to the repository."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env).expanduser() if env else REPO.parent / "shared" / "data"


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every benchmark takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--data-dir",
        type=Path,
        default=default_data_dir(),
        help="folder with MNIST/raw and cifar10_subset.npz (default: %(default)s)",
    )
    p.add_argument("--device", default="auto", help="auto (cuda, mps, cpu), cpu, cuda, ...")
    p.add_argument("--quick", action="store_true", help="a short run (part of an epoch, one repeat)")
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: leave torch's default)"
    )
    p.add_argument("--repeats", type=int, default=3, help="epochs timed per variant; the median is shown")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--variants",
        default=None,
        help="comma-separated variants to run (default: all); the first is the baseline",
    )
    return p


def chosen_variants(all_variants: Sequence[str], wanted: str | None) -> tuple[str, ...]:
    """``--variants`` checked against the script's own, in the script's order."""
    if not wanted:
        return tuple(all_variants)
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    unknown = [n for n in names if n not in all_variants]
    if unknown:
        raise SystemExit(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(all_variants)}")
    return tuple(n for n in all_variants if n in names)


def compile_model(model: nn.Module, device: torch.device) -> nn.Module:
    """``torch.compile(model)``; on CUDA with ``mode="reduce-overhead"`` (CUDA graphs: one launch
    replays a whole step's kernels, which is what small models need)."""
    return torch.compile(model, mode="reduce-overhead" if device.type == "cuda" else None)


def compile_warm_up(
    model: nn.Module,
    compiled: nn.Module,
    shapes: Iterable[tuple[int, ...]],
    *,
    device: torch.device,
    classes: int = 10,
    calls: int = 3,
) -> float:
    """Seconds to compile ``compiled``'s forward and backward for every input shape in ``shapes``.

    Runs a few steps on random batches of each shape (the last, shorter batch of an epoch is
    another shape: without this it would recompile inside the timed epoch), then puts back
    ``model``'s initial weights and the global random-number state (dropout draws from it), so
    the compiled variant trains from the same start as the others.
    """
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        sync(device)
        start = time.perf_counter()
        for shape in shapes:
            inputs = torch.randn(shape, generator=generator).to(device)
            labels = torch.randint(classes, (shape[0],), generator=generator).to(device)
            for _ in range(calls):  # CUDA graphs are recorded on the second or third call
                nn.functional.cross_entropy(compiled(inputs), labels).backward()
        sync(device)
        seconds = time.perf_counter() - start
    model.zero_grad(set_to_none=True)
    model.load_state_dict(initial)
    return seconds


def pick_device(name: str) -> torch.device:
    """``auto`` -> the accelerator torch finds (as the lessons' ``config.pick_device``), else the CPU."""
    return config.pick_device() if name == "auto" else torch.device(name)


def setup_threads(threads: int | None) -> int:
    """Apply ``--threads`` and return the number of threads torch uses."""
    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock times are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def train_epoch(
    model: nn.Module,
    loader: Iterable,
    *,
    device: torch.device,
    max_batches: int | None = None,
    lr: float = 1e-3,
    channels_last: bool = False,
) -> float:
    """One epoch of the sources' loop (Adam, cross-entropy); returns wall seconds.

    ``channels_last`` puts the model's weights and every batch in the (N, H, W, C)
    memory layout, as ``engine.fit(..., channels_last=True)`` does.
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    model.train()
    sync(device)
    start = time.perf_counter()
    for inputs, labels in itertools.islice(loader, max_batches):
        inputs, labels = inputs.to(device), labels.to(device)
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss = criterion(model(inputs), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    sync(device)
    return time.perf_counter() - start


def loader_pass(loader: Iterable, *, device: torch.device, max_batches: int | None = None) -> float:
    """Seconds to iterate ``loader`` once without a model (the data pipeline alone)."""
    sync(device)
    start = time.perf_counter()
    for inputs, labels in itertools.islice(loader, max_batches):
        inputs, labels = inputs.to(device), labels.to(device)
    sync(device)
    return time.perf_counter() - start


@torch.no_grad()
def accuracy_of(model: nn.Module, loader: Iterable, *, device: torch.device) -> float:
    """Top-1 accuracy (fraction) of ``model`` on ``loader``."""
    model.eval()
    correct = total = 0
    for inputs, labels in loader:
        preds = model(inputs.to(device)).argmax(dim=1)
        correct += int((preds == labels.to(device)).sum())
        total += labels.shape[0]
    return correct / total


def timed_runs(run: Callable[[], float], repeats: int) -> list[float]:
    """Call ``run`` (which returns seconds) ``repeats`` times."""
    return [run() for _ in range(repeats)]


def fmt_seconds(times: Sequence[float]) -> str:
    """``median (min-max)`` of a list of timings."""
    med = statistics.median(times)
    return f"{med:.2f}" if len(times) == 1 else f"{med:.2f} ({min(times):.2f}-{max(times):.2f})"


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def banner(name: str, device: torch.device, threads: int, extra: str = "") -> str:
    """One line naming the benchmark, versions and settings."""
    return (
        f"{name}: torch {torch.__version__}, device {device}, torch threads {threads}, "
        f"cpu cores {os.cpu_count()}{extra}"
    )
