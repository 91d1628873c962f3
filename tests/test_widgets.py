"""Tests for course_utils.widgets.AugmentationExplorer, on a tiny in-test dataset of PIL images."""
from __future__ import annotations

import io
import json
import sys
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torchvision import transforms as T
from traitlets import TraitError

from course_utils import device_data, viz, widgets
from course_utils.widgets import DEFAULT_SETTINGS, AugmentationExplorer, augmentations_from_state

TYPES = {"flip": T.RandomHorizontalFlip, "rotation": T.RandomRotation,
         "affine": T.RandomAffine, "color_jitter": T.ColorJitter}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class TinyDataset(torch.utils.data.Dataset):
    """Ten random 32x32 images with .classes and .targets; an optional transform."""

    classes = [f"class{i}" for i in range(10)]

    def __init__(self, transform: Any = None, mode: str = "RGB", n: int = 10) -> None:
        rng = np.random.default_rng(0)
        shape = (32, 32, 3) if mode == "RGB" else (32, 32)
        self.images = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
                       for _ in range(n)]
        self.targets = [i % 10 for i in range(n)]
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[Any, int]:
        image = self.images[i]
        return (self.transform(image) if self.transform else image), self.targets[i]


@pytest.fixture
def explorer() -> AugmentationExplorer:
    return AugmentationExplorer(TinyDataset(), n=4, seed=0)


def types(explorer: AugmentationExplorer) -> list[type]:
    return [type(t) for t in explorer.augmentations]


def test_defaults_are_the_course_pipeline(explorer: AugmentationExplorer) -> None:
    assert types(explorer) == list(TYPES.values())
    assert explorer.settings() == {**DEFAULT_SETTINGS, "seed": 0}
    assert explorer.state() == {"hflip": 0.5, "degrees": 10.0, "shear": 10.0, "scale": (0.8, 1.2),
                                "brightness": 0.2, "contrast": 0.2, "saturation": 0.2}
    rotation, affine, jitter = explorer.augmentations[1:]
    assert rotation.degrees == [-10.0, 10.0]
    assert affine.degrees == [0.0, 0.0] and affine.shear == [-10.0, 10.0]
    assert affine.scale == (0.8, 1.2) and jitter.brightness == (0.8, 1.2)
    tail = explorer.transform.transforms[-2:]
    assert isinstance(tail[0], T.ToTensor) and tail[1].mean == (0.5,) * 3 == tail[1].std


@pytest.mark.parametrize("group", list(TYPES))
def test_each_checkbox_adds_or_removes_exactly_its_transform(
        explorer: AugmentationExplorer, group: str) -> None:
    box = explorer.controls[group]
    box.value = False
    assert types(explorer) == [t for g, t in TYPES.items() if g != group]
    assert all(explorer.controls[k].disabled for k in widgets._GROUPS[group])
    box.value = True
    assert types(explorer) == list(TYPES.values())
    explorer.set(**{g: g == group for g in TYPES})
    assert types(explorer) == [TYPES[group]]


def test_slider_values_reach_the_transforms(explorer: AugmentationExplorer) -> None:
    c = explorer.controls
    c["flip_p"].value, c["degrees"].value, c["shear"].value = 0.3, 25.0, 5.0
    c["scale"].value = (0.9, 1.1)
    c["brightness"].value, c["contrast"].value, c["saturation"].value = 0.4, 0.1, 0.5
    flip, rotation, affine, jitter = explorer.augmentations
    assert flip.p == 0.3 and rotation.degrees == [-25.0, 25.0]
    assert affine.shear == [-5.0, 5.0] and affine.scale == (0.9, 1.1)
    assert jitter.brightness == pytest.approx((0.6, 1.4))
    assert jitter.contrast == pytest.approx((0.9, 1.1))
    assert jitter.saturation == pytest.approx((0.5, 1.5))
    assert [type(t) for t in explorer.transform.transforms][:4] == list(TYPES.values())


