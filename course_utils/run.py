"""How a run trains, worked out once: :class:`RunContext`, and the checks of a first batch.

``engine.fit`` builds one :class:`RunContext` (device, autocast dtype, grad
scaler, channels-last, progress bar, printing) and hands it to every
``train_one_epoch`` and ``evaluate`` call, the way d2l's ``Trainer`` prepares
the model once. Called on their own, the loops build one from their keyword
arguments.

:func:`checked_forward` and :func:`check_targets` turn the usual data mistakes
(uint8 pixels, an (N, H, W, C) array, another image size, labels outside the
classes) into one message naming what the model expects and what it got.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["RunContext", "check_predict_input", "check_targets", "checked_forward", "diagnose_inputs"]

_PROBE_SIZES = (28, 32, 64, 96, 128, 224)  # image sizes the course's models are built for


def _amp_dtype(amp: bool, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``amp`` on ``device``: bf16 if supported, else fp16; None off CUDA."""
    if not amp:
        return None
    if device.type != "cuda":
        warnings.warn(f"amp=True only applies on CUDA; ignored on {device.type}", stacklevel=4)
        return None
    try:  # emulated bf16 (pre-Ampere GPUs such as Colab's T4) is slow: use fp16 there
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3 has no including_emulation and does not count emulation
        native_bf16 = torch.cuda.is_bf16_supported()
    return torch.bfloat16 if native_bf16 else torch.float16


def _grad_scaler() -> Any:
    """A CUDA GradScaler for float16 autocast (torch.amp on torch >= 2.3, else torch.cuda.amp)."""
    if hasattr(torch.amp, "GradScaler"):
        return torch.amp.GradScaler("cuda")
    return torch.cuda.amp.GradScaler()  # pragma: no cover - older torch


@dataclass(frozen=True)
class RunContext:
    """Everything about *how* to run that stays fixed for a whole run.

    ``device`` holds the model and receives every batch; ``amp_dtype`` is the
    autocast dtype (None: full precision); ``scaler`` a ``GradScaler`` (float16
    only); ``channels_last`` the memory format of 4-D batches; ``progress``
    shows tqdm bars; ``verbose`` prints what ``fit`` does.
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    scaler: Any = None
    channels_last: bool = False
    progress: bool = True
    verbose: bool = True

    @classmethod
    def prepare(
        cls,
        model: nn.Module,
        *,
        device: torch.device | str | None = None,
        amp: bool = False,
        channels_last: bool = False,
        progress: bool = True,
        verbose: bool = True,
        scaler: Any = None,
    ) -> RunContext:
        """Place ``model`` on ``device`` (default: where it is) and decide precision and layout.

        Moving keeps the parameter objects, so an optimizer built before still
        updates them. ``amp`` only applies on CUDA and ``channels_last`` on CUDA
        and the CPU; elsewhere each is ignored with one warning, here.
        """
        if device is None:
            param = next(model.parameters(), None)
            device = param.device if param is not None else torch.device("cpu")
        else:
            device = torch.device(device)
            model.to(device)
        dtype = _amp_dtype(amp, device)
        if channels_last and device.type not in ("cuda", "cpu"):
            warnings.warn(
                f"channels_last=True only applies on CUDA and CPU; ignored on {device.type}", stacklevel=3
            )
            channels_last = False
        if channels_last:
            model.to(memory_format=torch.channels_last)
        if dtype == torch.float16 and scaler is None:
            scaler = _grad_scaler()
        return cls(device, dtype, scaler, channels_last, progress, verbose)

    def batch(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of a batch on the device; 4-D inputs channels-last if asked."""
        inputs, targets = batch[0], batch[1]
        inputs = inputs.to(self.device, non_blocking=True)
        if self.channels_last and inputs.dim() == 4:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        return inputs, torch.as_tensor(targets).to(self.device, non_blocking=True)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast to ``amp_dtype`` on CUDA, or nothing."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=self.amp_dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward pass and optimizer step (through the grad scaler when there is one)."""
        if self.scaler is None:
            loss.backward()
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(optimizer)
            self.scaler.update()


# ---------------------------------------------------------------- first-batch checks


