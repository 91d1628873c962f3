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
