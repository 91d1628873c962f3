"""Data files in the real formats, written by tests (the fixtures in conftest.py use them too).

A module of its own, not conftest: ``from conftest import ...`` finds whichever conftest pytest
imported last (tests/browser has one as well).
"""

from __future__ import annotations

from pathlib import Path


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
