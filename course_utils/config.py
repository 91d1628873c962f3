"""Run profiles: one notebook, three sizes of run (taught in lesson 00, *Run profiles*).

Every lesson starts with ``cfg = setup(epochs=..., batch_size=..., seed=0)``
using the source tutorial's hyper-parameters. The profile (environment
variable ``COURSE_PROFILE``) then scales them:

* ``smoke``: a CI check; 1 epoch on a few thousand samples.
* ``quick``: a CPU learner; at most 3 epochs on the full data.
* ``full``: the values as given (the default when a GPU is present). On CUDA the
  lessons' PIL pipelines also get DataLoader worker processes (``num_workers``),
  so the machine's CPU cores keep the GPU busy.

``setup`` returns a :class:`RunConfig`, a frozen dataclass whose fields an editor
completes (``cfg.lr``, ``cfg.device``). It runs five visible steps, each a function
here: :func:`validate` the settings, :func:`scale_params` to the profile,
:func:`seed_everything`, :func:`describe_data` (where each dataset will come from)
and print :meth:`RunConfig.banner`. A misspelt setting (``setup(mom=0.5)``) is a
TypeError that names the setting meant.
"""

from __future__ import annotations

import dataclasses
import difflib
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


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The hyper-parameters a lesson may pass to :func:`setup`; None: the lesson does not use it."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    step_size: int | None = None  # StepLR
    gamma: float | None = None  # StepLR
    log_every: int | None = None
    image_size: int | None = None
    dropout: float | None = None
    label_smoothing: float | None = None

    def given(self) -> dict[str, Any]:
        """The settings the lesson passed, by name."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True, kw_only=True)
class RunConfig(Settings):
    """The settings a lesson runs with, after its profile scaled them (what :func:`setup` returns).

    ``changes`` maps each setting the profile changed to ``(asked, used)``;
    ``train_samples`` / ``test_samples`` are the smoke profile's data sizes (None:
    all the data); ``num_workers`` the DataLoader worker processes for the lesson's
    PIL pipelines (0: load in the main process).
    """

    profile: str
    device: torch.device
    seed: int
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    train_samples: int | None = None
    test_samples: int | None = None
    data_sources: dict[str, str] = field(default_factory=dict)
    num_workers: int = 0

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


SETTINGS = tuple(f.name for f in dataclasses.fields(Settings))


def default_profile() -> str:
    """``full`` when an accelerator (a CUDA GPU, Apple's MPS...) is present, otherwise ``quick``."""
    return "full" if pick_device().type != "cpu" else "quick"


def resolve_profile(name: str | None = None) -> str:
    """The profile to use: ``name``, else ``$COURSE_PROFILE``, else the default."""
    name = name or os.environ.get("COURSE_PROFILE", "").strip() or default_profile()
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r} (from COURSE_PROFILE); valid profiles: {', '.join(PROFILES)}"
        )
    return name


def pick_device() -> torch.device:
    """The accelerator this torch was built for, when one is present (CUDA, MPS, XPU...), else the CPU.

    Taught in lesson 00, *Device*.
    """
    if torch.accelerator.is_available():
        return torch.accelerator.current_accelerator()
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators.

    Taught in lesson 05, *One epoch by hand: the sources' loop, fixed*: the same seed gives
    the same initial weights.
    """
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


def validate(values: dict[str, Any]) -> dict[str, Any]:
    """Check settings by meaning; return them with NumPy scalars made Python numbers."""
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
    smoke = validate(smoke)
    if "epochs" in smoke and "epochs" in params:
        params["epochs"] = smoke["epochs"]
    return (
        int(smoke.get("train_samples", SMOKE_TRAIN_SAMPLES)),
        int(smoke.get("test_samples", SMOKE_TEST_SAMPLES)),
    )


SETUP_KEYWORDS = (*SETTINGS, "seed", "data", "profile", "smoke", "verbose")


def _refuse_misspelt(names: dict[str, Any]) -> None:
    """A TypeError for the first keyword ``setup`` does not know, naming the closest one it does."""
    for name in names:
        close = [k for k in SETUP_KEYWORDS if k.startswith(name[:3])]
        close = close or difflib.get_close_matches(name, SETUP_KEYWORDS, n=1, cutoff=0.5)
        meant = f"; did you mean {close[0]}=?" if close else "."
        raise TypeError(f"setup() has no setting {name!r}{meant} It takes {', '.join(SETUP_KEYWORDS)}")


def describe_data(names: str | tuple[str, ...]) -> dict[str, str]:
    """Where each named dataset ("cifar10", "mnist") will come from, for the banner."""
    from . import data  # here, not at the top: data's sources probe the network only when asked

    return {name: data.describe_source(name) for name in ((names,) if isinstance(names, str) else names)}


def setup(
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    momentum: float | None = None,
    weight_decay: float | None = None,
    step_size: int | None = None,
    gamma: float | None = None,
    log_every: int | None = None,
    image_size: int | None = None,
    dropout: float | None = None,
    label_smoothing: float | None = None,
    seed: int = 0,
    data: str | tuple[str, ...] = (),
    profile: str | None = None,
    smoke: dict[str, Any] | None = None,
    verbose: bool = True,
    **misspelt: Any,
) -> RunConfig:
    """A lesson's settings, scaled to the active profile, with every generator seeded.

    Taught in lesson 00, *Run profiles*; every lesson's first cells call it. ``data``
    names the datasets the lesson uses ("cifar10", "mnist"), so the banner can say
    where they will come from. ``smoke`` replaces the smoke profile's ``epochs``,
    ``train_samples`` or ``test_samples`` for a lesson that learns nothing measurable
    with the defaults. Prints one banner line (not with ``verbose=False``).
    """
    _refuse_misspelt(misspelt)
    given = dict(
        epochs=epochs, batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
        step_size=step_size, gamma=gamma, log_every=log_every, image_size=image_size, dropout=dropout,
        label_smoothing=label_smoothing,
    )  # fmt: skip
    asked = validate({k: v for k, v in given.items() if v is not None})
    seed, name = _check_seed(seed), resolve_profile(profile)
    used = scale_params(asked, name)
    train_samples, test_samples = _smoke_sizes(used, smoke) if name == "smoke" else (None, None)
    device = pick_device()
    cfg = RunConfig(
        **used,
        profile=name,
        device=device,
        seed=seed,
        changes={k: (asked[k], used[k]) for k in asked if used[k] != asked[k]},
        train_samples=train_samples,
        test_samples=test_samples,
        data_sources=describe_data(data),
        num_workers=full_profile_workers(device) if name == "full" else 0,
    )
    seed_everything(seed)
    _show_figures_as_png()
    if verbose:
        print(cfg.banner())
    return cfg


def _show_figures_as_png() -> None:
    """Let a notebook show the course's matplotlib Figures as PNG images (viz.register_inline_png)."""
    from . import viz  # here, not at the top: matplotlib only when a lesson starts

    viz.register_inline_png()
