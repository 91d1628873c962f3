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


# ------------------------------------------------------------ sources: the real files, one test per format
def test_real_cifar10_subset_in_course_data_dir(monkeypatch, offline, shared_data) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data))
    train, test = data.cifar10(train=True), data.cifar10(train=False, transform=transforms.ToTensor())
    assert (train.source, len(train), len(test)) == ("subset", 5085, 1017)
    assert train.classes == list(data.CIFAR10_CLASSES)
    assert data.describe_source("cifar10").startswith("subset (")


def test_real_mnist_raw_files_through_torchvision(monkeypatch, offline, shared_data) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared_data))
    test = data.mnist(train=False)
    assert isinstance(test, datasets.MNIST) and test.source == "torchvision"
    assert len(test) == 10_000 and test[0][1] == 7  # the first MNIST test digit is a 7


# ------------------------------------------------------------ sources: fake files in the real formats
def test_cifar10_from_a_subset_file(monkeypatch, offline, fake_cifar_subset) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_cifar_subset))
    train, test = data.cifar10(train=True), data.cifar10(train=False, transform=transforms.ToTensor())
    assert (train.source, len(train), len(test)) == ("subset", 40, 20)
    with np.load(fake_cifar_subset / data.SUBSET_FILE) as npz:
        assert np.array_equal(train.data, npz["x_train"]) and train.targets == npz["y_train"].tolist()
    image, label = train[0]
    assert isinstance(image, Image.Image) and image.size == (32, 32) and label == train.targets[0]
    x, _ = test[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert data.describe_source("cifar10") == f"subset ({fake_cifar_subset / data.SUBSET_FILE})"


def test_mnist_from_raw_idx_files_through_torchvision(monkeypatch, offline, fake_mnist) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_mnist))
    train, test = data.mnist(train=True), data.mnist(train=False)
    assert isinstance(test, datasets.MNIST) and (train.source, test.source) == ("torchvision", "torchvision")
    assert (len(train), len(test)) == (30, 20) and test[3][1] == 3
    assert data.describe_source("mnist") == f"torchvision ({fake_mnist})"


def test_torchvision_files_under_root_come_first(monkeypatch, offline, fake_mnist, fake_cifar_subset) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_cifar_subset))
    ds = data.mnist(train=False, root=fake_mnist)
    assert ds.source == "torchvision" and len(ds) == 20


def test_offline_fallback_is_announced_synthetic_and_fast(offline) -> None:
    start = time.perf_counter()
    data.synthetic_cifar10(train=True), data.synthetic_mnist(train=False)
    generating = time.perf_counter() - start
    start = time.perf_counter()
    with pytest.warns(
        data.OfflineDataWarning, match="OFFLINE STAND-IN \\(synthetic data\\).*COURSE_DATA_DIR"
    ):
        train = data.cifar10(train=True)
    with pytest.warns(data.OfflineDataWarning):
        digits = data.mnist(train=False)
    assert time.perf_counter() - start < 2 * generating + 1.0  # no time spent waiting for a network
    assert (train.source, len(train), train.data.shape[1:]) == ("synthetic", 5000, (32, 32, 3))
    assert (digits.source, digits.data.shape[1:]) == ("synthetic", (28, 28))
    assert np.bincount(train.targets).tolist() == [500] * 10
    assert data.describe_source("cifar10") == "synthetic (offline stand-in)"
    banner = config.setup(profile="smoke", data="cifar10", verbose=False).banner()
    assert "data cifar10: synthetic (offline stand-in)" in banner


def test_a_hanging_network_probe_returns_within_its_timeout(monkeypatch) -> None:
    """A connection that never answers (here: one that sleeps) costs the probe's timeout, no more."""
    from course_utils.data import sources

    def hang(*args, **kwargs):
        time.sleep(30)
        raise OSError("never reached in time")

    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(sources.socket, "create_connection", hang)
    data.network_available.cache_clear()
    start = time.perf_counter()
    assert data.network_available("hangs.example", timeout=0.5) is False
    assert 0.5 <= time.perf_counter() - start < 1.5
    data.network_available.cache_clear()