def test_resample_same_seed_same_bytes_other_seed_different() -> None:
    dataset = TinyDataset()
    first, twin = AugmentationExplorer(dataset, n=4, seed=3), AugmentationExplorer(dataset, n=4, seed=3)
    assert first.png == twin.png and first.png.startswith(b"\x89PNG")
    rng_state = torch.get_rng_state()
    first.resample(4)
    assert first.seed == 4 and first.png != twin.png
    first.resample(3)
    assert first.png == twin.png
    assert torch.equal(torch.get_rng_state(), rng_state)  # the global RNG is left alone
    first.resample()
    assert first.seed == 4
    first.button.click()
    assert first.seed == 5 and first.seed_box.value == 5


def test_png_is_the_before_after_grid_and_follows_the_widgets(
        explorer: AugmentationExplorer) -> None:
    grid = Image.open(io.BytesIO(explorer.png))
    assert grid.size == (4 + 4 * 100, 4 + 2 * 100)  # 4 columns, 2 rows of 96-px tiles
    before = explorer.png
    explorer.controls["degrees"].value = 40.0
    assert explorer.png != before
    explorer.controls["degrees"].value = 10.0
    assert explorer.png == before


def test_all_boxes_off_changes_no_pixel(explorer: AugmentationExplorer) -> None:
    explorer.set(flip=False, rotation=False, affine=False, color_jitter=False)
    assert explorer.augmentations == []
    reference = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    for image in TinyDataset().images:
        assert torch.equal(explorer.transform(image), reference(image))
    for before, after in zip(explorer.originals, explorer.augmented):
        assert np.array_equal(np.asarray(before), np.asarray(after))


def test_scale_min_above_max_is_refused(explorer: AugmentationExplorer) -> None:
    with pytest.raises(TraitError):
        explorer.controls["scale"].value = (1.2, 0.8)
    with pytest.raises(ValueError, match="min <= max"):
        explorer.set(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="degrees"):
        explorer.set(degrees=500)
    with pytest.raises(ValueError, match="unknown"):
        explorer.set(hue=0.1)
    with pytest.raises(ValueError, match="scale"):
        explorer.set(rotation=False, scale=(0.1, 1.0))  # nothing changes on error
    assert explorer.settings() == {**DEFAULT_SETTINGS, "seed": 0}


def test_settings_are_plain_and_round_trip(explorer: AugmentationExplorer) -> None:
    explorer.set(rotation=False, shear=20.0, scale=(0.7, 1.3), seed=7)
    settings = explorer.settings()
    assert json.loads(json.dumps(settings))["scale"] == [0.7, 1.3]
    twin = AugmentationExplorer(TinyDataset(), n=4, **settings)
    assert twin.settings() == settings and twin.png == explorer.png


def test_state_holds_the_parameters_in_effect(explorer: AugmentationExplorer) -> None:
    explorer.set(rotation=False, color_jitter=False, flip_p=0.25, shear=20.0, scale=(0.7, 1.3))
    state = explorer.state()
    assert state == {"hflip": 0.25, "degrees": None, "shear": 20.0, "scale": (0.7, 1.3),
                     "brightness": None, "contrast": None, "saturation": None}
    assert json.loads(json.dumps(state))["degrees"] is None
    assert [type(t) for t in augmentations_from_state(state)] == types(explorer)
    twin = AugmentationExplorer(TinyDataset(), n=4)
    twin.load_state(state)
    assert twin.state() == state and twin.png == explorer.png
    assert augmentations_from_state({}) == []
    with pytest.raises(ValueError, match="unknown state key"):
        twin.load_state({"flip": True})


