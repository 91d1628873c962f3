"""Checkpoints that survive interruption (Lesson 07).

:func:`save_checkpoint` stores everything needed to resume training - model,
optimizer and scheduler state, the epoch, the history and every random-number
generator state (Python, NumPy, torch CPU/CUDA and the DataLoader's shuffling
generator). The file is written atomically: to a temporary file in the same
folder, flushed and fsync'ed, then moved over the old checkpoint with
:func:`os.replace`, so a crash or a kill mid-write leaves the previous
checkpoint intact.

:func:`load_checkpoint` reads with ``torch.load(weights_only=True)`` (tensors
and plain Python values only - unpickling arbitrary objects can run arbitrary
code) and turns every failure into a :class:`CheckpointError` that names the
file and says what is wrong.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pickle
import random
import re
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint"]

FORMAT_VERSION = 1
REQUIRED_KEYS = ("model_state", "epoch")
RESERVED_KEYS = frozenset({
    "format_version", "torch_version", "epoch", "model_state", "optimizer_state",
    "scheduler_state", "history", "rng_state",
})
_MAX_LISTED = 12
_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, torch.dtype, torch.device)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the reason."""


# --------------------------------------------------------------------------- helpers


def _unwrap(model: nn.Module) -> nn.Module:
    """The module that owns the weights (no ``torch.compile`` / DataParallel wrapper)."""
    while True:
        if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def _plain(value: Any, where: str) -> Any:
    """``value`` as tensors and plain Python values, the types ``weights_only`` loads.

    NumPy scalars become Python numbers, arrays become tensors, paths strings;
    anything else raises ``TypeError`` before a byte is written.
    """
    if value is None or isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if type(value) in _PLAIN_SCALARS:
        return value
    for base in (int, float, complex, str, bytes):  # IntEnum, TorchVersion ...: plain base
        if isinstance(value, base):
            return base(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {_plain(k, where): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"cannot store {where} (a {type(value).__module__}.{type(value).__qualname__}) in a "
        "checkpoint: only tensors and plain Python values (numbers, strings, lists, tuples, "
        "dicts) load with torch.load(weights_only=True)")


def _history_dict(history: Any) -> dict | None:
    """History (a ``History``, dataclass or mapping) as a plain dict."""
    if history is None:
        return None
    if callable(getattr(history, "to_dict", None)):
        history = history.to_dict()
    elif dataclasses.is_dataclass(history) and not isinstance(history, type):
        history = dataclasses.asdict(history)
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a History or a dict, not {type(history).__name__}")
    return _plain(history, "history")


def _loader_generators(loader: Any) -> dict[str, torch.Generator]:
    """The generators that decide a loader's shuffling order (and a DeviceLoader's augmentation).

    A wrapper (e.g. a device loader) is looked through via ``.loader``,
    ``.dataloader`` or ``.dl`` when it has no generator of its own.
    """
    found: dict[str, torch.Generator] = {}
    for attr in ("loader", "dataloader", "dl"):
        inner = getattr(loader, attr, None)
        if getattr(loader, "generator", None) is None and inner is not None and inner is not loader:
            return _loader_generators(inner)
    gen = getattr(loader, "generator", None)
    if isinstance(gen, torch.Generator):
        found["loader"] = gen
    sampler_gen = getattr(getattr(loader, "sampler", None), "generator", None)
    if isinstance(sampler_gen, torch.Generator) and sampler_gen is not gen:
        found["sampler"] = sampler_gen
    augment_gen = getattr(getattr(loader, "augment", None), "generator", None)  # DeviceLoader
    if isinstance(augment_gen, torch.Generator) and augment_gen not in (gen, sampler_gen):
        found["augment"] = augment_gen
    return found


def _capture_rng(loader: Any) -> dict[str, Any]:
    """Every RNG state, as tensors and plain values (``weights_only``-loadable)."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": (int(version), torch.tensor(internal, dtype=torch.int64), gauss_next),
        "numpy": (str(name), torch.from_numpy(keys.astype(np.int64)), int(pos),
                  int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    state.update({k: g.get_state() for k, g in _loader_generators(loader).items()})
    return state


def _restore_rng(state: Mapping[str, Any], loader: Any, path: Path) -> None:
    """Put back the RNG states saved by :func:`_capture_rng`."""
    if "python" in state:
        version, internal, gauss_next = state["python"]
        random.setstate((int(version), tuple(int(x) for x in internal.tolist()), gauss_next))
    if "numpy" in state:
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.set_state((name, keys.cpu().numpy().astype(np.uint32), int(pos),
                             int(has_gauss), float(cached)))
    if "torch" in state:
        torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = [s.cpu() for s in state["cuda"]][: torch.cuda.device_count()]
        for index, s in enumerate(cuda):
            torch.cuda.set_rng_state(s, index)
    for key, gen in _loader_generators(loader).items():
        if key in state:
            gen.set_state(state[key].cpu())
        else:
            warnings.warn(f"{path} has no {key} generator state; the shuffling order will "
                          "differ from the interrupted run", stacklevel=3)


def _process_umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable (POSIX); best effort elsewhere."""
    if os.name != "posix":
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_save(payload: dict, path: Path) -> None:
    """``torch.save`` to a temp file beside ``path``, fsync, then ``os.replace``.

    On any exception (KeyboardInterrupt included) the temp file is removed and
    whatever was at ``path`` before is left untouched.
    """
    tmp = tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.",
                                      suffix=".tmp", delete=False)
    try:
        with tmp as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp.name, 0o666 & ~_process_umask())
        os.replace(tmp.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp.name)
        raise
    _fsync_dir(path.parent)


