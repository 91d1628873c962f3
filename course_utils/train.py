"""Train a course model from the command line, on one process or many (Lesson 09).

One process::

    python -m course_utils.train --model mnist_cnn --data mnist --epochs 2 --out runs/mnist

Two processes on this machine, with DistributedDataParallel (gloo on the CPU,
nccl with one GPU per process)::

    torchrun --standalone --nproc_per_node=2 -m course_utils.train --model mnist_cnn --data mnist \
--out runs/mnist2

The training itself is ``engine.fit``; this module adds the command line, the
process group (``distributed``) and the files: ``OUT/checkpoint.pt`` after every
epoch (atomic), ``OUT/history.json`` (per-epoch metrics) and ``OUT/result.json``
(final metrics, world size, device, seconds, versions). Only rank 0 prints and
writes. ``--batch-size`` is the global batch: N processes take
``batch_size / N`` samples each per step, so ``--lr`` keeps its meaning.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

from . import config, data, distributed, engine, models

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


def tensorboard_available() -> bool:
    """Whether ``torch.utils.tensorboard`` can write (the tensorboard package is an optional extra)."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


NO_TENSORBOARD = (
    "[course] --tensorboard: the tensorboard package is not installed, so no "
    "TensorBoard files will be written; training goes on (history.json has the same "
    "figures). Install it with `pip install tensorboard` to get them."
)


# ------------------------------------------------------------------ data and model


def _transforms(model: str, augment: bool, folder: bool, image_size: int) -> tuple[Any, Any]:
    """(training, validation) transforms: the presets of the lessons that train ``model``."""
    if model == "mnist_cnn":
        return data.preset("mnist"), data.preset("mnist")
    if model == "resnet50":
        return (
            data.preset("resnet_augment" if augment else "resnet", image_size=image_size),
            data.preset("resnet", image_size=image_size),
        )
    plain = "blitz" if model == "tutorial_net" and not folder else "lenet"  # lenet resizes to 32x32
    return data.preset("lenet_augment" if augment else plain), data.preset(plain)


def load_data(args: argparse.Namespace) -> tuple[Any, Any, str]:
    """(training set, validation set, where they came from); raises for a refused image folder."""
    folder = args.data not in ("cifar10", "mnist")
    train_tf, val_tf = _transforms(args.model, args.augment, folder, args.image_size)
    if folder:
        root = Path(args.data)
        train_set = data.image_folder(root / "train", train_tf)
        val_set = data.image_folder(root / "val", val_tf)
        source = f"image folder {root}"
    else:
        load = data.mnist if args.data == "mnist" else data.cifar10
        train_set, val_set = load(train=True, transform=train_tf), load(train=False, transform=val_tf)
        source = data.describe_source(args.data)
    train_set = data.limit(train_set, args.train_samples, seed=args.seed)
    val_set = data.limit(val_set, args.val_samples, seed=args.seed)
    return train_set, val_set, source


def make_optimizer(args: argparse.Namespace, params: Any) -> torch.optim.Optimizer:
    """SGD with ``--momentum`` or Adam, at ``--lr``."""
    if args.optimizer == "adam":
        return torch.optim.Adam(params, lr=args.lr)
    return torch.optim.SGD(params, lr=args.lr, momentum=args.momentum)


