"""The command line of ``python -m course_utils.train`` (Lesson 09): its parser, the checks of its
arguments and of ``--out``, and the settings a run stores in its checkpoint.

Every check here runs before ``--out`` is created, on the process that writes (rank 0).
A run's *settings* are the arguments that change what it computes; ``--resume`` with
another value of one is refused unless ``--override`` names it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from .. import models

MODELS = {
    "tutorial_net": models.TutorialNet,
    "mnist_cnn": models.MnistCNN,
    "lenet_v1": models.LeNetV1,
    "lenet_v2": models.LeNetV2,
    "resnet50": models.resnet50,
}
THREE_CHANNEL = ("tutorial_net", "lenet_v1", "lenet_v2", "resnet50")
CHECKPOINT, HISTORY, RESULT = "checkpoint.pt", "history.json", "result.json"
WRITTEN_BY = "course_utils.train"  # the mark of the JSON files the course wrote (and may replace)
# What a run computes with, in flag spelling. --override cannot change the first two (the
# checkpoint's weights and optimizer state fit only them); --epochs, --out, --cpu ... may change
# freely, and so may the number of processes (each global batch is the same). --workers counts
# only with --augment: worker processes draw the random transforms from seeds of their own.
SETTINGS = (
    "model",
    "optimizer",
    "data",
    "batch-size",
    "lr",
    "momentum",
    "seed",
    "train-samples",
    "val-samples",
    "augment",
    "image-size",
    "amp",
    "channels-last",
    "workers",
)
OVERRIDABLE = SETTINGS[2:]
EXAMPLES = """\
examples:
  python -m course_utils.train --model mnist_cnn --data mnist --epochs 2 --out runs/mnist
  torchrun --standalone --nproc_per_node=2 -m course_utils.train --model mnist_cnn --data mnist \
--out runs/mnist2
  python -m course_utils.train --model lenet_v2 --data PATH --augment --optimizer adam --lr 1e-3 \
--out runs/mine
    (PATH holds train/ and val/, each with one sub-folder per class)
  python -m course_utils.train ... --epochs 4 --resume --lr 0.005 --override lr
    (continue a run with another learning rate from its next epoch; result.json says so)

files in --out: checkpoint.pt (after every epoch), history.json, result.json; one run at a time.
exit status 2: the command line, the data or --out cannot work (nothing was trained or written);
1: an error while training.
"""


def launcher() -> tuple[int, int]:
    """(rank, world size) from torchrun's variables; (0, 1) unless all of those it needs are set.

    A ``RANK`` or ``WORLD_SIZE`` left in the environment by an earlier launch does not make
    a plain ``python -m course_utils.train`` a process of a group (``distributed.start``
    joins one only when ``MASTER_ADDR`` and ``MASTER_PORT`` are there too).
    """
    if not all(name in os.environ for name in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")):
        return 0, 1
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors only rank 0 prints (every rank still exits with code 2)."""

    def error(self, message: str) -> NoReturn:
        if launcher()[0] != 0:
            sys.exit(2)
        super().error(message)


