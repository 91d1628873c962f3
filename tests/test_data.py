from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torchvision import datasets, transforms

from course_utils import config, data


# ------------------------------------------------------------ sources
def test_cifar10_from_the_subset_in_course_data_dir(monkeypatch, offline, shared_data) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data))
    train, test = data.cifar10(train=True), data.cifar10(train=False, transform=transforms.ToTensor())
    assert (train.source, len(train), len(test)) == ("subset", 5085, 1017)
    assert train.classes == list(data.CIFAR10_CLASSES)
    image, label = train[0]
    assert isinstance(image, Image.Image) and image.size == (32, 32) and label == train.targets[0]
    x, _ = test[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert data.describe_source("cifar10").startswith("subset (")


def test_mnist_from_raw_files_through_torchvision(monkeypatch, offline, shared_data) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data))
    test = data.mnist(train=False)
    assert isinstance(test, datasets.MNIST) and test.source == "torchvision"
    assert len(test) == 10_000 and test[0][1] == 7  # the first MNIST test digit is a 7


def test_torchvision_files_under_root_come_first(monkeypatch, offline, shared_data) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", "/nonexistent")
    ds = data.mnist(train=False, root=shared_data)
    assert ds.source == "torchvision" and len(ds) == 10_000


def test_offline_fallback_is_announced_and_fast(offline) -> None:
    start = time.perf_counter()
    with pytest.warns(data.OfflineDataWarning, match="OFFLINE STAND-IN.*COURSE_DATA_DIR"):
        train = data.cifar10(train=True)
    with pytest.warns(data.OfflineDataWarning):
        digits = data.mnist(train=False)
    assert time.perf_counter() - start < 5.0
    assert (train.source, len(train), train.data.shape[1:]) == ("synthetic", 5000, (32, 32, 3))
    assert (digits.source, digits.data.shape[1:]) == ("synthetic", (28, 28))
    assert np.bincount(train.targets).tolist() == [500] * 10


def test_no_network_probe_hangs_past_its_timeout(monkeypatch) -> None:
    """Without COURSE_OFFLINE the probe still returns within its timeout here (no network)."""
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    data.network_available.cache_clear()
    start = time.perf_counter()
    data.network_available("unreachable.invalid", timeout=1.0)
    assert time.perf_counter() - start < 1.5
    data.network_available.cache_clear()


def test_course_data_dir_pointing_nowhere_warns_with_the_path(monkeypatch, offline) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", "/nowhere/at/all")
    with pytest.warns(UserWarning, match="/nowhere/at/all"):
        ds = data.cifar10()
    assert ds.source == "synthetic"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing_key"])
