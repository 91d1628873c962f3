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

``amp=True`` (mixed precision) only takes effect on CUDA; elsewhere it is
ignored with a warning. ``channels_last=True`` (the (N, H, W, C) memory layout
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
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from . import metrics

__all__ = ["History", "train_one_epoch", "evaluate", "predict", "fit"]

_LIST_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


@dataclass
class History:
    """Per-epoch records of a :func:`fit` run; one list entry per epoch.

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
        raise AttributeError(f"History has no series {name!r}; it has {list(self.to_dict())}")

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

    def to_dict(self) -> dict[str, list[float]]:
        """Plain-Python copy: ``{series name: list of numbers}`` (extra series included)."""
        out = {name: list(getattr(self, name)) for name in _LIST_FIELDS}
        out.update({name: list(values) for name, values in self.extra.items()})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Iterable[float]]) -> History:
        """Rebuild a History from :meth:`to_dict` output."""
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs = {k: [int(v) if k == "epoch" else float(v) for v in vals]
                  for k, vals in data.items() if k in known}
        extra = {k: [float(v) for v in vals] for k, vals in data.items() if k not in known}
        return cls(**kwargs, extra=extra)

    def plot(self, *, title: str | None = None) -> Any:
        """Loss and accuracy curves as a matplotlib Figure (drawn by ``viz.plot_history``)."""
        from . import viz

        return viz.plot_history(self, title=title)


# ---------------------------------------------------------------- helpers


def _place(model: nn.Module, device: torch.device | str | None) -> torch.device:
    """Move ``model`` to ``device`` and return it as a torch.device.

    None leaves the model where its parameters are. Moving keeps the parameter
    objects, so an optimizer built before still updates them.
    """
    if device is None:
        param = next(model.parameters(), None)
        return param.device if param is not None else torch.device("cpu")
    device = torch.device(device)
    model.to(device)
    return device


def _amp_dtype(amp: bool, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``: bf16 if supported, else fp16; None off CUDA."""
    if not amp:
        return None
    if device.type != "cuda":
        warnings.warn(f"amp=True only applies on CUDA; ignored on {device.type}", stacklevel=3)
        return None
    try:  # emulated bf16 (pre-Ampere GPUs such as Colab's T4) is slow: use fp16 there
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3 has no including_emulation and does not count emulation
        native_bf16 = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if native_bf16 else torch.float16


def _channels_last(channels_last: bool, device: torch.device) -> bool:
    """Whether to use the channels-last memory format (CUDA and CPU only)."""
    if channels_last and device.type not in ("cuda", "cpu"):
        warnings.warn(f"channels_last=True only applies on CUDA and CPU; ignored on {device.type}",
                      stacklevel=3)
        return False
    return channels_last


def _grad_scaler() -> Any:
    """A CUDA GradScaler for float16 autocast (torch.amp on torch >= 2.3, else torch.cuda.amp)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # pragma: no cover - older torch


def _autocast(dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    return torch.autocast("cuda", dtype=dtype) if dtype is not None else contextlib.nullcontext()


def _move(batch: Any, device: torch.device, channels_last: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of a batch on ``device``; 4-D inputs in channels-last if asked."""
    inputs, targets = batch[0], batch[1]
    inputs = inputs.to(device, non_blocking=True)
    if channels_last and inputs.dim() == 4:
        inputs = inputs.contiguous(memory_format=torch.channels_last)
    return inputs, torch.as_tensor(targets).to(device, non_blocking=True)


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


def _optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: Any) -> None:
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def _global_sums(sums: torch.Tensor) -> torch.Tensor:
    """``sums`` added over every process of a torch.distributed run (DDP); unchanged otherwise."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(sums, op=torch.distributed.ReduceOp.SUM)
    return sums


def _no_samples(what: str) -> ValueError:
    return ValueError(f"{what} got no samples from the loader (empty dataset or max_batches=0)")


# ---------------------------------------------------------------- loops


def _train_setup(model: nn.Module, device: torch.device | str | None, amp: bool,
                 channels_last: bool, scaler: Any) -> tuple[torch.device, Any, bool, Any]:
    """Resolve device/AMP/channels-last, make a GradScaler for fp16, put the model in train mode."""
    device = _place(model, device)
    dtype, use_cl = _amp_dtype(amp, device), _channels_last(channels_last, device)
    if dtype == torch.float16 and scaler is None:
        scaler = _grad_scaler()
    if use_cl:
        model.to(memory_format=torch.channels_last)
    model.train()
    return device, dtype, use_cl, scaler


def train_one_epoch(
    model: nn.Module, loader: Iterable, optimizer: torch.optim.Optimizer, *,
    criterion: nn.Module, device: torch.device | str | None = None, epoch: int = 1,
    log_every: int | None = None, max_batches: int | None = None, scaler: Any = None,
    amp: bool = False, channels_last: bool = False, progress: bool = True,
) -> dict[str, Any]:
    """Train ``model`` for one pass over ``loader``.

    Every ``log_every`` batches prints the blitz line ``[epoch, batch] loss: x.xxx``
    (mean batch loss since the last line). Returns ``loss`` and ``acc``
    (sample-weighted over the epoch), ``samples``, ``seconds`` and
    ``running_loss`` (the printed values). ``device`` (default: where the model
    is) receives the model and every batch.
    """
    device, dtype, use_cl, scaler = _train_setup(model, device, amp, channels_last, scaler)
    acc_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS lacks float64
    loss_sum = running = torch.zeros((), dtype=acc_dtype, device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    samples, running_losses, start = 0, [], time.perf_counter()
    bar = _progress(loader, max_batches, progress, f"epoch {epoch} train")
    for i, batch in enumerate(bar):
        inputs, targets = _move(batch, device, use_cl)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(dtype):
            outputs = model(inputs)
            loss = criterion(outputs, targets)
        _optimizer_step(loss, optimizer, scaler)
        loss = loss.detach().float()
        samples += targets.shape[0]
        loss_sum = loss_sum + loss * _batch_weight(criterion, targets.shape[0])
        correct = correct + (outputs.detach().argmax(dim=1) == targets).sum()
        running = running + loss
        if log_every and i % log_every == log_every - 1:
            running_losses.append(running.item() / log_every)
            tqdm.write(f"[{epoch}, {i + 1:5d}] loss: {running_losses[-1]:.3f}")
            running = torch.zeros_like(running)
    sums = torch.stack([loss_sum, correct.to(acc_dtype), torch.tensor(samples, dtype=acc_dtype, device=device)])
    loss_sum, n_correct, samples = _global_sums(sums).tolist()
    samples = int(samples)
    if samples == 0:
        raise _no_samples("train_one_epoch")
    return {"loss": loss_sum / samples, "acc": n_correct / samples,
            "samples": samples, "seconds": time.perf_counter() - start,
            "running_loss": running_losses}


def evaluate(
    model: nn.Module, loader: Iterable, *, criterion: nn.Module | None = None,
    device: torch.device | str | None = None, topk: Iterable[int] = (1,),
    max_batches: int | None = None, amp: bool = False, channels_last: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Loss and accuracy of ``model`` on ``loader``, in eval mode without gradients.

    ``criterion`` defaults to cross-entropy. Returns ``loss``, ``acc`` (top-1)
    and ``top{k}`` for each ``k`` in ``topk`` (fractions, sample-weighted),
    ``samples`` and ``seconds``. The model's train/eval mode is restored.
    ``device`` (default: where the model is) receives the model and every batch.
    """
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    device = _place(model, device)
    dtype, use_cl = _amp_dtype(amp, device), _channels_last(channels_last, device)
    ks = sorted({1, *(int(k) for k in topk)})
    loss_sum, samples, correct = 0.0, 0, dict.fromkeys(ks, 0)
    was_training, start = model.training, time.perf_counter()
    model.eval()
    try:
        with torch.no_grad():
            for batch in _progress(loader, max_batches, progress, "evaluate"):
                inputs, targets = _move(batch, device, use_cl)
                with _autocast(dtype):
                    outputs = model(inputs)
                outputs = outputs.float()
                loss = criterion(outputs, targets).item()
                loss_sum += loss * _batch_weight(criterion, targets.shape[0])
                samples += targets.shape[0]
                for k, count in metrics.correct_topk(outputs, targets, ks).items():
                    correct[k] += count
    finally:
        model.train(was_training)
    sum_dtype = torch.float32 if device.type == "mps" else torch.float64  # MPS lacks float64
    sums = _global_sums(torch.tensor([loss_sum, samples, *correct.values()], dtype=sum_dtype, device=device))
    loss_sum, samples, *counts = sums.tolist()
    samples, correct = int(samples), dict(zip(ks, counts))
    if samples == 0:
        raise _no_samples("evaluate")
    result: dict[str, Any] = {"loss": loss_sum / samples, "acc": correct[1] / samples}
    result.update({f"top{k}": correct[k] / samples for k in ks})
    return {**result, "samples": samples, "seconds": time.perf_counter() - start}


