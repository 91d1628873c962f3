"""Checkpoints that survive interruption (lesson 07, *7 · Resuming after a crash*: written by hand
in *A checkpoint by hand*, then used through ``engine.fit(resume=True)``).

:func:`save_checkpoint` gathers what resuming needs from the objects that own it, each through
its ``state_dict()``: model, optimizer, scheduler, grad scaler, the loader (a ``DeviceLoader``'s
epoch and augmentation, or a torch ``DataLoader``'s shuffling generator), the history and every
global random-number generator. It adds a checksum and writes atomically
(:func:`course_utils.files.write_atomically`): a crash mid-save leaves the previous one whole.

:func:`load_checkpoint` reads with ``torch.load(weights_only=True)`` (tensors and plain Python
values only: unpickling anything else can run arbitrary code), verifies the checksum, checks the
model's architecture and the optimizer's and scheduler's types before anything changes, then
loads. Every failure is a :class:`CheckpointError` that names the file, what is wrong and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import warnings
from collections.abc import Mapping
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from .files import write_atomically

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "read_checkpoint", "FORMAT_VERSION"]

FORMAT_VERSION = 2


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded; the message names the file and the reason."""


# ---------------------------------------------------------------- plain values and the checksum
def plain(value: Any, where: str) -> Any:
    """``value`` as tensors and plain Python values, the types ``weights_only`` loads (else TypeError)."""
    if value is None or isinstance(value, (torch.Tensor, bool, torch.dtype, torch.device)):
        return value
    if isinstance(value, np.generic):  # np.float32(0.5) -> 0.5
        return value.item()
    for base in (int, float, complex, str, bytes):  # IntEnum, TorchVersion ...: their plain base
        if isinstance(value, base):
            return base(value)
    if isinstance(value, Mapping):
        return {plain(k, where): plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"cannot store {where} (a {type(value).__module__}.{type(value).__qualname__}) in a "
        "checkpoint: only tensors and plain Python values (numbers, strings, lists, tuples, "
        "dicts) load with torch.load(weights_only=True)"
    )


def _feed(h: Any, value: Any) -> None:
    """Hash ``value`` (nested), types and order included; a change here breaks every saved checksum."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        t = t.to_dense() if t.layout != torch.strided else t
        h.update(f"T{t.dtype}{tuple(t.shape)}|".encode())
        h.update(t.contiguous().reshape(-1).view(torch.uint8).numpy())
    elif isinstance(value, Mapping):
        h.update(b"{")
        for key, item in value.items():
            _feed(h, key)
            _feed(h, item)
        h.update(b"}")
    elif isinstance(value, (list, tuple)):
        h.update(b"(" if isinstance(value, tuple) else b"[")
        for item in value:
            _feed(h, item)
        h.update(b")")
    else:
        h.update(f"{type(value).__name__}:{value!r};".encode())


def digest(payload: Mapping[str, Any]) -> str:
    """SHA-256 of every key and value of ``payload`` but the checksum (torch checks no zip CRC)."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "checksum"})
    return "sha256:" + h.hexdigest()


# ---------------------------------------------------------------- loaders and random-number generators
def _data_loader(loader: Any) -> Any:
    """``loader``, or the DataLoader that a stateless wrapper (``EpochLoader``) keeps in ``.loader``."""
    if isinstance(loader, DataLoader) or hasattr(loader, "state_dict"):
        return loader
    return getattr(loader, "loader", loader)


def _loader_state(loader: Any) -> dict[str, Any] | None:
    """The loader's own ``state_dict()``, or a DataLoader's generators, global batch and length."""
    loader = _data_loader(loader)
    if callable(getattr(loader, "state_dict", None)):  # DeviceLoader, torchdata's StatefulDataLoader
        return loader.state_dict()
    if not isinstance(loader, DataLoader):
        return None  # e.g. a list of batches: nothing random to restore
    samples = len(loader.dataset) if hasattr(loader.dataset, "__len__") else None  # IterableDataset: None
    replicas = getattr(loader.sampler, "num_replicas", 1)  # DistributedSampler: the global batch
    state = {"batch_size": (loader.batch_size or 0) * replicas or None, "samples": samples}
    if loader.generator is not None:  # the shuffled order and the workers' seeds
        state["generator"] = loader.generator.get_state()
    return state