def _number(
    kind: type, low: float, high: float, *, low_ok: bool, high_ok: bool = False, words: str = ""
) -> Any:
    """An argparse type: a finite ``kind`` in the interval, refused in ``config.setup``'s words."""
    words = words or f"a finite number in {'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r} is not {'a whole' if kind is int else 'a'} number"
            ) from None
        above = value >= low if low_ok else value > low
        below = value <= high if high_ok else value < high
        if not (math.isfinite(value) and above and below):
            raise argparse.ArgumentTypeError(f"must be {words}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def _positive(kind: type) -> Any:
    return _number(kind, 0, math.inf, low_ok=False, words="a positive number")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m course_utils.train`` (``--help`` shows it), in three groups."""
    p = _Parser(
        prog="python -m course_utils.train",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a course model with engine.fit; under torchrun, on every "
        "process with DistributedDataParallel.",
    )
    _add_what(p)
    _add_how(p)
    _add_where(p)
    return p


def _add_what(p: argparse.ArgumentParser) -> None:
    """The network and the data: --model, --data, --augment, the sample counts, --image-size."""
    g = p.add_argument_group("what to train on")
    g.add_argument(
        "--model", choices=sorted(MODELS), default="tutorial_net", help="network (default: %(default)s)"
    )
    g.add_argument(
        "--data",
        default="cifar10",
        metavar="{cifar10,mnist,PATH}",
        help="dataset, or an image folder holding train/ and val/ (default: %(default)s)",
    )
    g.add_argument(
        "--augment", action="store_true", help="the LeNet lessons' augmentation (3-channel models)"
    )
    g.add_argument(
        "--train-samples", type=_positive(int), help="use only N training images (classes balanced)"
    )
    g.add_argument(
        "--val-samples", type=_positive(int), help="use only N validation images (classes balanced)"
    )
    g.add_argument(
        "--image-size", type=_positive(int), default=224, help="resnet50's input size (default: %(default)s)"
    )


def _add_how(p: argparse.ArgumentParser) -> None:
    """The optimisation: --epochs, --batch-size, --lr, --optimizer, --momentum, --seed."""
    g = p.add_argument_group("how to train")
    g.add_argument("--epochs", type=_positive(int), default=2, help="epochs to train (default: %(default)s)")
    g.add_argument(
        "--batch-size",
        type=_positive(int),
        default=32,
        help="GLOBAL batch: split evenly across the processes (default: %(default)s)",
    )
    g.add_argument("--lr", type=_positive(float), default=0.01, help="learning rate (default: %(default)s)")
    g.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="(default: %(default)s)")
    g.add_argument(
        "--momentum",
        type=_number(float, 0, 1, low_ok=True),
        default=0.9,
        help="SGD momentum, in [0, 1) (default: %(default)s)",
    )
    g.add_argument(
        "--seed",
        type=_number(int, 0, 2**32 - 1, low_ok=True, high_ok=True, words="an integer from 0 to 2**32 - 1"),
        default=0,
        help="seeds the weights and the shuffling, 0 to 2**32 - 1 (default: %(default)s)",
    )


def _add_where(p: argparse.ArgumentParser) -> None:
    """The run: --out, --workers, device and precision, --resume/--override, logging, teaching faults."""
    g = p.add_argument_group("where it runs and what it writes")
    g.add_argument(
        "--out", type=Path, default=Path("runs/train"), help="output folder (default: %(default)s)"
    )
    g.add_argument(
        "--workers",
        type=_number(int, 0, math.inf, low_ok=True, words="0 or more"),
        default=0,
        help="DataLoader worker processes per process (default: 0)",
    )
    g.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    g.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    g.add_argument("--cpu", action="store_true", help="train on the CPU (gloo) even when CUDA is present")
    g.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    g.add_argument(
        "--override",
        action="append",
        default=[],
        choices=OVERRIDABLE,
        metavar="SETTING",
        help="with --resume: continue with this argument's new value although the checkpoint "
        "was trained with another (repeat for several; e.g. --override lr). The random-number "
        "states are the checkpoint's: --override seed changes only the shuffling order",
    )
    g.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write the per-epoch metrics for TensorBoard to OUT/tensorboard "
        "when training ends (needs the tensorboard package)",
    )
    g.add_argument("--log-every", type=_positive(int), help="print the running loss every N batches")
    g.add_argument(
        "--crash-at-epoch",
        type=_positive(int),
        metavar="K",
        help="FOR TEACHING AND TESTS: rank 1 fails in the middle of epoch K, on the "
        "first attempt only (see torchrun --max-restarts)",
    )


# ------------------------------------------------------------------ checks


def check_args(args: argparse.Namespace, world_size: int, rank: int) -> str | None:
    """What is wrong with ``args`` for ``world_size`` processes, or None (files are checked by rank 0)."""
    if args.batch_size % world_size:
        divisible = args.batch_size // world_size * world_size or world_size
        return (
            f"--batch-size {args.batch_size} is the global batch and must be divisible by "
            f"the number of processes ({world_size}): try {divisible}"
        )
    if (args.data == "mnist") != (args.model == "mnist_cnn"):
        return (
            f"--model {args.model} does not fit --data {args.data}: mnist_cnn takes MNIST's "
            "1x28x28 digits, the other models 3-channel images (cifar10 or an image folder)"
        )
    if args.augment and args.model == "mnist_cnn":
        return "--augment: the course has no augmentation pipeline for MNIST; leave it out"
    if args.crash_at_epoch is not None and (world_size < 2 or args.crash_at_epoch > args.epochs):
        return (
            f"--crash-at-epoch {args.crash_at_epoch} crashes rank 1 during an epoch that is "
            f"trained: it needs at least 2 processes (here {world_size}) and K <= --epochs ({args.epochs})"
        )
    if args.override and not args.resume:
        return "--override only applies with --resume (a new run takes every argument as given)"
    return check_out(args) if rank == 0 else None


def _written_by_course(path: Path) -> bool:
    """Whether ``path`` is a JSON file this command wrote (so a run may replace it)."""
    try:
        return not path.is_symlink() and json.loads(path.read_text()).get("written_by") == WRITTEN_BY
    except (OSError, ValueError, AttributeError):
        return False


def check_out(args: argparse.Namespace) -> str | None:
    """Rank 0's checks of the output folder (the others may not see rank 0's disk)."""
    path = args.out / CHECKPOINT
    if args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} is a file, not a folder"
    if args.resume and not path.is_file():
        return f"--resume: there is no checkpoint at {path}; train without --resume first"
    if not args.resume and path.exists() and _restart_count() == 0:
        return (
            f"{path} already exists: pass --resume to continue that run, or choose "
            "another --out (a new run would overwrite it)"
        )
    foreign = [
        name
        for name in (HISTORY, RESULT)
        if os.path.lexists(args.out / name) and not _written_by_course(args.out / name)
    ]
    if foreign:
        return (
            f"--out {args.out} holds {', '.join(foreign)}, which this command did not write and a "
            "run would replace: move them away or choose another --out"
        )
    return None


def _restart_count() -> int:
    """How often torchrun has restarted the workers (0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))


