"""course_utils.transfer: the cached course backbone (hash round trip), the cache folder, FrozenBackbone."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from course_utils import data, engine, transfer

TINY = transfer.Recipe(epochs=1, batch_size=8, images_per_class=4)  # 20 images: seconds, not minutes


@pytest.fixture(scope="module")
def cached(tmp_path_factory: pytest.TempPathFactory) -> transfer.CourseWeights:
    return transfer.course_weights(recipe=TINY, root=tmp_path_factory.mktemp("weights"), verbose=False)


def test_course_weights_round_trip_by_sha256(cached: transfer.CourseWeights) -> None:
    record = json.loads(cached.path.with_suffix(".json").read_text())
    assert record["sha256"] == transfer.sha256_of(cached.path) and len(record["sha256"]) == 64
    assert cached.meta["categories"] == ["airplane", "bird", "deer", "frog", "ship"]
    assert cached.meta["train_images"] == 20 and cached.meta["recipe"]["epochs"] == 1
    model = transfer.build(cached)
    saved = torch.load(cached.path, weights_only=True)
    assert list(model.state_dict()) == list(saved)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in saved.items())
    assert model.fc.out_features == 5


def test_a_second_call_reads_the_file_instead_of_training(cached: transfer.CourseWeights, capsys) -> None:
    written = cached.path.stat().st_mtime_ns
    again = transfer.course_weights(recipe=TINY, root=cached.path.parents[1])
    assert again.path == cached.path and again.path.stat().st_mtime_ns == written
    assert "read from" in capsys.readouterr().out


def test_a_damaged_file_is_refused_naming_it(cached: transfer.CourseWeights, tmp_path: Path) -> None:
    copy = tmp_path / cached.path.name
    raw = bytearray(cached.path.read_bytes())
    raw[len(raw) // 2] ^= 1
    copy.write_bytes(bytes(raw))
    with pytest.raises(transfer.WeightsHashError, match=rf"{copy.name}: its SHA-256 is .*delete both"):
        transfer.CourseWeights(copy, cached.record).get_state_dict(check_hash=True)


def test_a_file_without_its_record_is_an_error(cached: transfer.CourseWeights, tmp_path: Path) -> None:
    folder = tmp_path / transfer.CACHE_FOLDER
    folder.mkdir()
    (folder / cached.path.name).write_bytes(cached.path.read_bytes())
    with pytest.raises(transfer.WeightsHashError, match="without its partner"):
        transfer.course_weights(recipe=TINY, root=tmp_path, verbose=False)


def test_transforms_normalise_with_the_weights_statistics(cached: transfer.CourseWeights) -> None:
    image = data.cifar10(train=False)[0][0]
    x = cached.transforms()(image)
    mean, std = (torch.tensor(cached.meta[k]).view(3, 1, 1) for k in ("mean", "std"))
    by_hand = (torch.from_numpy(np.array(image)).permute(2, 0, 1) / 255 - mean) / std
    assert x.shape == (3, 32, 32) and torch.allclose(x, by_hand, atol=1e-6)


def test_cache_goes_under_a_writable_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    folder, why = transfer.cache_dir()
    assert folder == tmp_path / transfer.CACHE_FOLDER and "COURSE_DATA_DIR" in why


def test_a_read_only_data_root_falls_back_to_the_course_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)  # r-x, like ../shared/data
    monkeypatch.setenv("COURSE_DATA_DIR", str(shared))
    monkeypatch.setenv("COURSE_DATA_ROOT", str(tmp_path / "course"))
    try:
        folder, why = transfer.cache_dir()
    finally:
        shared.chmod(0o755)
    assert folder == tmp_path / "course" / transfer.CACHE_FOLDER
    assert "read-only" in why and str(shared) in why


def test_offline_pick_weights_uses_the_course_backbone(
    cached: transfer.CourseWeights, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no ImageNet file cached there
    weights = transfer.pick_weights(recipe=TINY, root=cached.path.parents[1], verbose=False)
    assert isinstance(weights, transfer.CourseWeights) and weights.path == cached.path
    assert transfer.describe(weights).startswith("course backbone: ResNet-18")


def test_frozen_backbone_stays_unchanged_while_its_head_learns(cached: transfer.CourseWeights) -> None:
    torch.manual_seed(0)
    model = transfer.FrozenBackbone(transfer.build(cached), nn.Linear(512, 3))
    model.train()
    assert not any(m.training for m in model.backbone.modules()) and model.head.training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    loader = data.make_loader(
        TensorDataset(torch.randn(24, 3, 32, 32), torch.randint(0, 3, (24,))), train=True, batch_size=8
    )
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert [p.shape for p in trainable] == [(3, 512), (3,)]
    optimizer = torch.optim.SGD(trainable, lr=0.1)
    engine.fit(model, loader, epochs=2, optimizer=optimizer, criterion=nn.CrossEntropyLoss(), verbose=False)
    after = model.state_dict()
    backbone = [k for k in before if k.startswith("backbone.")]
    assert any("running_mean" in k for k in backbone)  # the BatchNorm statistics are among them
    assert all(torch.equal(before[k], after[k]) for k in backbone)
    assert not torch.equal(before["head.weight"], after["head.weight"])
    assert all(p.grad is None for p in model.backbone.parameters())


def test_writable_reads_the_mode_bits(tmp_path: Path) -> None:
    assert transfer.writable(tmp_path / "not" / "yet")  # its nearest existing parent counts
    tmp_path.chmod(0o555)
    try:
        assert not transfer.writable(tmp_path)  # also as root, for whom os.access says yes
    finally:
        tmp_path.chmod(0o755)


def test_a_cached_imagenet_file_is_picked_and_loaded_as_it_is(tmp_path: Path, monkeypatch) -> None:
    """The online path without a network: a file in torch's cache is picked even offline.

    torchvision checks its hash prefix only when it downloads; a cached copy is loaded as it
    is (this fake one too), whereas the course backbone's SHA-256 is checked at every load.
    """
    import torchvision

    imagenet = torchvision.models.ResNet18_Weights.DEFAULT
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    cached = tmp_path / "hub" / "checkpoints" / Path(imagenet.url).name
    cached.parent.mkdir(parents=True)
    torch.manual_seed(0)
    fake = torchvision.models.resnet18().state_dict()  # right keys, not torchvision's bytes
    torch.save(fake, cached)
    assert transfer.pick_weights(verbose=False) is imagenet
    assert "ImageNet-1K, 69.758 % top-1" in transfer.describe(imagenet)
    model = transfer.build(imagenet)
    assert torch.equal(model.conv1.weight, fake["conv1.weight"]) and model.fc.out_features == 1000
