"""The bookkeeping around :func:`course_utils.engine.fit`'s epochs (private helpers).

Resuming from a checkpoint, stepping the scheduler, telling the loader the epoch,
the one-line epoch summary and the live plot; moved out of :mod:`course_utils.engine`,
which imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .history import History
from .run import RunContext


def _live_plot(enabled: bool) -> Any:
    """A ``viz.LivePlot`` when asked for (a no-op outside a notebook kernel), else None."""
    if not enabled:
        return None
    from . import viz

    return viz.LivePlot()


def _resume(
    path: Path | None, *, resume: bool, overwrite: bool, epochs: int, run: RunContext, **objects: Any
) -> tuple[History, int]:
    """(history so far, number of epochs already done) - from the checkpoint if resuming.

    ``objects``: the model, optimizer, scheduler and loader the checkpoint restores.
    """
    say = print if run.verbose else (lambda *_: None)
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
    from . import checkpoint as ckpt

    state = ckpt.load_checkpoint(path, scaler=run.scaler, **objects)
    history, done = History.from_dict(state.get("history") or {}), int(state["epoch"])
    if done >= epochs:
        say(
            f"[course] {path} is already at epoch {done} of epochs={epochs}: nothing to train "
            f"(pass a larger epochs= to train further)"
        )
    else:
        say(f"[course] resumed from {path} after epoch {done}; training epochs {done + 1}..{epochs}")
    return history, done


def _step_scheduler(scheduler: Any, metric: float) -> None:
    """One scheduler step; ReduceLROnPlateau gets the epoch's (validation) loss."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
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
