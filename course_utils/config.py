"""Run profiles: one notebook, three sizes of run.

Every lesson starts with ``cfg = setup(epochs=..., batch_size=..., seed=0)``
using the source tutorial's hyper-parameters. The profile (environment
variable ``COURSE_PROFILE``) then scales them:

* ``smoke``: a CI check; 1 epoch on a few thousand samples.
* ``quick``: a CPU learner; at most 3 epochs on the full data.
* ``full``: the values as given (the default when a GPU is present). On CUDA the
  lessons' PIL pipelines also get DataLoader worker processes (``num_workers``),
  so the machine's CPU cores keep the GPU busy.

``setup`` seeds every random number generator, picks the device and prints
one banner line saying what it changed.
"""

from __future__ import annotations

import math
import numbers
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
# DataLoader workers for the full profile on CUDA: one per core, at most this many. Beyond
# about 8, workers for 32-px images only add start-up time and memory (a copy of the dataset each).
MAX_FULL_WORKERS = 8


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
        raise AttributeError(f"RunConfig has no setting {name!r}; pass it to setup(), e.g. setup({name}=...)")

    def banner(self) -> str:
        """One line: device, profile, data sources and every changed value."""
        parts = [f"device {self.device.type}", f"profile {self.profile}"]
        parts += [f"data {name}: {src}" for name, src in self.data_sources.items()]
        changed = [f"{k} {old}->{new}" for k, (old, new) in self.changes.items()]
        if self.train_samples is not None:
            changed.append(f"train samples ->{self.train_samples}")
        if self.test_samples is not None:
            changed.append(f"test samples ->{self.test_samples}")
        if self.num_workers:
            changed.append(f"num_workers 0->{self.num_workers} (CPU cores)")
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


POSITIVE_INTS = (
    "epochs",
    "batch_size",
    "image_size",
    "log_every",
    "train_samples",
    "test_samples",
    "step_size",
)
# name: (lowest, highest, lowest allowed, highest allowed): the range each value has a meaning in.
NUMBER_RANGES = {
    "lr": (0.0, math.inf, True, False),  # 0 freezes the weights (the floors' self-test uses it)
    "momentum": (0.0, 1.0, True, False),  # 1 or more never forgets an old gradient
    "weight_decay": (0.0, math.inf, True, False),
    "gamma": (0.0, 1.0, False, True),  # StepLR's factor: 0 stops learning, above 1 grows lr
    "dropout": (0.0, 1.0, True, False),
    "label_smoothing": (0.0, 1.0, True, True),
}


def _is_int(value: Any) -> bool:
    """True for Python and NumPy integers, False for bools and everything else."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_number(key: str, value: Any) -> float:
    """``value`` as a float, if it is a finite real number in ``key``'s range; else ValueError."""
    low, high, low_ok, high_ok = NUMBER_RANGES[key]
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{key} must be a number, got {value!r}")
    number = float(value)
    above = number >= low if low_ok else number > low
    below = number <= high if high_ok else number < high
    if not (math.isfinite(number) and above and below):
        interval = f"{'[' if low_ok else '('}{low:g}, {high:g}{']' if high_ok else ')'}"
        raise ValueError(f"{key} must be a finite number in {interval}, got {value!r}")
    return number


def _validate(values: dict[str, Any]) -> dict[str, Any]:
    """Check hyper-parameters by meaning; return them with NumPy scalars made Python numbers."""
    out = dict(values)
    for key in POSITIVE_INTS:
        value = values.get(key)
        if value is not None:
            if not _is_int(value) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
            out[key] = int(value)
    for key in NUMBER_RANGES:
        if values.get(key) is not None:
            number = _check_number(key, values[key])
            out[key] = values[key] if type(values[key]) in (int, float) else number
    return out


def _check_seed(seed: Any) -> int:
    """The seed as a Python int, if NumPy and torch can both use it; else ValueError."""
    if not _is_int(seed) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer from 0 to 2**32 - 1, got {seed!r}")
    return int(seed)


def full_profile_workers(device: torch.device) -> int:
    """DataLoader workers for the full profile: the CPU cores (at most 8) on CUDA, else 0.

    On a GPU the lessons' per-image PIL pipelines, not the model, would set the pace with
    ``num_workers=0``; on a CPU the workers would only compete with training for the cores.
    """
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, min(cores, MAX_FULL_WORKERS))


SMOKE_OVERRIDES = ("epochs", "train_samples", "test_samples")


def _smoke_sizes(params: dict[str, Any], smoke: dict[str, Any] | None) -> tuple[int, int]:
    """Apply a lesson's ``smoke`` overrides to ``params``; return (train, test) samples."""
    smoke = dict(smoke or {})
    unknown = sorted(set(smoke) - set(SMOKE_OVERRIDES))
    if unknown:
        raise ValueError(f"smoke= takes {', '.join(SMOKE_OVERRIDES)}; got {', '.join(unknown)}")
    smoke = _validate(smoke)
    if "epochs" in smoke and "epochs" in params:
        params["epochs"] = smoke["epochs"]
    return (
        int(smoke.get("train_samples", SMOKE_TRAIN_SAMPLES)),
        int(smoke.get("test_samples", SMOKE_TEST_SAMPLES)),
    )


def setup(
    *,
    data: str | tuple[str, ...] = (),
    profile: str | None = None,
    seed: int = 0,
    verbose: bool = True,
    smoke: dict[str, Any] | None = None,
    **values: Any,
) -> RunConfig:
    """Scale a lesson's hyper-parameters to the active profile and seed everything.

    ``data`` names the datasets the lesson uses ("cifar10", "mnist"), so the
    banner can say where they will come from. ``smoke`` replaces the smoke
    profile's ``epochs``, ``train_samples`` or ``test_samples`` for a lesson
    that learns nothing measurable with the defaults. Prints one banner line.
    """
    values, seed = _validate(values), _check_seed(seed)
    name = resolve_profile(profile)
    params = scale_params(values, name)
    small = name == "smoke"
    train_samples, test_samples = _smoke_sizes(params, smoke) if small else (None, None)
    changes = {k: (values[k], params[k]) for k in values if params[k] != values[k]}
    from . import data as data_module  # local import: data imports nothing from here

    names = (data,) if isinstance(data, str) else tuple(data)
    device = pick_device()
    cfg = RunConfig(
        profile=name,
        device=device,
        seed=seed,
        params={**params, "seed": seed},
        changes=changes,
        train_samples=train_samples,
        test_samples=test_samples,
        data_sources={n: data_module.describe_source(n) for n in names},
        num_workers=full_profile_workers(device) if name == "full" else 0,
    )
    seed_everything(seed)
    from . import viz  # local import: matplotlib only when a lesson starts

    viz.register_inline_png()
    if verbose:
        print(cfg.banner())
    return cfg
