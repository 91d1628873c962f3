"""Transform pipelines built from parameters, and the one description of the sources' augmentation.

:class:`AugmentSpec` is the single home of the sources' augmentation
(``RandomHorizontalFlip``, ``RandomRotation(10)``, ``RandomAffine(0, shear=10,
scale=(0.8, 1.2))``, ``ColorJitter(0.2, 0.2, 0.2)``): it builds the PIL
pipeline (:meth:`AugmentSpec.transforms`), drives ``data.BatchAugment``
(:meth:`AugmentSpec.ranges`) and binds the sliders of ``widgets.AugmentationExplorer``.
:func:`pipeline` assembles a whole transform from parameters, as torchvision's
``references/classification/presets.py`` does, and :func:`preset` names the
sources' pipelines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # torchvision is imported when a pipeline is built
    from torch import nn

#: ``Normalize(HALF, HALF)`` maps ToTensor's [0, 1] to [-1, 1]: the sources' normalisation.
HALF = (0.5, 0.5, 0.5)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

Range = tuple[float, float]
Strength = float | Range | None


def channel_stats(
    values: Sequence[float] | np.ndarray | torch.Tensor | None,
    channels: int,
    *,
    name: str = "mean",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Per-channel ``values`` as a float32 ``(1, C, 1, 1)`` tensor; None means :data:`HALF`.

    One value, or equal values, serve any number of channels; other lengths that differ
    from ``channels`` raise ValueError naming ``name``.
    """
    if values is None:
        values = HALF[:1]
    if torch.is_tensor(values):
        values = values.detach().cpu().tolist()
    vals = [float(v) for v in np.atleast_1d(np.asarray(values, dtype=np.float64))]
    if len(vals) != channels:
        if len(set(vals)) != 1:
            raise ValueError(f"{name} has {len(vals)} values for {channels}-channel images")
        vals = vals[:1] * channels
    return torch.tensor(vals, dtype=torch.float32, device=device).view(1, channels, 1, 1)


def spread(value: Strength | bool, name: str, *, centre: float) -> Range | None:
    """A strength as the range it draws from: ``d`` -> ``(centre - d, centre + d)``.

    ``centre`` 0 serves angles (``RandomRotation(d)``), 1 serves jitter factors
    (``ColorJitter(b)``: ``(max(0, 1 - b), 1 + b)``). A pair is kept; ``None``, ``0``
    or the pair ``(centre, centre)`` mean off and give None.
    """
    if value is None:
        return None
    if isinstance(value, (int, float, np.number)):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        return (
            None
            if value == 0
            else (max(0.0, centre - float(value)) if centre else -float(value), centre + float(value))
        )
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name} needs min <= max, got ({lo}, {hi})")
    return None if lo == hi == centre else (lo, hi)


def half_width(value: Strength, name: str, *, centre: float) -> float:
    """The strength ``d`` of a symmetric range ``(centre - d, centre + d)`` (0 for off)."""
    bounds = spread(value, name, centre=centre)
    if bounds is None:
        return 0.0
    if centre == 0.0 and bounds[0] != -bounds[1]:
        raise ValueError(f"{name} must be symmetric (-d, d) here; got {bounds}")
    return round(bounds[1] - centre, 6)  # (0.6, 1.4) -> 0.4, not 0.3999999999999999


