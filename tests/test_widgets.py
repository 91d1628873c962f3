"""Tests for course_utils.widgets.AugmentationExplorer, on a tiny in-test dataset of PIL images."""

from __future__ import annotations

import io
import json
import sys
import time
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from PIL import Image
from torchvision import transforms as T
from traitlets import TraitError

from course_utils import data, viz, widgets
from course_utils.widgets import AugmentationExplorer

TYPES = {
    "RandomHorizontalFlip": T.RandomHorizontalFlip,
    "RandomRotation": T.RandomRotation,
    "RandomAffine": T.RandomAffine,
    "ColorJitter": T.ColorJitter,
}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
DEFAULT_STATE = {
    "hflip": 0.5,
    "degrees": 10.0,
    "shear": 10.0,
    "scale": (0.8, 1.2),
    "brightness": 0.2,
    "contrast": 0.2,
    "saturation": 0.2,
}


class TinyDataset(torch.utils.data.Dataset):
    """Ten random 32x32 images with .classes and .targets; an optional transform."""

    classes = [f"class{i}" for i in range(10)]

    def __init__(self, transform: Any = None, mode: str = "RGB", n: int = 10) -> None:
        rng = np.random.default_rng(0)
        shape = (32, 32, 3) if mode == "RGB" else (32, 32)
        self.images = [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for _ in range(n)]
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
    assert explorer.spec == data.AugmentSpec() and explorer.state() == DEFAULT_STATE
    rotation, affine, jitter = explorer.augmentations[1:]
    assert rotation.degrees == [-10.0, 10.0]
    assert affine.degrees == [0.0, 0.0] and affine.shear == [-10.0, 10.0]
    assert affine.scale == (0.8, 1.2) and jitter.brightness == (0.8, 1.2)
    tail = explorer.transform.transforms[-2:]
    assert isinstance(tail[0], T.ToTensor) and tail[1].mean == (0.5,) * 3 == tail[1].std
    augment = T.Compose(data.preset("lenet_augment").transforms[1:-2])
    assert repr(T.Compose(explorer.augmentations)) == repr(augment)  # one spec, one pipeline


@pytest.mark.parametrize("name", list(TYPES))
def test_each_checkbox_adds_or_removes_exactly_its_transform(
    explorer: AugmentationExplorer, name: str
) -> None:
    box = explorer.boxes[name]
    box.value = False
    assert types(explorer) == [t for g, t in TYPES.items() if g != name]
    assert all(explorer.sliders[k].disabled for k in data.AugmentSpec.GROUPS[name])
    assert all(explorer.state()[k] is None for k in data.AugmentSpec.GROUPS[name])
    box.value = True
    assert types(explorer) == list(TYPES.values()) and explorer.state() == DEFAULT_STATE
    explorer.set(**{k: None for g, keys in data.AugmentSpec.GROUPS.items() if g != name for k in keys})
    assert types(explorer) == [TYPES[name]]
    assert [b.value for b in explorer.boxes.values()] == [g == name for g in TYPES]


def test_slider_values_reach_the_transforms(explorer: AugmentationExplorer) -> None:
    c = explorer.sliders
    c["hflip"].value, c["degrees"].value, c["shear"].value = 0.3, 25.0, 5.0
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


def test_png_is_the_before_after_grid_and_follows_the_widgets(explorer: AugmentationExplorer) -> None:
    grid = Image.open(io.BytesIO(explorer.png))
    assert grid.size == (4 + 4 * 100, 4 + 2 * 100)  # 4 columns, 2 rows of 96-px tiles
    top_left = np.asarray(grid)[4:100, 4:100]
    expected = np.asarray(explorer.originals[0].resize((96, 96), Image.Resampling.NEAREST))
    assert np.array_equal(top_left, expected)  # make_grid tiles the originals, pixel for pixel
    before = explorer.png
    explorer.sliders["degrees"].value = 40.0
    assert explorer.png != before
    explorer.sliders["degrees"].value = 10.0
    assert explorer.png == before


def test_all_boxes_off_changes_no_pixel(explorer: AugmentationExplorer) -> None:
    for box in explorer.boxes.values():
        box.value = False
    assert explorer.augmentations == [] and explorer.spec == data.AugmentSpec.off()
    reference = T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)])
    for image in TinyDataset().images:
        assert torch.equal(explorer.transform(image), reference(image))
    for before, after in zip(explorer.originals, explorer.augmented, strict=False):
        assert np.array_equal(np.asarray(before), np.asarray(after))


def test_bad_values_are_refused_and_change_nothing(explorer: AugmentationExplorer) -> None:
    with pytest.raises(TraitError):
        explorer.sliders["scale"].value = (1.2, 0.8)
    with pytest.raises(ValueError, match="min <= max"):
        explorer.set(scale=(1.2, 0.8))
    with pytest.raises(ValueError, match="degrees must lie within"):
        explorer.set(degrees=500)
    with pytest.raises(ValueError, match="unknown"):
        explorer.set(hue=0.1)
    with pytest.raises(ValueError, match="scale"):
        explorer.set(degrees=None, scale=(0.1, 1.0))  # nothing changes on error
    with pytest.raises(ValueError, match="seed"):
        explorer.set(degrees=None, seed=-1)
    assert explorer.state() == DEFAULT_STATE and explorer.seed == 0


