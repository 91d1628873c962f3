"""Interactive notebook helpers (ipywidgets 8): the augmentation explorer.

:class:`AugmentationExplorer` shows the same few training images before and
after the course's augmentation pipeline (``data.preset("lenet_augment")``:
RandomHorizontalFlip, RandomRotation(10), RandomAffine(0, shear=10,
scale=(0.8, 1.2)), ColorJitter(0.2, 0.2, 0.2)), with a checkbox per transform
and sliders for their parameters, and hands back the matching training
transform: ``explorer.transform``.

How it is displayed (no guessing about the frontend is needed):

* **Plain Python / terminal IPython** (no kernel): ``display(explorer)`` prints
  its ``repr``; call :meth:`AugmentationExplorer.figure` for a picture.
* **A Jupyter kernel** (JupyterLab, Notebook 7, VS Code, nbval, nbconvert):
  the output holds the live widget *and* a static PNG of the before/after grid.
  A frontend with ipywidgets support (JupyterLab, VS Code) shows the widget;
  anything without it (nbval, nbconvert, GitHub, a Lab lacking the widget
  extension) shows the static PNG, so nothing fails.
* **Google Colab** (``google.colab`` imported): the widget alone.
* ``COURSE_WIDGETS=0`` in the environment: the static PNG alone (for CI).
"""
from __future__ import annotations

import io
import os
import sys
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Iterator

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn
from torchvision import transforms as T

from . import viz

__all__ = ["AugmentationExplorer", "DEFAULT_SETTINGS", "STATE_KEYS", "augmentations_from_state",
           "settings_to_state", "state_to_settings"]

#: The widgets' settings for the course's pipeline: a checkbox per transform and its parameters.
#: ``AugmentationExplorer.settings()`` / ``.set()`` use these keys (plus ``seed``).
DEFAULT_SETTINGS: dict[str, Any] = {
    "flip": True, "flip_p": 0.5,
    "rotation": True, "degrees": 10.0,
    "affine": True, "shear": 10.0, "scale": (0.8, 1.2),
    "color_jitter": True, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2,
}
#: Keys of ``AugmentationExplorer.state()``, the dict ``device_data.BatchAugment.from_state`` takes.
STATE_KEYS = ("hflip", "degrees", "shear", "scale", "brightness", "contrast", "saturation")
_GROUPS = {"flip": ("flip_p",), "rotation": ("degrees",), "affine": ("shear", "scale"),
           "color_jitter": ("brightness", "contrast", "saturation")}
_LABELS = {"flip": "RandomHorizontalFlip", "rotation": "RandomRotation",
           "affine": "RandomAffine", "color_jitter": "ColorJitter"}
_LIMITS = {"flip_p": (0.0, 1.0, 0.05), "degrees": (0.0, 180.0, 1.0), "shear": (0.0, 45.0, 1.0),
           "scale": (0.5, 1.5, 0.05), "brightness": (0.0, 1.0, 0.05),
           "contrast": (0.0, 1.0, 0.05), "saturation": (0.0, 1.0, 0.05)}
_JITTER = ("brightness", "contrast", "saturation")
_SEED_MAX = 2**31 - 1


