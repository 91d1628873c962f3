"""Generated offline stand-ins for CIFAR-10 and MNIST, used when the real data is absent.

Both are learnable but not trivial; their ``.source`` is ``"synthetic"``, and the
banner (``describe_source``) says ``synthetic (offline stand-in)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image

from .formats import ArrayImageDataset

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
LABEL_NOISE = 0.3  # the share of CIFAR-10 stand-in images with a random label
MNIST_CLASSES = (
    "0 - zero",
    "1 - one",
    "2 - two",
    "3 - three",
    "4 - four",
    "5 - five",
    "6 - six",
    "7 - seven",
    "8 - eight",
    "9 - nine",
)


def _shape(cls: int, yy: np.ndarray, xx: np.ndarray, size: np.ndarray) -> np.ndarray:
    """Boolean mask of class ``cls``'s shape on centred coordinates, for the CIFAR-10 stand-in."""
    r = np.sqrt(xx**2 + yy**2)
    bar = size * 0.25
    return [
        lambda: (np.abs(yy) < bar) & (np.abs(xx) < size * 1.2),  # wide bar
        lambda: (np.abs(yy) < size * 0.8) & (np.abs(xx) < size * 0.8),  # square
        lambda: r < size * 0.6,  # disc
        lambda: (yy > -size) & (yy < size) & (np.abs(xx) < (yy + size) * 0.5),  # triangle
        lambda: (np.abs(xx) < bar) & (np.abs(yy) < size * 1.2),  # tall bar
        lambda: (r > size * 0.6) & (r < size),  # ring
        lambda: ((np.abs(xx) < bar) | (np.abs(yy) < bar)) & (r < size * 1.2),  # plus
        lambda: (np.abs(xx - yy) < size * 0.35) & (r < size * 1.3),  # diagonal
        lambda: (np.sin(yy * 1.6) > 0.2) & (r < size * 1.3),  # stripes
        lambda: ((np.floor(xx / 4) + np.floor(yy / 4)) % 2 == 0) & (r < size * 1.3),  # checkers
    ][cls]()


def _cifar_masks(
    label: np.ndarray, rng: np.random.Generator, *, shift: float, size: tuple[float, float]
) -> np.ndarray:
    """``(n, 32, 32, 1)`` masks: each image's class shape at a random place and size."""
    n, grid = len(label), np.arange(32, dtype=np.float32)
    centre = 15.5 + rng.uniform(-shift, shift, size=(n, 2)).astype(np.float32)
    scale = rng.uniform(*size, size=(n, 1, 1)).astype(np.float32)
    masks = np.zeros((n, 32, 32), dtype=bool)
    for cls in range(10):  # each shape only on its own images
        i = np.flatnonzero(label == cls)
        yy = grid[None, :, None] - centre[i, 0, None, None]
        xx = grid[None, None, :] - centre[i, 1, None, None]
        masks[i] = _shape(cls, yy, xx, scale[i])
    return masks[..., None]


def synthetic_cifar10(
    *, train: bool, n: int | None = None, seed: int = 0, label_noise: float = LABEL_NOISE
) -> ArrayImageDataset:
    """A 32x32 RGB stand-in for CIFAR-10: one shape per class, random colours, places and sizes.

    Like CIFAR-10 it cannot be learned perfectly: a share ``label_noise`` of the images get
    their labels shuffled among themselves (so each class keeps its count), as ambiguous or
    mislabelled photos would; about 1 in 10 of those keeps its own label by chance. A
    network therefore tops out near ``1 - 0.9 * label_noise`` (73 % by default).
    ``label_noise=0`` is easy: LeNet reaches about 100 %.
    """
    n = n or (5000 if train else 1000)
    rng = np.random.default_rng(seed + (0 if train else 1))
    label = np.arange(n) % 10
    rng.shuffle(label)
    mask = _cifar_masks(label, rng, shift=4, size=(7, 11))
    fg = rng.uniform(0.55, 1.0, size=(n, 1, 1, 3)).astype(np.float32)
    bg = rng.uniform(0.0, 0.4, size=(n, 1, 1, 3)).astype(np.float32)
    img = np.where(mask, fg, bg) + rng.normal(0, 0.06, size=(n, 32, 32, 3)).astype(np.float32)
    data = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    noisy = np.flatnonzero(rng.random(n) < label_noise)
    label[noisy] = rng.permutation(label[noisy])  # random labels; every class keeps its count
    return ArrayImageDataset(data, label, CIFAR10_CLASSES, source="synthetic")


@lru_cache(maxsize=1)
def _digit_glyphs() -> np.ndarray:
    """Ten 28x28 digit templates drawn with Pillow's built-in font."""
    from PIL import ImageDraw, ImageFont

    # A scalable font (Pillow >= 10.1): the older bitmap font drew digits a third this size, a
    # different and much harder stand-in (73.6 % instead of 93.8 % in test_data's small CNN).
    font = ImageFont.load_default(size=22)
    glyphs = np.zeros((10, 28, 28), dtype=np.float32)
    for digit in range(10):
        canvas = Image.new("L", (28, 28))
        ImageDraw.Draw(canvas).text((14, 14), str(digit), fill=255, font=font, anchor="mm")
        glyphs[digit] = np.asarray(canvas, dtype=np.float32) / 255
    return glyphs


def synthetic_mnist(*, train: bool, n: int | None = None, seed: int = 0) -> ArrayImageDataset:
    """A learnable 28x28 grey stand-in for MNIST: drawn digits, shifted, scaled and noisy."""
    n = n or (6000 if train else 1000)
    rng = np.random.default_rng(seed + (10 if train else 11))
    label = np.arange(n) % 10
    rng.shuffle(label)
    glyphs = _digit_glyphs()[label]
    shifts = rng.integers(-3, 4, size=(n, 2))
    img = np.stack([np.roll(g, tuple(s), axis=(0, 1)) for g, s in zip(glyphs, shifts, strict=True)])
    img = img * rng.uniform(0.7, 1.0, size=(n, 1, 1)) + rng.normal(0, 0.08, size=img.shape)
    data = (np.clip(img, 0, 1) * 255).astype(np.uint8)
    return ArrayImageDataset(data, label, MNIST_CLASSES, source="synthetic")