def test_course_data_dir_pointing_nowhere_warns_with_the_path(monkeypatch, offline) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", "/nowhere/at/all")
    with pytest.warns(UserWarning, match="/nowhere/at/all"):
        ds = data.cifar10()
    assert ds.source == "synthetic"


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing_key"])
def test_corrupt_subset_names_the_file(monkeypatch, offline, fake_cifar_subset, damage) -> None:
    target = fake_cifar_subset / data.SUBSET_FILE
    raw = target.read_bytes()
    if damage == "truncate":
        target.write_bytes(raw[: len(raw) // 3])
    elif damage == "garbage":
        target.write_bytes(b"not a zip file at all" * 100)
    else:
        np.savez(target, x_train=np.zeros((2, 32, 32, 3), np.uint8))
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_cifar_subset))
    with pytest.raises(data.DataFileError) as err:
        data.cifar10(train=True)
    assert str(target) in str(err.value)
    assert ("missing arrays" if damage == "missing_key" else "truncated or corrupt") in str(err.value)


@pytest.mark.parametrize("file", ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
@pytest.mark.parametrize("place", ["root", "course_data_dir"])
def test_truncated_mnist_idx_file_is_an_error_naming_it_not_a_fallback(
    monkeypatch, offline, fake_mnist, file, place
) -> None:
    bad = fake_mnist / "MNIST" / "raw" / file
    bad.write_bytes(bad.read_bytes()[:-7])
    root = fake_mnist if place == "root" else None
    if place == "course_data_dir":
        monkeypatch.setenv("COURSE_DATA_DIR", str(fake_mnist))
    with warnings.catch_warnings():
        warnings.simplefilter("error", data.OfflineDataWarning)  # no stand-in may be used
        for train in (True, False):  # torchvision's MNIST reads all four files for either split
            with pytest.raises(data.DataFileError, match="truncated or corrupt IDX file") as err:
                data.mnist(train=train, root=root)
            assert str(bad) in str(err.value) and "delete it" in str(err.value)


def test_a_missing_file_beside_present_ones_is_an_error(monkeypatch, offline, fake_mnist) -> None:
    (fake_mnist / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_mnist))
    with pytest.raises(data.DataFileError, match="t10k-labels-idx1-ubyte is missing"):
        data.mnist(train=False)


def test_damaged_torchvision_cifar10_file_is_an_error_naming_it(monkeypatch, offline, tmp_path) -> None:
    folder = tmp_path / "root" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    (folder / "test_batch").write_bytes(b"half a download")
    with pytest.raises(data.DataFileError, match="data_batch_1 is missing while other cifar10 files"):
        data.cifar10(train=False)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["batches.meta"]:
        (folder / name).write_bytes(b"half a download")
    with pytest.raises(data.DataFileError, match=r"data_batch_1: its MD5 checksum is not torchvision's"):
        data.cifar10(train=False)


@pytest.mark.parametrize("where", ["root", "course_data_dir", "subset", "nothing"])
def test_the_recorded_source_is_the_one_loading_uses(
    monkeypatch, offline, fake_mnist, fake_cifar_subset, where
) -> None:
    from course_utils.data import sources

    root = fake_mnist if where == "root" else None
    if where != "nothing":
        monkeypatch.setenv(
            "COURSE_DATA_DIR", str(fake_mnist if where == "course_data_dir" else fake_cifar_subset)
        )
    warnings.simplefilter("ignore", data.OfflineDataWarning)
    cfg = config.setup(profile="smoke", data=("mnist", "cifar10"), verbose=False)
    for name in ("mnist", "cifar10"):
        described = data.describe_source(name, root=root)
        assert root is not None or cfg.data_sources[name] == described
        for train in (True, False):
            ds, used = sources.find(name, train=train, root=root)
            assert used == described and described.startswith(ds.source)


# ------------------------------------------------------------ stand-in
def test_stand_in_is_deterministic() -> None:
    a, b = data.synthetic_cifar10(train=True, n=200), data.synthetic_cifar10(train=True, n=200)
    assert np.array_equal(a.data, b.data) and a.targets == b.targets
    assert not np.array_equal(a.data, data.synthetic_cifar10(train=False, n=200).data)
    assert np.array_equal(
        data.synthetic_mnist(train=True, n=50).data, data.synthetic_mnist(train=True, n=50).data
    )