def settings_to_state(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The effective parameters of widget ``settings``: ``hflip`` (probability),
    ``degrees``, ``shear``, ``scale`` ``(min, max)`` and the jitter strengths;
    ``None`` for a transform that is switched off."""
    s = {**DEFAULT_SETTINGS, **settings}
    state = {"hflip": float(s["flip_p"]) if s["flip"] else None,
             "degrees": float(s["degrees"]) if s["rotation"] else None,
             "shear": float(s["shear"]) if s["affine"] else None,
             "scale": tuple(float(v) for v in s["scale"]) if s["affine"] else None}
    state.update({key: float(s[key]) if s["color_jitter"] else None for key in _JITTER})
    return state


def _half_width(value: Any, name: str, centre: float = 0.0) -> float:
    """A symmetric range ``(centre - d, centre + d)`` (or the number ``d``) as ``d``."""
    if isinstance(value, (int, float)):
        return float(value)
    lo, hi = (float(v) for v in value)
    if centre == 0.0 and lo != -hi:
        raise ValueError(f"the explorer's {name} range is symmetric (-d, d); got ({lo}, {hi})")
    return round(hi - centre, 6)  # (0.6, 1.4) -> 0.4, not 0.3999999999999999


def state_to_settings(state: Mapping[str, Any]) -> dict[str, Any]:
    """Widget settings for a :func:`settings_to_state` / ``BatchAugment.state()`` dict.

    ``None`` or a missing key switches that transform off; ``hflip=True`` means 0.5
    and ``hflip=0`` off (as in ``BatchAugment``).
    Ranges may be numbers or pairs (``degrees=(-d, d)``, ``brightness=(1 - b, 1 + b)``).
    """
    unknown = set(state) - set(STATE_KEYS)
    if unknown:
        raise ValueError(f"unknown state key(s) {sorted(unknown)}; expected {STATE_KEYS}")
    get = state.get
    hflip = 0.5 if get("hflip") is True else get("hflip")
    out: dict[str, Any] = {"flip": bool(hflip), "rotation": get("degrees") is not None,
                           "affine": get("shear") is not None or get("scale") is not None,
                           "color_jitter": any(get(key) is not None for key in _JITTER)}
    if out["flip"]:
        out["flip_p"] = float(hflip)
    if out["rotation"]:
        out["degrees"] = _half_width(get("degrees"), "degrees")
    if out["affine"]:
        out["shear"] = 0.0 if get("shear") is None else _half_width(get("shear"), "shear")
        out["scale"] = (1.0, 1.0) if get("scale") is None else tuple(map(float, get("scale")))
    if out["color_jitter"]:
        out.update({key: 0.0 if get(key) is None else _half_width(get(key), key, 1.0)
                    for key in _JITTER})
    return out


def augmentations_from_state(state: Mapping[str, Any]) -> list[nn.Module]:
    """The torchvision augmentations for a :meth:`AugmentationExplorer.state` dict, in the
    course pipeline's order; ``None`` (or a missing key) leaves a transform out."""
    settings = {**DEFAULT_SETTINGS, **state_to_settings(state)}
    out: list[nn.Module] = []
    if settings["flip"]:
        out.append(T.RandomHorizontalFlip(p=settings["flip_p"]))
    if settings["rotation"]:
        out.append(T.RandomRotation(settings["degrees"]))
    if settings["affine"]:
        out.append(T.RandomAffine(0, shear=settings["shear"], scale=tuple(settings["scale"])))
    if settings["color_jitter"]:
        out.append(T.ColorJitter(**{key: settings[key] for key in _JITTER}))
    return out


def _check_value(key: str, value: Any) -> Any:
    """``value`` cleaned for parameter ``key``; ValueError when out of range or min > max."""
    if key in _GROUPS:
        return bool(value)
    if key == "seed":
        if not 0 <= int(value) <= _SEED_MAX:
            raise ValueError(f"seed must be in [0, {_SEED_MAX}]; got {value}")
        return int(value)
    low, high, _ = _LIMITS[key]
    if key == "scale":
        lo, hi = (float(v) for v in value)
        if lo > hi:
            raise ValueError(f"scale needs min <= max; got ({lo}, {hi})")
        if lo < low or hi > high:
            raise ValueError(f"scale must lie within [{low}, {high}]; got ({lo}, {hi})")
        return (lo, hi)
    if not low <= float(value) <= high:
        raise ValueError(f"{key} must be in [{low}, {high}]; got {value}")
    return float(value)


def _to_pil(image: Any, mean: Sequence[float] | None, std: Sequence[float] | None) -> Image.Image:
    """A dataset image as PIL: PIL as is, HWC uint8 arrays directly, uint8 CHW tensors
    via ToPILImage, float CHW tensors un-normalized with ``mean``/``std`` first."""
    if isinstance(image, Image.Image):
        return image if image.mode in ("L", "RGB") else image.convert("RGB")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim in (2, 3):
        return Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1
                               else image)
    if isinstance(image, torch.Tensor):
        if image.dtype == torch.uint8:
            return T.functional.to_pil_image(image.detach().cpu())
        array = viz.im_convert(image, mean, std)  # ValueError for anything but (C, H, W)
        return Image.fromarray((array * 255).round().astype(np.uint8))
    raise TypeError("AugmentationExplorer needs a dataset of PIL images, uint8 arrays (H, W[, C]) "
                    f"or image tensors (C, H, W); got an item of type {type(image).__name__}")


def _grid_png(rows: Sequence[Sequence[Image.Image]], *, tile: int = 96, pad: int = 4) -> bytes:
    """A PNG of image rows on white, each image scaled to fit ``tile`` pixels."""
    width, height = rows[0][0].size
    factor = tile / max(width, height)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    resample = Image.Resampling.NEAREST if factor >= 1 else Image.Resampling.BILINEAR
    ncols = max(len(row) for row in rows)
    canvas = Image.new("RGB", (pad + ncols * (size[0] + pad), pad + len(rows) * (size[1] + pad)),
                       "white")
    for r, row in enumerate(rows):
        for c, picture in enumerate(row):
            canvas.paste(picture.convert("RGB").resize(size, resample),
                         (pad + c * (size[0] + pad), pad + r * (size[1] + pad)))
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def _in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules


