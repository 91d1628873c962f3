"""Checkpoints that survive interruption (Lesson 07).

:func:`save_checkpoint` assembles everything needed to resume training from the
objects that own it, each through its ``state_dict()``: model, optimizer,
scheduler, grad scaler, the loader (a ``DeviceLoader``'s epoch and
augmentation, or a torch ``DataLoader``'s shuffling generators: see
:func:`dataloader_state`), the history, and every global random-number
generator (Python, NumPy, torch CPU/CUDA). It stores a checksum of all of it
and writes atomically (``checkpoint_file``).

:func:`load_checkpoint` reads with ``torch.load(weights_only=True)`` (tensors
and plain Python values only: unpickling arbitrary objects can run arbitrary
code), verifies the checksum, checks every part against the objects given, and
only then loads them. Every failure is a :class:`CheckpointError` that names
the file and says what is wrong; differences that still load (another batch
size, a learning rate the checkpoint replaces) are warnings.
"""

from __future__ import annotations

import os
import random
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from . import checkpoint_checks as checks
from .checkpoint_checks import plain
from .checkpoint_file import CheckpointError, atomic_save, digest, read

__all__ = [
    "CheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "dataloader_state",
    "load_dataloader_state",
    "FORMAT_VERSION",
]

FORMAT_VERSION = 2  # 1: before each object owned its state (scaler an extra, loaders in rng_state)
RESERVED_KEYS = frozenset(
    {
        "format_version",
        "torch_version",
        "epoch",
        "model_state",
        "optimizer_state",
        "optimizer_params",
        "scheduler_state",
        "scaler_state",
        "loader_state",
        "history",
        "rng_state",
        "classes",
        "checksum",
    }
)


def _unwrap(model: nn.Module) -> nn.Module:
    """The module that owns the weights (no ``torch.compile`` / DataParallel wrapper)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


# ---------------------------------------------------------------- loaders


def _generators(loader: DataLoader) -> dict[str, torch.Generator]:
    """A torch DataLoader's generators: its own (worker seeds) and its sampler's (the order)."""
    found = {}
    for key, gen in (
        ("generator", loader.generator),
        ("sampler_generator", getattr(loader.sampler, "generator", None)),
    ):
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found.values()):
            found[key] = gen
    return found


def dataloader_state(loader: DataLoader) -> dict[str, Any]:
    """What a torch ``DataLoader`` needs to repeat its next epoch: its generators' states.

    Plus ``batch_size`` and ``samples`` (the dataset's length), so a resumed
    run can say when they changed. (Course loaders have ``state_dict()``.)
    """
    try:
        samples = len(loader.dataset)  # type: ignore[arg-type]
    except TypeError:  # an IterableDataset without __len__
        samples = None
    state: dict[str, Any] = {"batch_size": loader.batch_size, "samples": samples}
    state.update({key: gen.get_state() for key, gen in _generators(loader).items()})
    return state


def load_dataloader_state(loader: DataLoader, state: Mapping[str, Any]) -> None:
    """Put back the generator states of :func:`dataloader_state`."""
    for key, gen in _generators(loader).items():
        if key in state:
            gen.set_state(state[key].cpu())
        else:
            warnings.warn(
                f"the checkpoint has no {key} state for this DataLoader; its shuffling "
                "order will differ from the interrupted run's",
                stacklevel=4,
            )


def _loader_state(loader: Any) -> dict[str, Any] | None:
    if loader is None:
        return None
    if callable(getattr(loader, "state_dict", None)):  # DeviceLoader, torchdata's StatefulDataLoader
        return loader.state_dict()
    if isinstance(loader, DataLoader):
        return dataloader_state(loader)
    return None  # e.g. a list of batches: nothing random to restore


def _load_loader_state(loader: Any, state: Mapping[str, Any]) -> None:
    if callable(getattr(loader, "load_state_dict", None)):
        loader.load_state_dict(state)
    elif isinstance(loader, DataLoader):
        load_dataloader_state(loader, state)


# ---------------------------------------------------------------- random-number generators


def _capture_rng() -> dict[str, Any]:
    """Every global RNG state, as tensors and plain values (``weights_only``-loadable)."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": (int(version), torch.tensor(internal, dtype=torch.int64), gauss_next),
        "numpy": (
            str(name),
            torch.from_numpy(keys.astype(np.int64)),
            int(pos),
            int(has_gauss),
            float(cached),
        ),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _rng_values(state: Mapping[str, Any]) -> dict[str, Any]:
    """The saved states in the form each library's ``setstate`` takes (raises on damage)."""
    out: dict[str, Any] = {}
    if "python" in state:
        version, internal, gauss_next = state["python"]
        out["python"] = (int(version), tuple(int(x) for x in internal.tolist()), gauss_next)
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        out["numpy"] = (name, keys.cpu().numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached))
    if "torch" in state:
        out["torch"] = state["torch"].cpu()
    if "cuda" in state:
        out["cuda"] = [s.cpu() for s in state["cuda"]]
    return out


def _check_rng(state: Any, path: Path) -> dict[str, Any]:
    """Validate the RNG states on throwaway generators; the values to restore."""
    try:
        values = _rng_values(state)
        if "python" in values:
            random.Random().setstate(values["python"])
        if "numpy" in values:
            np.random.RandomState().set_state(values["numpy"])
        for s in [values["torch"]] if "torch" in values else []:
            torch.Generator().set_state(s)
        if any(s.dtype != torch.uint8 for s in values.get("cuda", [])):
            raise TypeError("CUDA states must be uint8 tensors")
    except Exception as exc:  # TypeError, ValueError, RuntimeError ... from damaged values
        raise CheckpointError(
            f"{path}: the saved random-number states ('rng_state') are damaged "
            f"({type(exc).__name__}: {exc}); nothing was loaded. Load it with "
            "restore_rng=False to get the weights without them"
        ) from exc
    return values


