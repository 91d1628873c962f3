"""Training and evaluation loops shared by every lesson.

* :func:`train_one_epoch` - the blitz training loop, with a progress bar and
  the blitz-style running loss ``[epoch, batch] loss: x.xxx`` every ``log_every``
  batches.
* :func:`evaluate` - loss, accuracy and top-k accuracy on a loader.
* :func:`fit` - several epochs, a scheduler step per epoch, checkpoints and
  resuming, returning a :class:`History`.
* :func:`predict` - logits for a batch, with clear errors for the usual
  mistakes (a PIL image, a single image without the batch axis).

All losses and accuracies are sample-weighted: each batch counts by the number
of samples in it, so a short last batch does not skew the epoch's figures.
Accuracies are fractions in [0, 1].

How a run trains (device, mixed precision, memory layout, progress bars) is
worked out once, in a :class:`~course_utils.run.RunContext`. ``amp=True``
(mixed precision) only takes effect on CUDA; elsewhere it is ignored with a
warning. ``channels_last=True`` (the (N, H, W, C) memory layout
for the model's weights and the batches) applies on CUDA and on the CPU, whose
oneDNN convolutions are faster in it too; on other devices it is ignored with a
warning.

``live_plot=True`` redraws the loss/accuracy figure after every epoch through
``viz.LivePlot``: only inside a running Jupyter/IPython kernel, and never when
the environment variable ``COURSE_LIVE_PLOT`` is ``"0"`` (set it in CI / nbval
runs). Under plain ``python`` it does nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from . import metrics
from .fit_support import _live_plot, _resume, _set_epoch, _step_scheduler, _summary
from .history import History
from .run import RunContext, check_predict_input, check_targets, checked_forward

__all__ = [
    "History",
    "RunContext",
    "eval_mode",
    "train_one_epoch",
    "evaluate",
    "predict",
    "fit",
    "epoch_totals",
]


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """``model`` in eval mode inside the ``with`` block, its previous mode restored after.

    ``with eval_mode(model), torch.no_grad(): ...`` is how evaluation, prediction
    and the layer-shape table run without changing how a learner left the model.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


# ---------------------------------------------------------------- helpers


def _progress(loader: Iterable, max_batches: int | None, progress: bool, desc: str) -> Any:
    """A tqdm.auto bar over at most ``max_batches`` batches of ``loader`` (off if not ``progress``)."""
    try:
        total = len(loader)  # type: ignore[arg-type]
    except TypeError:  # IterableDataset without __len__
        total = None
    # One iter() here: tqdm.auto would call iter() on a bare DataLoader twice, and each call
    # draws from the loader's generator (and starts workers), shifting the shuffling order.
    batches: Iterable = iter(loader)
    if max_batches is not None:
        total = max_batches if total is None else min(total, max_batches)
        batches = itertools.islice(batches, max_batches)
    return tqdm(batches, total=total, desc=desc, leave=False, disable=not progress)


def _batch_weight(criterion: nn.Module, batch_size: int) -> int:
    """What turns a batch loss into a summed loss: the batch size unless reduction='sum'."""
    return 1 if getattr(criterion, "reduction", "mean") == "sum" else batch_size


def epoch_totals(totals: torch.Tensor) -> list[float]:
    """An epoch's sums ``[loss sum, samples, correct (per k) ...]`` as Python numbers.

    The one place where the sums of the batches this process saw become the
    epoch's figures: a data-parallel run all-reduces ``totals`` here, so every
    figure counts the samples of all processes.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(totals, op=torch.distributed.ReduceOp.SUM)
    return totals.tolist()


def _means(totals: torch.Tensor, samples: int, what: str) -> tuple[float, float, list[float]]:
    """(samples, mean loss, [fraction correct per k]) of an epoch's sums (``totals[1]`` := samples)."""
    totals[1] = samples
    loss_sum, samples, *correct = epoch_totals(totals)
    if samples == 0:
        raise ValueError(f"{what} got no samples from the loader (empty dataset or max_batches=0)")
    return samples, loss_sum / samples, [c / samples for c in correct]


def _accumulator(device: torch.device, size: int) -> torch.Tensor:
    """Zeros for an epoch's sums on ``device`` (float64 counts exactly; MPS lacks it)."""
    return torch.zeros(size, dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)


def _check_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Refuse an optimizer that updates none of the model's parameters."""
    own = {id(p) for p in model.parameters()}
    held = [p for group in optimizer.param_groups for p in group["params"]]
    if held and not any(id(p) in own for p in held):
        raise ValueError(
            f"the optimizer updates none of this {type(model).__name__}'s parameters, so "
            "training would change nothing: it was built for another model object (did you "
            "re-run the cell that creates the model but not the one that creates the "
            "optimizer?). Build the optimizer again from model.parameters()"
        )


