"""The loops of every lesson (engine's first file): one epoch of training, evaluation, prediction.

* :func:`train_one_epoch`: one pass over the training data, the step (to the device,
  forward, loss, backward, optimizer step; the ``GradScaler`` branch as torchvision's
  references write it) written out in its loop, as the lessons write it by hand.
* :func:`evaluate`: loss, accuracy and top-k accuracy on a loader.
* :func:`predict`: logits for a batch, with clear errors for the usual mistakes.

Losses and accuracies are sample-weighted (a short last batch counts by its samples);
accuracies are fractions in [0, 1]. How a run trains is worked out once, in a
:class:`RunContext`.
"""

from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .checks import (
    check_logits,
    check_optimizer,
    check_predict_input,
    check_targets,
    checked_forward,
    eval_mode,
)

__all__ = ["RunContext", "train_one_epoch", "evaluate", "predict", "epoch_totals"]


# ---------------------------------------------------------------- how a run trains
@dataclass(frozen=True)
class RunContext:
    """Everything about *how* to run that stays fixed for a whole run (``fit`` makes one).

    Taught in lesson 08, *4. The model's own arithmetic: channels-last and mixed precision*.
    ``device`` holds the model and receives every batch; ``amp_dtype`` is the
    autocast dtype (None: full precision; ``amp=True`` only takes effect on CUDA:
    bfloat16 where the GPU has it, else float16 with the ``scaler``, a ``GradScaler``);
    ``channels_last`` the memory format of 4-D batches (CUDA and the CPU, whose oneDNN
    convolutions are faster in it too); ``progress`` shows tqdm bars. A loop over epochs
    makes one and passes it to every ``train_one_epoch(run=...)``: the scaler lives on.
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    scaler: Any = None
    channels_last: bool = False
    progress: bool = True

    @classmethod
    def prepare(
        cls,
        model: nn.Module,
        *,
        device: torch.device | str | None = None,
        amp: bool = False,
        channels_last: bool = False,
        progress: bool = True,
    ) -> RunContext:
        """Place ``model`` on ``device`` (default: where it is) and decide precision and layout.

        Moving keeps the parameter objects, so an optimizer built before still updates them.
        """
        if device is None:
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
        else:
            device = torch.device(device)
            model.to(device)
        dtype = _amp_dtype(device) if amp else None
        if channels_last and device.type not in ("cuda", "cpu"):
            warnings.warn(
                f"channels_last=True only applies on CUDA and CPU; ignored on {device.type}", stacklevel=3
            )
            channels_last = False
        if channels_last:
            model.to(memory_format=torch.channels_last)
        scaler = torch.amp.GradScaler("cuda") if dtype == torch.float16 else None
        return cls(device, dtype, scaler, channels_last, progress)


def _amp_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype on ``device``: bf16 where the GPU computes it natively, else fp16; None off CUDA."""
    if device.type != "cuda":
        warnings.warn(f"amp=True only applies on CUDA; ignored on {device.type}", stacklevel=4)
        return None
    # Emulated bf16 (pre-Ampere GPUs such as Colab's T4) is slow: use fp16 there.
    return torch.bfloat16 if torch.cuda.is_bf16_supported(including_emulation=False) else torch.float16


def _to_device(batch: Any, run: RunContext) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of a batch on the run's device; 4-D inputs channels-last if asked."""
    inputs = batch[0].to(run.device, non_blocking=True)
    if run.channels_last and inputs.dim() == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs, torch.as_tensor(batch[1]).to(run.device, non_blocking=True)


def _autocast(run: RunContext) -> torch.autocast:
    """Mixed precision on CUDA when the run asks for it; otherwise a context that changes nothing."""
    return torch.autocast("cuda", dtype=run.amp_dtype, enabled=run.amp_dtype is not None)


# ---------------------------------------------------------------- epoch sums
def _progress(loader: Iterable, max_batches: int | None, progress: bool, desc: str) -> Any:
    """A tqdm bar over at most ``max_batches`` batches of ``loader`` (off if not ``progress``)."""
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


def _accumulator(device: torch.device, size: int) -> torch.Tensor:
    """Zeros for an epoch's sums on ``device`` (float64 counts exactly; MPS lacks it)."""
    return torch.zeros(size, dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)