@dataclass(frozen=True)
class AugmentSpec:
    """The sources' augmentation as data; the defaults are the sources' values.

    ``hflip``: flip probability. ``degrees``: rotation from U(-d, d). ``shear``: x-shear
    from U(-d, d) degrees. ``scale``: zoom from U(min, max). ``brightness`` /
    ``contrast`` / ``saturation``: jitter factors from U(1 - b, 1 + b). Angles and
    jitter strengths may also be given as ``(min, max)`` pairs. ``None`` or ``0``
    (``scale=(1, 1)``) switches a parameter off; the field then holds None.
    """

    hflip: float | None = 0.5
    degrees: Strength = 10.0
    shear: Strength = 10.0
    scale: Range | None = (0.8, 1.2)
    brightness: Strength = 0.2
    contrast: Strength = 0.2
    saturation: Strength = 0.2

    #: torchvision transform -> the fields it uses, in the pipeline's order
    GROUPS = {
        "RandomHorizontalFlip": ("hflip",),
        "RandomRotation": ("degrees",),
        "RandomAffine": ("shear", "scale"),
        "ColorJitter": ("brightness", "contrast", "saturation"),
    }
    #: the neutral value of each range field (0 degrees, factor 1)
    CENTRE = {
        "degrees": 0.0,
        "shear": 0.0,
        "scale": 1.0,
        "brightness": 1.0,
        "contrast": 1.0,
        "saturation": 1.0,
    }

    def __post_init__(self) -> None:
        hflip = 0.5 if self.hflip is True else float(self.hflip or 0.0)
        if not 0.0 <= hflip <= 1.0:
            raise ValueError(f"hflip is a probability in [0, 1], got {self.hflip}")
        object.__setattr__(self, "hflip", hflip or None)
        for name, centre in self.CENTRE.items():
            value = getattr(self, name)
            if name == "scale" and value is not None and isinstance(value, (int, float)):
                raise ValueError(f"scale is a (min, max) pair, got {value}")
            off = spread(value, name, centre=centre) is None
            clean = (
                None
                if off
                else float(value)
                if isinstance(value, (int, float, np.number))
                else tuple(float(v) for v in value)
            )
            object.__setattr__(self, name, clean)

    @classmethod
    def off(cls) -> AugmentSpec:
        """No augmentation at all."""
        return cls(**dict.fromkeys(STATE_KEYS))

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> AugmentSpec:
        """From a :meth:`state` or :meth:`ranges` dict; a missing key means off.

        Raises ValueError naming any key that is not one of :data:`STATE_KEYS`.
        """
        _check_keys(state)
        return cls(**{key: state.get(key) for key in STATE_KEYS})

    def replace(self, **changes: Any) -> AugmentSpec:
        """A copy with ``changes`` (field names of :data:`STATE_KEYS`)."""
        _check_keys(changes)
        return dataclasses.replace(self, **changes)

    def state(self) -> dict[str, Any]:
        """The fields as a plain (JSON-friendly) dict, None where off."""
        return {key: getattr(self, key) for key in STATE_KEYS}

    def range(self, name: str) -> Range | None:
        """What field ``name`` draws from, as a ``(min, max)`` pair (None: off)."""
        if name == "hflip":
            raise ValueError("hflip is a probability, not a range")
        return spread(getattr(self, name), name, centre=self.CENTRE[name])

    def ranges(self) -> dict[str, Any]:
        """``hflip`` as a probability (0.0 when off) and every other field as :meth:`range`."""
        return {"hflip": self.hflip or 0.0, **{k: self.range(k) for k in STATE_KEYS[1:]}}

    def enabled(self, transform: str) -> bool:
        """True when any field of ``transform`` (a key of :attr:`GROUPS`) is on."""
        return any(getattr(self, key) is not None for key in self.GROUPS[transform])

    def transforms(self) -> list[nn.Module]:
        """The torchvision (PIL or tensor) transforms of the fields that are on, in the sources' order."""
        from torchvision import transforms as T

        out: list[nn.Module] = []
        if self.hflip is not None:
            out.append(T.RandomHorizontalFlip(p=self.hflip))
        if self.degrees is not None:
            out.append(T.RandomRotation(self.degrees))
        if self.enabled("RandomAffine"):
            out.append(T.RandomAffine(0, shear=self.shear, scale=self.scale))
        if self.enabled("ColorJitter"):
            out.append(T.ColorJitter(**{k: getattr(self, k) or 0 for k in self.GROUPS["ColorJitter"]}))
        return out


STATE_KEYS = tuple(f.name for f in dataclasses.fields(AugmentSpec))


def _check_keys(keys: Any) -> None:
    """ValueError naming any key that is not an :class:`AugmentSpec` field."""
    unknown = sorted(set(keys) - set(STATE_KEYS))
    if unknown:
        raise ValueError(f"unknown state key(s) {unknown}; known: {', '.join(STATE_KEYS)}")


FLIP_ONLY = AugmentSpec(degrees=None, shear=None, scale=None, brightness=None, contrast=None, saturation=None)


def pipeline(
    *,
    resize: int | None = None,
    augment: AugmentSpec | None = None,
    mean: Sequence[float] | None = HALF,
    std: Sequence[float] = HALF,
) -> Callable:
    """``Resize``, the augmentation, ``ToTensor`` and ``Normalize(mean, std)``, each when given.

    ``resize`` makes images ``resize x resize``; ``mean=None`` leaves ToTensor's [0, 1].
    """
    from torchvision import transforms as T

    steps: list[Callable] = [T.Resize((resize, resize))] if resize else []
    steps += augment.transforms() if augment is not None else []
    steps.append(T.ToTensor())
    if mean is not None:
        steps.append(T.Normalize(mean, std))
    return T.Compose(steps)


def preset(name: str, *, image_size: int = 224) -> Callable:
    """The sources' transform pipelines by name (see :func:`pipeline` for building others).

    ``blitz``: ToTensor, Normalize(0.5). ``lenet``: Resize(32) first. ``lenet_augment``:
    plus :class:`AugmentSpec` ``()`` (flip, rotation 10, affine shear 10 / scale 0.8-1.2,
    colour jitter 0.2). ``mnist``: ToTensor only. ``resnet`` / ``resnet_augment``: resize
    to ``image_size``, ImageNet statistics (and a flip).
    """
    imagenet = {"mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    presets: dict[str, dict[str, Any]] = {
        "blitz": {},
        "lenet": {"resize": 32},
        "lenet_augment": {"resize": 32, "augment": AugmentSpec()},
        "mnist": {"mean": None},
        "resnet": {"resize": image_size, **imagenet},
        "resnet_augment": {"resize": image_size, "augment": FLIP_ONLY, **imagenet},
    }
    if name not in presets:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(presets)}")
    return pipeline(**presets[name])