def test_state_feeds_the_batched_augmenter(explorer: AugmentationExplorer) -> None:
    assert tuple(device_data.STATE_KEYS) == widgets.STATE_KEYS
    explorer.set(rotation=False, brightness=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = device_data.BatchAugment.from_state(explorer.state())
    assert batch.hflip == 0.5 and batch.degrees is None and batch.shear == (-10.0, 10.0)
    assert batch.scale == (0.8, 1.2) and batch.brightness == pytest.approx((0.6, 1.4))
    twin = AugmentationExplorer(TinyDataset(), n=4)
    twin.load_state(batch.state())  # ranges as pairs come back as widget values
    assert twin.state() == explorer.state()


def test_tensor_dataset_is_converted_back_to_pil() -> None:
    normalized = TinyDataset(T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)]))
    explorer = AugmentationExplorer(normalized, n=10)
    raw = TinyDataset().images
    order = np.random.default_rng(0).choice(10, 10, replace=False)
    for image, index in zip(explorer.originals, order):
        assert np.array_equal(np.asarray(image), np.asarray(raw[index]))
    plain = AugmentationExplorer(TinyDataset(T.ToTensor()), n=10, mean=(0.0,), std=(1.0,))
    assert np.array_equal(np.asarray(plain.originals[0]), np.asarray(raw[order[0]]))
    uint8 = AugmentationExplorer(TinyDataset(T.PILToTensor()), n=10)
    assert np.array_equal(np.asarray(uint8.originals[0]), np.asarray(raw[order[0]]))


def test_unusable_items_raise_clear_errors() -> None:
    with pytest.raises(TypeError, match="PIL images"):
        AugmentationExplorer(["not an image"] * 3)
    with pytest.raises(ValueError, match=r"im_convert\(batch\[i\]\)"):
        AugmentationExplorer([torch.zeros(2, 3, 8, 8)])


def test_grayscale_dataset() -> None:
    explorer = AugmentationExplorer(TinyDataset(mode="L"), n=3)
    out = explorer.transform(TinyDataset(mode="L").images[0])
    assert out.shape == (1, 32, 32) and explorer.transform.transforms[-1].mean == (0.5,)


def test_figure_has_before_and_after_rows(explorer: AugmentationExplorer) -> None:
    fig = explorer.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 8
    labels = explorer.labels
    assert [ax.get_title() for ax in fig.axes[:4]] == [f"class{i}" for i in labels]
    assert fig.axes[0].get_ylabel() == "original" and fig.axes[4].get_ylabel() == "augmented"


def test_display_outside_a_kernel_is_text_only(explorer: AugmentationExplorer) -> None:
    from IPython.display import display

    assert set(explorer._repr_mimebundle_()) == {"text/plain"}
    assert "RandomRotation" in repr(explorer)
    display(explorer)  # plain Python: prints the repr, does not fail


def test_display_in_a_kernel_offers_widget_and_static_png(
        explorer: AugmentationExplorer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(viz, "in_notebook_kernel", lambda: True)
    monkeypatch.delenv("COURSE_WIDGETS", raising=False)
    bundle = explorer._repr_mimebundle_()
    assert bundle[WIDGET_MIME]["model_id"] == explorer.ui.model_id
    assert Image.open(io.BytesIO(bundle["image/png"])).format == "PNG"
    monkeypatch.setenv("COURSE_WIDGETS", "0")
    assert set(explorer._repr_mimebundle_()) == {"text/plain", "image/png"}
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    assert set(explorer._repr_mimebundle_()) == {"text/plain", WIDGET_MIME}


def test_display_in_a_real_kernel_without_frontend(tmp_path: Any) -> None:
    """What nbval does: run the cell in a kernel nobody renders; it must not fail."""
    import nbclient
    import nbformat

    code = ("import numpy as np\nfrom PIL import Image\n"
            "from course_utils.widgets import AugmentationExplorer\n"
            "ims = [Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)) for i in range(5)]\n"
            "AugmentationExplorer([(im, 0) for im in ims], n=3)")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=120, resources={"metadata": {"path": tmp_path}}).execute()
    data = notebook.cells[0].outputs[0]["data"]
    assert {"text/plain", "image/png", WIDGET_MIME} <= set(data)