# ------------------------------------------------------------------ the settings a run stores


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The arguments that change what a run computes, by flag name (an image folder's full path)."""
    values = {name: getattr(args, name.replace("-", "_")) for name in SETTINGS}
    folder = values["data"] not in ("cifar10", "mnist")
    workers = values["workers"] if values["augment"] else None  # without augmentation: speed only
    return values | {
        "data": str(Path(values["data"]).resolve()) if folder else values["data"],
        "workers": workers,
    }


def _as_flag(name: str, value: Any) -> str:
    """How to write ``value`` on the command line: ``--lr 0.05``, ``--augment``, no --augment."""
    if isinstance(value, bool):
        return f"--{name}" if value else f"no --{name}"
    return f"no --{name}" if value is None else f"--{name} {value}"


def check_resume(args: argparse.Namespace, saved: dict[str, Any] | None, path: Path) -> str | None:
    """What differs between ``args`` and the ``saved`` settings that ``--override`` does not allow."""
    if saved is None:
        return None  # written by engine.fit or an earlier course_utils: nothing to compare
    now = settings_of(args)
    differ = [name for name in SETTINGS if name in saved and saved[name] != now[name]]
    fixed = [name for name in differ if name not in OVERRIDABLE]
    if fixed:
        return (
            f"--resume: {path} was trained with {', '.join(_as_flag(n, saved[n]) for n in fixed)}, "
            f"not {', '.join(_as_flag(n, now[n]) for n in fixed)}: its weights and optimizer "
            "state fit only that; pass it, or start a new run in another --out"
        )
    refused = [name for name in differ if name not in args.override]
    if refused:
        was = ", ".join(f"{_as_flag(n, saved[n])} (now {_as_flag(n, now[n])})" for n in refused)
        return (
            f"--resume: {path} was trained with {was}; pass the same to continue it as it was, "
            f"or add {' '.join(f'--override {n}' for n in refused)} to continue with the new "
            "value from the next epoch"
        )
    return None


def settings_log(args: argparse.Namespace, world_size: int, saved: dict[str, Any] | None) -> list[dict]:
    """The run's settings, one entry per stretch of epochs: the checkpoint's, and this one if it differs.

    Each entry holds ``first_epoch``, ``world_size`` and :func:`settings_of`.
    """
    log = list(saved.get("settings") or []) if saved else []
    now = {"first_epoch": saved["epoch"] + 1 if saved else 1, "world_size": world_size, **settings_of(args)}
    if log and all(log[-1].get(key) == value for key, value in now.items() if key != "first_epoch"):
        return log
    return [*log, now]


def say_changes(log: list[dict], first_epoch: int) -> None:
    """Rank 0 says when the run, resumed at ``first_epoch``, computes with another setting from there."""
    if len(log) < 2 or log[-1]["first_epoch"] != first_epoch:
        return
    before, now = log[-2], log[-1]
    changed = [
        f"{key} {before.get(key)} -> {now[key]}"
        for key in now
        if key != "first_epoch" and before.get(key) != now[key]
    ]
    print(f"[course] from epoch {now['first_epoch']} on: {', '.join(changed)}", flush=True)


def with_epochs(log: list[dict], epochs: int) -> list[dict]:
    """The settings log with each entry's ``epochs``: [first, last] (the epochs that used it)."""
    log = [entry for entry in log if entry["first_epoch"] <= epochs]  # none, when nothing was left
    ends = [entry["first_epoch"] - 1 for entry in log[1:]] + [epochs]
    return [{"epochs": [e["first_epoch"], end], **e} for e, end in zip(log, ends, strict=True)]
