"""Shared fixtures: real data beside the checkout when present, and a clean environment."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for fakes, under --import-mode=importlib too (test-colab)
from fakes import fake_images, write_idx  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real data folder beside the checkout (../shared/data); skips when absent."""
    if not (SHARED_DATA / "cifar10_subset.npz").is_file():
        pytest.skip("../shared/data is not beside this checkout")
    return SHARED_DATA


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No network, an empty data root and no COURSE_DATA_DIR: only the stand-in is left."""
    from course_utils import data

    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("COURSE_DATA_ROOT", str(tmp_path / "root"))
    monkeypatch.delenv("COURSE_DATA_DIR", raising=False)
    data.network_available.cache_clear()
    yield tmp_path
    data.network_available.cache_clear()


SESSION_START = time.time()


@pytest.fixture
def session_start() -> float:
    """When this pytest session began (results written since then are this session's)."""
    return SESSION_START


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_notebooks: run after the nbval notebook items")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Move the checks of recorded results behind the notebooks that record them."""
    items.sort(key=lambda item: item.get_closest_marker("after_notebooks") is not None)


# ---- engine
# Toy data, models and loaders for the engine, checkpoint and metrics tests, and the device
# parametrization of torchvision's cpu_and_cuda(): a test that takes `device` runs on the CPU
# and on CUDA (skipped without a GPU).
import types  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

_CUDA = pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"))


@pytest.fixture(params=["cpu", _CUDA])
def device(request: pytest.FixtureRequest) -> torch.device:
    """Each device a loop can run on here: the CPU, and CUDA when present."""
    return torch.device(request.param)


def _quadrant_images(n: int = 256, seed: int = 0) -> TensorDataset:
    """Learnable 1x28x28 images: the class (0..3) is the quadrant holding a bright square."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(n, 1, 28, 28, generator=g)
    y = torch.arange(n) % 4
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 2)
        x[i, 0, 14 * r + 3 : 14 * r + 11, 14 * c + 3 : 14 * c + 11] += 2.0
    return TensorDataset(x, y)


def _features(n: int = 64, seed: int = 0) -> TensorDataset:
    """A small fixed classification problem: 8 features, 3 classes."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g))


def _loader(ds: TensorDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader whose order comes from its own seeded generator."""
    return DataLoader(
        ds, batch_size=batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed)
    )


class SmallNet(nn.Module):
    """Two linear layers with dropout in between (keys: fc1.*, fc2.*), for 8 features."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class DropoutNet(nn.Module):
    """MnistCNN (4 classes) behind dropout, so the torch RNG matters during training."""

    def __init__(self) -> None:
        from course_utils import models

        super().__init__()
        self.body = models.MnistCNN(num_classes=4)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.dropout(x))


@pytest.fixture
def toys() -> types.SimpleNamespace:
    """Toy data and models for fast tests.

    quadrants(n, seed), features(n, seed), loader(ds, batch_size, shuffle=, seed=),
    SmallNet, DropoutNet.
    """
    return types.SimpleNamespace(
        quadrants=_quadrant_images,
        features=_features,
        loader=_loader,
        SmallNet=SmallNet,
        DropoutNet=DropoutNet,
    )


# ---- data
# Fake data files in the real formats (as torchvision's datasets_utils.inject_fake_data
# writes them), so the source, format and fallback tests run without ../shared/data.
FAKE_CIFAR_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@pytest.fixture
def fake_mnist(tmp_path: Path) -> Path:
    """A root holding ``MNIST/raw`` with 30 training and 20 test digits in IDX files."""
    root = tmp_path / "fake_mnist"
    for prefix, n, seed in (("train", 30, 0), ("t10k", 20, 1)):
        images, labels = fake_images(n, (28, 28), seed)
        write_idx(root / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", labels)
    return root


@pytest.fixture
def fake_cifar_subset(tmp_path: Path) -> Path:
    """A folder holding ``cifar10_subset.npz`` in the layout of ../shared/data/README.md (40/20 images)."""
    import numpy as np

    folder = tmp_path / "fake_subset"
    folder.mkdir()
    (x_train, y_train), (x_test, y_test) = fake_images(40, (32, 32, 3), 2), fake_images(20, (32, 32, 3), 3)
    np.savez(
        folder / "cifar10_subset.npz",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        classes=np.array(FAKE_CIFAR_CLASSES),
    )
    return folder


# ---- site (issue 17): a small course site, built once per session --------------------------
SITE_SEARCH_WORD = "quokkasaurus"  # appears only in the first test lesson


def _site_notebook(*cells: tuple[str, str]) -> object:
    import nbformat

    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    nb = nbformat.v4.new_notebook(cells=[make[kind](source) for kind, source in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def _site_notebooks(root: Path) -> list[Path]:
    """Two lessons and a solution that show what real lessons show: figures, a widget with its
    still picture, a progress bar, a machine path in a printout, and a recorded result."""
    import nbformat

    plot = (
        "%matplotlib inline\nimport matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([0, 1, 2], [{}, 1, 0])"
    )
    lesson1 = _site_notebook(
        ("code", "import os\nfrom course_utils import report"),
        (
            "md",
            f"# 01 · Alpha lesson\n\nThe {SITE_SEARCH_WORD} learns to classify images.\n\n"
            "## A curve\n\nSee [the next lesson](02_beta.ipynb).",
        ),
        ("code", plot.format(2)),
        ("code", "print('working in', os.getcwd())\n" + plot.format(3)),
        (
            "code",
            "subset = os.path.join(os.environ['COURSE_DATA_DIR'], 'cifar10_subset.npz')\n"
            "report.record('01', data_source=f'cifar10: subset ({subset})', test_acc=0.4321,"
            " seconds=1.5)",
        ),
    )
    lesson2 = _site_notebook(
        ("md", "# 02 · Beta lesson\n\nThe augmentation explorer, on eight random images."),
        (
            "code",
            "import numpy as np\nfrom PIL import Image\nimport ipywidgets as W\n"
            "from course_utils import widgets\nrng = np.random.default_rng(0)\n"
            "images = [(Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)), i % 2)"
            " for i in range(8)]\nW.IntProgress(value=3, max=10)",
        ),
        ("code", "explorer = widgets.AugmentationExplorer(images, n=4, seed=0)\nexplorer"),
    )
    solution = _site_notebook(("md", "# 01 · Solutions\n\nOne exercise, solved."), ("code", plot.format(5)))
    (root / "solutions").mkdir(parents=True)
    paths = [root / "01_alpha.ipynb", root / "02_beta.ipynb", root / "solutions" / "01_alpha.ipynb"]
    for nb, path in zip((lesson1, lesson2, solution), paths, strict=False):
        nbformat.write(nb, path)
    return paths


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Notebooks executed by ``report.run_notebooks`` (as ``make course`` does), then the site
    built from them by ``docs/make_site.py`` (as ``make site`` does), in a temporary build/."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("site")
    build, data_dir = root / "build", root / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "COURSE_WIDGETS")}
    env.update(
        COURSE_BUILD_DIR=str(build),
        COURSE_PROFILE="smoke",
        COURSE_OFFLINE="1",
        COURSE_DATA_DIR=str(data_dir),
        COURSE_LIVE_PLOT="0",
    )
    paths = _site_notebooks(root / "notebooks")
    run = subprocess.run(
        [sys.executable, "-m", "course_utils.course.report", "run", *map(str, paths)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    start = time.perf_counter()
    made = subprocess.run(
        [sys.executable, str(REPO / "docs" / "make_site.py")],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - start
    assert made.returncode == 0, made.stdout + made.stderr
    return {
        "root": root,
        "build": build,
        "site": build / "site",
        "seconds": seconds,
        "log": made.stdout + made.stderr,
        "word": SITE_SEARCH_WORD,
    }


# (end of site)
