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
(final metrics, world size, device, seconds, versions), and with the last two the
settings each epoch used. Only rank 0 prints and writes, holding ``--out``'s lock
(one run at a time); it replaces no file the command did not write. ``--resume``
refuses other settings than the checkpoint's unless ``--override`` names them
(``train_args``). ``--batch-size`` is the global batch: N processes take
``batch_size / N`` samples each per step, so ``--lr`` keeps its meaning.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import config, data, distributed, engine, files
from ..checkpoint import CheckpointError, read_checkpoint
from ..course.report import versions
from . import outdir
from .args import (
    CHECKPOINT,
    HISTORY,
    MODELS,
    RESULT,
    WRITTEN_BY,
    build_parser,
    check_args,
    check_out,
    check_resume,
    launcher,
    say_changes,
    settings_log,
    with_epochs,
)

JOIN = (
    "cannot join the process group that RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT describe "
    "({err}): start the script with torchrun, or unset them to train in one process"
)


class UsageError(Exception):
    """A command line, data or --out that cannot work, found before anything is written (exit 2)."""


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


class _CrashInEpoch:
    """``--crash-at-epoch K``: wraps rank 1's train loader, which raises half-way through epoch K."""

    def __init__(self, loader: distributed.EpochLoader, epoch: int) -> None:
        self.loader, self.crash_epoch = loader, epoch

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        epoch, batches = self.loader.epoch, iter(self.loader)
        return batches if epoch != self.crash_epoch else self._crash(batches, epoch)

    def _crash(self, batches: Iterator[Any], epoch: int) -> Iterator[Any]:
        yield from itertools.islice(batches, len(self) // 2)
        raise RuntimeError(
            f"deliberate crash of rank 1 half-way through epoch {epoch} "
            f"(--crash-at-epoch {epoch}, first attempt only)"
        )


# ------------------------------------------------------------------ the settings of each epoch


def _apply_after_loading(optimizer: torch.optim.Optimizer, args: argparse.Namespace) -> None:
    """Loading the checkpoint restores its learning rate and momentum; ``--override`` ones win after it."""

    def hook(opt: torch.optim.Optimizer) -> None:
        for group in opt.param_groups:
            group["lr"] = args.lr
            if "momentum" in group:
                group["momentum"] = args.momentum

    optimizer.register_load_state_dict_post_hook(hook)


# ------------------------------------------------------------------ the run


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
        train = _CrashInEpoch(train, args.crash_at_epoch)
    val = distributed.eval_loader(
        val_set, batch_size=max(1, args.batch_size // ctx.world_size), ctx=ctx, workers=args.workers
    )
    return train, val


def run(
    args: argparse.Namespace, ctx: distributed.Context, train_set: Any, val_set: Any, scratch: Path
) -> tuple[engine.History, list[dict]]:
    """Build the model and loaders and train with ``engine.fit``: the History and the settings log.

    Both are identical on every rank.
    """
    config.seed_everything(args.seed)
    model = MODELS[args.model](num_classes=len(train_set.classes)).to(ctx.device)
    path = distributed.share_checkpoint(args.out / CHECKPOINT, scratch, ctx)
    resume = (args.resume or ctx.restart_count > 0) and path.is_file()
    saved = read_checkpoint(path) if resume else None
    log = settings_log(args, ctx.world_size, saved)
    optimizer = make_optimizer(args, model.parameters())
    _apply_after_loading(optimizer, args)
    first_epoch = saved["epoch"] + 1 if saved else 1
    train, val = _loaders(args, ctx, train_set, val_set, first_epoch)
    if ctx.is_main:
        print(
            f"[course] {ctx.world_size} process(es) on {ctx.device.type}"
            f" ({ctx.backend or 'no process group'})"
            f" | global batch {args.batch_size} = {ctx.world_size} x {args.batch_size // ctx.world_size}"
            f" | {len(train_set):,} training, {len(val_set):,} validation images"
            + (f" | attempt {ctx.restart_count + 1}" if ctx.restart_count else ""),
            flush=True,
        )
        say_changes(log, first_epoch)
    quiet = contextlib.nullcontext() if ctx.is_main else contextlib.redirect_stdout(io.StringIO())
    with quiet, warnings.catch_warnings():  # only rank 0 prints; errors still reach every rank's stderr
        # the settings were compared (train_args.check_resume) and each change announced above
        warnings.filterwarnings("ignore", message=".* (was trained with a|saved in the checkpoint) ")
        history = engine.fit(
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
            checkpoint_extra={"settings": log},
            amp=args.amp,
            channels_last=args.channels_last,
            progress=ctx.is_main and sys.stderr.isatty(),
            verbose=ctx.is_main,
        )
    return history, log


def result_of(
    args: argparse.Namespace,
    ctx: distributed.Context,
    history: engine.History,
    log: list[dict],
    source: str,
    sizes: tuple[int, int],
    seconds: float,
) -> dict[str, Any]:
    """What result.json holds: the last epoch's metrics, how the run was made, what each epoch used."""
    last = {
        name: values[-1]
        for name, values in history.state_dict().items()
        if values and name not in ("epoch", "seconds")
    }
    return {
        "written_by": WRITTEN_BY,
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
        "settings": with_epochs(log, len(history)),
        "versions": versions(),
    }


def _json(value: Any) -> str:
    return json.dumps(value, indent=2) + "\n"


def save_outputs(args: argparse.Namespace, history: engine.History, result: dict[str, Any]) -> None:
    """Rank 0 writes history.json, result.json and (with --tensorboard) the TensorBoard events."""
    columns = history.state_dict()
    files.write_atomically(
        args.out / HISTORY, _json({**columns, "written_by": WRITTEN_BY, "settings": result["settings"]})
    )
    files.write_atomically(args.out / RESULT, _json(result))
    if args.tensorboard and tensorboard_available():
        from torch.utils.tensorboard import SummaryWriter

        with SummaryWriter(str(args.out / "tensorboard")) as writer:
            for name, values in columns.items():
                for epoch, value in zip(history.epoch, values if name != "epoch" else (), strict=False):
                    writer.add_scalar(name, value, epoch)
    print(f"[course] wrote {args.out / CHECKPOINT}, {HISTORY} and {RESULT} in {args.out}", flush=True)


# ------------------------------------------------------------------ the command


def prepare(args: argparse.Namespace, rank: int, world: int) -> tuple[Any, Any, str]:
    """The data and, with --resume, the checkpoint's settings; (training set, validation set, source).

    Nothing is written: ``--out`` is not even created.
    """
    try:
        train_set, val_set, source = load_data(args)
    except (data.DataFileError, OSError) as err:  # check=False is not an option here
        raise UsageError(
            f"--data {args.data}: {err}".replace(" (or pass check=False to skip this check)", "")
        ) from None
    if len(val_set) < world:
        raise UsageError(f"{len(val_set)} validation images cannot be shared by {world} processes")
    if args.train_samples is not None and len(set(data.targets_of(train_set).tolist())) < 2:
        raise UsageError(  # a one-class training set trains to 100 % and learns nothing
            f"--train-samples {args.train_samples} leaves one class to train on: pass at least "
            f"{len(data.classes_of(train_set))} (one image per class)"
        )
    path = args.out / CHECKPOINT
    if rank == 0 and args.resume:
        try:
            saved = read_checkpoint(path)
        except CheckpointError as err:
            raise UsageError(f"--resume: {err}") from None
        problem = check_resume(args, (saved.get("settings") or [None])[-1], path)
        if problem:
            raise UsageError(problem)
    return train_set, val_set, source


def _own_out(args: argparse.Namespace) -> Any:
    """Rank 0 creates --out and takes its lock (then checks it again: another run may have just written)."""
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        lock = outdir.lock_folder(args.out)
    except outdir.FolderInUseError as err:
        raise UsageError(f"--out {err}: wait for it to end, or choose another --out") from None
    except OSError as err:
        raise UsageError(f"--out {args.out}: {err}") from None
    problem = check_out(args)
    if problem:
        lock.close()
        raise UsageError(problem)
    return lock


def _say(parser: argparse.ArgumentParser, err: BaseException, rank: int) -> None:
    """Rank 0 prints ``err`` as one ``error:`` line (an architecture error lists keys on several)."""
    if rank == 0:
        text = "; ".join(part.strip().rstrip(".") for part in str(err).splitlines() if part.strip())
        print(f"{parser.prog}: error: {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse, check, load the data, own --out, join the process group, train, write the files.

    A refusal is one ``error:`` line and exit status 2 (only rank 0 prints; nothing was
    written); a CheckpointError, DataFileError, OSError or non-finite loss while training
    is one ``error:`` line and status 1.
    """
    start_time = time.perf_counter()
    parser = build_parser()
    args = parser.parse_args(argv)
    rank, world = launcher()
    problem = check_args(args, world, rank)
    if problem:
        parser.error(problem)  # with the usage, as argparse's own errors
    try:
        train_set, val_set, source = prepare(args, rank, world)
        lock = _own_out(args) if rank == 0 else contextlib.nullcontext()
    except UsageError as err:
        _say(parser, err, rank)
        return 2
    if args.tensorboard and rank == 0 and not tensorboard_available():
        print(NO_TENSORBOARD, file=sys.stderr, flush=True)
    with lock:
        try:
            ctx = distributed.start(cuda=not args.cpu)
        except (RuntimeError, ValueError) as err:  # e.g. launcher variables left from another session
            _say(parser, RuntimeError(JOIN.format(err=err)), rank)
            return 1
        try:
            with tempfile.TemporaryDirectory(prefix=f"course_train_rank{ctx.rank}_") as scratch:
                history, log = run(args, ctx, train_set, val_set, Path(scratch))
            if ctx.is_main:
                sizes, seconds = (len(train_set), len(val_set)), time.perf_counter() - start_time
                save_outputs(args, history, result_of(args, ctx, history, log, source, sizes, seconds))
        except (CheckpointError, data.DataFileError, OSError, FloatingPointError) as err:
            _say(parser, err, rank)
            return 1
        finally:
            distributed.stop(ctx)
    return 0
