"""``fit``: epoch after epoch of the loops in ``loops.py``, with checkpoints (engine's second file).

Each epoch the loader learns its number (``set_epoch``), ``train_one_epoch`` and ``evaluate``
run, the scheduler steps once, and with ``checkpoint=path`` everything resuming needs is saved
through :mod:`course_utils.checkpoint`. :func:`fit` returns a :class:`History`.
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import checkpoint as ckpt
from .checks import check_optimizer
from .loops import RunContext, evaluate, train_one_epoch

__all__ = ["History", "fit"]

# ---------------------------------------------------------------- the record of a run
_LIST_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run; one list entry per epoch (``viz.plot_history`` draws it).

    Kept by hand in lesson 05, *One epoch by hand: the sources' loop, fixed*, and
    drawn in *Reading the curves*.

    ``epoch`` counts from 1. Losses are mean per-sample losses, accuracies
    fractions in [0, 1], ``lr`` the learning rate used during the epoch and
    ``seconds`` its wall time. ``val_*`` lists stay empty without a validation
    loader. Further series (e.g. ``val_top5``) live in ``extra`` and read as
    attributes too: ``history.val_top5``.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> list[float]:
        if name.startswith("__") or "extra" not in self.__dict__:  # copy/pickle probe a bare instance
            raise AttributeError(name)
        extra = self.__dict__["extra"]
        if name in extra:
            return extra[name]
        raise AttributeError(
            f"History has no series {name!r}; it has {list(self.state_dict())} "
            "(to draw them: viz.plot_history(history); as a dict: history.state_dict())"
        )

    def __len__(self) -> int:
        return len(self.epoch)

    def append(self, **values: float) -> None:
        """Add one value to each named series (unknown names go to ``extra``)."""
        for name, value in values.items():
            value = int(value) if name == "epoch" else float(value)
            if name in _LIST_FIELDS:
                getattr(self, name).append(value)
            else:
                self.extra.setdefault(name, []).append(value)

    def state_dict(self) -> dict[str, list[float]]:
        """``{series name: list of numbers}``, extra series too: what a checkpoint and history.json hold."""
        out = {name: list(getattr(self, name)) for name in _LIST_FIELDS}
        out.update({name: list(values) for name, values in self.extra.items()})
        return out

    def load_state_dict(self, state: Mapping[str, Iterable[float]]) -> None:
        """Replace every series by those of ``state`` (a :meth:`state_dict`)."""
        if not isinstance(state, Mapping):
            raise TypeError(f"a History state is a dict of lists, not {type(state).__name__}")
        for name in _LIST_FIELDS:
            setattr(self, name, [int(v) if name == "epoch" else float(v) for v in state.get(name, ())])
        self.extra = {k: [float(v) for v in vals] for k, vals in state.items() if k not in _LIST_FIELDS}


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None = None,
    *,
    epochs: int,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    scheduler: Any = None,
    device: torch.device | str | None = None,
    log_every: int | None = None,
    max_batches: int | None = None,
    topk: Iterable[int] = (1,),
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    overwrite: bool = False,
    checkpoint_extra: dict[str, Any] | None = None,
    amp: bool = False,
    channels_last: bool = False,
    on_epoch: Callable[[History], Any] | None = None,
    progress: bool = True,
    verbose: bool = True,
) -> History:
    """Train for ``epochs`` epochs (counted from 1), evaluating on ``val_loader`` after each.

    Written by hand in lesson 03, *4 · Train the network*, and in lesson 07, *5 ·
    Training with a checkpoint after every epoch* and *A checkpoint by hand*. The
    scheduler steps once after each epoch (``History.lr`` is the rate used in it).
    With ``checkpoint=path`` the state is saved after every epoch; with ``resume=True``
    and an existing file training continues after the saved epoch, bitwise identically
    to an uninterrupted run on the CPU. An existing file is never replaced by a new run
    unless ``overwrite=True``; ``checkpoint_extra`` values are saved with it (the command
    line's settings). ``device=None`` keeps the model where it is. Prints one
    line per epoch (nothing with ``verbose=False``); ``on_epoch(history)`` is called after
    each (``on_epoch=viz.LivePlot().update`` redraws the curves as they grow). ``model``
    may be wrapped in DistributedDataParallel; checkpoints hold the inner module's weights.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
        raise ValueError(
            f"fit(epochs={epochs!r}) would train nothing: epochs is how many epochs to train in "
            "all (counted from 1, including any a checkpoint already holds); pass a whole number >= 1"
        )
    run = RunContext.prepare(model, device=device, amp=amp, channels_last=channels_last, progress=progress)
    check_optimizer(model, optimizer)
    path = Path(checkpoint) if checkpoint is not None else None
    saved = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "loader": train_loader}
    saved["scaler"] = run.scaler
    history, done = _resume(
        path, resume=resume, overwrite=overwrite, epochs=epochs, objects=saved, verbose=verbose
    )
    for epoch in range(done + 1, epochs + 1):
        start = time.perf_counter()
        row = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
        _set_epoch(train_loader, epoch - 1)
        train = train_one_epoch(
            model,
            train_loader,
            optimizer,
            criterion=criterion,
            epoch=epoch,
            log_every=log_every,
            max_batches=max_batches,
            run=run,
        )
        row.update(train_loss=train["loss"], train_acc=train["acc"])
        if val_loader is not None:
            val = evaluate(
                model, val_loader, criterion=criterion, topk=topk, max_batches=max_batches, run=run
            )
            row.update(val_loss=val["loss"], val_acc=val["acc"])
            row.update({f"val_top{k}": val[f"top{k}"] for k in topk if k != 1})
        row["seconds"] = time.perf_counter() - start
        history.append(**row)
        _step_scheduler(scheduler, row.get("val_loss", row["train_loss"]))
        if path is not None:
            ckpt.save_checkpoint(path, **saved, epoch=epoch, history=history, **(checkpoint_extra or {}))
        if verbose:
            print(_summary(epoch, epochs, row))
        if on_epoch is not None:
            on_epoch(history)
    return history


