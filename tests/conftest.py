"""Shared fixtures: real data beside the checkout when present, and a clean environment."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

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
        x[i, 0, 14 * r + 3: 14 * r + 11, 14 * c + 3: 14 * c + 11] += 2.0
    return TensorDataset(x, y)


def _features(n: int = 64, seed: int = 0) -> TensorDataset:
    """A small fixed classification problem: 8 features, 3 classes."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g))


def _loader(ds: TensorDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0) -> DataLoader:
    """A DataLoader whose order comes from its own seeded generator."""
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


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
    """quadrants(n, seed), features(n, seed), loader(ds, batch_size, shuffle=, seed=), SmallNet, DropoutNet."""
    return types.SimpleNamespace(quadrants=_quadrant_images, features=_features, loader=_loader,
                                 SmallNet=SmallNet, DropoutNet=DropoutNet)


# ---- data
# Fake data files in the real formats (as torchvision's datasets_utils.inject_fake_data
# writes them), so the source, format and fallback tests run without ../shared/data.
FAKE_CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                      "dog", "frog", "horse", "ship", "truck")


def write_idx(path: Path, array) -> Path:
    """Write a uint8 array as an IDX file (MNIST's format): magic, big-endian sizes, bytes."""
    import numpy as np

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())
    return path


def fake_images(n: int, shape: tuple[int, ...], seed: int):
    """``n`` random uint8 images and balanced labels 0..9."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), np.arange(n, dtype=np.int64) % 10


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
    np.savez(folder / "cifar10_subset.npz", x_train=x_train, y_train=y_train, x_test=x_test,
             y_test=y_test, classes=np.array(FAKE_CIFAR_CLASSES))
    return folder