def _check_predict_input(inputs: Any) -> None:
    """Raise a TypeError/ValueError that says how to fix the usual input mistakes."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a course dependency
        Image = None
    if Image is not None and isinstance(inputs, Image.Image):
        raise TypeError(
            "predict() got a PIL Image, but the model needs a tensor batch of shape "
            "(N, C, H, W): apply transforms.ToTensor() (or your test transform) and add "
            "the batch axis, e.g. predict(model, transform(img)[None]) or .unsqueeze(0)")
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"predict() needs a torch.Tensor batch of shape (N, C, H, W), got "
            f"{type(inputs).__name__}; convert it with transforms.ToTensor() or torch.as_tensor")
    if inputs.dim() == 3:
        shape = tuple(inputs.shape)
        raise ValueError(
            f"predict() got a single image of shape (C, H, W) = {shape}, but the model "
            f"needs a batch of shape (N, C, H, W); add the batch axis with x[None] "
            f"(or x.unsqueeze(0)) to get shape {(1, *shape)}")


def predict(
    model: nn.Module, inputs: torch.Tensor, *, device: torch.device | str | None = None
) -> torch.Tensor:
    """Logits of ``model`` for a batch ``inputs`` of shape ``(N, C, H, W)``, on the CPU.

    Runs in eval mode under ``torch.no_grad()`` and restores the model's previous
    mode. ``device`` moves the model there first (default: where it already is).
    Raises TypeError for a PIL image and ValueError for a single (C, H, W) image.
    """
    _check_predict_input(inputs)
    device = _place(model, device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = model(inputs.to(device))
    finally:
        model.train(was_training)
    return outputs.cpu()


# ---------------------------------------------------------------- fit


def _live_plot(enabled: bool) -> Any:
    """A ``viz.LivePlot`` when asked for (a no-op outside a notebook kernel), else None."""
    if not enabled:
        return None
    from . import viz

    return viz.LivePlot()


def _resume(
    path: Path | None, resume: bool, *, model: nn.Module, optimizer: torch.optim.Optimizer,
    scheduler: Any, loader: Any, scaler: Any,
) -> tuple[History, int]:
    """(history so far, number of epochs already done) - from the checkpoint if resuming."""
    if path is None or not resume:
        return History(), 0
    if not path.exists():
        print(f"[course] no checkpoint at {path}; starting from epoch 1")
        return History(), 0
    from . import checkpoint as ckpt

    state = ckpt.load_checkpoint(path, model=model, optimizer=optimizer,
                                 scheduler=scheduler, loader=loader)
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    done = int(state["epoch"])
    print(f"[course] resumed from {path} after epoch {done}")
    return History.from_dict(state.get("history") or {}), done


def _step_scheduler(scheduler: Any, metric: float) -> None:
    """One scheduler step; ReduceLROnPlateau gets the epoch's (validation) loss."""
    if scheduler is None:
        return
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(metric)
    else:
        scheduler.step()