# --------------------------------------------------------------------------- saving


def _build_payload(model: nn.Module, optimizer: Any, scheduler: Any, epoch: int,
                   history: Any, loader: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint dict (validated: raises before anything is written)."""
    clash = sorted(RESERVED_KEYS.intersection(extra))
    if clash:
        raise ValueError(f"extra keys {clash} are reserved by the checkpoint format")
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
        raise TypeError(f"epoch must be an int, not {type(epoch).__name__}")
    hist = _history_dict(history)
    extras = {key: _plain(value, key) for key, value in extra.items()}
    if "loss" not in extras and hist and hist.get("train_loss"):
        extras["loss"] = float(hist["train_loss"][-1])
    return {
        "format_version": FORMAT_VERSION,
        "torch_version": str(torch.__version__),
        "epoch": int(epoch),
        "model_state": _unwrap(model).state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "history": hist,
        "rng_state": _capture_rng(loader),
        **extras,
    }


def save_checkpoint(
    path: str | os.PathLike, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None, epoch: int, history: Any = None, loader: Any = None, **extra: Any,
) -> Path:
    """Save everything needed to resume training after ``epoch``; returns the path.

    Stores the model, optimizer and scheduler ``state_dict`` s, ``epoch``, the
    history (a ``History`` or dict, stored as a plain dict), the RNG states
    (Python, NumPy, torch, CUDA when available, ``loader.generator``) and the
    ``extra`` keyword values (plain values/tensors; NumPy values converted).
    ``loss`` defaults to the last ``history["train_loss"]``. The write is
    atomic: an interrupted save leaves the previous checkpoint untouched.
    Parent folders are created.
    """
    path = Path(path)
    payload = _build_payload(model, optimizer, scheduler, epoch, history, loader, extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_save(payload, path)
    return path


# --------------------------------------------------------------------------- loading


def _disallowed_global(exc: BaseException) -> str | None:
    """The class named by a ``weights_only`` refusal, or None if ``exc`` is not one."""
    match = re.search(r"Unsupported (?:global|class):?\s*(?:GLOBAL\s+)?([\w.<>]+)", str(exc))
    return match.group(1) if match else None


def _read(path: Path, map_location: Any) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with every failure as a CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        culprit = _disallowed_global(exc)
        if culprit is None:
            raise CheckpointError(f"{path} is not a valid checkpoint (truncated or corrupt): "
                                  f"{type(exc).__name__}: {exc}") from exc
        raise CheckpointError(
            f"refused to load {path}: the checkpoint contains a pickled object that is not "
            f"allowed ({culprit}); only tensors and plain Python values are accepted, because "
            "unpickling arbitrary objects can run arbitrary code (arbitrary code execution). "
            "If you trust its source, load it with torch.load(..., weights_only=False) and "
            "re-save the state_dicts with save_checkpoint.") from exc
    except (PermissionError, IsADirectoryError) as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from exc
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError, ... on bad bytes
        raise CheckpointError(f"{path} is not a valid checkpoint (truncated or corrupt): "
                              f"{type(exc).__name__}: {exc}") from exc
    return ckpt


def _check_keys(ckpt: Any, path: Path, optimizer: Any, scheduler: Any) -> None:
    """Raise CheckpointError when ``ckpt`` lacks what this load needs."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not a checkpoint saved by save_checkpoint: it holds "
                              f"a {type(ckpt).__name__}, not a dict")
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise CheckpointError(f"{path} is not a checkpoint saved by save_checkpoint: required "
                              f"keys {missing} are missing (it has {sorted(map(str, ckpt))})")
    if not isinstance(ckpt["model_state"], Mapping):
        raise CheckpointError(f"{path}: 'model_state' is not a state_dict")
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None and ckpt.get(f"{name}_state") is None:
            raise CheckpointError(f"{path} has no {name} state to load (it was saved "
                                  f"without {name}=); pass {name}=None to skip it")