def test_state_is_plain_and_round_trips(explorer: AugmentationExplorer) -> None:
    explorer.set(degrees=None, shear=20.0, scale=(0.7, 1.3), seed=7)
    state = explorer.state()
    assert json.loads(json.dumps(state))["scale"] == [0.7, 1.3]
    twin = AugmentationExplorer(TinyDataset(), n=4, seed=7, **state)
    assert twin.state() == state and twin.png == explorer.png
    twin = AugmentationExplorer(TinyDataset(), n=4, seed=7, spec=data.AugmentSpec.from_state(state))
    assert twin.png == explorer.png


def test_state_holds_the_parameters_in_effect(explorer: AugmentationExplorer) -> None:
    explorer.set(
        degrees=None,
        brightness=None,
        contrast=None,
        saturation=None,
        hflip=0.25,
        shear=20.0,
        scale=(0.7, 1.3),
    )
    state = explorer.state()
    assert state == {
        "hflip": 0.25,
        "degrees": None,
        "shear": 20.0,
        "scale": (0.7, 1.3),
        "brightness": None,
        "contrast": None,
        "saturation": None,
    }
    assert not explorer.boxes["RandomRotation"].value and not explorer.boxes["ColorJitter"].value
    assert json.loads(json.dumps(state))["degrees"] is None
    assert [type(t) for t in data.AugmentSpec.from_state(state).transforms()] == types(explorer)
    twin = AugmentationExplorer(TinyDataset(), n=4)
    twin.load_state(state)
    assert twin.state() == state and twin.png == explorer.png
    assert data.AugmentSpec.from_state({}).transforms() == []
    with pytest.raises(ValueError, match="unknown state key"):
        twin.load_state({"flip": True})


def test_state_feeds_the_batched_augmenter(explorer: AugmentationExplorer) -> None:
    explorer.set(degrees=None, brightness=0.4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        batch = data.BatchAugment.from_state(explorer.state())
    assert batch.spec == explorer.spec
    assert batch.hflip == 0.5 and batch.degrees is None and batch.shear == (-10.0, 10.0)
    assert batch.scale == (0.8, 1.2) and batch.brightness == pytest.approx((0.6, 1.4))
    twin = AugmentationExplorer(TinyDataset(), n=4)
    twin.load_state(batch.state())  # ranges as pairs come back as slider values
    assert twin.state() == explorer.state()


def test_a_large_n_displays_in_seconds() -> None:
    """n=1000 used to take minutes: only MAX_SHOWN images are loaded, augmented and drawn."""
    loads = []

    class Counting(TinyDataset):
        def __getitem__(self, i: int) -> tuple[Any, int]:
            loads.append(i)
            return super().__getitem__(i)

    def show(n: int) -> tuple[AugmentationExplorer, float]:
        start = time.perf_counter()
        explorer = AugmentationExplorer(Counting(n=1000), n=n)
        explorer.set(degrees=30.0)
        explorer._repr_mimebundle_()  # outside a kernel: text only, so draw the figure too
        explorer.figure().savefig(io.BytesIO(), format="png", dpi=80)
        return explorer, time.perf_counter() - start

    _, capped_s = show(widgets.MAX_SHOWN)
    loads.clear()
    with pytest.warns(UserWarning, match=f"at most {widgets.MAX_SHOWN} images"):
        explorer, large_s = show(1000)
    assert len(loads) == widgets.MAX_SHOWN  # not 1000
    assert len(explorer.originals) == len(explorer.augmented) == widgets.MAX_SHOWN
    assert (
        large_s < 3 * capped_s + 1.0 and large_s < 60.0
    )  # as fast as the capped n (a ratio: the machine is shared)
    rows = 2 * widgets.MAX_SHOWN // widgets.COLUMNS
    assert Image.open(io.BytesIO(explorer.png)).size == (4 + widgets.COLUMNS * 100, 4 + rows * 100)


def test_tensor_dataset_is_converted_back_to_pil() -> None:
    normalized = TinyDataset(T.Compose([T.ToTensor(), T.Normalize((0.5,) * 3, (0.5,) * 3)]))
    explorer = AugmentationExplorer(normalized, n=10)
    raw = TinyDataset().images
    order = np.random.default_rng(0).choice(10, 10, replace=False)
    for image, index in zip(explorer.originals, order, strict=False):
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


def test_figure_shows_the_grid_with_class_names(explorer: AugmentationExplorer) -> None:
    fig = explorer.figure()
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == [f"class{i}" for i in explorer.labels]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["original", "augmented"]
    assert ax.images[0].get_array().shape == (4 + 2 * 100, 4 + 4 * 100, 3)


def test_display_outside_a_kernel_is_text_only(explorer: AugmentationExplorer) -> None:
    from IPython.display import display

    assert set(explorer._repr_mimebundle_()) == {"text/plain"}
    assert "RandomRotation" in repr(explorer)
    display(explorer)  # plain Python: prints the repr, does not fail


def test_display_in_a_kernel_offers_widget_and_static_png(
    explorer: AugmentationExplorer, monkeypatch: pytest.MonkeyPatch
) -> None:
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

    code = (
        "import numpy as np\nfrom PIL import Image\n"
        "from course_utils.widgets import AugmentationExplorer\n"
        "ims = [Image.fromarray(np.full((8, 8, 3), i * 20, np.uint8)) for i in range(5)]\n"
        "AugmentationExplorer([(im, 0) for im in ims], n=3)"
    )
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(notebook, timeout=120, resources={"metadata": {"path": tmp_path}}).execute()
    data = notebook.cells[0].outputs[0]["data"]
    assert {"text/plain", "image/png", WIDGET_MIME} <= set(data)