def _summary(epoch: int, epochs: int, row: dict[str, float]) -> str:
    text = (f"epoch {epoch}/{epochs}: train loss {row['train_loss']:.3f} "
            f"acc {row['train_acc']:.1%}")
    if "val_loss" in row:
        text += f" | val loss {row['val_loss']:.3f} acc {row['val_acc']:.1%}"
    return text + f" | lr {row['lr']:.3g} | {row['seconds']:.1f}s"


def _run_epoch(model: nn.Module, train_loader: Iterable, val_loader: Iterable | None,
               epoch: int, opts: dict[str, Any]) -> dict[str, float]:
    """Train (and evaluate) one epoch; the History row for it."""
    o, start = opts, time.perf_counter()
    row: dict[str, float] = {"epoch": epoch, "lr": o["optimizer"].param_groups[0]["lr"]}
    train = train_one_epoch(
        model, train_loader, o["optimizer"], criterion=o["criterion"], device=o["device"],
        epoch=epoch, log_every=o["log_every"], max_batches=o["max_batches"],
        scaler=o["scaler"], amp=o["amp"], channels_last=o["channels_last"],
        progress=o["progress"])
    row.update(train_loss=train["loss"], train_acc=train["acc"])
    if val_loader is not None:
        val = evaluate(model, val_loader, criterion=o["criterion"], device=o["device"],
                       topk=o["topk"], max_batches=o["max_batches"], amp=o["amp"],
                       channels_last=o["channels_last"], progress=o["progress"])
        row.update(val_loss=val["loss"], val_acc=val["acc"])
        row.update({f"val_top{k}": val[f"top{k}"] for k in o["topk"] if k != 1})
    row["seconds"] = time.perf_counter() - start
    return row


