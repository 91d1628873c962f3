"""What ``checkpoint.load_checkpoint`` checks before it loads anything, and the format's plain values.

Every check raises a :class:`~course_utils.checkpoint_file.CheckpointError`
that names the file, says what does not fit and what to do; differences that
still load (another batch size, a learning rate the checkpoint replaces) are
warnings. :func:`upgrade` reads checkpoints of every format version.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint_file import CheckpointError, digest
from .metrics import History

REQUIRED_KEYS = ("model_state", "epoch")
_MAX_LISTED = 12
_PLAIN_SCALARS = (bool, int, float, complex, str, bytes, torch.dtype, torch.device)
_GROUP_BOOKKEEPING = {"params", "param_names", "initial_lr", "lr"}  # not a sign of another type


# ---------------------------------------------------------------- plain values


def plain(value: Any, where: str) -> Any:
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
        return {plain(k, where): plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(
        f"cannot store {where} (a {type(value).__module__}.{type(value).__qualname__}) in a "
        "checkpoint: only tensors and plain Python values (numbers, strings, lists, tuples, "
        "dicts) load with torch.load(weights_only=True)"
    )


def history_dict(history: Any) -> dict | None:
    """History (a ``History``, dataclass or mapping) as a plain dict."""
    if history is None:
        return None
    if callable(getattr(history, "state_dict", None)):
        history = history.state_dict()
    elif dataclasses.is_dataclass(history) and not isinstance(history, type):
        history = dataclasses.asdict(history)
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a History or a dict, not {type(history).__name__}")
    return plain(history, "history")


def class_name(obj: Any) -> str | None:
    return None if obj is None else type(obj).__name__


def optimizer_params(model: nn.Module, optimizer: Any) -> list | None:
    """Per parameter group, the ``[name, shape]`` of each parameter the optimizer holds."""
    if optimizer is None:
        return None
    names = {id(p): name for name, p in model.named_parameters()}
    return [
        [[names.get(id(p), "?"), list(p.shape)] for p in group["params"]] for group in optimizer.param_groups
    ]


# ---------------------------------------------------------------- format


def upgrade(ckpt: Any, path: Path, version: int) -> dict[str, Any]:
    """``ckpt`` checked (format version, checksum, required keys) in today's layout."""
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            f"{path} is not a checkpoint saved by save_checkpoint: it holds "
            f"a {type(ckpt).__name__}, not a dict"
        )
    found = ckpt.get("format_version", 1)
    if isinstance(found, bool) or not isinstance(found, int) or found < 1:
        raise CheckpointError(f"{path}: 'format_version' must be a positive integer, got {found!r}")
    if found > version:
        raise CheckpointError(
            f"{path} was written by a newer course_utils (checkpoint format {found}; this one "
            f"reads formats 1 to {version}): update course_utils to load it"
        )
    if found >= 2 and ckpt.get("checksum") != digest(ckpt):
        raise CheckpointError(
            f"{path} is damaged: its contents do not match the checksum stored when it was "
            "saved (bytes changed on disk or while copying, or the dict was edited and saved "
            "with torch.save). Use an earlier copy of the checkpoint, or train again; to change "
            "a checkpoint, load it into the objects and save them with save_checkpoint"
        )
    missing = [key for key in REQUIRED_KEYS if key not in ckpt]
    if missing:
        raise CheckpointError(
            f"{path} is not a checkpoint saved by save_checkpoint: required "
            f"keys {missing} are missing (it has {sorted(map(str, ckpt))})"
        )
    if found == 1:  # the scaler was an extra and the loaders' generators sat in rng_state
        ckpt = dict(ckpt, format_version=1, scaler_state=ckpt.pop("scaler", None))
        rng = dict(ckpt.get("rng_state") or {})
        legacy = {
            new: rng.pop(old)
            for old, new in (
                ("loader", "generator"),
                ("sampler", "sampler_generator"),
                ("augment", "augment_generator"),
            )
            if old in rng
        }
        ckpt.update(rng_state=rng, loader_state=legacy or None)
    return ckpt


# ---------------------------------------------------------------- parts


def _listing(title: str, items: list[str]) -> str:
    """One message line listing at most ``_MAX_LISTED`` items."""
    shown = ", ".join(items[:_MAX_LISTED])
    more = f" ... (+{len(items) - _MAX_LISTED} more)" if len(items) > _MAX_LISTED else ""
    return f"\n  {title} ({len(items)}): {shown}{more}"


