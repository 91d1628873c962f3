"""Tests for course_utils.checkpoint: exact round trips, corrupt/unsafe files, kills mid-write."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import checkpoint as ck
from course_utils import engine
from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


class SmallNet(nn.Module):
    """Two linear layers with dropout in between (keys: fc1.*, fc2.*)."""

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, hidden)
        self.drop = nn.Dropout(0.5)
        self.fc2 = nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class OtherNet(nn.Module):
    """Another architecture: a batch-norm layer and a differently named head."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.bn(self.fc1(x)))


class Payload:
    """A custom class: pickling it into a checkpoint must be refused on load."""

    def __init__(self) -> None:
        self.secret = 42


def assert_same(a: object, b: object) -> None:
    """Recursive exact equality for state dicts (tensors compared with torch.equal)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b, (a, b)


def make_data(n: int = 64, seed: int = 0) -> TensorDataset:
    """A small fixed classification problem: 8 features, 3 classes."""
    g = torch.Generator().manual_seed(seed)
    return TensorDataset(torch.randn(n, 8, generator=g), torch.randint(0, 3, (n,), generator=g))


def make_loader(loader_seed: int = 0) -> DataLoader:
    """A shuffled DataLoader whose order comes from its own seeded generator."""
    return DataLoader(make_data(), batch_size=8, shuffle=True,
                      generator=torch.Generator().manual_seed(loader_seed))


def trained_objects(seed: int = 0) -> tuple[SmallNet, torch.optim.Adam, torch.optim.lr_scheduler.StepLR]:
    """Model, Adam and StepLR after a few real optimisation steps."""
    torch.manual_seed(seed)
    model = SmallNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    data = make_data()
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(data.tensors[0]), data.tensors[1])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def fresh_objects(seed: int = 99) -> tuple[SmallNet, torch.optim.Adam, torch.optim.lr_scheduler.StepLR]:
    """Untrained objects of the same kinds (different initial weights)."""
    torch.manual_seed(seed)
    model = SmallNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)


def draws(loader: DataLoader) -> tuple:
    """One draw from every RNG the checkpoint restores, plus the loader's next order."""
    order = torch.cat([y for _, y in loader])
    return random.random(), float(np.random.rand()), torch.rand(3), order


# ----------------------------------------------------------------------------- 1


def test_round_trip_is_exact(tmp_path: Path) -> None:
    model, optimizer, scheduler = trained_objects()
    loader = make_loader()
    next(iter(loader))  # advance the loader's generator
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    history = {"train_loss": [np.float32(0.75), 0.5], "val_acc": [0.25, 0.5]}
    path = tmp_path / "runs" / "lesson07" / "ckpt.pt"

    out = save_checkpoint(path, model=model, optimizer=optimizer, scheduler=scheduler,
                          epoch=np.int64(2), history=history, loader=loader,
                          best_acc=np.float64(0.5), tags=("resnet", "cifar"), note="hi")
    assert out == path and path.is_file()  # parent folders created
    assert sorted(os.listdir(path.parent)) == ["ckpt.pt"]  # no temp file left behind
    expected = draws(loader)

    random.seed(10), np.random.seed(20), torch.manual_seed(30)
    model2, optimizer2, scheduler2 = fresh_objects()
    loader2 = make_loader(loader_seed=123)
    assert not torch.equal(model2.fc1.weight, model.fc1.weight)
    state = load_checkpoint(path, model=model2, optimizer=optimizer2, scheduler=scheduler2,
                            loader=loader2)

    assert_same(model.state_dict(), model2.state_dict())
    assert_same(optimizer.state_dict(), optimizer2.state_dict())
    assert optimizer2.state_dict()["state"][0]["step"].item() == 3
    assert scheduler2.state_dict() == scheduler.state_dict()
    assert scheduler2.last_epoch == 3 and scheduler2.get_last_lr() == [5e-3]
    assert state["epoch"] == 2 and type(state["epoch"]) is int
    assert state["history"] == {"train_loss": [0.75, 0.5], "val_acc": [0.25, 0.5]}
    assert state["loss"] == 0.5  # defaults to the last train loss
    assert (state["best_acc"], state["tags"], state["note"]) == (0.5, ("resnet", "cifar"), "hi")
    after = draws(loader2)
    assert after[:2] == expected[:2]
    assert torch.equal(after[2], expected[2]) and torch.equal(after[3], expected[3])


def test_restore_rng_false_leaves_generators_alone(tmp_path: Path) -> None:
    model, _, _ = trained_objects()
    save_checkpoint(tmp_path / "c.pt", model=model, epoch=1, loss=0.3)
    target = SmallNet()
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    state = load_checkpoint(tmp_path / "c.pt", model=target, restore_rng=False)
    assert state["loss"] == 0.3
    assert torch.equal(torch.rand(2), expected)


