"""Interactive notebook helpers (ipywidgets 7.7 and 8): the augmentation explorer.

:class:`AugmentationExplorer` shows a few training images before and after an
augmentation described by ``data.AugmentSpec`` (by default the sources' pipeline,
``data.preset("lenet_augment")``: RandomHorizontalFlip, RandomRotation(10),
RandomAffine(0, shear=10, scale=(0.8, 1.2)), ColorJitter(0.2, 0.2, 0.2)), with a
checkbox per transform and a slider per ``AugmentSpec`` field, and hands back the
matching training transform: ``explorer.transform``. It is two parts: the view
(:class:`AugmentationExplorer`: widgets bound to the spec) and the renderer
(:class:`AugmentationRenderer`: picks images, augments them, draws the grid with
``torchvision.utils.make_grid``). At most :data:`MAX_SHOWN` images are drawn, so any
``n`` displays in a moment.

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
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image
from torch import nn
from torchvision import transforms as T
from torchvision.utils import make_grid

from . import viz
from .data.transforms import HALF, STATE_KEYS, AugmentSpec, half_width

__all__ = ["AugmentationExplorer", "AugmentationRenderer", "MAX_SHOWN", "SLIDERS"]

#: The most images the explorer draws (more would take minutes to augment and draw).
MAX_SHOWN = 48
COLUMNS = 8  # images per row; rows of originals and their augmented copies alternate
TILE = 96  # pixels per image in the grid
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # a live widget in a notebook's output
#: Slider ``(min, max, step)`` per AugmentSpec field.
SLIDERS = {
    "hflip": (0.0, 1.0, 0.05),
    "degrees": (0.0, 180.0, 1.0),
    "shear": (0.0, 45.0, 1.0),
    "scale": (0.5, 1.5, 0.05),
    "brightness": (0.0, 1.0, 0.05),
    "contrast": (0.0, 1.0, 0.05),
    "saturation": (0.0, 1.0, 0.05),
}
_SEED_MAX = 2**31 - 1


def _to_pil(image: Any, mean: Sequence[float] | None, std: Sequence[float] | None) -> Image.Image:
    """A dataset image as PIL: PIL as is, HWC uint8 arrays directly, uint8 CHW tensors
    via ToPILImage, float CHW tensors un-normalized with ``mean``/``std`` first."""
    if isinstance(image, Image.Image):
        return image if image.mode in ("L", "RGB") else image.convert("RGB")
    if isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim in (2, 3):
        return Image.fromarray(image.squeeze(-1) if image.ndim == 3 and image.shape[-1] == 1 else image)
    if isinstance(image, torch.Tensor):
        if image.dtype == torch.uint8:
            return T.functional.to_pil_image(image.detach().cpu())
        array = viz.im_convert(image, mean, std)  # ValueError for anything but (C, H, W)
        return Image.fromarray((array * 255).round().astype(np.uint8))
    raise TypeError(
        "AugmentationExplorer needs a dataset of PIL images, uint8 arrays (H, W[, C]) "
        f"or image tensors (C, H, W); got an item of type {type(image).__name__}"
    )


def _check_seed(value: Any) -> int:
    if not 0 <= int(value) <= _SEED_MAX:
        raise ValueError(f"seed must be in [0, {_SEED_MAX}]; got {value}")
    return int(value)


def _slider_value(spec: AugmentSpec, key: str) -> Any:
    """What field ``key`` of ``spec`` shows on its slider; ValueError when outside the slider."""
    low, high, _ = SLIDERS[key]
    value = getattr(spec, key)
    if key == "scale":
        shown = (1.0, 1.0) if value is None else value
    elif key == "hflip":
        shown = value or 0.0
    else:
        shown = half_width(value, key, centre=spec.CENTRE[key])
    if not all(low <= v <= high for v in np.atleast_1d(shown)):
        raise ValueError(f"{key} must lie within [{low}, {high}] on the explorer; got {value}")
    return shown


class AugmentationRenderer:
    """Draws the before/after grid: picks images for a seed, augments them, makes the PNG.

    ``n`` above :data:`MAX_SHOWN` is reduced to it (with a warning); only the picked
    images are ever loaded from ``dataset``.
    """

    def __init__(
        self, dataset: Any, n: int, *, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
    ) -> None:
        if n < 1 or len(dataset) == 0:
            raise ValueError(f"need n >= 1 and a non-empty dataset; got n={n}, len={len(dataset)}")
        if n > MAX_SHOWN:
            warnings.warn(
                f"AugmentationExplorer draws at most {MAX_SHOWN} images; showing {MAX_SHOWN} of n={n}",
                stacklevel=3,
            )
        self.dataset, self.mean, self.std = dataset, mean, std
        self.count = min(n, MAX_SHOWN, len(dataset))
        self.originals: list[Image.Image] = []
        self.augmented: list[Image.Image] = []
        self.labels: list[int | None] = []

    def pick(self, seed: int) -> None:
        """Load ``count`` images chosen by ``seed`` and convert them to PIL."""
        picks = np.random.default_rng(seed).choice(len(self.dataset), self.count, replace=False)
        pairs = [
            item if isinstance(item, (tuple, list)) else (item, None)
            for item in (self.dataset[int(i)] for i in picks)
        ]
        self.originals = [_to_pil(image, self.mean, self.std) for image, _ in pairs]
        self.labels = [None if label is None else int(label) for _, label in pairs]

    def augment(self, spec: AugmentSpec, seed: int) -> None:
        """Augment the originals with ``spec``, seeded, without touching the global RNG."""
        pipeline = T.Compose(spec.transforms())
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.augmented = [pipeline(image) for image in self.originals]

    def transform(self, spec: AugmentSpec) -> T.Compose:
        """The training transform: ``spec``'s augmentations, ToTensor, Normalize(0.5)."""
        half = HALF[:1] * (1 if self.originals[0].mode == "L" else 3)
        return T.Compose([*spec.transforms(), T.ToTensor(), T.Normalize(half, half)])

    def grid(self) -> torch.Tensor:
        """``(3, H, W)`` float grid: rows of :data:`COLUMNS` originals, each above its augmented copies."""

        def tiles(images: list[Image.Image]) -> torch.Tensor:
            x = torch.stack([T.functional.pil_to_tensor(im.convert("RGB")) for im in images]).float() / 255
            mode = "nearest" if max(x.shape[-2:]) <= TILE else "bilinear"
            return torch.nn.functional.interpolate(x, size=(TILE, TILE), mode=mode)

        before, after = tiles(self.originals), tiles(self.augmented)
        rows = [
            part
            for start in range(0, self.count, COLUMNS)
            for part in (before[start : start + COLUMNS], after[start : start + COLUMNS])
        ]
        columns = min(COLUMNS, self.count)
        padded = [torch.cat([r, r.new_ones(columns - len(r), *r.shape[1:])]) for r in rows]
        return make_grid(torch.cat(padded), nrow=columns, padding=4, pad_value=1.0)

    def png(self) -> bytes:
        """The grid as PNG bytes."""
        array = (self.grid().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, format="PNG")
        return buffer.getvalue()

    def figure(self, title: str, classes: Sequence[str] | None) -> Figure:
        """The grid in one matplotlib axes, class names above the originals."""
        grid = self.grid().permute(1, 2, 0).numpy()
        columns = min(COLUMNS, self.count)
        fig = Figure(
            figsize=(1.3 * columns + 0.6, 1.3 * 2 * -(-self.count // COLUMNS) + 0.6), layout="constrained"
        )
        ax = fig.subplots()
        ax.imshow(grid)
        ax.set_xticks([])
        ax.set_yticks([4 + TILE / 2 + (TILE + 4) * r for r in (0, 1)], ["original", "augmented"])
        for i, label in enumerate(self.labels):
            if classes is not None and label is not None:
                x, y = 4 + (TILE + 4) * (i % COLUMNS), 4 + 2 * (TILE + 4) * (i // COLUMNS)
                ax.text(
                    x + 2,
                    y + 2,
                    str(classes[label]),
                    fontsize=7,
                    va="top",
                    bbox={"facecolor": "white", "alpha": 0.7, "pad": 1, "linewidth": 0},
                )
        fig.suptitle(title, fontsize=9)
        return fig


class AugmentControls:
    """The widgets bound to an ``AugmentSpec``: a checkbox per transform, a slider per field, a seed.

    :attr:`spec` reads them (an unticked transform's fields are None); :meth:`show`
    writes a spec (checked first, so a ValueError changes nothing). An unticked
    transform keeps its sliders' values for when it is ticked again.
    """

    def __init__(self, spec: AugmentSpec, seed: int) -> None:
        self.boxes = {
            name: W.Checkbox(value=True, description=name, indent=False, layout=W.Layout(width="190px"))
            for name in AugmentSpec.GROUPS
        }
        self.sliders = {
            key: (W.FloatRangeSlider if key == "scale" else W.FloatSlider)(
                min=low,
                max=high,
                step=step,
                description=key,
                style={"description_width": "initial"},
                continuous_update=False,
                readout_format=".2f",
                layout=W.Layout(width="280px"),
            )
            for key, (low, high, step) in SLIDERS.items()
        }
        self.seed_box = W.BoundedIntText(
            value=_check_seed(seed), min=0, max=_SEED_MAX, description="seed", layout=W.Layout(width="160px")
        )
        self.button = W.Button(description="Resample", icon="refresh")
        self.show(spec)

    @property
    def spec(self) -> AugmentSpec:
        """The augmentation the widgets show."""
        values = {
            key: self.sliders[key].value if self.boxes[name].value else None
            for name, keys in AugmentSpec.GROUPS.items()
            for key in keys
        }
        if values["scale"] is not None:
            values["scale"] = tuple(values["scale"])
        return AugmentSpec(**values)

    def show(self, spec: AugmentSpec) -> None:
        """Tick each transform ``spec`` uses and move its sliders to ``spec``'s values."""
        shown = {key: _slider_value(spec, key) for key in STATE_KEYS}
        for name, box in self.boxes.items():
            box.value = spec.enabled(name)
            for key in AugmentSpec.GROUPS[name]:
                if box.value:
                    self.sliders[key].value = shown[key]
        self.grey_out()

    def grey_out(self) -> None:
        """Disable the sliders of unticked transforms."""
        for name, box in self.boxes.items():
            for key in AugmentSpec.GROUPS[name]:
                self.sliders[key].disabled = not box.value

    def layout(self, image: W.Image) -> W.VBox:
        """A row per transform, the seed row, a caption and ``image``."""
        rows = [
            W.HBox([box, *(self.sliders[k] for k in AugmentSpec.GROUPS[name])])
            for name, box in self.boxes.items()
        ]
        caption = W.HTML("<b>rows:</b> original, then the same images augmented")
        return W.VBox([*rows, W.HBox([self.seed_box, self.button]), caption, image])

    def widgets(self) -> list[W.ValueWidget]:
        """Every widget whose value changes the picture."""
        return [*self.boxes.values(), *self.sliders.values(), self.seed_box]


class AugmentationExplorer:
    """Try an augmentation (``data.AugmentSpec``) on ``n`` images of ``dataset`` and get the transform.

    ``dataset[i]`` may return ``(image, label)`` or just an image: PIL, uint8
    array, or a tensor ``(C, H, W)``. Float tensors (a dataset that already has
    ``ToTensor``/``Normalize``) are turned back into PIL images with
    ``x * std + mean``; ``mean``/``std`` default to the course's 0.5 per channel,
    pass ``mean=(0,), std=(1,)`` for ``ToTensor`` alone.

    The widget (``.ui``) shows the :class:`AugmentControls` (``.boxes`` per transform,
    ``.sliders`` per ``AugmentSpec`` field, ``.seed_box``, a *Resample* ``.button``) above
    a grid (``.image``) drawn by an :class:`AugmentationRenderer` (PIL lists ``.originals``
    / ``.augmented``). ``spec`` (or keyword fields) set the start; :attr:`spec` is what
    the widgets show, :meth:`state` the same as a plain dict.
    """

    def __init__(
        self,
        dataset: Any,
        n: int = 8,
        seed: int = 0,
        *,
        spec: AugmentSpec | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        **fields: Any,
    ) -> None:
        self.renderer = AugmentationRenderer(dataset, n, mean=mean, std=std)
        self.dataset, self._hold = dataset, False
        self.controls = AugmentControls((spec or AugmentSpec()).replace(**fields), seed)
        self.boxes, self.sliders = self.controls.boxes, self.controls.sliders
        self.seed_box, self.button = self.controls.seed_box, self.controls.button
        self.button.on_click(lambda _button: self.resample())
        self.image = W.Image(format="png")
        self.ui = self.controls.layout(self.image)
        for widget in self.controls.widgets():
            widget.observe(self._on_change, names="value")
        self.renderer.pick(self.seed)
        self._render()

    @property
    def spec(self) -> AugmentSpec:
        """The augmentation the widgets show: a ticked transform's sliders, None where unticked."""
        return self.controls.spec

    def _on_change(self, change: dict) -> None:
        """Redraw after a widget changed (unless :meth:`set` is changing several)."""
        if self._hold:
            return
        if change["owner"] is self.seed_box:
            self.renderer.pick(self.seed)
        self.controls.grey_out()
        self._render()

    @contextmanager
    def _holding(self) -> Iterator[None]:
        """Suspend redrawing while several widgets change."""
        self._hold = True
        try:
            yield
        finally:
            self._hold = False

    def _render(self) -> None:
        self.renderer.augment(self.spec, self.seed)
        self.image.value = self.renderer.png()

    # ------------------------------------------------------------ public API
    originals = property(lambda self: self.renderer.originals, doc="The picked images (PIL).")
    augmented = property(lambda self: self.renderer.augmented, doc="The same images augmented.")
    labels = property(lambda self: self.renderer.labels, doc="Their labels (None when unknown).")

    seed = property(lambda self: int(self.seed_box.value), doc="The seed of the images and draws.")
    png = property(lambda self: bytes(self.image.value), doc="The grid ``.image`` shows, as PNG bytes.")

    @property
    def augmentations(self) -> list[nn.Module]:
        """The enabled augmentation transforms only, in pipeline order."""
        return self.spec.transforms()

    @property
    def transform(self) -> T.Compose:
        """The training transform for the current state: augmentations, ToTensor, Normalize(0.5)."""
        return self.renderer.transform(self.spec)

    def state(self) -> dict[str, Any]:
        """:attr:`spec` as a plain dict (``None`` where off), for ``data.BatchAugment.from_state``."""
        return self.spec.state()

    def load_state(self, state: Mapping[str, Any]) -> None:
        """Show a :meth:`state` (or ``BatchAugment.state()``) dict; a missing key means off."""
        with self._holding():
            self.controls.show(AugmentSpec.from_state(state))
        self._render()

    def set(self, *, seed: int | None = None, **fields: Any) -> None:
        """Change several fields at once, e.g. ``set(degrees=None, scale=(0.9, 1.1))``.

        Keys are ``data.STATE_KEYS``; ``None`` or ``0`` switches a field off (a transform
        whose fields are all off is unticked). Raises ValueError (and changes nothing) for
        an unknown key or a value outside its slider.
        """
        spec, new_seed = self.spec.replace(**fields), self.seed if seed is None else _check_seed(seed)
        with self._holding():
            self.controls.show(spec)
            self.seed_box.value = new_seed
        if seed is not None:
            self.renderer.pick(new_seed)
        self._render()

    def resample(self, seed: int | None = None) -> None:
        """New images and augmentations for ``seed`` (default: the next seed); same seed, same picture."""
        self.set(seed=self.seed + 1 if seed is None else seed)

    def figure(self) -> Figure:
        """The before/after grid as a matplotlib Figure, class names on the originals when known."""
        names = ", ".join(type(t).__name__ for t in self.augmentations) or "no augmentation"
        return self.renderer.figure(f"seed {self.seed}: {names}", getattr(self.dataset, "classes", None))

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        """What IPython displays: see the module docstring."""
        bundle: dict[str, Any] = {}
        if viz.in_notebook_kernel():
            if os.environ.get("COURSE_WIDGETS", "1").strip() != "0" or _in_colab():
                bundle.update(_widget_view(self.ui))
            if not _in_colab():
                buffer = io.BytesIO()
                self.figure().savefig(buffer, format="png", dpi=80)
                bundle["image/png"] = buffer.getvalue()
        bundle["text/plain"] = repr(self)
        return bundle

    def __repr__(self) -> str:
        names = ", ".join(type(t).__name__ for t in self.augmentations) or "none"
        return f"AugmentationExplorer(n={self.renderer.count}, seed={self.seed}, augmentations=[{names}])"


def _widget_view(widget: W.Widget) -> dict[str, Any]:
    """The widget's display data. ipywidgets 8 returns it from ``_repr_mimebundle_``; ipywidgets 7
    (Colab's 7.7.1) has no such method and displays through ``_ipython_display_``, so the same
    data (what 7.x's ``_ipython_display_`` sends) is written here."""
    if hasattr(widget, "_repr_mimebundle_"):
        return widget._repr_mimebundle_() or {}
    widget._handle_displayed()  # what 7.x's _ipython_display_ does after sending the data
    return {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": widget.model_id}}


def _in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules
