"""Augment images on the device, a whole batch at a time: :class:`BatchAugment`.

The sources load every image through PIL, one at a time, in a ``DataLoader``.
For small images (MNIST, CIFAR-10) that per-image Python work costs more than
the network itself (lesson 08, *2. Keep the whole dataset on the device*).
:class:`~course_utils.data.device_loader.DeviceLoader` keeps the images on the
device; :class:`BatchAugment` applies the sources' PIL augmentations
(``RandomHorizontalFlip``, ``RandomRotation(10)``,
``RandomAffine(0, shear=10, scale=(0.8, 1.2))``, ``ColorJitter(0.2, 0.2, 0.2)``)
to a whole batch of float images in [0, 1], with a different random draw for
every image.

Taught in lesson 08, *The same kind of augmentation*; ``data.BatchAugment`` is this class.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .transforms import AugmentSpec, Range, Strength

__all__ = ["BatchAugment"]

SOURCES = AugmentSpec()  # the sources' augmentation: BatchAugment's defaults
GRAY_WEIGHTS = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale (ITU-R 601-2)


# ------------------------------------------------------------- parameters
def _uniform(n: int, bounds: Range | None, neutral: float, generator: torch.Generator | None) -> torch.Tensor:
    """``n`` draws from U(bounds), or ``neutral`` everywhere when ``bounds`` is None."""
    if bounds is None:
        return torch.full((n,), neutral)
    u = torch.rand(n, generator=generator, device=generator.device if generator else "cpu")
    return (bounds[0] + (bounds[1] - bounds[0]) * u).cpu()


# ---------------------------------------------------------- the operations
def affine_theta(params: Mapping[str, torch.Tensor], height: int, width: int) -> torch.Tensor:
    """Per-image ``(N, 2, 3)`` matrices for ``F.affine_grid`` (output -> input, align_corners=False).

    Rotation by ``angle`` (counter-clockwise, like ``RandomRotation``), then shear
    along x by ``shear`` degrees and scaling by ``scale`` (like ``RandomAffine``),
    all about the image centre; a flipped image (``flip``) is mirrored first.
    Follows torchvision's ``_get_inverse_affine_matrix``.
    """
    rot, sx = torch.deg2rad(params["angle"]), torch.deg2rad(params["shear"])
    cos, sin, tan, s = torch.cos(rot), torch.sin(rot), torch.tan(sx), params["scale"]
    # inverse rotation [[cos, -sin], [sin, cos]] times inverse shear/scale [[1, tan], [0, 1]] / s
    m00, m01 = cos / s, (cos * tan - sin) / s
    m10, m11 = sin / s, (sin * tan + cos) / s
    mirror = 1.0 - 2.0 * params["flip"].to(cos.dtype)  # flip first: negate the input x
    zero = torch.zeros_like(cos)
    theta = torch.stack(
        [
            torch.stack([mirror * m00, mirror * m01 * (height / width), zero], dim=1),
            torch.stack([m10 * (width / height), m11, zero], dim=1),
        ],
        dim=1,
    )
    return theta


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid(theta, (N, C, H, W), align_corners=False)`` without its batched matmul.

    Two multiply-adds per coordinate on broadcast pixel-centre coordinates; much
    cheaper on the CPU than the ``bmm`` with an inner size of 3.
    """
    xs = torch.linspace(-1 + 1 / width, 1 - 1 / width, width, device=theta.device, dtype=theta.dtype)
    ys = torch.linspace(-1 + 1 / height, 1 - 1 / height, height, device=theta.device, dtype=theta.dtype)
    t = theta.view(-1, 2, 3, 1, 1)
    xs, ys = xs.view(1, 1, 1, width), ys.view(1, 1, height, 1)
    grid = t[:, :, 0] * xs + t[:, :, 1] * ys + t[:, :, 2]  # (N, 2, H, W): input x, input y
    return grid.permute(0, 2, 3, 1)


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """``(N, 1, H, W)`` luma of RGB images (the image itself when it has one channel)."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(GRAY_WEIGHTS, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * weights).sum(dim=1, keepdim=True)


def color_jitter(x: torch.Tensor, factors: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """Brightness, contrast and saturation with per-image ``factors`` ``(N, 3)``, in per-image ``order``.

    As torchvision defines them on float images: each step is
    ``clamp(f * x + (1 - f) * target, 0, 1)`` with target 0 (brightness), the
    mean of the grayscale image (contrast) or the grayscale image (saturation).
    ``order[i]`` is a permutation of ``(0, 1, 2)``, as ColorJitter draws one per call.
    """
    n = x.shape[0]
    for slot in range(3):
        op = order[:, slot].view(n, 1, 1, 1)
        f = factors.gather(1, order[:, slot, None]).view(n, 1, 1, 1)
        gray = _grayscale(x)
        mean = gray.mean(dim=(1, 2, 3), keepdim=True) * (op == 1).to(x.dtype)
        target = torch.where(op == 2, gray, mean)
        x = torch.lerp(target, x, f).clamp_(0.0, 1.0)  # target + f * (x - target)
    return x


# ------------------------------------------------------------ BatchAugment
class BatchAugment:
    """The sources' PIL augmentations, applied to a batch ``(N, C, H, W)`` of floats in [0, 1].

    Defaults reproduce ``RandomHorizontalFlip()``, ``RandomRotation(10)``,
    ``RandomAffine(0, shear=10, scale=(0.8, 1.2))`` and
    ``ColorJitter(0.2, 0.2, 0.2)``, each image getting its own random draw.
    ``None`` or ``0`` switches an augmentation off (``scale=(1, 1)`` too).

    * ``hflip``: probability of a horizontal flip.
    * ``degrees``: rotation angle drawn from U(-degrees, degrees) (or a pair).
    * ``shear``: x-shear angle in degrees drawn from U(-shear, shear) (or a pair).
    * ``scale``: zoom factor drawn from U(scale[0], scale[1]).
    * ``brightness``/``contrast``/``saturation``: factor drawn from U(1 - b, 1 + b)
      (or a pair), applied in a random order per image like ColorJitter.

    Rotation, shear, scale (and the flip, when any of those is on) form one
    affine matrix per image, resampled once with ``F.grid_sample``
    (``interpolation``: ``"nearest"`` like torchvision's default, or
    ``"bilinear"``); outside pixels become 0 (torchvision's ``fill=0``). Apply
    it before normalisation. Random numbers come from ``generator`` (a CPU
    ``torch.Generator``) or, when None, from torch's global generator.
    """

    def __init__(
        self,
        *,
        hflip: float | None = SOURCES.hflip,
        degrees: Strength = SOURCES.degrees,
        shear: Strength = SOURCES.shear,
        scale: Sequence[float] | None = SOURCES.scale,
        brightness: Strength = SOURCES.brightness,
        contrast: Strength = SOURCES.contrast,
        saturation: Strength = SOURCES.saturation,
        generator: torch.Generator | None = None,
        interpolation: str = "nearest",
    ) -> None:
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {interpolation!r}")
        #: the parameters as an AugmentSpec; the attributes below are its sampling ranges
        self.spec = AugmentSpec(
            hflip=hflip,
            degrees=degrees,
            shear=shear,
            scale=scale,
            brightness=brightness,
            contrast=contrast,
            saturation=saturation,
        )
        ranges = self.spec.ranges()
        self.hflip, self.degrees, self.shear = ranges["hflip"], ranges["degrees"], ranges["shear"]
        self.scale, self.brightness = ranges["scale"], ranges["brightness"]
        self.contrast, self.saturation = ranges["contrast"], ranges["saturation"]
        self.generator = generator
        self.interpolation = interpolation

    @classmethod
    def from_spec(
        cls, spec: AugmentSpec, *, generator: torch.Generator | None = None, interpolation: str = "nearest"
    ) -> BatchAugment:
        """The augmentation ``spec`` describes (``data.AugmentSpec()``: the sources' pipeline)."""
        return cls(**spec.state(), generator=generator, interpolation=interpolation)

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        *,
        generator: torch.Generator | None = None,
        interpolation: str = "nearest",
    ) -> BatchAugment:
        """Build from lesson 06's ``AugmentationExplorer.state()`` (or a :meth:`state` dict).

        Keys are ``data.STATE_KEYS`` (see ``data.AugmentSpec``); ``None``, ``0`` or a missing
        key switch that parameter off, ``hflip=True`` means 0.5, and an unknown key is a ValueError.
        """
        return cls.from_spec(AugmentSpec.from_state(state), generator=generator, interpolation=interpolation)

    def state(self) -> dict[str, Any]:
        """The parameters as a ``from_state`` dict (ranges as pairs, off as None)."""
        return self.spec.ranges()

    @property
    def geometric(self) -> bool:
        """True when rotation, shear or scale is on (they need resampling)."""
        return any(v is not None for v in (self.degrees, self.shear, self.scale))

    @property
    def color(self) -> bool:
        """True when brightness, contrast or saturation jitter is on."""
        return any(v is not None for v in (self.brightness, self.contrast, self.saturation))

    def sample_params(self, n: int) -> dict[str, torch.Tensor]:
        """Random parameters for ``n`` images (CPU tensors; off -> neutral values).

        ``flip`` (bool), ``angle``, ``shear`` (degrees), ``scale``,
        ``factors`` ``(n, 3)`` (brightness, contrast, saturation) and ``order``
        ``(n, 3)`` (the colour operations' order, a permutation per image).
        """
        g = self.generator
        device = g.device if g is not None else "cpu"
        flip = torch.rand(n, generator=g, device=device).cpu() < self.hflip
        params = {
            "flip": flip,
            "angle": _uniform(n, self.degrees, 0.0, g),
            "shear": _uniform(n, self.shear, 0.0, g),
            "scale": _uniform(n, self.scale, 1.0, g),
        }
        params["factors"] = torch.stack(
            [_uniform(n, r, 1.0, g) for r in (self.brightness, self.contrast, self.saturation)], dim=1
        )
        params["order"] = torch.rand(n, 3, generator=g, device=device).cpu().argsort(dim=1)
        return params

    def apply(self, x: torch.Tensor, params: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Augment ``x`` ``(N, C, H, W)`` (floats in [0, 1]) with given ``params`` (see ``sample_params``)."""
        if x.ndim != 4 or not x.is_floating_point():
            raise TypeError(f"BatchAugment needs a float batch (N, C, H, W), got {x.dtype} {tuple(x.shape)}")
        p = {k: v.to(x.device, non_blocking=True) for k, v in params.items()}
        if self.geometric:
            theta = affine_theta(p, x.shape[2], x.shape[3]).to(x.dtype)
            grid = affine_grid(theta, x.shape[2], x.shape[3])
            x = F.grid_sample(x, grid, mode=self.interpolation, padding_mode="zeros", align_corners=False)
        elif self.hflip > 0:
            x = torch.where(p["flip"].view(-1, 1, 1, 1), x.flip(-1), x)
        if self.color:
            factors = p["factors"].to(x.dtype)
            if x.shape[1] == 1:  # torchvision: saturation is a no-op on one channel
                factors = factors.clone()
                factors[:, 2] = 1.0
            x = color_jitter(x, factors, p["order"])
        return x

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Augment a batch ``x`` ``(N, C, H, W)`` of floats in [0, 1], a new draw per image."""
        return self.apply(x, self.sample_params(x.shape[0]))

    def __repr__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.state().items() if v not in (None, 0.0)]
        if self.interpolation != "nearest":
            parts.append(f"interpolation={self.interpolation!r}")
        return f"BatchAugment({', '.join(parts) or 'identity'})"

    def state_dict(self) -> dict[str, Any]:
        """The random state a checkpoint stores: ``{"generator": its state or None}``."""
        return {"generator": self.generator.get_state() if self.generator is not None else None}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue the random draws of a :meth:`state_dict` (a generator-less one changes nothing)."""
        saved = state.get("generator")
        if saved is None or self.generator is None:
            return
        if not isinstance(saved, torch.Tensor) or saved.dtype != torch.uint8:
            raise ValueError(
                "a BatchAugment state's 'generator' must be a uint8 tensor "
                f"(torch.Generator.get_state()), got {type(saved).__name__}"
            )
        self.generator.set_state(saved.cpu())