def test_failed_save_keeps_previous_checkpoint(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    model, _, _ = trained_objects()
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1)
    before = path.read_bytes()

    with pytest.raises(TypeError, match="object"):  # refused before anything is written
        save_checkpoint(path, model=model, epoch=2, config=object())

    def broken_save(obj: object, fh: object) -> None:
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(ck.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, epoch=3)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]  # the temp file was removed


# ----------------------------------------------------------------------------- 2


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_truncated_or_corrupt_file(tmp_path: Path, damage: str) -> None:
    model, optimizer, _ = trained_objects()
    path = save_checkpoint(tmp_path / "good.pt", model=model, optimizer=optimizer, epoch=1)
    data = path.read_bytes()
    bad = tmp_path / f"{damage}_epoch3.pt"
    bad.write_bytes({"truncated": data[: len(data) // 2],
                     "garbage": b"this is not a checkpoint at all\n" * 40,
                     "empty": b""}[damage])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(bad, model=SmallNet())
    assert bad.name in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_missing_file_and_missing_keys(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as info:
        load_checkpoint(tmp_path / "nowhere.pt", model=SmallNet())
    assert "nowhere.pt" in str(info.value)

    plain = tmp_path / "weights_only.pt"
    torch.save({"weights": SmallNet().state_dict()}, plain)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(plain, model=SmallNet())
    message = str(info.value)
    assert "weights_only.pt" in message and "model_state" in message and "epoch" in message

    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), tensor_only)
    with pytest.raises(CheckpointError, match="not a dict"):
        load_checkpoint(tensor_only, model=SmallNet())


def test_optimizer_requested_but_not_saved(tmp_path: Path) -> None:
    model, optimizer, _ = trained_objects()
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, model=SmallNet(), optimizer=optimizer)


# ----------------------------------------------------------------------------- 3

KILLED_WRITER = textwrap.dedent('''
    import os, sys, tempfile, time
    import torch
    from course_utils import checkpoint as ck

    path, marker = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    ck.save_checkpoint(path, model=torch.nn.Linear(8, 3), epoch=1, note="first")

    class SlowFile:
        """Passes writes through; after the second one, signals and hangs."""
        def __init__(self, fh):
            self._fh, self._writes = fh, 0
        def write(self, data):
            written = self._fh.write(data)
            self._writes += 1
            if self._writes == 2:
                self._fh.flush()
                with open(marker + ".part", "w") as m:
                    m.write(self._fh.name)
                os.replace(marker + ".part", marker)
                time.sleep(120)
            return written
        def __getattr__(self, name):
            return getattr(self._fh, name)
        def __enter__(self):
            self._fh.__enter__()
            return self
        def __exit__(self, *exc):
            return self._fh.__exit__(*exc)

    real = tempfile.NamedTemporaryFile
    ck.tempfile.NamedTemporaryFile = lambda *a, **k: SlowFile(real(*a, **k))
    ck.save_checkpoint(path, model=torch.nn.Linear(512, 512), epoch=2, note="second")
''')


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_kill_during_write_keeps_previous_checkpoint(tmp_path: Path) -> None:
    path, marker = tmp_path / "ckpt.pt", tmp_path / "writing.marker"
    pythonpath = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(path), str(marker)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"writer exited early: {proc.communicate()[1].decode()[-2000:]}")
            assert time.monotonic() < deadline, "the writer never reached the second save"
            time.sleep(0.05)
        temp = Path(marker.read_text())
        good_bytes = path.read_bytes()  # the first checkpoint, complete
        assert temp.parent == tmp_path and temp != path
        assert 0 < temp.stat().st_size  # a partial second checkpoint is on disk
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert path.read_bytes() == good_bytes  # nothing partial at the path
    torch.manual_seed(0)
    first = torch.nn.Linear(8, 3)
    state = load_checkpoint(path, model=(loaded := torch.nn.Linear(8, 3)))
    assert (state["epoch"], state["note"]) == (1, "first")
    assert_same(first.state_dict(), loaded.state_dict())
    assert temp.exists()  # SIGKILL leaves the orphaned temp file; the checkpoint is safe
    save_checkpoint(path, model=loaded, epoch=2)  # and saving again works
    assert load_checkpoint(path, model=torch.nn.Linear(8, 3))["epoch"] == 2


# ----------------------------------------------------------------------------- 4


