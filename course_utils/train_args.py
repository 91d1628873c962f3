"""The command line of ``python -m course_utils.train``: its parser and the checks of its arguments.

Moved out of :mod:`course_utils.train`, which imports (and so still exports) these names.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

from . import models

MODELS = {
    "tutorial_net": models.TutorialNet,
    "mnist_cnn": models.MnistCNN,
    "lenet_v1": models.LeNetV1,
    "lenet_v2": models.LeNetV2,
    "resnet50": models.resnet50,
}
THREE_CHANNEL = ("tutorial_net", "lenet_v1", "lenet_v2", "resnet50")
CHECKPOINT, HISTORY, RESULT = "checkpoint.pt", "history.json", "result.json"
EXAMPLES = """\
examples:
  python -m course_utils.train --model mnist_cnn --data mnist --epochs 2 --out runs/mnist
  torchrun --standalone --nproc_per_node=2 -m course_utils.train --model mnist_cnn --data mnist \
--out runs/mnist2
  python -m course_utils.train --model lenet_v2 --data PATH --augment --optimizer adam --lr 1e-3 \
--out runs/mine
    (PATH holds train/ and val/, each with one sub-folder per class)

files in --out: checkpoint.pt (after every epoch), history.json, result.json
"""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors only rank 0 prints (every rank still exits with code 2)."""

    def error(self, message: str) -> NoReturn:
        if int(os.environ.get("RANK", "0")) != 0:
            sys.exit(2)
        super().error(message)


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m course_utils.train`` (``--help`` shows it)."""
    p = _Parser(
        prog="python -m course_utils.train",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train a course model with engine.fit; under torchrun, on every "
        "process with DistributedDataParallel.",
    )
    p.add_argument(
        "--model", choices=sorted(MODELS), default="tutorial_net", help="network (default: %(default)s)"
    )
    p.add_argument(
        "--data",
        default="cifar10",
        metavar="{cifar10,mnist,PATH}",
        help="dataset, or an image folder holding train/ and val/ (default: %(default)s)",
    )
    p.add_argument("--epochs", type=_positive(int), default=2, help="epochs to train (default: %(default)s)")
    p.add_argument(
        "--batch-size",
        type=_positive(int),
        default=32,
        help="GLOBAL batch: split evenly across the processes (default: %(default)s)",
    )
    p.add_argument("--lr", type=_positive(float), default=0.01, help="learning rate (default: %(default)s)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd", help="(default: %(default)s)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default: %(default)s)")
    p.add_argument(
        "--seed", type=int, default=0, help="seeds the weights and the shuffling (default: %(default)s)"
    )
    p.add_argument(
        "--out", type=Path, default=Path("runs/train"), help="output folder (default: %(default)s)"
    )
    p.add_argument(
        "--augment", action="store_true", help="the LeNet lessons' augmentation (3-channel models)"
    )
    p.add_argument(
        "--train-samples", type=_positive(int), help="use only N training images (classes balanced)"
    )
    p.add_argument(
        "--val-samples", type=_positive(int), help="use only N validation images (classes balanced)"
    )
    p.add_argument(
        "--image-size", type=_positive(int), default=224, help="resnet50's input size (default: %(default)s)"
    )
    p.add_argument(
        "--workers", type=int, default=0, help="DataLoader worker processes per process (default: 0)"
    )
    p.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    p.add_argument("--channels-last", action="store_true", help="channels-last memory format")
    p.add_argument("--cpu", action="store_true", help="train on the CPU (gloo) even when CUDA is present")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument(
        "--tensorboard",
        action="store_true",
        help="also write the per-epoch metrics for TensorBoard to OUT/tensorboard "
        "when training ends (needs the tensorboard package)",
    )
    p.add_argument("--log-every", type=_positive(int), help="print the running loss every N batches")
    p.add_argument(
        "--crash-at-epoch",
        type=_positive(int),
        metavar="K",
        help="FOR TEACHING AND TESTS: rank 1 fails in the middle of epoch K, on the "
        "first attempt only (see torchrun --max-restarts)",
    )
    return p


# ------------------------------------------------------------------ checks


def check_args(args: argparse.Namespace, world_size: int, rank: int) -> str | None:
    """What is wrong with ``args`` for ``world_size`` processes, or None (files are checked by rank 0)."""
    if args.batch_size % world_size:
        divisible = args.batch_size // world_size * world_size or world_size
        return (
            f"--batch-size {args.batch_size} is the global batch and must be divisible by "
            f"the number of processes ({world_size}): try {divisible}"
        )
    if (
        args.data == "mnist"
        and args.model != "mnist_cnn"
        or args.model == "mnist_cnn"
        and args.data != "mnist"
    ):
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
    if args.momentum < 0 or args.workers < 0:
        return "--momentum and --workers cannot be negative"
    return _check_out(args) if rank == 0 else None


def _check_out(args: argparse.Namespace) -> str | None:
    """Rank 0's checks of the output folder (the others may not see rank 0's disk)."""
    path = args.out / CHECKPOINT
    if args.resume and not path.is_file():
        return f"--resume: there is no checkpoint at {path}; train without --resume first"
    if not args.resume and path.exists() and _restart_count() == 0:
        return (
            f"{path} already exists: pass --resume to continue that run, or choose "
            "another --out (a new run would overwrite it)"
        )
    if args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} is a file, not a folder"
    return None


def _restart_count() -> int:
    """How often torchrun has restarted the workers (0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