def _restore_rng(values: Mapping[str, Any]) -> None:
    if "python" in values:
        random.setstate(values["python"])
    if "numpy" in values:
        np.random.set_state(values["numpy"])
    if "torch" in values:
        torch.set_rng_state(values["torch"])
    if "cuda" in values and torch.cuda.is_available():
        for index, s in enumerate(values["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(s, index)


# ---------------------------------------------------------------- saving


def _build_payload(
    model: nn.Module,
    optimizer: Any,
    scheduler: Any,
    scaler: Any,
    epoch: int,
    history: Any,
    loader: Any,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The checkpoint dict (validated: raises before anything is written)."""
    clash = sorted(RESERVED_KEYS.intersection(extra))
    if clash:
        raise ValueError(f"extra keys {clash} are reserved by the checkpoint format")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
    hist = checks.history_dict(history)
    extras = {key: plain(value, key) for key, value in extra.items()}
    if "loss" not in extras and hist and hist.get("train_loss"):
        extras["loss"] = float(hist["train_loss"][-1])
    target = _unwrap(model)
    payload = {
        "format_version": FORMAT_VERSION,
        "torch_version": str(torch.__version__),
        "epoch": int(epoch),
        "model_state": target.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "optimizer_params": checks.optimizer_params(target, optimizer),
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "scaler_state": scaler.state_dict() if scaler is not None else None,
        "loader_state": plain(_loader_state(loader), "loader_state"),
        "classes": {
            name: checks.class_name(obj)
            for name, obj in (("model", target), ("optimizer", optimizer), ("scheduler", scheduler))
        },
        "history": hist,
        "rng_state": _capture_rng(),
        **extras,
    }
    payload["checksum"] = digest(payload)
    return payload


def save_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    epoch: int,
    history: Any = None,
    loader: Any = None,
    scaler: Any = None,
    **extra: Any,
) -> Path:
    """Save everything needed to resume training after ``epoch``; returns the path.

    Stores the ``state_dict`` s of the model, optimizer, scheduler, grad
    ``scaler`` and ``loader``, ``epoch``, the history (a ``History`` or dict,
    stored as a plain dict), the RNG states (Python, NumPy, torch, CUDA when
    available), the optimizer's parameter names and shapes, a checksum and the
    ``extra`` keyword values (plain values/tensors; NumPy values converted).
    ``loss`` defaults to the last ``history["train_loss"]``. The write is
    atomic: an interrupted save leaves the previous checkpoint untouched.
    Parent folders are created.
    """
    path = Path(path)
    payload = _build_payload(model, optimizer, scheduler, scaler, epoch, history, loader, extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_save(payload, path)
    return path


# ---------------------------------------------------------------- loading


def _apply(ckpt: dict, path: Path, objects: dict[str, Any], strict: bool) -> None:
    """Load the checked states; the loader and scaler are put back if a later one fails."""
    loader, scaler = objects["loader"], objects["scaler"]
    undo = []
    if loader is not None and ckpt.get("loader_state") is not None:
        undo.append((loader, _loader_state(loader), _load_loader_state))
    if scaler is not None and ckpt.get("scaler_state"):
        undo.append((scaler, scaler.state_dict(), lambda obj, state: obj.load_state_dict(state)))
    try:
        for obj, _, load in undo:
            load(obj, ckpt["loader_state"] if obj is loader else ckpt["scaler_state"])
        if objects["optimizer"] is not None:
            objects["optimizer"].load_state_dict(ckpt["optimizer_state"])
        if objects["scheduler"] is not None:
            objects["scheduler"].load_state_dict(ckpt["scheduler_state"])
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        for obj, state, load in undo:
            load(obj, state)
        raise CheckpointError(
            f"{path}: a saved state does not fit the objects given: {type(exc).__name__}: {exc}"
        ) from exc
    objects["model"].load_state_dict(ckpt["model_state"], strict=strict)


def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    loader: Any = None,
    scaler: Any = None,
    map_location: Any = "cpu",
    strict: bool = True,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model`` (and optimizer, scheduler, scaler, loader).

    Reads with ``torch.load(weights_only=True)``, verifies the checksum and
    checks every part (architecture, optimizer parameters and type, scheduler
    type, RNG states) before anything is loaded. Restores the RNG states when
    ``restore_rng``. Returns the checkpoint dict: ``epoch``, ``history`` (plain
    dict), ``loss`` and the extra values. Raises :class:`CheckpointError`
    naming the file for a missing, damaged or unsafe file, another format,
    architecture or optimizer. Checkpoints of format 1 (before the checksum)
    load too.
    """
    path = Path(path)
    ckpt = checks.upgrade(read(path, map_location), path, FORMAT_VERSION)
    target = _unwrap(model)
    objects = {
        "model": target,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "scaler": scaler,
        "loader": loader,
    }
    checks.check_parts(ckpt, path, objects, strict)
    rng = _check_rng(ckpt.get("rng_state") or {}, path) if restore_rng else {}
    checks.warn_differences(ckpt, path, optimizer, _loader_state(loader))
    _apply(ckpt, path, objects, strict)
    _restore_rng(rng)
    return ckpt
