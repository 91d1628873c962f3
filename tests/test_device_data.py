"""Tests for course_utils.data.batch_augment and .device_loader: BatchAugment and DeviceLoader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF
from torch.utils.data import Subset
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

from course_utils.data import STATE_KEYS, ArrayImageDataset, BatchAugment, DeviceLoader

OFF = dict(hflip=0, degrees=0, shear=0, scale=None, brightness=0, contrast=0, saturation=0)


def _images(n: int, *, seed: int = 0, size: int = 16) -> torch.Tensor:
    """Random float RGB images in [0, 1], all different and none left-right symmetric."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g)


def _params(n: int, **given: torch.Tensor) -> dict[str, torch.Tensor]:
    """Neutral BatchAugment parameters with some of them replaced."""
    params = {
        "flip": torch.zeros(n, dtype=torch.bool),
        "angle": torch.zeros(n),
        "shear": torch.zeros(n),
        "scale": torch.ones(n),
        "factors": torch.ones(n, 3),
        "order": torch.tensor([[0, 1, 2]] * n),
    }
    params.update(given)
    return params


def _uint8_dataset(n: int, *, seed: int = 0, grey: bool = False) -> ArrayImageDataset:
    """A small random uint8 ArrayImageDataset (labels 0..9 repeating)."""
    rng = np.random.default_rng(seed)
    shape = (n, 8, 8) if grey else (n, 8, 8, 3)
    data = rng.integers(0, 256, size=shape, dtype=np.uint8)
    return ArrayImageDataset(data, np.arange(n) % 10, [str(i) for i in range(10)], source="synthetic")


# ------------------------------------------------------------ BatchAugment
def test_flip_half_of_a_thousand_images_exactly_mirrored() -> None:
    x = _images(1000)
    aug = BatchAugment(**{**OFF, "hflip": 0.5}, generator=torch.Generator().manual_seed(1))
    out = aug(x)
    flipped = torch.tensor([torch.equal(o, torch.flip(i, dims=[-1])) for o, i in zip(out, x, strict=False)])
    kept = torch.tensor([torch.equal(o, i) for o, i in zip(out, x, strict=False)])
    assert bool((flipped ^ kept).all())  # every image is exactly one of the two
    assert 400 <= int(flipped.sum()) <= 600


def test_each_image_gets_its_own_rotation() -> None:
    aug = BatchAugment(**{**OFF, "degrees": 10}, generator=torch.Generator().manual_seed(0))
    angles = aug.sample_params(200)["angle"]
    assert angles.unique().numel() == 200
    assert -10 <= float(angles.min()) < -8 and 8 < float(angles.max()) <= 10
    same = _images(1).expand(2, -1, -1, -1).contiguous()
    out = aug(same)
    assert not torch.equal(out[0], out[1])


def test_all_off_is_exact_identity() -> None:
    x = _images(8)
    aug = BatchAugment(**OFF)
    assert torch.equal(aug(x), x)
    assert repr(aug) == "BatchAugment(identity)"
    assert not aug.geometric and not aug.color