def _fit_small_cnn(train: data.ArrayImageDataset, test: data.ArrayImageDataset, channels: int) -> float:
    torch.manual_seed(0)

    def to_x(ds: data.ArrayImageDataset) -> torch.Tensor:
        if ds.data.ndim == 3:
            return torch.tensor(ds.data, dtype=torch.float32).reshape(len(ds), -1, *ds.data.shape[1:3]) / 255
        return torch.tensor(ds.data, dtype=torch.float32).permute(0, 3, 1, 2) / 255

    xtr, ytr, xte, yte = to_x(train), torch.tensor(train.targets), to_x(test), torch.tensor(test.targets)
    model = nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(512, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(3):
        for idx in torch.randperm(len(xtr)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
    with torch.no_grad():
        return (model(xte).argmax(1) == yte).float().mean().item()


def test_mnist_stand_in_is_learnable() -> None:
    acc = _fit_small_cnn(
        data.synthetic_mnist(train=True, n=3000), data.synthetic_mnist(train=False, n=500), 1
    )
    assert acc >= 0.80, f"a small CNN reached only {acc:.1%} on the MNIST stand-in"


def test_cifar10_stand_in_is_learnable_but_not_perfectly() -> None:
    """Its shapes are easy; its random labels keep validation accuracy within 50-85 %, like CIFAR-10."""
    train, test = data.synthetic_cifar10(train=True, n=3000), data.synthetic_cifar10(train=False, n=500)
    acc = _fit_small_cnn(train, test, 3)
    assert 0.50 <= acc <= 0.85, f"a small CNN reached {acc:.1%} on the CIFAR-10 stand-in"
    clean = _fit_small_cnn(
        data.synthetic_cifar10(train=True, n=3000, label_noise=0),
        data.synthetic_cifar10(train=False, n=500, label_noise=0),
        3,
    )
    assert clean >= 0.90, f"without random labels the shapes are learnable; got {clean:.1%}"


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


def test_limit_on_torchvision_mnist_keeps_its_type(fake_mnist) -> None:
    ds = datasets.MNIST(str(fake_mnist), train=True)
    small = data.limit(ds, 20)
    assert isinstance(small, datasets.MNIST) and len(small) == 20 and len(ds) == 30
    assert torch.bincount(small.targets).tolist() == [2] * 10
    image, label = small[3]
    assert isinstance(image, Image.Image) and label == int(small.targets[3])


def test_limit_refuses_zero() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        data.limit(data.synthetic_mnist(train=False, n=20), 0)


def test_presets_are_the_sources_pipelines() -> None:
    names = [type(t).__name__ for t in data.preset("lenet_augment").transforms]
    assert names == [
        "Resize",
        "RandomHorizontalFlip",
        "RandomRotation",
        "RandomAffine",
        "ColorJitter",
        "ToTensor",
        "Normalize",
    ]
    x = data.preset("blitz")(Image.new("RGB", (32, 32), (255, 0, 128)))
    assert torch.allclose(x[:, 0, 0], torch.tensor([1.0, -1.0, 128 / 255 * 2 - 1]), atol=1e-6)
    assert data.preset("resnet", image_size=64)(Image.new("RGB", (32, 32))).shape == (3, 64, 64)
    with pytest.raises(ValueError, match="unknown preset 'nope'.*blitz"):
        data.preset("nope")


def test_make_loader_uses_the_config_and_a_seeded_generator() -> None:
    cfg = config.setup(profile="full", batch_size=8, seed=5, verbose=False)
    ds = data.synthetic_mnist(train=False, n=40, seed=0)
    ds.transform = transforms.ToTensor()
    first = [
        y.tolist() for _, y in data.make_loader(ds, train=True, batch_size=cfg.batch_size, seed=cfg.seed)
    ]
    again = [
        y.tolist() for _, y in data.make_loader(ds, train=True, batch_size=cfg.batch_size, seed=cfg.seed)
    ]
    ordered = next(iter(data.make_loader(ds, train=False, batch_size=cfg.batch_size, seed=cfg.seed)))[
        1
    ].tolist()
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


def test_overwrite_replaces_only_what_the_export_wrote(tmp_path) -> None:
    ds = data.synthetic_mnist(train=False, n=40)
    out = data.export_image_folder(ds, tmp_path / "digits", per_class=2)
    added = out / "3 - three" / "my_own_drawing.png"
    added.write_bytes((next((out / "3 - three").glob("*.png"))).read_bytes())
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(
        FileExistsError, match=r"2 file\(s\) the export did not write.*my_own_drawing.png"
    ) as err:
        data.export_image_folder(ds, out, per_class=1, overwrite=True)
    assert "notes.txt" in str(err.value)
    assert added.is_file() and (out / "notes.txt").read_text() == "keep me"  # nothing deleted
    assert len(list(out.rglob("*.png"))) == 21  # the earlier export is untouched too
    added.unlink()
    (out / "notes.txt").unlink()
    data.export_image_folder(ds, out, per_class=1, overwrite=True)
    assert len(list(out.rglob("*.png"))) == 10


def test_overwrite_of_an_export_made_before_the_file_list(tmp_path) -> None:
    """An older export's marker lists no files: its NNNNNN.png files count as the export's."""
    ds = data.synthetic_mnist(train=False, n=40)
    out = data.export_image_folder(ds, tmp_path / "digits", per_class=2)
    (out / data.EXPORT_MARKER).write_text("written by course_utils.data.export_image_folder\n")
    data.export_image_folder(ds, out, per_class=1, overwrite=True)
    assert len(list(out.rglob("*.png"))) == 10


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "..\\up", "../../etc"])
def test_class_names_must_be_one_folder_name(tmp_path, name) -> None:
    ds = data.synthetic_cifar10(train=False, n=20)
    ds.classes = [name, *ds.classes[1:]]
    out = tmp_path / "deep" / "export"
    with pytest.raises(ValueError, match=r"class 0 is named .*one path component"):
        data.export_image_folder(ds, out, per_class=1)
    assert sorted(p.name for p in tmp_path.rglob("*")) == []  # nothing written anywhere


@pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_file_stream_yields_every_item_exactly_once(tmp_path, workers) -> None:
    ds = data.synthetic_cifar10(train=False, n=50)
    root = data.export_image_folder(ds, tmp_path / "imgs", per_class=5)
    stream = data.FileStreamDataset(root, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(stream, batch_size=4, num_workers=workers)
    seen = [(x.sum().item(), y.item()) for xb, yb in loader for x, y in zip(xb, yb, strict=False)]
    expected = [
        (transforms.ToTensor()(Image.open(p).convert("RGB")).sum().item(), y) for p, y in stream.files
    ]
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


@pytest.mark.parametrize(
    "kind,cause",
    [
        ("truncated_png", "corrupt or truncated image"),
        ("text_as_png", "not an image, although its name ends in '.png'"),
        ("notes_txt", "only images (.jpg, .jpeg, .png"),
    ],
)
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
    photos = data.export_image_folder(
        data.synthetic_cifar10(train=False, n=20, seed=0), tmp_path / "photos", per_class=2
    )
    cfg = config.setup(profile="full", batch_size=4, verbose=False)
    stream = data.FileStreamDataset(photos, transforms.ToTensor())
    batches = list(data.make_loader(stream, train=True, batch_size=cfg.batch_size))
    assert sum(len(y) for _, y in batches) == len(stream) == 20


def test_course_offline_wins_over_an_earlier_probe(monkeypatch) -> None:
    from course_utils.data import sources

    class Connection:
        def close(self) -> None:
            pass

    data.network_available.cache_clear()
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    monkeypatch.setattr(sources.socket, "create_connection", lambda *a, **k: Connection())
    assert data.network_available("example.org", timeout=0.5) is True  # now cached
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    assert data.network_available("example.org", timeout=0.5) is False
    data.network_available.cache_clear()


# ------------------------------------------------------------ data checked before the first step (issue 24)
def _two_class_folder(root: Path, image: Image.Image, suffix: str = ".png") -> Path:
    """Class 'a' holds ``image`` (saved with ``suffix``), class 'b' one plain RGB picture."""
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    image.save(root / "a" / f"picture{suffix}")
    Image.new("RGB", (4, 4), (1, 2, 3)).save(root / "b" / "plain.png")
    return root


def _palette(index: int, *, transparent: bool) -> Image.Image:
    img = Image.new("P", (4, 4), index)
    img.putpalette([0, 0, 0, 10, 20, 30, 200, 10, 10] + [0] * (3 * 253))
    if transparent:
        img.info["transparency"] = index
    return img


def _sixteen_bit(value: int) -> Image.Image:
    return Image.fromarray(np.full((4, 4), value, dtype=np.uint16))  # PIL mode I;16


# (image, file suffix, the RGB pixel a viewer shows); alpha is laid over white
MODES = {
    "1": (Image.new("1", (4, 4), 1), ".png", (255, 255, 255)),
    "L": (Image.new("L", (4, 4), 77), ".png", (77, 77, 77)),
    "P": (_palette(2, transparent=False), ".png", (200, 10, 10)),
    "P transparent": (_palette(2, transparent=True), ".png", (255, 255, 255)),
    "LA opaque": (Image.new("LA", (4, 4), (100, 255)), ".png", (100, 100, 100)),
    "LA half": (Image.new("LA", (4, 4), (100, 128)), ".png", (177, 177, 177)),
    "RGBA clear": (Image.new("RGBA", (4, 4), (10, 20, 30, 0)), ".png", (255, 255, 255)),
    "RGBA half": (Image.new("RGBA", (4, 4), (10, 20, 30, 128)), ".png", (132, 137, 142)),
    "I;16": (_sixteen_bit(200 * 257), ".png", (200, 200, 200)),
    "I;16 tiff": (_sixteen_bit(65535), ".tiff", (255, 255, 255)),
    "CMYK": (Image.new("CMYK", (4, 4), (0, 255, 255, 0)), ".tiff", (255, 0, 0)),
}


@pytest.mark.parametrize("case", list(MODES))
def test_image_folder_reads_every_mode_as_the_picture_it_shows(tmp_path, case) -> None:
    """torchvision's convert("RGB") clips 16-bit grey to white and shows the colour under
    transparent pixels; data.image_folder shows what a viewer shows."""
    image, suffix, pixel = MODES[case]
    root = _two_class_folder(tmp_path / "photos", image, suffix)
    with Image.open(root / "a" / f"picture{suffix}") as opened:
        held = {"I;16": ("I;16", "I")}.get(case, (case.split()[0],))  # older Pillow opens a 16-bit PNG as I
        assert opened.mode in held  # the file really holds that mode
    folder = data.image_folder(root)
    picture, label = folder[0]
    assert (picture.mode, label) == ("RGB", 0)
    got = np.asarray(picture)
    assert np.abs(got.astype(int) - pixel).max() <= 1, got[0, 0]  # rounding of the alpha blend
    streamed = next(iter(data.FileStreamDataset(root)))[0]  # the stream reads the same picture
    assert np.array_equal(np.asarray(streamed), got)


@pytest.mark.parametrize(
    "array, mode",
    [(np.full((4, 4), 0.5, np.float32), "'F'"), (np.full((4, 4), 70000, np.int32), "'I'")],
)
def test_image_folder_refuses_pixels_without_a_known_range_by_name(tmp_path, array, mode) -> None:
    root = _two_class_folder(tmp_path / "photos", Image.fromarray(array), ".tiff")
    with pytest.raises(data.DataFileError) as err:
        data.image_folder(root)
    assert f"{root / 'a' / 'picture.tiff'}: " in str(err.value) and f"PIL mode {mode}" in str(err.value)
    with pytest.raises(data.DataFileError, match=f"picture.tiff: .*PIL mode {mode}"):
        data.load_rgb(root / "a" / "picture.tiff")  # also when read without the check


def test_image_folder_turns_a_photo_as_its_exif_orientation_says(tmp_path) -> None:
    photo = Image.new("RGB", (8, 4), (255, 0, 0))
    photo.paste((0, 0, 255), (4, 0, 8, 4))  # left half red, right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display", as a phone held upright writes it
    root = tmp_path / "photos"
    _two_class_folder(root, Image.new("RGB", (2, 2)))
    photo.save(root / "a" / "phone.jpg", exif=exif, quality=95)
    picture = data.image_folder(root).loader(str(root / "a" / "phone.jpg"))
    assert picture.size == (4, 8)  # upright, as a photo viewer shows it
    top, bottom = np.asarray(picture)[1, 2], np.asarray(picture)[6, 2]
    assert top[0] > 200 > top[2] and bottom[2] > 200 > bottom[0]  # red above blue


def test_an_image_folder_with_one_class_is_refused(tmp_path) -> None:
    root = tmp_path / "photos"
    (root / "cat").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(root / "cat" / "1.png")
    with pytest.raises(data.DataFileError, match=r"1 class folder\(s\) \['cat'\]; .*at least two") as err:
        data.image_folder(root, check=False)  # the layout is checked even without opening files
    assert str(root) in str(err.value)


def test_an_empty_class_folder_is_refused_by_name(tmp_path) -> None:
    root = _clean_folder(tmp_path)
    (root / "zebra").mkdir()
    (root / "zebra" / "notes.txt").write_text("no pictures yet")
    with pytest.raises(data.DataFileError, match=r"class folder\(s\) \['zebra'\] hold no image"):
        data.image_folder(root)


def test_validation_classes_must_be_the_training_classes(tmp_path) -> None:
    """The issue's reproduction: val/ lacks train/'s "b", so val's "c" would get label 1 ("b")."""
    for split, names in (("train", "abc"), ("val", "ac")):
        for name in names:
            (tmp_path / split / name).mkdir(parents=True)
            Image.new("RGB", (4, 4), (ord(name), 0, 0)).save(tmp_path / split / name / "1.png")
    train = data.image_folder(tmp_path / "train")
    with pytest.raises(data.DataFileError) as err:
        data.image_folder(tmp_path / "val", same_classes_as=train)
    message = str(err.value)
    assert str(tmp_path / "val") in message and str(tmp_path / "train") in message
    assert "lacks ['b'] and has []" in message
    (tmp_path / "val" / "b").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "val" / "b" / "1.png")
    val = data.image_folder(tmp_path / "val", same_classes_as=train)
    assert val.class_to_idx == train.class_to_idx == {"a": 0, "b": 1, "c": 2}