def check_predict_input(inputs: Any) -> None:
    """For ``predict``: a PIL image, a non-tensor or a single image is an error that says what to do."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a course dependency
        Image = None
    if Image is not None and isinstance(inputs, Image.Image):
        raise TypeError(
            "predict() got a PIL Image, but the model needs a tensor batch of shape "
            "(N, C, H, W): apply transforms.ToTensor() (or your test transform) and add "
            "the batch axis, e.g. predict(model, transform(img)[None]) or .unsqueeze(0)"
        )
    if not isinstance(inputs, torch.Tensor):
        raise TypeError(
            f"predict() needs a torch.Tensor batch of shape (N, C, H, W), got "
            f"{type(inputs).__name__}; convert it with transforms.ToTensor() or torch.as_tensor"
        )
    if inputs.dim() == 3:
        shape = tuple(inputs.shape)
        raise ValueError(
            f"predict() got a single image of shape (C, H, W) = {shape}, but the model "
            f"needs a batch of shape (N, C, H, W); add the batch axis with x[None] "
            f"(or x.unsqueeze(0)) to get shape {(1, *shape)}"
        )


def _input_channels(model: nn.Module) -> int | None:
    """The channel count the model's first convolution takes (None: no Conv2d)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return conv.in_channels if conv is not None else None


def _accepted_size(model: nn.Module, channels: int, device: torch.device) -> int | None:
    """The first of a few usual square image sizes the model accepts (None: none of them)."""
    from .engine import eval_mode

    with eval_mode(model), torch.no_grad():
        for size in _PROBE_SIZES:
            try:
                model(torch.zeros(1, channels, size, size, device=device))
            except RuntimeError:
                continue
            return size
    return None


def diagnose_inputs(model: nn.Module, inputs: torch.Tensor, *, where: str) -> Exception | None:
    """Why ``model`` cannot take ``inputs`` - integer pixels, (N, H, W, C), another size - or None."""
    shape = tuple(inputs.shape)
    param = next(model.parameters(), None)
    wanted = param.dtype if param is not None and param.is_floating_point() else torch.float32
    if inputs.dtype != wanted:
        return TypeError(
            f"{where} got images of dtype {inputs.dtype} with shape {shape}, but the model needs "
            f"{wanted}: convert them with transforms.ToTensor() (pixels 0-255 become 0.0-1.0) "
            "and normalise them as in training, or use x.float() / 255 for a uint8 tensor"
        )
    channels = _input_channels(model)
    if inputs.dim() != 4 or channels is None:
        return None
    if shape[1] != channels and shape[-1] == channels:
        return ValueError(
            f"{where} got a batch of shape {shape}, which looks like (N, H, W, C) = channels "
            f"last, but the model needs (N, C, H, W) with C = {channels}: reorder it with "
            f"x.permute(0, 3, 1, 2) to get {(shape[0], shape[3], shape[1], shape[2])}"
        )
    if shape[1] != channels:
        return ValueError(
            f"{where} got a batch with {shape[1]} channel(s), shape {shape}, but the model's "
            f"first convolution expects {channels}: grey images have 1 channel and colour "
            "images 3; convert them (e.g. transforms.Grayscale or .convert('RGB')) to match"
        )
    size = _accepted_size(model, channels, inputs.device)
    if size is None or shape[2:] == (size, size):
        return None
    return ValueError(
        f"{where}: the model cannot take images of size {shape[2]}x{shape[3]} (batch shape "
        f"{shape}); it accepts {size}x{size} (shape {(shape[0], channels, size, size)}): resize "
        f"the images (e.g. transforms.Resize({size})) or build the model for this size"
    )


def checked_forward(model: nn.Module, inputs: torch.Tensor, *, where: str) -> torch.Tensor:
    """``model(inputs)``; when it fails on the usual input mistakes, an error that names them.

    Diagnosing only after a failure costs nothing when the inputs fit, and never
    refuses inputs a model takes on purpose (e.g. one that converts uint8 itself).
    """
    try:
        return model(inputs)
    except RuntimeError as exc:
        problem = diagnose_inputs(model, inputs, where=where)
        if problem is None:
            raise
        raise type(problem)(f"{problem}. PyTorch said: {exc}") from exc


def check_targets(outputs: torch.Tensor, targets: torch.Tensor, *, where: str) -> None:
    """Labels must be class indices 0 .. C-1 for a model with C outputs."""
    if outputs.dim() != 2 or targets.dim() != 1 or targets.is_floating_point() or not targets.numel():
        return
    classes = outputs.shape[1]
    low, high = targets.min().item(), targets.max().item()
    if low < 0 or high >= classes:
        raise ValueError(
            f"{where} got labels from {low} to {high}, but the model has {classes} outputs, "
            f"so labels must be class indices 0 .. {classes - 1}: check the dataset's "
            "targets (labels counted from 1?) or the model's number of classes (num_classes=)"
        )