def test_default_outputs_stay_in_unit_range_and_change_images() -> None:
    x = _images(64)
    out = BatchAugment(generator=torch.Generator().manual_seed(0))(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert not torch.equal(out, x)


def test_same_generator_seed_same_augmentation() -> None:
    x = _images(16)
    a = BatchAugment(generator=torch.Generator().manual_seed(3))(x)
    b = BatchAugment(generator=torch.Generator().manual_seed(3))(x)
    assert torch.equal(a, b)


@pytest.mark.parametrize("angle", [7.0, -30.0, 90.0])
def test_rotation_matches_torchvision_rotate(angle: float) -> None:
    x = _images(3)
    aug = BatchAugment(**{**OFF, "degrees": 10}, interpolation="bilinear")
    out = aug.apply(x, _params(3, angle=torch.full((3,), angle)))
    ref = TF.rotate(x, angle, interpolation=InterpolationMode.BILINEAR)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_shear_and_scale_match_torchvision_affine_and_flip_is_fused() -> None:
    x = _images(2)
    aug = BatchAugment(**{**OFF, "shear": 10, "hflip": 0.5}, interpolation="bilinear")
    params = _params(
        2, shear=torch.tensor([8.0, -6.0]), scale=torch.tensor([1.15, 0.85]), flip=torch.tensor([True, False])
    )
    out = aug.apply(x, params)
    ref0 = TF.affine(x[0].flip(-1), 0.0, [0, 0], 1.15, [8.0, 0.0], InterpolationMode.BILINEAR)
    ref1 = TF.affine(x[1], 0.0, [0, 0], 0.85, [-6.0, 0.0], InterpolationMode.BILINEAR)
    torch.testing.assert_close(out, torch.stack([ref0, ref1]), atol=1e-5, rtol=0)


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_color_jitter_matches_torchvision_definitions(order: tuple[int, int, int]) -> None:
    x = _images(2)
    factors = torch.tensor([[1.15, 0.85, 1.2], [0.8, 1.2, 0.9]])
    aug = BatchAugment(**{**OFF, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2})
    out = aug.apply(x, _params(2, factors=factors, order=torch.tensor([order] * 2)))
    fns = (TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation)
    for i in range(2):
        ref = x[i]
        for op in order:
            ref = fns[op](ref, float(factors[i, op]))
        torch.testing.assert_close(out[i], ref, atol=1e-6, rtol=0)


def test_color_factors_and_orders_are_drawn_per_image() -> None:
    aug = BatchAugment(
        brightness=0.2, contrast=0.1, saturation=None, generator=torch.Generator().manual_seed(0)
    )
    p = aug.sample_params(600)
    b, c, s = p["factors"].unbind(dim=1)
    assert 0.8 <= float(b.min()) < 0.82 and 1.18 < float(b.max()) <= 1.2
    assert float(c.min()) >= 0.9 and float(c.max()) <= 1.1
    assert torch.equal(s, torch.ones(600))
    assert torch.equal(p["order"].sort(dim=1).values, torch.tensor([[0, 1, 2]] * 600))
    assert p["order"].unique(dim=0).shape[0] == 6  # all six orders occur


def test_grey_images_work_and_saturation_is_a_no_op_on_them() -> None:
    x = _images(4)[:, :1]
    aug = BatchAugment(**{**OFF, "saturation": 0.5})
    assert torch.equal(aug(x), x)
    assert BatchAugment(generator=torch.Generator().manual_seed(0))(x).shape == (4, 1, 16, 16)


def test_from_state_reads_the_widget_keys() -> None:
    state = {
        "hflip": 0.5,
        "degrees": 10,
        "shear": 0,
        "scale": None,
        "brightness": 0.2,
        "contrast": 0,
        "saturation": None,
    }
    aug = BatchAugment.from_state(state)
    assert set(state) == set(STATE_KEYS)
    assert aug.hflip == 0.5 and aug.degrees == (-10.0, 10.0) and aug.brightness == (0.8, 1.2)
    assert aug.shear is None and aug.scale is None and aug.contrast is None and aug.saturation is None
    assert BatchAugment.from_state(aug.state()).state() == aug.state()
    assert BatchAugment.from_state({}).state() == BatchAugment(**OFF).state()
    with pytest.raises(ValueError, match=r"unknown state key\(s\) \['hue'\]"):
        BatchAugment.from_state({"hue": 0.1})


def test_bad_input_is_refused() -> None:
    with pytest.raises(TypeError, match="float batch"):
        BatchAugment()(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="probability"):
        BatchAugment(hflip=2)


# ------------------------------------------------------------ DeviceLoader
def test_every_sample_once_per_epoch_and_len() -> None:
    ds = _uint8_dataset(103)
    loader = DeviceLoader((ds.data, np.arange(103)), 10, shuffle=True, seed=0)
    assert len(loader) == 11 and loader.dataset_size == 103
    seen = torch.cat([y for _, y in loader])
    assert sorted(seen.tolist()) == list(range(103))
    sizes = [x.shape[0] for x, _ in loader]
    assert sizes == [10] * 10 + [3]


def test_drop_last_drops_the_short_batch() -> None:
    loader = DeviceLoader(_uint8_dataset(103), 10, drop_last=True)
    batches = list(loader)
    assert len(loader) == len(batches) == 10
    assert all(x.shape == (10, 3, 8, 8) for x, _ in batches)
    assert len(DeviceLoader(_uint8_dataset(100), 10, drop_last=True)) == 10


def _orders(loader: DeviceLoader, epochs: int) -> list[list[int]]:
    """The label sequence of each of ``epochs`` epochs."""
    return [torch.cat([y for _, y in loader]).tolist() for _ in range(epochs)]


def test_order_reproducible_under_seed_and_new_each_epoch() -> None:
    tensors = (_uint8_dataset(50).data, np.arange(50))
    a = _orders(DeviceLoader(tensors, 8, seed=5), 3)
    b = _orders(DeviceLoader(tensors, 8, seed=5), 3)
    c = _orders(DeviceLoader(tensors, 8, seed=6), 1)
    assert a == b
    assert a[0] != a[1] != a[2] and a[0] != c[0]
    later = DeviceLoader(tensors, 8, seed=5)
    later.set_epoch(2)
    assert _orders(later, 1)[0] == a[2]
    assert _orders(DeviceLoader(tensors, 8, shuffle=False), 1)[0] == list(range(50))


def test_state_dict_restores_the_order() -> None:
    loader = DeviceLoader((_uint8_dataset(40).data, np.arange(40)), 7, seed=0)
    _orders(loader, 1)
    state = loader.state_dict()
    expected = _orders(loader, 1)
    loader.load_state_dict(state)
    assert _orders(loader, 1) == expected
    with pytest.raises(ValueError, match="integer 'seed' and 'epoch', got '0' and 1"):
        loader.load_state_dict({**state, "seed": "0"})


def test_normalisation_matches_torchvision_to_tensor_normalize() -> None:
    ds = _uint8_dataset(20)
    ds.transform = T.Compose([T.ToTensor(), T.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    x, y = next(iter(DeviceLoader(ds, 20, shuffle=False)))
    ref = torch.stack([ds[i][0] for i in range(20)])
    assert x.dtype == torch.float32 and y.dtype == torch.int64
    torch.testing.assert_close(x, ref, atol=1e-6, rtol=0)
    assert y.tolist() == ds.targets


def test_cifar_subset_file_normalisation(fake_cifar_subset) -> None:
    with np.load(fake_cifar_subset / "cifar10_subset.npz") as npz:
        images, labels = npz["x_train"], npz["y_train"]
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    ds = ArrayImageDataset(
        images,
        labels,
        [str(i) for i in range(10)],
        source="subset",
        transform=T.Compose([T.ToTensor(), T.Normalize(mean, std)]),
    )
    loader = DeviceLoader(ds, 40, shuffle=True, mean=mean, std=std, seed=1)
    x, y = next(iter(loader))
    ref = torch.stack([ds[i][0] for i in range(40)])
    idx = torch.tensor([_find_image(ref, xi) for xi in x])
    assert sorted(idx.tolist()) == list(range(40))
    torch.testing.assert_close(x, ref[idx], atol=1e-6, rtol=0)
    assert y.tolist() == [int(labels[i]) for i in idx]


def _find_image(stack: torch.Tensor, image: torch.Tensor) -> int:
    """Index of the image in ``stack`` closest to ``image``."""
    return int((stack - image).abs().flatten(1).sum(1).argmin())


def test_grey_torchvision_layout_and_classes() -> None:
    ds = _uint8_dataset(12, grey=True)
    ds.data, ds.targets = torch.as_tensor(ds.data), torch.as_tensor(ds.targets)  # MNIST's format
    loader = DeviceLoader(ds, 12, shuffle=False, mean=(0.1307,), std=(0.3081,))
    x, _ = next(iter(loader))
    ref = torch.stack(
        [T.Normalize((0.1307,), (0.3081,))(T.ToTensor()(ds.data[i].numpy())) for i in range(12)]
    )
    assert x.shape == (12, 1, 8, 8) and loader.classes == [str(i) for i in range(10)]
    torch.testing.assert_close(x, ref, atol=1e-6, rtol=0)
    plain, _ = next(iter(DeviceLoader(ds, 12, shuffle=False, mean=None, std=None)))
    assert torch.equal(plain, ds.data.unsqueeze(1).float().div(255))


def test_tuple_layouts_and_subset_give_the_same_batches() -> None:
    ds = _uint8_dataset(10)
    nhwc = next(iter(DeviceLoader((ds.data, ds.targets), 10, shuffle=False)))[0]
    nchw = next(iter(DeviceLoader((ds.data.transpose(0, 3, 1, 2), ds.targets), 10, shuffle=False)))[0]
    assert torch.equal(nhwc, nchw)
    sub = DeviceLoader(Subset(ds, [3, 1]), 2, shuffle=False)
    x, y = next(iter(sub))
    assert torch.equal(x, nhwc[[3, 1]]) and y.tolist() == [3, 1]


def test_augment_only_while_training() -> None:
    ds = _uint8_dataset(16)
    aug = BatchAugment(generator=torch.Generator().manual_seed(0))
    plain = next(iter(DeviceLoader(ds, 16, shuffle=False)))[0]
    loader = DeviceLoader(ds, 16, shuffle=False, augment=aug)
    augmented = next(iter(loader))[0]
    assert not torch.equal(augmented, plain)
    assert float(augmented.min()) >= -1.0 and float(augmented.max()) <= 1.0  # normalised after
    assert torch.equal(next(iter(loader.eval()))[0], plain)
    assert "BatchAugment" in repr(loader)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(TypeError, match="uint8"):
        DeviceLoader((np.zeros((4, 8, 8, 3), dtype=np.float32), [0] * 4), 2)
    with pytest.raises(TypeError, match=".data and .targets"):
        DeviceLoader(object(), 2)
    with pytest.raises(ValueError, match="mean"):
        DeviceLoader(_uint8_dataset(4), 2, mean=(0.1, 0.2), std=(1, 1))


def test_channels_last_batches_hold_the_same_values() -> None:
    ds = _uint8_dataset(6)
    plain = next(iter(DeviceLoader(ds, 6, shuffle=False)))[0]
    cl = next(iter(DeviceLoader(ds, 6, shuffle=False, channels_last=True)))[0]
    assert cl.is_contiguous(memory_format=torch.channels_last) and not plain.is_contiguous(
        memory_format=torch.channels_last
    )
    assert torch.equal(cl, plain)


def test_torchvision_mnist_from_idx_files(fake_mnist) -> None:
    from torchvision import datasets

    ds = datasets.MNIST(root=str(fake_mnist), train=False, download=False, transform=T.ToTensor())
    loader = DeviceLoader(ds, 8, shuffle=False, mean=None, std=None)
    x, y = next(iter(loader))
    assert loader.dataset_size == 20 and len(loader) == 3 and len(loader.classes) == 10
    assert x.shape == (8, 1, 28, 28)
    torch.testing.assert_close(x, torch.stack([ds[i][0] for i in range(8)]), atol=1e-6, rtol=0)
    assert y.tolist() == ds.targets[:8].tolist()


def test_mean_and_std_as_arrays_tensors_or_one_number() -> None:
    """compute_mean_std gives tuples, but arrays, tensors and a single number work too."""
    ds = _uint8_dataset(6)
    mean, std = (0.4914, 0.4822, 0.4465), (0.247, 0.243, 0.261)
    reference = next(iter(DeviceLoader(ds, 6, shuffle=False, mean=mean, std=std)))[0]
    for m, s in [(np.array(mean), np.array(std)), (torch.tensor(mean), torch.tensor(std))]:
        x = next(iter(DeviceLoader(ds, 6, shuffle=False, mean=m, std=s)))[0]
        assert torch.equal(x, reference)
    half = next(iter(DeviceLoader(ds, 6, shuffle=False, mean=0.5, std=np.float64(0.5))))[0]
    assert torch.equal(half, next(iter(DeviceLoader(ds, 6, shuffle=False)))[0])  # the default 0.5
    torch.testing.assert_close(
        half,
        torch.as_tensor(ds.data).permute(0, 3, 1, 2).float().div(255).sub(0.5).div(0.5),
        atol=1e-6,
        rtol=0,
    )