class AugmentationExplorer:
    """Try the course's augmentations on ``n`` images of ``dataset`` and get the transform.

    ``dataset[i]`` may return ``(image, label)`` or just an image: PIL, uint8
    array, or a tensor ``(C, H, W)``. Float tensors (a dataset that already has
    ``ToTensor``/``Normalize``) are turned back into PIL images with
    ``x * std + mean``; ``mean``/``std`` default to the course's 0.5 per channel,
    pass ``mean=(0,), std=(1,)`` for ``ToTensor`` alone.

    The widget (``.ui``) has a checkbox per transform and sliders for its
    parameters (``.controls``, keyed like :meth:`settings`), a seed (``.seed_box``)
    and a *Resample* button (``.button``), above a PNG grid (``.image``, an
    ``ipywidgets.Image``): the originals on top, the same images augmented below
    (also as PIL lists ``.originals`` / ``.augmented``). Keyword ``params`` set
    the starting widgets (see :meth:`set`). :meth:`settings` reads the widgets,
    :meth:`state` the parameters in effect (for ``device_data.BatchAugment``).
    """

    def __init__(self, dataset: Any, n: int = 8, seed: int = 0, *,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 **params: Any) -> None:
        if n < 1 or len(dataset) == 0:
            raise ValueError(f"need n >= 1 and a non-empty dataset; got n={n}, len={len(dataset)}")
        self.dataset, self.n, self.mean, self.std = dataset, n, mean, std
        self._hold = False
        #: checkboxes (``flip``, ``rotation``, ``affine``, ``color_jitter``) and sliders, by settings key
        self.controls = self._build_controls()
        self.seed_box = W.BoundedIntText(value=_check_value("seed", seed), min=0, max=_SEED_MAX,
                                      description="seed", layout=W.Layout(width="160px"))
        self.button = W.Button(description="Resample", icon="refresh")
        self.button.on_click(lambda _button: self.resample())
        self.image = W.Image(format="png")
        self.ui = self._build_ui()
        for widget in [*self.controls.values(), self.seed_box]:
            widget.observe(self._on_change, names="value")
        self._load()
        if params:
            self.set(**params)
        else:
            self._render()

    # ------------------------------------------------------------ widgets

    def _build_controls(self) -> dict[str, W.ValueWidget]:
        """One checkbox per transform and one slider per parameter, keyed like :data:`DEFAULT_SETTINGS`."""
        controls: dict[str, W.ValueWidget] = {}
        style = {"description_width": "initial"}
        for group, keys in _GROUPS.items():
            controls[group] = W.Checkbox(value=DEFAULT_SETTINGS[group], description=_LABELS[group],
                                         indent=False, layout=W.Layout(width="190px"))
            for key in keys:
                low, high, step = _LIMITS[key]
                kind = W.FloatRangeSlider if key == "scale" else W.FloatSlider
                controls[key] = kind(value=DEFAULT_SETTINGS[key], min=low, max=high, step=step,
                                     description=key.replace("flip_", ""), style=style,
                                     continuous_update=False, readout_format=".2f",
                                     layout=W.Layout(width="280px"))
        return controls

    def _build_ui(self) -> W.VBox:
        """The layout: a row per transform, the seed row, a caption and the image."""
        rows = [W.HBox([self.controls[g], *(self.controls[k] for k in keys)])
                for g, keys in _GROUPS.items()]
        caption = W.HTML("<b>top:</b> original &nbsp; <b>bottom:</b> augmented")
        return W.VBox([*rows, W.HBox([self.seed_box, self.button]), caption, self.image])

    def _on_change(self, change: dict) -> None:
        """Redraw after a widget changed (unless :meth:`set` is changing several)."""
        if not self._hold:
            if change["owner"] is self.seed_box:
                self._load()
            self._render()

    @contextmanager
    def _holding(self) -> Iterator[None]:
        """Suspend redrawing while several widgets change."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    # ------------------------------------------------------------ drawing

    def _load(self) -> None:
        """Pick ``n`` images for the current seed and convert them to PIL."""
        count = min(self.n, len(self.dataset))
        picks = np.random.default_rng(self.seed).choice(len(self.dataset), count, replace=False)
        items = [self.dataset[int(i)] for i in picks]
        pairs = [item if isinstance(item, (tuple, list)) else (item, None) for item in items]
        self.originals = [_to_pil(image, self.mean, self.std) for image, _ in pairs]
        self.labels = [None if label is None else int(label) for _, label in pairs]

    def _render(self) -> None:
        """Augment the originals (seeded, without touching the global RNG) and redraw the PNG."""
        for group, keys in _GROUPS.items():
            for key in keys:
                self.controls[key].disabled = not self.controls[group].value
        pipeline = T.Compose(self.augmentations)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.augmented = [pipeline(image) for image in self.originals]
        self.image.value = _grid_png([self.originals, self.augmented])

    # ------------------------------------------------------------ public API

    @property
    def seed(self) -> int:
        """The seed that picks the images and draws the random augmentations."""
        return int(self.seed_box.value)

    @property
    def png(self) -> bytes:
        """The current before/after grid as PNG bytes (what ``.image`` shows)."""
        return bytes(self.image.value)

    @property
    def augmentations(self) -> list[nn.Module]:
        """The enabled augmentation transforms only, in pipeline order."""
        return augmentations_from_state(self.state())

    @property
    def transform(self) -> T.Compose:
        """The training transform for the current state: augmentations, ToTensor, Normalize(0.5)."""
        channels = 1 if self.originals[0].mode == "L" else 3
        half = (0.5,) * channels
        return T.Compose([*self.augmentations, T.ToTensor(), T.Normalize(half, half)])

    def settings(self) -> dict[str, Any]:
        """The widgets' values as a plain dict (keys of :data:`DEFAULT_SETTINGS` plus ``seed``);
        ``explorer.set(**explorer.settings())`` changes nothing."""
        out = {key: _check_value(key, widget.value) for key, widget in self.controls.items()}
        return {**out, "seed": self.seed}

    def state(self) -> dict[str, Any]:
        """The augmentation parameters in effect, as a plain dict for a batched augmenter:
        ``device_data.BatchAugment.from_state(explorer.state())``.

        Keys :data:`STATE_KEYS`: ``hflip`` (flip probability), ``degrees``,
        ``shear``, ``scale`` ``(min, max)``, ``brightness``, ``contrast``,
        ``saturation``; ``None`` where the transform's box is unticked.
        """
        return settings_to_state(self.settings())

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Set the widgets from a :meth:`state` dict (``None``/missing = unticked)."""
        self.set(**state_to_settings(state))

    def set(self, **values: Any) -> None:
        """Change several widgets at once, e.g. ``set(rotation=False, scale=(0.9, 1.1))``.

        Keys are those of :meth:`settings`. Raises ValueError (and changes nothing)
        for an unknown key, a value out of its slider's range or a ``scale`` whose
        min exceeds its max.
        """
        unknown = set(values) - set(self.controls) - {"seed"}
        if unknown:
            raise ValueError(f"unknown setting(s) {sorted(unknown)}; "
                             f"choose from {[*self.controls, 'seed']}")
        clean = {key: _check_value(key, value) for key, value in values.items()}
        with self._holding():
            for key, value in clean.items():
                (self.seed_box if key == "seed" else self.controls[key]).value = value
        if "seed" in clean:
            self._load()
        self._render()

    def resample(self, seed: int | None = None) -> None:
        """Draw again: new images and augmentations for ``seed`` (default: the next seed).
        The same seed always gives the same picture."""
        self.set(seed=self.seed + 1 if seed is None else seed)

    def figure(self) -> Figure:
        """The before/after grid as a matplotlib Figure, titled with class names when known."""
        classes = getattr(self.dataset, "classes", None)
        count = len(self.originals)
        fig = Figure(figsize=(1.6 * count, 3.6), layout="constrained")
        axes = fig.subplots(2, count, squeeze=False)
        for row, (images, name) in enumerate(((self.originals, "original"),
                                              (self.augmented, "augmented"))):
            for col, image in enumerate(images):
                ax = axes[row, col]
                ax.imshow(image, cmap="gray" if image.mode == "L" else None, vmin=0, vmax=255)
                ax.set_xticks([])
                ax.set_yticks([])
                label = self.labels[col]
                if row == 0 and classes is not None and label is not None:
                    ax.set_title(str(classes[label]), fontsize=9)
            axes[row, 0].set_ylabel(name)
        fig.suptitle(f"seed {self.seed}: " + (", ".join(_short(t) for t in self.augmentations)
                                              or "no augmentation"), fontsize=9)
        return fig

    def _static_png(self) -> bytes:
        """:meth:`figure` rendered to PNG bytes."""
        buffer = io.BytesIO()
        self.figure().savefig(buffer, format="png", dpi=80)
        return buffer.getvalue()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """What IPython displays: see the module docstring."""
        bundle: dict[str, Any] = {}
        if viz.in_notebook_kernel():
            if os.environ.get("COURSE_WIDGETS", "1").strip() != "0" or _in_colab():
                bundle.update(self.ui._repr_mimebundle_() or {})
            if not _in_colab():
                bundle["image/png"] = self._static_png()
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        names = ", ".join(_short(t) for t in self.augmentations) or "none"
        return (f"AugmentationExplorer(n={len(self.originals)}, seed={self.seed}, "
                f"augmentations=[{names}])")


def _short(transform: nn.Module) -> str:
    """A transform's class name."""
    return type(transform).__name__