class CrashInEpoch:
    """Wraps a train loader: rank 1 raises half-way through epoch K (teaching and tests only)."""

    def __init__(self, loader: distributed.EpochLoader, epoch: int) -> None:
        self.loader, self.crash_epoch = loader, epoch

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        epoch, batches = self.loader.epoch, iter(self.loader)
        if epoch != self.crash_epoch:
            return batches
        return self._crash(batches, epoch)

    def _crash(self, batches: Iterator[Any], epoch: int) -> Iterator[Any]:
        yield from itertools.islice(batches, len(self) // 2)
        raise RuntimeError(
            f"deliberate crash of rank 1 half-way through epoch {epoch} "
            f"(--crash-at-epoch {epoch}, first attempt only)"
        )


# ------------------------------------------------------------------ the run


def _saved_epoch(path: Path) -> int:
    """The epoch stored in the checkpoint at ``path`` (0 when there is none)."""
    if not path.is_file():
        return 0
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"])
    except Exception:  # noqa: BLE001 - engine.fit's load names the file and what is wrong
        return 0


def _loaders(
    args: argparse.Namespace, ctx: distributed.Context, train_set: Any, val_set: Any, first_epoch: int
) -> tuple[Any, Any]:
    train = distributed.train_loader(
        train_set,
        global_batch=args.batch_size,
        ctx=ctx,
        seed=args.seed,
        workers=args.workers,
        epoch=first_epoch,
    )
    if args.crash_at_epoch and ctx.rank == 1 and ctx.restart_count == 0:
        train = CrashInEpoch(train, args.crash_at_epoch)
    val = distributed.eval_loader(
        val_set, batch_size=max(1, args.batch_size // ctx.world_size), ctx=ctx, workers=args.workers
    )
    return train, val


def run(
    args: argparse.Namespace, ctx: distributed.Context, train_set: Any, val_set: Any, scratch: Path
) -> engine.History:
    """Build the model and loaders and train with ``engine.fit``; the History (identical on every rank)."""
    config.seed_everything(args.seed)
    model = MODELS[args.model](num_classes=len(train_set.classes)).to(ctx.device)
    optimizer = make_optimizer(args, model.parameters())
    path = distributed.share_checkpoint(args.out / CHECKPOINT, scratch, ctx)
    resume = (args.resume or ctx.restart_count > 0) and path.is_file()
    train, val = _loaders(args, ctx, train_set, val_set, _saved_epoch(path) + 1 if resume else 1)
    if ctx.is_main:
        print(
            f"[course] {ctx.world_size} process(es) on {ctx.device.type}"
            f" ({ctx.backend or 'no process group'})"
            f" | global batch {args.batch_size} = {ctx.world_size} x {args.batch_size // ctx.world_size}"
            f" | {len(train_set):,} training, {len(val_set):,} validation images"
            + (f" | attempt {ctx.restart_count + 1}" if ctx.restart_count else ""),
            flush=True,
        )
    quiet = contextlib.nullcontext() if ctx.is_main else contextlib.redirect_stdout(io.StringIO())
    with quiet:  # only rank 0 prints; errors still reach every rank's stderr
        return engine.fit(
            distributed.wrap(model, ctx),
            train,
            val,
            epochs=args.epochs,
            optimizer=optimizer,
            criterion=nn.CrossEntropyLoss(),
            device=ctx.device,
            log_every=args.log_every if ctx.is_main else None,
            checkpoint=path,
            resume=resume,
            amp=args.amp,
            channels_last=args.channels_last,
            progress=ctx.is_main and sys.stderr.isatty(),
            verbose=ctx.is_main,
        )


def _write_json(path: Path, value: Any) -> None:
    """Write ``value`` as JSON atomically (a temp file moved over the old one)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


def _versions() -> dict[str, str]:
    import torchvision

    from . import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "course_utils": __version__,
    }


def result_of(
    args: argparse.Namespace,
    ctx: distributed.Context,
    history: engine.History,
    source: str,
    sizes: tuple[int, int],
    seconds: float,
) -> dict[str, Any]:
    """What result.json holds: the last epoch's metrics and how the run was made."""
    last = {
        name: values[-1]
        for name, values in history.to_dict().items()
        if values and name not in ("epoch", "seconds")
    }
    return {
        "model": args.model,
        "data": str(args.data),
        "data_source": source,
        "train_samples": sizes[0],
        "val_samples": sizes[1],
        "epochs": len(history),
        "batch_size": args.batch_size,
        "per_process_batch_size": args.batch_size // ctx.world_size,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "seed": args.seed,
        "world_size": ctx.world_size,
        "backend": ctx.backend,
        "device": str(ctx.device),
        "restarts": ctx.restart_count,
        "seconds": seconds,
        "final": last,
        "versions": _versions(),
    }


def save_outputs(
    args: argparse.Namespace, ctx: distributed.Context, history: engine.History, result: dict[str, Any]
) -> None:
    """Rank 0 writes history.json, result.json and (with --tensorboard) the TensorBoard events."""
    _write_json(args.out / HISTORY, history.to_dict())
    _write_json(args.out / RESULT, result)
    if args.tensorboard and tensorboard_available():
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(args.out / "tensorboard")) as writer:
            for name, values in history.to_dict().items():
                for epoch, value in zip(history.epoch, values if name != "epoch" else (), strict=False):
                    writer.add_scalar(name, value, epoch)
    print(f"[course] wrote {args.out / CHECKPOINT}, {HISTORY} and {RESULT} in {args.out}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check, load the data, join the process group, train, write the files."""
    start_time = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    rank = int(os.environ.get("RANK", "0"))
    problem = check_args(args, distributed.world_size_from_env(), rank)
    if problem:
        parser.error(problem)
    try:
        train_set, val_set, source = load_data(args)
    except (data.DataFileError, FileNotFoundError) as err:  # check=False is not an option here
        parser.error(f"--data {args.data}: {err}".replace(" (or pass check=False to skip this check)", ""))
    if len(val_set) < distributed.world_size_from_env():
        parser.error(
            f"{len(val_set)} validation images cannot be shared by "
            f"{distributed.world_size_from_env()} processes"
        )
    if args.tensorboard and rank == 0 and not tensorboard_available():
        print(NO_TENSORBOARD, file=sys.stderr, flush=True)
    ctx = distributed.start(cuda=not args.cpu)
    try:
        with tempfile.TemporaryDirectory(prefix=f"course_train_rank{ctx.rank}_") as scratch:
            if ctx.is_main:
                args.out.mkdir(parents=True, exist_ok=True)
            history = run(args, ctx, train_set, val_set, Path(scratch))
        if ctx.is_main:
            result = result_of(
                args, ctx, history, source, (len(train_set), len(val_set)), time.perf_counter() - start_time
            )
            save_outputs(args, ctx, history, result)
    finally:
        distributed.stop(ctx)
    return 0


if __name__ == "__main__":
    sys.exit(main())