def epoch_totals(totals: torch.Tensor) -> list[float]:
    """An epoch's sums ``[loss sum, samples, correct (per k) ...]`` as Python numbers.

    Taught in lesson 09, *2. Who gets which images: `DistributedSampler`*: a data-parallel
    run all-reduces ``totals`` here, so every figure counts the samples of all processes.
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


def _non_finite(epoch: int, batch: int | torch.Tensor, loss: float | None = None) -> FloatingPointError:
    value = f" ({loss})" if loss is not None else ""
    return FloatingPointError(
        f"the training loss is not a finite number{value} at epoch {epoch}, batch {int(batch) + 1}: "
        "training has diverged (a learning rate too high?) or the data holds NaN/inf values. "
        "Training stopped (on a GPU at the end of that epoch, where the check runs) and no checkpoint "
        "was written for it; lower the learning rate or "
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
    progress: bool = True,
    run: RunContext | None = None,
) -> dict[str, Any]:
    """Train ``model`` for one pass over ``loader``.

    Written by hand in lesson 03, *4 · Train the network* (the blitz's loop), in
    lesson 05, *One epoch by hand: the sources' loop, fixed*, and in lesson 07,
    *4 · The loops in plain PyTorch*. Every ``log_every`` batches prints the blitz
    line ``[epoch, batch] loss: x.xxx``. Returns ``loss`` and ``acc`` (sample-weighted),
    ``samples``, ``seconds`` and ``running_loss`` (the printed values). ``device``
    (default: where the model is) receives the model and every batch; ``run`` (a
    :class:`RunContext`: mixed precision, channels-last) replaces ``device``/``progress``. A
    NaN or infinite loss stops training with a FloatingPointError naming the batch:
    on the CPU at that batch, elsewhere at the end of the epoch (a check per batch
    would make the loop wait for the device).
    """
    run = run or RunContext.prepare(model, device=device, progress=progress)
    check_optimizer(model, optimizer)
    model.train()
    totals, running = _accumulator(run.device, 3), _accumulator(run.device, 1)[0]
    first_bad = torch.full((), -1, dtype=torch.long, device=run.device)
    samples, running_losses, start = 0, [], time.perf_counter()
    for i, batch in enumerate(_progress(loader, max_batches, run.progress, f"epoch {epoch} train")):
        inputs, targets = _to_device(batch, run)
        optimizer.zero_grad(set_to_none=True)  # gradients add up unless cleared
        with _autocast(run):
            outputs = checked_forward(model, inputs, where="train_one_epoch") if i == 0 else model(inputs)
            if i == 0 or run.device.type == "cpu":  # elsewhere a check per batch would wait for the device
                check_targets(outputs, targets, where="train_one_epoch")
            loss = criterion(outputs, targets)
        finite = torch.isfinite(loss)
        if run.device.type == "cpu" and not finite:  # free on the CPU: stop at this very batch
            raise _non_finite(epoch, i, loss.item())
        first_bad = torch.where(finite | (first_bad >= 0), first_bad, i)
        if run.scaler is not None:  # float16: scale the loss so small gradients do not vanish
            run.scaler.scale(loss).backward()
            run.scaler.step(optimizer)
            run.scaler.update()
        else:
            loss.backward()
            optimizer.step()
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
    seconds = time.perf_counter() - start
    return {
        "loss": loss,
        "acc": acc,
        "samples": int(samples),
        "seconds": seconds,
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
    progress: bool = True,
    run: RunContext | None = None,
) -> dict[str, Any]:
    """Loss and accuracy of ``model`` on ``loader``, in eval mode without gradients.

    Written by hand in lesson 03, *Accuracy on the whole test set*, and in lesson 07,
    *4 · The loops in plain PyTorch*. ``criterion`` defaults to cross-entropy. Returns
    ``loss``, ``acc`` (top-1) and ``top{k}`` for each ``k`` in ``topk`` (fractions,
    sample-weighted), ``samples`` and ``seconds``. The model's train/eval mode is restored.
    Outputs other than (N, C) scores, or a k above the number of classes, are a ValueError.
    ``run`` (a :class:`RunContext`) replaces ``device``/``progress``.
    """
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    run = run or RunContext.prepare(model, device=device, progress=progress)
    ks = sorted({1, *(int(k) for k in topk)})
    totals, samples, start = _accumulator(run.device, 2 + len(ks)), 0, time.perf_counter()
    with eval_mode(model), torch.no_grad():
        for i, batch in enumerate(_progress(loader, max_batches, run.progress, "evaluate")):
            inputs, targets = _to_device(batch, run)
            with _autocast(run):
                outputs = checked_forward(model, inputs, where="evaluate") if i == 0 else model(inputs)
            outputs = outputs.float()
            if i == 0:  # accuracy needs (N, C) scores, N labels and k <= C
                check_logits(outputs, targets, ks, where="evaluate")
            if i == 0 or run.device.type == "cpu":
                check_targets(outputs, targets, where="evaluate")
            samples += targets.shape[0]
            totals[0] += criterion(outputs, targets).to(totals) * _batch_weight(criterion, targets.shape[0])
            # Top-k as metrics.topk_accuracy counts it (lesson 07 compares the two): hit at rank < k.
            hits = outputs.topk(ks[-1], dim=1).indices == targets[:, None]
            totals[2:] += torch.stack([hits[:, :k].any(dim=1).sum() for k in ks]).to(totals)
    samples, loss, correct = _means(totals, samples, "evaluate")
    result: dict[str, Any] = {"loss": loss, "acc": correct[0]}
    result.update({f"top{k}": c for k, c in zip(ks, correct, strict=False)})
    return {**result, "samples": int(samples), "seconds": time.perf_counter() - start}


def predict(
    model: nn.Module, inputs: torch.Tensor, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Logits of ``model`` for a batch ``inputs`` of shape ``(N, C, H, W)``, on the CPU.

    Written by hand in lesson 03, *5 · Test the network on the test images*; lesson 04,
    *The batch axis*, shows the errors. Runs in eval mode under ``torch.no_grad()`` and
    restores the model's mode. ``device`` moves the model there first. Raises TypeError
    for a PIL image or integer pixels and ValueError for a single (C, H, W) image, an
    (N, H, W, C) batch or an image size the model cannot take.
    """
    check_predict_input(inputs)
    run = RunContext.prepare(model, device=device, progress=False)
    with eval_mode(model), torch.no_grad():
        outputs = checked_forward(model, inputs.to(run.device), where="predict()")
    return outputs.cpu()