def _resave(folder: Path, **changes) -> Path:
    path = folder / data.SUBSET_FILE
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays.update(changes)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y_train": np.r_[np.arange(39) % 10, 10]}, r"y_train: 1 label\(s\) outside 0..9 .*10 at index 39"),
        ({"y_train": np.r_[np.arange(38) % 10, -1, 0]}, r"outside 0..9 .*-1 at index 38"),
        ({"y_train": np.arange(39) % 10}, "x_train holds 40 images but y_train 39 labels"),
        ({"y_train": np.zeros(40, np.int64)}, "y_train: every label is 0; .*at least two classes"),
        ({"y_train": (np.arange(40) % 10).astype(np.float32)}, "one whole number per image"),
        ({"classes": np.array(["cat"])}, r"classes must list at least two class names, got \['cat'\]"),
    ],
)
def test_an_inconsistent_subset_file_is_refused_naming_it(
    monkeypatch, offline, fake_cifar_subset, change, message
) -> None:
    path = _resave(fake_cifar_subset, **change)
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_cifar_subset))
    with pytest.raises(data.DataFileError, match=message) as err:
        data.cifar10(train=True)
    assert str(err.value).startswith(str(path))


def test_labels_of_the_test_split_are_checked_too(monkeypatch, offline, fake_cifar_subset) -> None:
    _resave(fake_cifar_subset, y_test=np.r_[np.arange(19) % 10, 12])
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_cifar_subset))
    assert len(data.cifar10(train=True)) == 40
    with pytest.raises(data.DataFileError, match=r"y_test: 1 label\(s\) outside 0..9 .*12 at index 19"):
        data.cifar10(train=False)