def _non_finite(epoch: int, batch: int | torch.Tensor, loss: float | None = None) -> FloatingPointError:
    value = f" ({loss})" if loss is not None else ""
    return FloatingPointError(
        f"the training loss is not a finite number{value} at epoch {epoch}, batch {int(batch) + 1}: "
        "training has diverged (a learning rate too high?) or the data holds NaN/inf values. "
        "Training stopped there and no checkpoint was written; lower the learning rate or "
        "check the inputs with torch.isfinite(x).all()"
    )


# ---------------------------------------------------------------- loops


def train_one_epoch(
    model: nn.Module,
    loader: Iterable,
    optimizer: torch.optim.Optimizer,
    *,
    criterion: nn.Module,
    device: torch.device | str | None = None,
    epoch: int = 1,
    log_every: int | None = None,
    max_batches: int | None = None,
    scaler: Any = None,
    amp: bool = False,
    channels_last: bool = False,
    progress: bool = True,
    run: RunContext | None = None,
) -> dict[str, Any]:
    """Train ``model`` for one pass over ``loader``.

    Every ``log_every`` batches prints the blitz line ``[epoch, batch] loss: x.xxx``
    (mean batch loss since the last line). Returns ``loss`` and ``acc``
    (sample-weighted over the epoch), ``samples``, ``seconds`` and
    ``running_loss`` (the printed values). ``device`` (default: where the model
    is) receives the model and every batch. ``run`` (from ``fit``) replaces
    ``device``/``amp``/``channels_last``/``scaler``/``progress``. A loss that is
    NaN or infinite stops training with a FloatingPointError naming the batch: on
    the CPU at that batch, elsewhere at the end of the epoch (checking every batch
    would make the loop wait for the device).
    """
    run = run or RunContext.prepare(
        model, device=device, amp=amp, channels_last=channels_last, progress=progress, scaler=scaler
    )
    _check_optimizer(model, optimizer)
    model.train()
    totals, running = _accumulator(run.device, 3), _accumulator(run.device, 1)[0]
    first_bad = torch.full((), -1, dtype=torch.long, device=run.device)
    samples, running_losses, start = 0, [], time.perf_counter()
    for i, batch in enumerate(_progress(loader, max_batches, run.progress, f"epoch {epoch} train")):
        inputs, targets = run.batch(batch)
        optimizer.zero_grad(set_to_none=True)
        with run.autocast():
            outputs = checked_forward(model, inputs, where="train_one_epoch") if i == 0 else model(inputs)
            if i == 0 or run.device.type == "cpu":  # elsewhere a check per batch would wait for the device
                check_targets(outputs, targets, where="train_one_epoch")
            loss = criterion(outputs, targets)
        finite = torch.isfinite(loss)
        if run.device.type == "cpu" and not finite:  # free on the CPU: stop at this very batch
            raise _non_finite(epoch, i, loss.item())
        first_bad = torch.where(finite | (first_bad >= 0), first_bad, i)
        run.step(loss, optimizer)
        loss, n = loss.detach().float(), targets.shape[0]
        samples += n
        hits = (outputs.detach().argmax(dim=1) == targets).sum()
        totals[0::2] += torch.stack([loss * _batch_weight(criterion, n), hits.to(loss)])
        running = running + loss
        if log_every and i % log_every == log_every - 1:
            running_losses.append(running.item() / log_every)
            tqdm.write(f"[{epoch}, {i + 1:5d}] loss: {running_losses[-1]:.3f}")
            running = torch.zeros_like(running)
    if first_bad.item() >= 0:
        raise _non_finite(epoch, first_bad)
    samples, loss, (acc,) = _means(totals, samples, "train_one_epoch")
    return {
        "loss": loss,
        "acc": acc,
        "samples": int(samples),
        "seconds": time.perf_counter() - start,
        "running_loss": running_losses,
    }