def test_corrupt_subset_names_the_file(monkeypatch, offline, shared_data, tmp_path, damage) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    target = bad / data.SUBSET_FILE
    raw = (shared_data / data.SUBSET_FILE).read_bytes()
    if damage == "truncate":
        target.write_bytes(raw[: len(raw) // 3])
    elif damage == "garbage":
        target.write_bytes(b"not a zip file at all" * 100)
    else:
        np.savez(target, x_train=np.zeros((2, 32, 32, 3), np.uint8))
    monkeypatch.setenv("COURSE_DATA_DIR", str(bad))
    with pytest.raises(data.DataFileError) as err:
        data.cifar10(train=True)
    assert str(target) in str(err.value)
    assert ("missing arrays" if damage == "missing_key" else "truncated or corrupt") in str(err.value)


# ------------------------------------------------------------ stand-in
def test_stand_in_is_deterministic() -> None:
    a, b = data.synthetic_cifar10(train=True, n=200), data.synthetic_cifar10(train=True, n=200)
    assert np.array_equal(a.data, b.data) and a.targets == b.targets
    assert not np.array_equal(a.data, data.synthetic_cifar10(train=False, n=200).data)
    assert np.array_equal(data.synthetic_mnist(train=True, n=50).data, data.synthetic_mnist(train=True, n=50).data)


def _fit_small_cnn(train: data.ArrayImageDataset, test: data.ArrayImageDataset, channels: int) -> float:
    torch.manual_seed(0)
    to_x = lambda ds: torch.tensor(ds.data, dtype=torch.float32).reshape(len(ds), -1, *ds.data.shape[1:3]) / 255 \
        if ds.data.ndim == 3 else torch.tensor(ds.data, dtype=torch.float32).permute(0, 3, 1, 2) / 255
    xtr, ytr, xte, yte = to_x(train), torch.tensor(train.targets), to_x(test), torch.tensor(test.targets)
    model = nn.Sequential(nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
                          nn.Flatten(), nn.Linear(512, 10))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(3):
        for idx in torch.randperm(len(xtr)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        return (model(xte).argmax(1) == yte).float().mean().item()


@pytest.mark.parametrize("maker,channels", [(data.synthetic_cifar10, 3), (data.synthetic_mnist, 1)])
def test_stand_in_is_learnable(maker, channels) -> None:
    acc = _fit_small_cnn(maker(train=True, n=3000), maker(train=False, n=500), channels)
    assert acc >= 0.80, f"a small CNN reached only {acc:.1%} on the stand-in"


# ------------------------------------------------------------ subsets, presets, loaders
def test_limit_keeps_classes_balanced_and_the_interface() -> None:
    ds = data.synthetic_cifar10(train=True, n=1000)
    small = data.limit(ds, 205, seed=1)
    counts = np.bincount(small.targets, minlength=10)
    assert len(small) == 205 and counts.min() >= 20 and counts.max() <= 21
    assert isinstance(small, data.ArrayImageDataset) and small.classes == ds.classes
    assert small[0][1] == small.targets[0]
    assert data.limit(ds, None) is ds and data.limit(ds, 5000) is ds
    assert data.limit(ds, 205, seed=1).targets == small.targets


def test_limit_on_torchvision_mnist_keeps_its_type(shared_data) -> None:
    ds = datasets.MNIST(str(shared_data), train=False)
    small = data.limit(ds, 100)
    assert isinstance(small, datasets.MNIST) and len(small) == 100 and len(ds) == 10_000
    assert torch.bincount(small.targets).tolist() == [10] * 10
    image, label = small[3]
    assert isinstance(image, Image.Image) and label == int(small.targets[3])


def test_limit_refuses_zero() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        data.limit(data.synthetic_mnist(train=False, n=20), 0)


def test_presets_are_the_sources_pipelines() -> None:
    names = [type(t).__name__ for t in data.preset("lenet_augment").transforms]
    assert names == ["Resize", "RandomHorizontalFlip", "RandomRotation", "RandomAffine",
                     "ColorJitter", "ToTensor", "Normalize"]
    x = data.preset("blitz")(Image.new("RGB", (32, 32), (255, 0, 128)))
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, -1.0, 128 / 255 * 2 - 1]), atol=1e-6)
    assert data.preset("resnet", image_size=64)(Image.new("RGB", (32, 32))).shape == (3, 64, 64)
    with pytest.raises(ValueError, match="unknown preset 'nope'.*blitz"):
        data.preset("nope")


def test_make_loader_uses_the_config_and_a_seeded_generator() -> None:
    cfg = config.setup(profile="full", batch_size=8, seed=5, verbose=False)
    ds = data.synthetic_mnist(train=False, n=40, seed=0)
    ds.transform = transforms.ToTensor()
    first = [y.tolist() for _, y in data.make_loader(ds, train=True, batch_size=cfg.batch_size, seed=cfg.seed)]
    again = [y.tolist() for _, y in data.make_loader(ds, train=True, batch_size=cfg.batch_size, seed=cfg.seed)]
    ordered = next(iter(data.make_loader(ds, train=False, batch_size=cfg.batch_size, seed=cfg.seed)))[1].tolist()
    assert first == again and len(first) == 5 and ordered == ds.targets[:8]
    assert sorted(sum(first, [])) == sorted(ds.targets)


