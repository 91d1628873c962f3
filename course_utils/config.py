"""Run profiles: one notebook, three sizes of run.

Every lesson starts with ``cfg = setup(epochs=..., batch_size=..., seed=0)``
using the source tutorial's hyper-parameters. The profile (environment
variable ``COURSE_PROFILE``) then scales them:

* ``smoke``: a CI check; 1 epoch on a few thousand samples.
* ``quick``: a CPU learner; at most 3 epochs on the full data.
* ``full``: the values as given (the default when a GPU is present).

``setup`` seeds every random number generator, picks the device and prints
one banner line saying what it changed.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

PROFILES = ("smoke", "quick", "full")
SMOKE_TRAIN_SAMPLES = 2000
SMOKE_TEST_SAMPLES = 500
QUICK_MAX_EPOCHS = 3
SMALL_IMAGE_SIZE = 64
SMOKE_LOG_DIVISOR = 20  # the blitz logs every 2,000 of 12,500 batches; smoke has 500 to 1,250


@dataclass(frozen=True)
class RunConfig:
    """The settings a lesson runs with, after its profile scaled them.

    Hyper-parameters are attributes too: ``cfg.epochs``, ``cfg.batch_size``.
    """

    profile: str
    device: torch.device
    seed: int
    params: dict[str, Any]
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    train_samples: int | None = None
    test_samples: int | None = None
    data_sources: dict[str, str] = field(default_factory=dict)
    # DataLoader worker processes for the lesson's PIL pipelines (0: load in the main process).
    num_workers: int = 0

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("params", {})
        if name in params:
            return params[name]
        raise AttributeError(
            f"RunConfig has no setting {name!r}; pass it to setup(), e.g. setup({name}=...)"
        )

    def banner(self) -> str:
        """One line: device, profile, data sources and every changed value."""
        parts = [f"device {self.device.type}", f"profile {self.profile}"]
        parts += [f"data {name}: {src}" for name, src in self.data_sources.items()]
        changed = [f"{k} {old}->{new}" for k, (old, new) in self.changes.items()]
        if self.train_samples is not None:
            changed.append(f"train samples ->{self.train_samples}")
        if self.test_samples is not None:
            changed.append(f"test samples ->{self.test_samples}")
        parts.append("changed: " + (", ".join(changed) if changed else "nothing"))
        return "[course] " + " | ".join(parts)


def default_profile() -> str:
    """``full`` when CUDA or Apple MPS is present, otherwise ``quick``."""
    return "full" if pick_device().type in ("cuda", "mps") else "quick"


def resolve_profile(name: str | None = None) -> str:
    """The profile to use: ``name``, else ``$COURSE_PROFILE``, else the default."""
    name = name or os.environ.get("COURSE_PROFILE", "").strip() or default_profile()
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r} (from COURSE_PROFILE); valid profiles: {', '.join(PROFILES)}"
        )
    return name


def pick_device() -> torch.device:
    """CUDA if available, else Apple MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def scale_params(values: dict[str, Any], profile: str) -> dict[str, Any]:
    """Return the hyper-parameters as ``profile`` scales them."""
    out = dict(values)
    if profile == "smoke":
        if "epochs" in out:
            out["epochs"] = 1
        if out.get("log_every"):
            out["log_every"] = max(1, int(out["log_every"]) // SMOKE_LOG_DIVISOR)
    if profile == "quick" and "epochs" in out:
        out["epochs"] = min(int(out["epochs"]), QUICK_MAX_EPOCHS)
    if profile in ("smoke", "quick") and "image_size" in out:
        out["image_size"] = min(int(out["image_size"]), SMALL_IMAGE_SIZE)
    return out


def _validate(values: dict[str, Any]) -> None:
    for key in ("epochs", "batch_size", "image_size", "log_every", "train_samples", "test_samples"):
        value = values.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    lr = values.get("lr")
    if lr is not None and (not isinstance(lr, (int, float)) or lr < 0):
        raise ValueError(f"lr must be a non-negative number, got {lr!r}")


SMOKE_OVERRIDES = ("epochs", "train_samples", "test_samples")


def _smoke_sizes(params: dict[str, Any], smoke: dict[str, Any] | None) -> tuple[int, int]:
    """Apply a lesson's ``smoke`` overrides to ``params``; return (train, test) samples."""
    smoke = dict(smoke or {})
    unknown = sorted(set(smoke) - set(SMOKE_OVERRIDES))
    if unknown:
        raise ValueError(f"smoke= takes {', '.join(SMOKE_OVERRIDES)}; got {', '.join(unknown)}")
    _validate(smoke)
    if "epochs" in smoke and "epochs" in params:
        params["epochs"] = smoke["epochs"]
    return (int(smoke.get("train_samples", SMOKE_TRAIN_SAMPLES)),
            int(smoke.get("test_samples", SMOKE_TEST_SAMPLES)))


def setup(
    *, data: str | tuple[str, ...] = (), profile: str | None = None,
    seed: int = 0, verbose: bool = True, smoke: dict[str, Any] | None = None, **values: Any,
) -> RunConfig:
    """Scale a lesson's hyper-parameters to the active profile and seed everything.

    ``data`` names the datasets the lesson uses ("cifar10", "mnist"), so the
    banner can say where they will come from. ``smoke`` replaces the smoke
    profile's ``epochs``, ``train_samples`` or ``test_samples`` for a lesson
    that learns nothing measurable with the defaults. Prints one banner line.
    """
    _validate(values)
    name = resolve_profile(profile)
    params = scale_params(values, name)
    small = name == "smoke"
    train_samples, test_samples = _smoke_sizes(params, smoke) if small else (None, None)
    changes = {k: (values[k], params[k]) for k in values if params[k] != values[k]}
    from . import data as data_module  # local import: data imports nothing from here

    names = (data,) if isinstance(data, str) else tuple(data)
    cfg = RunConfig(
        profile=name, device=pick_device(), seed=seed, params={**params, "seed": seed},
        changes=changes,
        train_samples=train_samples, test_samples=test_samples,
        data_sources={n: data_module.describe_source(n) for n in names},
    )
    seed_everything(seed)
    from . import viz  # local import: matplotlib only when a lesson starts

    viz.register_inline_png()
    if verbose:
        print(cfg.banner())
    return cfg
