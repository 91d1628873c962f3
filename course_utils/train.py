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
from typing import Any

import torch
from torch import nn

from . import config, data, distributed, engine
from .train_args import (  # noqa: F401  the constants and the parser are re-exported from here
    CHECKPOINT,
    EXAMPLES,
    HISTORY,
    MODELS,
    RESULT,
    THREE_CHANNEL,
    build_parser,
    check_args,
)


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
        val_set = data.image_folder(root / "val", val_tf, same_classes_as=train_set)
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