def _load_loader_state(loader: Any, state: Mapping[str, Any]) -> None:
    loader = _data_loader(loader)
    if callable(getattr(loader, "load_state_dict", None)):
        loader.load_state_dict(state)
    elif isinstance(loader, DataLoader) and loader.generator is not None and "generator" in state:
        loader.generator.set_state(state["generator"].cpu())


def _capture_rng() -> dict[str, Any]:
    """Every global RNG state, as tensors and plain values (``weights_only``-loadable)."""
    version, internal, gauss_next = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": (version, torch.tensor(internal, dtype=torch.int64), gauss_next),
        "numpy": (name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _checked_rng(state: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The saved RNG states as each library takes them, tried on throwaway generators first."""
    try:
        version, internal, gauss_next = state["python"]
        name, keys, *rest = state["numpy"]
        values = {
            "python": (version, tuple(internal.tolist()), gauss_next),
            "numpy": (name, keys.cpu().numpy().astype(np.uint32), *rest),
            "torch": state["torch"].cpu(),
            "cuda": [s.cpu() for s in state.get("cuda", [])],  # saved without CUDA before 12-03
        }
        random.Random().setstate(values["python"])
        np.random.RandomState().set_state(values["numpy"])
        torch.Generator().set_state(values["torch"])
    except Exception as exc:  # TypeError, ValueError, RuntimeError ... from damaged values
        raise CheckpointError(
            f"{path}: the saved random-number states ('rng_state') are damaged "
            f"({type(exc).__name__}: {exc}); nothing was loaded. Load it with "
            "restore_rng=False to get the weights without them"
        ) from exc
    return values


def _restore_rng(values: Mapping[str, Any]) -> None:
    random.setstate(values["python"])
    np.random.set_state(values["numpy"])
    torch.set_rng_state(values["torch"])
    for index, s in enumerate(values["cuda"][: torch.cuda.device_count()]):
        torch.cuda.set_rng_state(s, index)


# ---------------------------------------------------------------- saving
def _unwrap(model: nn.Module) -> nn.Module:
    """The module that owns the weights (no ``torch.compile`` / DataParallel / DDP wrapper)."""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)) or hasattr(
        model, "_orig_mod"
    ):
        model = model._orig_mod if hasattr(model, "_orig_mod") else model.module
    return model


def _param_names(model: nn.Module, optimizer: Any) -> list | None:
    """Per parameter group, the ``[name, shape]`` of each parameter the optimizer holds."""
    if optimizer is None:
        return None
    names = {id(p): name for name, p in model.named_parameters()}
    return [[[names.get(id(p), "?"), list(p.shape)] for p in g["params"]] for g in optimizer.param_groups]


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
    """Save what resuming after ``epoch`` needs (the module docstring lists it) atomically; returns the path.

    ``extra`` values are stored too (``loss`` defaults to the last train loss); a value
    ``weights_only`` cannot load is a ``TypeError`` before a byte is written.
    """
    if callable(getattr(history, "state_dict", None)):  # a History
        history = history.state_dict()
    if history is not None and not isinstance(history, Mapping):
        raise TypeError(f"history must be a History or a dict, not {type(history).__name__}")
    hist, target = plain(history, "history"), _unwrap(model)
    extras = {key: plain(value, key) for key, value in extra.items()}
    if "loss" not in extras and hist and hist.get("train_loss"):
        extras["loss"] = float(hist["train_loss"][-1])
    parts = {"model": target, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler}
    payload = {
        "format_version": FORMAT_VERSION,
        "torch_version": str(torch.__version__),
        "epoch": int(epoch),
        **{f"{name}_state": obj.state_dict() if obj is not None else None for name, obj in parts.items()},
        "optimizer_params": _param_names(target, optimizer),
        "loader_state": plain(_loader_state(loader), "loader_state"),
        "classes": {name: type(obj).__name__ for name, obj in parts.items() if obj is not None},
        "history": hist,
        "rng_state": _capture_rng(),
    }
    clash = sorted(set(extras) & {*payload, "checksum"})
    if clash:
        raise ValueError(f"extra keys {clash} are reserved by the checkpoint format")
    payload |= extras
    payload["checksum"] = digest(payload)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_atomically(path, buffer.getvalue())


# ---------------------------------------------------------------- reading and checking
def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint dict at ``path``, read with ``weights_only=True``, its format and checksum verified."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint file not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)  # load_state_dict moves it
    except PermissionError:
        raise  # its message names the file; the file may be fine
    except Exception as exc:  # UnpicklingError, RuntimeError, EOFError ... from bad bytes
        culprits = []
        with contextlib.suppress(Exception):  # not a zip archive: no globals to name
            culprits = torch.serialization.get_unsafe_globals_in_checkpoint(path)
        if culprits:  # torch's own message would suggest weights_only=False: ours does not
            raise CheckpointError(
                f"refused to load {path}: it holds code or objects that are not allowed in a "
                f"checkpoint ({', '.join(culprits)}). Unpickling them could run arbitrary code on "
                "your machine; ask whoever made it for a checkpoint saved with save_checkpoint"
            ) from exc
        raise CheckpointError(
            f"{path} is not a valid checkpoint (truncated or corrupt, or not written by torch.save)"
        ) from exc
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        holds = f"keys {sorted(map(str, ckpt))}" if isinstance(ckpt, dict) else f"a {type(ckpt).__name__}"
        raise CheckpointError(
            f"{path} is not a checkpoint saved by save_checkpoint (a dict of 'format_version', "
            f"'epoch', 'model_state' ...): it holds {holds}"
        )
    if ckpt["format_version"] != FORMAT_VERSION:  # no other format was ever released: a newer one
        raise CheckpointError(
            f"{path} is in checkpoint format {ckpt['format_version']!r}; this course_utils reads format "
            f"{FORMAT_VERSION}: update course_utils to load it"
        )
    if ckpt.get("checksum") != digest(ckpt):
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the checksum stored when it was saved "
            "(bytes changed on disk or while copying, or the dict was edited and saved with "
            "torch.save). Use an earlier copy or train again; to change a checkpoint, load it "
            "into the objects and save them with save_checkpoint"
        )
    return ckpt


def _listing(title: str, items: list[str], shown: int = 12) -> str:
    more = f" ... (+{len(items) - shown} more)" if len(items) > shown else ""
    return f"\n  {title} ({len(items)}): {', '.join(items[:shown])}{more}" if items else ""


def _check_architecture(model: nn.Module, ckpt: Mapping, path: Path, strict: bool) -> None:
    """Compare keys and shapes before ``load_state_dict``, for an error that lists them."""
    state, own = ckpt["model_state"], model.state_dict()
    missing = [k for k in own if k not in state] if strict else []
    unexpected = [k for k in state if k not in own] if strict else []
    mismatched = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if isinstance(state.get(k), torch.Tensor) and state[k].shape != own[k].shape
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{path} does not fit this {type(model).__name__}: it was saved from a "
            f"{ckpt['classes']['model']} (or with different layer sizes)."
            + _listing("missing keys (in the model, not in the checkpoint)", missing)
            + _listing("unexpected keys (in the checkpoint, not in the model)", unexpected)
            + _listing("size mismatches", mismatched)
        )


def _check_part(kind: str, obj: Any, ckpt: Mapping, path: Path) -> None:
    """The optimizer or scheduler was saved, and from an object of the same type."""
    saved, other = ckpt[f"{kind}_state"], ckpt["classes"].get(kind)
    if saved is None:
        raise CheckpointError(
            f"{path} has no {kind} state to load (it was saved without {kind}=); pass {kind}=None to skip it"
        )
    if other != type(obj).__name__:
        raise CheckpointError(
            f"{path} holds the {kind} state of {other}, but the {kind} given is {type(obj).__name__}: "
            f"build the same kind of {kind} as the run that saved it, or start a new run (another path)"
        )


def _check_optimizer(optimizer: Any, model: nn.Module, ckpt: Mapping, path: Path) -> None:
    """Same type, and the same parameters (by name and shape) in every slot of every group."""
    _check_part("optimizer", optimizer, ckpt, path)
    saved, own = ckpt["optimizer_params"], _param_names(model, optimizer)
    for g, (theirs, mine) in enumerate(zip_longest(saved, own, fillvalue=[])):
        for slot, (a, b) in enumerate(zip_longest(theirs, mine, fillvalue=["nothing", []])):
            if list(a[1]) != list(b[1]) or "?" not in (a[0], b[0]) and a[0] != b[0]:
                raise CheckpointError(
                    f"{path}: the optimizer holds other parameters, or the same ones in another order, "
                    f"than the one saved: slot {slot} of group {g} is {a[0]} {tuple(a[1])} in the "
                    f"checkpoint but {b[0]} {tuple(b[1])} here, so momentum and running averages "
                    "would land on the wrong weights. Build the optimizer from model.parameters() "
                    "(same order) as the run that saved it did"
                )


def _warn_differences(ckpt: Mapping, path: Path, optimizer: Any, loader: Any) -> None:
    """Warn about what loads but differs: the learning rate, the batch size, the dataset length."""
    saved_groups = (ckpt["optimizer_state"] or {}).get("param_groups", [])
    for own, saved in zip(optimizer.param_groups if optimizer else [], saved_groups, strict=False):
        asked, stored = (g.get("initial_lr", g.get("lr")) for g in (own, saved))
        if asked != stored:
            warnings.warn(
                f"{path}: the learning rate saved in the checkpoint ({stored}) replaces the {asked} "
                f"this optimizer was built with; to train with {asked}, start a new run "
                "(another checkpoint path, or overwrite=True)",
                stacklevel=3,
            )
            break
    then_state, now_state = ckpt["loader_state"] or {}, _loader_state(loader) or {}
    for key, what in (("batch_size", "batch size"), ("samples", "dataset length")):
        then, now = then_state.get(key), now_state.get(key)
        if None not in (then, now) and then != now:
            warnings.warn(
                f"{path} was trained with a {what} of {then}, this loader has {now}: the resumed "
                "run continues with the new one, so it will not repeat an uninterrupted run",
                stacklevel=3,
            )


# ---------------------------------------------------------------- loading
def load_checkpoint(
    path: str | os.PathLike,
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    loader: Any = None,
    scaler: Any = None,
    strict: bool = True,
    restore_rng: bool = True,
) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into the objects given, all checked first; returns its dict.

    A learning rate, batch size or dataset length that differs from the saved one is a warning.
    """
    path, target = Path(path), _unwrap(model)
    ckpt = read_checkpoint(path)
    _check_architecture(target, ckpt, path, strict)
    if optimizer is not None:
        _check_optimizer(optimizer, target, ckpt, path)
    if scheduler is not None:
        _check_part("scheduler", scheduler, ckpt, path)
    rng = _checked_rng(ckpt["rng_state"], path) if restore_rng else None
    _warn_differences(ckpt, path, optimizer, loader)
    try:
        for name, obj in (("optimizer", optimizer), ("scheduler", scheduler), ("scaler", scaler)):
            if obj is not None and ckpt[f"{name}_state"]:  # a disabled GradScaler saved {}
                obj.load_state_dict(ckpt[f"{name}_state"])
        if ckpt["loader_state"] is not None:
            _load_loader_state(loader, ckpt["loader_state"])  # no loader: nothing happens
    except (ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path}: a saved state does not fit the objects given ({type(exc).__name__}: {exc}); "
            "build them as the run that saved it did"
        ) from exc
    target.load_state_dict(ckpt["model_state"], strict=strict)
    if rng is not None:
        _restore_rng(rng)
    return ckpt