def _check_architecture(
    model: nn.Module, state: Any, path: Path, strict: bool, saved_class: str | None = None
) -> None:
    """Compare keys and shapes before ``load_state_dict``, for a readable error."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: 'model_state' is not a state_dict")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mismatched = [
        f"{k} (checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape
    ]
    if not mismatched and not (strict and (missing or unexpected)):
        return
    source = f"a {saved_class}" if saved_class else "a different architecture"
    message = (
        f"{path} does not fit this {type(model).__name__}: it was saved from "
        f"{source} (or with different layer sizes)."
    )
    if missing:
        message += _listing("missing keys (in the model, not in the checkpoint)", missing)
    if unexpected:
        message += _listing("unexpected keys (in the checkpoint, not in the model)", unexpected)
    if mismatched:
        message += _listing("size mismatches", mismatched)
    raise CheckpointError(message)


def _other_type(kind: str, saved_class: str | None, own: Any, extra_keys: set, path: Path) -> None:
    if not extra_keys and saved_class in (None, type(own).__name__):
        return
    saved = saved_class or "another type"
    detail = f" (the settings {sorted(extra_keys)} differ)" if extra_keys else ""
    raise CheckpointError(
        f"{path} holds the {kind} state of {saved}, but the {kind} given is "
        f"{type(own).__name__}{detail}: build the same kind of {kind} as the run that saved "
        "it, or start a new run (another checkpoint path)"
    )


def _state_shape(saved: Mapping, index: Any, param: torch.Tensor) -> list[int]:
    """The shape of slot ``index``'s first per-parameter tensor (momentum ...), else ``param``'s."""
    values = saved.get("state", {}).get(index, {})
    shapes = [list(t.shape) for t in values.values() if isinstance(t, torch.Tensor) and t.dim()]
    return shapes[0] if shapes else list(param.shape)


def _check_optimizer(optimizer: Any, model: nn.Module, ckpt: Mapping, path: Path) -> None:
    """Same type, group sizes, and parameter names and shapes slot by slot."""
    saved = ckpt.get("optimizer_state")
    if not isinstance(saved, Mapping) or not isinstance(saved.get("param_groups"), list):
        raise CheckpointError(
            f"{path} has no optimizer state to load (it was saved "
            "without optimizer=); pass optimizer=None to skip it"
        )
    groups = saved["param_groups"]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    saved_sizes = [len(group.get("params", ())) for group in groups]
    if sizes != saved_sizes:
        raise CheckpointError(
            f"{path}: the optimizer state does not fit this optimizer: "
            f"parameter groups of sizes {saved_sizes} in the checkpoint, "
            f"{sizes} in the optimizer"
        )
    keys = {k for g in groups for k in g} ^ {k for g in optimizer.param_groups for k in g}
    _other_type(
        "optimizer", (ckpt.get("classes") or {}).get("optimizer"), optimizer, keys - _GROUP_BOOKKEEPING, path
    )
    saved_params = ckpt.get("optimizer_params")
    if saved_params is None:  # format 1: only the shapes of the saved per-parameter state
        params = [p for g in optimizer.param_groups for p in g["params"]]
        index = [i for g in groups for i in g["params"]]
        own = [[["?", list(p.shape)] for p in params]]
        saved_params = [[["?", _state_shape(saved, i, p)] for i, p in zip(index, params, strict=False)]]
    else:
        own = optimizer_params(model, optimizer)
    for g, (theirs, mine) in enumerate(zip(saved_params, own, strict=False)):
        for slot, ((name_a, shape_a), (name_b, shape_b)) in enumerate(zip(theirs, mine, strict=False)):
            if list(shape_a) != list(shape_b) or "?" not in (name_a, name_b) and name_a != name_b:
                raise CheckpointError(
                    f"{path}: the optimizer holds other parameters, or the same ones in another "
                    f"order, than the one saved: slot {slot} of group {g} is {name_a} "
                    f"{tuple(shape_a)} in the checkpoint but {name_b} {tuple(shape_b)} here, so "
                    "momentum and running averages would land on the wrong weights. Build the "
                    "optimizer from model.parameters() (same order) as the run that saved it did"
                )


def check_parts(ckpt: dict, path: Path, objects: Mapping[str, Any], strict: bool) -> None:
    """Every check that must pass before any object is changed."""
    _check_architecture(
        objects["model"], ckpt["model_state"], path, strict, (ckpt.get("classes") or {}).get("model")
    )
    if objects["optimizer"] is not None:
        _check_optimizer(objects["optimizer"], objects["model"], ckpt, path)
    scheduler = objects["scheduler"]
    if scheduler is not None:
        saved = ckpt.get("scheduler_state")
        if not isinstance(saved, Mapping):
            raise CheckpointError(
                f"{path} has no scheduler state to load (it was saved "
                "without scheduler=); pass scheduler=None to skip it"
            )
        _other_type(
            "scheduler",
            (ckpt.get("classes") or {}).get("scheduler"),
            scheduler,
            set(saved) ^ set(scheduler.state_dict()),
            path,
        )
    try:
        History().load_state_dict(ckpt.get("history") or {})
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: the saved history is damaged ({exc})") from exc
    loader = objects["loader"]
    if ckpt["format_version"] == 1 and loader is not None and callable(getattr(loader, "state_dict", None)):
        warnings.warn(
            f"{path} predates checkpoint format 2, which stores a DeviceLoader's epoch: "
            "the resumed run's batches will differ from the interrupted run's",
            stacklevel=3,
        )
        ckpt["loader_state"] = None


def warn_differences(ckpt: Mapping, path: Path, optimizer: Any, loader_now: Mapping | None) -> None:
    """Warn about what loads but differs: the learning rate, the batch size, the dataset."""
    saved_groups = (ckpt.get("optimizer_state") or {}).get("param_groups", [])
    own_groups = optimizer.param_groups if optimizer is not None else []
    for own, saved in zip(own_groups, saved_groups, strict=False):
        asked, stored = (g.get("initial_lr", g.get("lr")) for g in (own, saved))
        if asked != stored:
            warnings.warn(
                f"{path}: the learning rate saved in the checkpoint ({stored}) replaces the "
                f"{asked} this optimizer was built with; to train with {asked}, start a new run "
                "(another checkpoint path, or overwrite=True)",
                stacklevel=3,
            )
            break
    saved_loader = ckpt.get("loader_state") or {}
    for key, what in (("batch_size", "batch size"), ("samples", "dataset length")):
        then, now = saved_loader.get(key), (loader_now or {}).get(key)
        if None not in (then, now) and then != now:
            warnings.warn(
                f"{path} was trained with a {what} of {then}, this loader has {now}: the "
                "resumed run continues with the new one, so it will not repeat an "
                "uninterrupted run",
                stacklevel=3,
            )
