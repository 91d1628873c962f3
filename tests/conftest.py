"""Shared fixtures: real data beside the checkout when present, and a clean environment."""
from __future__ import annotations

import os
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