def evaluate(
    model: nn.Module,
    loader: Iterable,
    *,
    criterion: nn.Module | None = None,
    device: torch.device | str | None = None,
    topk: Iterable[int] = (1,),
    max_batches: int | None = None,
    amp: bool = False,
    channels_last: bool = False,
    progress: bool = True,
    run: RunContext | None = None,
) -> dict[str, Any]:
    """Loss and accuracy of ``model`` on ``loader``, in eval mode without gradients.

    ``criterion`` defaults to cross-entropy. Returns ``loss``, ``acc`` (top-1)
    and ``top{k}`` for each ``k`` in ``topk`` (fractions, sample-weighted),
    ``samples`` and ``seconds``. The model's train/eval mode is restored.
    ``device`` (default: where the model is) receives the model and every batch;
    ``run`` (from ``fit``) replaces ``device``/``amp``/``channels_last``/``progress``.
    """
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    run = run or RunContext.prepare(
        model, device=device, amp=amp, channels_last=channels_last, progress=progress
    )
    ks = sorted({1, *(int(k) for k in topk)})
    totals, samples, start = _accumulator(run.device, 2 + len(ks)), 0, time.perf_counter()
    with eval_mode(model), torch.no_grad():
        for i, batch in enumerate(_progress(loader, max_batches, run.progress, "evaluate")):
            inputs, targets = run.batch(batch)
            with run.autocast():
                outputs = checked_forward(model, inputs, where="evaluate") if i == 0 else model(inputs)
            outputs = outputs.float()
            if i == 0 or run.device.type == "cpu":
                check_targets(outputs, targets, where="evaluate")
            samples += targets.shape[0]
            totals[0] += criterion(outputs, targets).to(totals) * _batch_weight(criterion, targets.shape[0])
            totals[2:] += metrics.topk_counts(outputs, targets, ks).to(totals)
    samples, loss, correct = _means(totals, samples, "evaluate")
    result: dict[str, Any] = {"loss": loss, "acc": correct[0]}
    result.update({f"top{k}": c for k, c in zip(ks, correct, strict=False)})
    return {**result, "samples": int(samples), "seconds": time.perf_counter() - start}


def predict(
    model: nn.Module, inputs: torch.Tensor, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Logits of ``model`` for a batch ``inputs`` of shape ``(N, C, H, W)``, on the CPU.

    Runs in eval mode under ``torch.no_grad()`` and restores the model's previous
    mode. ``device`` moves the model there first (default: where it already is).
    Raises TypeError for a PIL image or integer pixels and ValueError for a
    single (C, H, W) image, an (N, H, W, C) batch or an image size the model
    cannot take.
    """
    check_predict_input(inputs)
    run = RunContext.prepare(model, device=device, progress=False)
    with eval_mode(model), torch.no_grad():
        outputs = checked_forward(model, inputs.to(run.device), where="predict()")
    return outputs.cpu()


# ---------------------------------------------------------------- fit


def _run_epoch(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None,
    *,
    epoch: int,
    run: RunContext,
    optimizer: torch.optim.Optimizer,
    criterion: nn.Module,
    log_every: int | None,
    max_batches: int | None,
    topk: tuple[int, ...],
) -> dict[str, float]:
    """Train (and evaluate) one epoch; the History row for it."""
    start = time.perf_counter()
    row: dict[str, float] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
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
        val = evaluate(model, val_loader, criterion=criterion, topk=topk, max_batches=max_batches, run=run)
        row.update(val_loss=val["loss"], val_acc=val["acc"])
        row.update({f"val_top{k}": val[f"top{k}"] for k in topk if k != 1})
    row["seconds"] = time.perf_counter() - start
    return row


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
    live_plot: bool = False,
    progress: bool = True,
    verbose: bool = True,
) -> History:
    """Train for ``epochs`` epochs (counted from 1), evaluating on ``val_loader`` after each.

    The scheduler steps once after each epoch (``History.lr`` is the rate used
    in it). With ``checkpoint=path`` the state is saved after every epoch;
    with ``resume=True`` and an existing file training continues after the
    saved epoch, bitwise identically to an uninterrupted run on the CPU. An
    existing file is never replaced by a new run unless ``overwrite=True``;
    ``checkpoint_extra`` values are saved with it (the command line's settings).
    ``device=None`` keeps the model where it is. Prints one line per epoch
    (nothing with ``verbose=False``). ``model`` may be wrapped in
    DistributedDataParallel; checkpoints hold the inner module's weights.
    """
    run = RunContext.prepare(
        model, device=device, amp=amp, channels_last=channels_last, progress=progress, verbose=verbose
    )
    _check_optimizer(model, optimizer)
    path = Path(checkpoint) if checkpoint is not None else None
    history, done = _resume(
        path,
        resume=resume,
        overwrite=overwrite,
        epochs=epochs,
        run=run,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        loader=train_loader,
    )
    plotter = _live_plot(live_plot)
    for epoch in range(done + 1, epochs + 1):
        row = _run_epoch(
            model,
            train_loader,
            val_loader,
            epoch=epoch,
            run=run,
            optimizer=optimizer,
            criterion=criterion,
            log_every=log_every,
            max_batches=max_batches,
            topk=tuple(topk),
        )
        history.append(**row)
        _step_scheduler(scheduler, row.get("val_loss", row["train_loss"]))
        if path is not None:
            from . import checkpoint as ckpt

            ckpt.save_checkpoint(
                path,
                model=model,
                optimizer=optimizer,
                scheduler=scheduler,
                epoch=epoch,
                history=history,
                loader=train_loader,
                scaler=run.scaler,
                **(checkpoint_extra or {}),
            )
        if verbose:
            print(_summary(epoch, epochs, row))
        if plotter is not None:
            plotter.update(history)
    return history