def _resume(
    path: Path | None, *, resume: bool, overwrite: bool, epochs: int, objects: dict[str, Any], verbose: bool
) -> tuple[History, int]:
    """(history so far, epochs already done): from the checkpoint when resuming.

    ``objects``: the model, optimizer, scheduler, loader and scaler the checkpoint restores.
    """
    say = print if verbose else (lambda *_: None)
    if path is None:
        return History(), 0
    if not resume:
        if path.exists() and not overwrite:
            raise FileExistsError(
                f"{path} already holds a checkpoint, and fit(resume=False) would replace it with "
                "this new run's: pass resume=True to continue that run, overwrite=True to start "
                "again and replace it, or choose another checkpoint path"
            )
        return History(), 0
    if not path.exists():
        say(f"[course] no checkpoint at {path}; starting from epoch 1")
        return History(), 0
    state = ckpt.load_checkpoint(path, **objects)
    history, done = History(), int(state["epoch"])
    history.load_state_dict(state.get("history") or {})
    if done >= epochs:
        say(
            f"[course] {path} is already at epoch {done} of epochs={epochs}: nothing to train "
            "(pass a larger epochs= to train further)"
        )
    else:
        say(f"[course] resumed from {path} after epoch {done}; training epochs {done + 1}..{epochs}")
    return history, done


def _step_scheduler(scheduler: Any, metric: float) -> None:
    """One scheduler step; ReduceLROnPlateau gets the epoch's (validation) loss."""
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    elif scheduler is not None:
        scheduler.step()


def _set_epoch(loader: Any, epoch: int) -> None:
    """Tell a loader (or its sampler) which epoch comes, as DistributedSampler expects (from 0)."""
    for owner in (loader, getattr(loader, "sampler", None)):
        if callable(getattr(owner, "set_epoch", None)):
            owner.set_epoch(epoch)
            return


def _summary(epoch: int, epochs: int, row: dict[str, float]) -> str:
    text = f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.3f} acc {row['train_acc']:.1%}"
    if "val_loss" in row:
        text += f" | val loss {row['val_loss']:.3f} acc {row['val_acc']:.1%}"
    return text + f" | lr {row['lr']:.3g} | {row['seconds']:.1f}s"