def fit(
    model: nn.Module, train_loader: Iterable, val_loader: Iterable | None = None, *,
    epochs: int, optimizer: torch.optim.Optimizer, criterion: nn.Module,
    scheduler: Any = None, device: torch.device | str | None = None,
    log_every: int | None = None, max_batches: int | None = None,
    topk: Iterable[int] = (1,), checkpoint: str | os.PathLike | None = None,
    resume: bool = False, amp: bool = False, channels_last: bool = False,
    live_plot: bool = False, progress: bool = True, verbose: bool = True,
) -> History:
    """Train for ``epochs`` epochs (counted from 1), evaluating on ``val_loader`` after each.

    The scheduler steps once after each epoch (``History.lr`` is the rate used
    in it). With ``checkpoint=path`` the state is saved after every epoch;
    with ``resume=True`` and an existing file training continues after the
    saved epoch, bitwise identically to an uninterrupted run on the CPU.
    ``device=None`` keeps the model where it is. Prints one line per epoch.
    """
    device = _place(model, device)
    dtype, use_cl = _amp_dtype(amp, device), _channels_last(channels_last, device)
    scaler = _grad_scaler() if dtype == torch.float16 else None
    path = Path(checkpoint) if checkpoint is not None else None
    history, done = _resume(path, resume, model=model, optimizer=optimizer,
                            scheduler=scheduler, loader=train_loader, scaler=scaler)
    opts = dict(optimizer=optimizer, criterion=criterion, device=device, log_every=log_every,
                max_batches=max_batches, scaler=scaler, amp=dtype is not None,
                channels_last=use_cl, progress=progress, topk=tuple(topk))
    plotter = _live_plot(live_plot)
    for epoch in range(done + 1, epochs + 1):
        row = _run_epoch(model, train_loader, val_loader, epoch, opts)
        history.append(**row)
        _step_scheduler(scheduler, row.get("val_loss", row["train_loss"]))
        if path is not None:
            _save(path, model, optimizer, scheduler, epoch, history, train_loader, scaler)
        if verbose:
            print(_summary(epoch, epochs, row))
        if plotter is not None:
            plotter.update(history)
    return history


def _save(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any,
          epoch: int, history: History, loader: Any, scaler: Any) -> None:
    """Save the end-of-epoch state with ``checkpoint.save_checkpoint``."""
    from . import checkpoint as ckpt

    extra = {"scaler": scaler.state_dict()} if scaler is not None else {}
    ckpt.save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler,
                         epoch=epoch, history=history.to_dict(), loader=loader, **extra)