@pytest.mark.parametrize("split", ["train", "t10k"])
def test_idx_images_and_labels_that_disagree_name_both_files(monkeypatch, offline, fake_mnist, split) -> None:
    from fakes import fake_images, write_idx

    raw = fake_mnist / "MNIST" / "raw"
    labels = write_idx(raw / f"{split}-labels-idx1-ubyte", fake_images(19, (1,), 5)[1])
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_mnist))
    for train in (True, False):  # torchvision reads all four files for either split
        with pytest.raises(data.DataFileError) as err:
            data.mnist(train=train)
        images = raw / f"{split}-images-idx3-ubyte"
        count = 30 if split == "train" else 20
        assert str(err.value) == (
            f"{images} holds {count} images but {labels} holds 19 labels; "
            "the two must come from one download: replace both with a good copy"
        )


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.r_[np.arange(29) % 10, 11], r"1 label\(s\) outside 0..9 for 10 classes .*11 at index 29"),
        (np.full(30, 4), "every label is 4; training needs images of at least two classes"),
    ],
)
def test_idx_labels_out_of_range_or_of_one_class_are_refused(
    monkeypatch, offline, fake_mnist, labels, message
) -> None:
    from fakes import write_idx

    bad = write_idx(fake_mnist / "MNIST" / "raw" / "train-labels-idx1-ubyte", labels)
    monkeypatch.setenv("COURSE_DATA_DIR", str(fake_mnist))
    with pytest.raises(data.DataFileError, match=message) as err:
        data.mnist(train=False)
    assert str(err.value).startswith(f"{bad}: ")