def test_other_architecture_lists_keys(tmp_path: Path) -> None:
    model, _, _ = trained_objects()
    path = save_checkpoint(tmp_path / "smallnet.pt", model=model, epoch=1)
    target = OtherNet()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=target)
    message = str(info.value)
    assert "smallnet.pt" in message and "OtherNet" in message
    assert "missing keys" in message and "unexpected keys" in message
    for key in ("bn.weight", "bn.running_mean", "head.weight", "head.bias"):
        assert key in message.split("unexpected keys")[0]  # listed as missing
    for key in ("fc2.weight", "fc2.bias"):
        assert key in message.split("unexpected keys")[1]  # listed as unexpected
    assert_same(before, target.state_dict())  # nothing was loaded

    with pytest.raises(CheckpointError, match="size mismatches") as info:
        load_checkpoint(path, model=SmallNet(hidden=32))
    assert "fc1.weight (checkpoint (16, 8), model (32, 8))" in str(info.value)


# ----------------------------------------------------------------------------- 5


def test_pickled_custom_object_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "untrusted.pt"
    torch.save({"model_state": SmallNet().state_dict(), "epoch": 1, "extra": Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=SmallNet())
    message = str(info.value)
    assert "untrusted.pt" in message and "Payload" in message
    assert "pickled object that is not allowed" in message
    assert "tensors and plain Python values" in message and "arbitrary code" in message


# ----------------------------------------------------------------------------- 6


def _setup(init_seed: int, loader_seed: int) -> dict:
    """Model with dropout, Adam, StepLR and a shuffled loader (fresh objects each call)."""
    torch.manual_seed(init_seed)
    model = SmallNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return dict(
        model=model, optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5),
        train_loader=make_loader(loader_seed),
        val_loader=DataLoader(make_data(32, seed=1), batch_size=16),
    )


def test_fit_resume_is_bitwise_identical(tmp_path: Path) -> None:
    common = dict(criterion=nn.CrossEntropyLoss(), device="cpu", progress=False)

    full = _setup(init_seed=1, loader_seed=0)
    h_full = engine.fit(full["model"], full["train_loader"],
                        full["val_loader"], epochs=4, optimizer=full["optimizer"],
                        scheduler=full["scheduler"], checkpoint=tmp_path / "full.pt", **common)

    part = _setup(init_seed=1, loader_seed=0)
    engine.fit(part["model"], part["train_loader"], part["val_loader"], epochs=2,
               optimizer=part["optimizer"], scheduler=part["scheduler"],
               checkpoint=tmp_path / "part.pt", **common)
    after_two = {k: v.clone() for k, v in part["model"].state_dict().items()}

    random.seed(5), np.random.seed(5)  # the interruption: all RNGs and objects differ
    fresh = _setup(init_seed=77, loader_seed=123)
    h_resumed = engine.fit(fresh["model"], fresh["train_loader"], fresh["val_loader"], epochs=4,
                           optimizer=fresh["optimizer"], scheduler=fresh["scheduler"],
                           checkpoint=tmp_path / "part.pt", resume=True, **common)

    final, resumed = full["model"].state_dict(), fresh["model"].state_dict()
    assert list(final) == list(resumed)
    for key in final:
        assert torch.equal(final[key], resumed[key]), key
        assert not torch.equal(after_two[key], resumed[key]), key  # epochs 3-4 really ran
    assert_same(full["optimizer"].state_dict(), fresh["optimizer"].state_dict())
    assert fresh["scheduler"].get_last_lr() == full["scheduler"].get_last_lr() == [1e-2 / 16]
    a, b = h_full.to_dict(), h_resumed.to_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b and a["epoch"] == [1, 2, 3, 4]
    assert load_checkpoint(tmp_path / "part.pt", model=SmallNet())["epoch"] == 4


def test_device_loader_augmentation_generator_is_saved_and_restored(tmp_path: Path) -> None:
    """A resumed DeviceLoader run must draw the same augmentations, not only the same order."""
    from course_utils.device_data import BatchAugment, DeviceLoader

    images = torch.randint(0, 256, (12, 8, 8, 3), dtype=torch.uint8)
    augment = BatchAugment(generator=torch.Generator().manual_seed(3))
    loader = DeviceLoader((images, torch.arange(12) % 3), 4, device="cpu", augment=augment, seed=1)
    model = SmallNet()
    path = save_checkpoint(tmp_path / "dl.pt", model=model, epoch=1, loader=loader)
    expected = [x for x, _ in loader]                 # what the next epoch gives after the save
    assert "augment" in torch.load(path, weights_only=True)["rng_state"]
    load_checkpoint(path, model=model, loader=loader)  # back to the saved point
    again = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(expected, again))