def _listing(title: str, items: list[str]) -> str:
    """One message line listing at most ``_MAX_LISTED`` items."""
    shown = ", ".join(items[:_MAX_LISTED])
    more = f" ... (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return f"\n  {title} ({len(items)}): {shown}{more}"


def _check_architecture(model: nn.Module, state: Mapping[str, Any], path: Path,
                        strict: bool) -> None:
    """Compare keys and shapes before ``load_state_dict``, for a readable error."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
                  for k in own if k in state and isinstance(state[k], torch.Tensor)
                  and state[k].shape != own[k].shape]
    if not mismatched and not (strict and (missing or unexpected)):
        return
    message = (f"{path} does not fit this {type(model).__name__}: it was saved from a "
               "different architecture (or different layer sizes).")
    if missing:
        message += _listing("missing keys (in the model, not in the checkpoint)", missing)
    if unexpected:
        message += _listing("unexpected keys (in the checkpoint, not in the model)", unexpected)
    if mismatched:
        message += _listing("size mismatches", mismatched)
    raise CheckpointError(message)


def _check_optimizer(optimizer: torch.optim.Optimizer, saved: Mapping[str, Any],
                     path: Path) -> None:
    """Parameter groups must match in number and size (checked before anything loads)."""
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    saved_sizes = [len(group.get("params", ())) for group in saved.get("param_groups", ())]
    if sizes != saved_sizes:
        raise CheckpointError(f"{path}: the optimizer state does not fit this optimizer: "
                              f"parameter groups of sizes {saved_sizes} in the checkpoint, "
                              f"{sizes} in the optimizer")


def _load_states(ckpt: dict, path: Path, model: nn.Module, optimizer: Any, scheduler: Any,
                 strict: bool) -> None:
    """Load the model, optimizer and scheduler states (errors as CheckpointError)."""
    model.load_state_dict(ckpt["model_state"], strict=strict)
    try:
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer_state"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler_state"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path}: the optimizer/scheduler state does not fit the "
                              f"objects given: {type(exc).__name__}: {exc}") from exc


def load_checkpoint(
    path: str | os.PathLike, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None, loader: Any = None, map_location: Any = "cpu", strict: bool = True,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model`` (and optimizer, scheduler).

    Reads with ``torch.load(weights_only=True)``. Restores the RNG states (and
    ``loader``'s shuffling generator) when ``restore_rng``. Returns the
    checkpoint dict: ``epoch``, ``history`` (plain dict), ``loss`` and the
    extra values. Raises :class:`CheckpointError` naming the file for a missing,
    truncated/corrupt or unsafe file, missing keys or another architecture.
    """
    path = Path(path)
    ckpt = _read(path, map_location)
    _check_keys(ckpt, path, optimizer, scheduler)
    target = _unwrap(model)
    _check_architecture(target, ckpt["model_state"], path, strict)
    if optimizer is not None:
        _check_optimizer(optimizer, ckpt["optimizer_state"], path)
    _load_states(ckpt, path, target, optimizer, scheduler, strict)
    if restore_rng:
        _restore_rng(ckpt.get("rng_state") or {}, loader, path)
    return ckpt