# ------------------------------------------------------------ image folders
def test_export_then_image_folder_round_trip(tmp_path) -> None:
    ds = data.synthetic_cifar10(train=False, n=60)
    ds.transform = transforms.ToTensor()  # export must ignore it
    out = data.export_image_folder(ds, tmp_path / "imgs", per_class=3)
    folder = datasets.ImageFolder(str(out))
    assert folder.classes == sorted(ds.classes) and len(folder) == 30
    for path, label in folder.samples:
        index = int(Path(path).stem)
        assert folder.classes[label] == ds.classes[ds.targets[index]]
        assert np.array_equal(np.asarray(Image.open(path)), ds.data[index])


def test_export_refuses_a_non_empty_folder_unless_overwrite(tmp_path) -> None:
    ds = data.synthetic_mnist(train=False, n=40)
    out = tmp_path / "digits"
    data.export_image_folder(ds, out, per_class=2)
    with pytest.raises(FileExistsError, match="not empty.*overwrite=True"):
        data.export_image_folder(ds, out, per_class=1)
    data.export_image_folder(ds, out, per_class=1, overwrite=True)
    assert len(list(out.rglob("*.png"))) == 10  # old files gone, nothing mixed
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="refusing to delete"):
        data.export_image_folder(ds, foreign, per_class=1, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "keep me"


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_file_stream_yields_every_item_exactly_once(tmp_path, workers) -> None:
    ds = data.synthetic_cifar10(train=False, n=50)
    root = data.export_image_folder(ds, tmp_path / "imgs", per_class=5)
    stream = data.FileStreamDataset(root, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(stream, batch_size=4, num_workers=workers)
    seen = [(x.sum().item(), y.item()) for xb, yb in loader for x, y in zip(xb, yb)]
    expected = [(transforms.ToTensor()(Image.open(p).convert("RGB")).sum().item(), y) for p, y in stream.files]
    assert len(seen) == 50 and sorted(seen) == sorted(expected)


def test_compute_mean_std_matches_numpy() -> None:
    ds = data.synthetic_cifar10(train=False, n=100)
    ds.transform = transforms.ToTensor()
    mean, std = data.compute_mean_std(ds, batch_size=32)
    pixels = ds.data.reshape(-1, 3) / 255.0
    assert np.allclose(mean, pixels.mean(0), atol=1e-9) and np.allclose(std, pixels.std(0), atol=1e-9)


# ------------------------------------------------------------ image folders: validation (lesson 07)
def _clean_folder(tmp_path: Path) -> Path:
    """Three PNGs for each of the ten stand-in classes."""
    return data.export_image_folder(data.synthetic_cifar10(train=False, n=60), tmp_path / "imgs", per_class=3)


def test_image_folder_reads_a_clean_folder_like_imagefolder(tmp_path) -> None:
    root = _clean_folder(tmp_path)
    (root / "cat" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # OS metadata: ignored
    folder = data.image_folder(root, transforms.ToTensor())
    plain = datasets.ImageFolder(str(root))
    assert isinstance(folder, datasets.ImageFolder)
    assert folder.classes == plain.classes == list(data.CIFAR10_CLASSES)
    assert folder.samples == plain.samples and len(folder) == 30
    x, y = folder[0]
    assert x.shape == (3, 32, 32) and y == 0
    assert data.check_image_folder(root) == 30


def _damage(root: Path, kind: str) -> Path:
    """Put one bad file into the 'cat' class folder; return its path."""
    if kind == "truncated_png":
        bad = root / "cat" / "truncated.png"
        good = next((root / "dog").glob("*.png")).read_bytes()
        bad.write_bytes(good[: len(good) // 2])
    elif kind == "text_as_png":
        bad = root / "cat" / "renamed.png"
        bad.write_text("this is a text file, not a picture\n")
    else:
        bad = root / "cat" / "notes.txt"
        bad.write_text("photos from the zoo, 2023\n")
    return bad


@pytest.mark.parametrize("kind,cause", [
    ("truncated_png", "corrupt or truncated image"),
    ("text_as_png", "not an image, although its name ends in '.png'"),
    ("notes_txt", "only images (.jpg, .jpeg, .png"),
])
def test_image_folder_names_the_bad_file_and_its_cause(tmp_path, kind, cause) -> None:
    root = _clean_folder(tmp_path)
    bad = _damage(root, kind)
    with pytest.raises(data.DataFileError) as err:
        data.image_folder(root, transforms.ToTensor())
    message = str(err.value)
    assert f"{bad}: " in message and cause in message
    assert "1 of 31 files" in message and message.count("\n") == 1  # only the bad file is listed


def test_image_folder_lists_every_bad_file_and_check_false_skips_the_check(tmp_path) -> None:
    root = _clean_folder(tmp_path)
    bad = [_damage(root, kind) for kind in ("truncated_png", "text_as_png", "notes_txt")]
    with pytest.raises(data.DataFileError, match="3 of 33 files") as err:
        data.image_folder(root)
    assert all(str(path) in str(err.value) for path in bad)
    unchecked = data.image_folder(root, check=False)  # plain ImageFolder: skips notes.txt silently
    assert len(unchecked) == 32 and str(bad[2]) not in [p for p, _ in unchecked.samples]


def test_image_folder_refuses_a_missing_root(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        data.image_folder(tmp_path / "nowhere")


# ------------------------------------------------------------ wrappers: Subset, IterableDataset


class CountingDataset(torch.utils.data.Dataset):
    """Counts the items it is asked for, to prove that labels are read without loading images."""

    def __init__(self, n: int) -> None:
        self.targets = [i % 4 for i in range(n)]
        self.classes = ["a", "b", "c", "d"]
        self.loads = 0

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int):
        self.loads += 1
        return Image.new("RGB", (4, 4), (i % 256, 0, 0)), self.targets[i]


def test_limit_on_a_subset_reads_labels_without_loading_images() -> None:
    inner = CountingDataset(400)
    part, _ = torch.utils.data.random_split(inner, [300, 100], generator=torch.Generator().manual_seed(0))
    small = data.limit(part, 40, seed=0)
    assert inner.loads == 0
    assert small.classes == ["a", "b", "c", "d"]
    assert np.bincount(small.targets).tolist() == [10, 10, 10, 10]
    assert [inner.targets[part.indices[i]] for i in small.indices] == small.targets


def test_export_image_folder_from_a_subset_of_a_transformed_dataset(tmp_path) -> None:
    ds = data.synthetic_cifar10(train=False, n=40, seed=0)
    ds.transform = transforms.ToTensor()  # the export must see the PIL images underneath
    part = torch.utils.data.Subset(ds, list(range(1, 40)))
    out = data.export_image_folder(part, tmp_path / "photos", per_class=1)
    back = datasets.ImageFolder(out)
    assert back.classes == sorted(ds.classes) and len(back) == len(set(data.targets_of(part).tolist()))


def test_make_loader_leaves_an_iterable_dataset_unshuffled(tmp_path) -> None:
    photos = data.export_image_folder(data.synthetic_cifar10(train=False, n=20, seed=0),
                                      tmp_path / "photos", per_class=2)
    cfg = config.setup(profile="full", batch_size=4, verbose=False)
    stream = data.FileStreamDataset(photos, transforms.ToTensor())
    batches = list(data.make_loader(stream, train=True, batch_size=cfg.batch_size))
    assert sum(len(y) for _, y in batches) == len(stream) == 20


def test_course_offline_wins_over_an_earlier_probe(monkeypatch) -> None:
    class Connection:
        def close(self) -> None:
            pass

    data.network_available.cache_clear()
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(data.socket, "create_connection", lambda *a, **k: Connection())
    assert data.network_available("example.org", timeout=0.5) is True  # now cached
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert data.network_available("example.org", timeout=0.5) is False
    data.network_available.cache_clear()
