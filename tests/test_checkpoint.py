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
from torch.utils.data import DataLoader

from course_utils import checkpoint_file
from course_utils.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


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
        for x, y in zip(a, b, strict=False):
            assert_same(x, y)
    else:
        assert a == b, (a, b)


def make_loader(toys, loader_seed: int = 0) -> DataLoader:
    """A shuffled DataLoader of the 8-feature toy problem, its order from a seeded generator."""
    return toys.loader(toys.features(), 8, shuffle=True, seed=loader_seed)


def fresh_objects(
    toys, seed: int = 99
) -> tuple[nn.Module, torch.optim.Adam, torch.optim.lr_scheduler.StepLR]:
    """A SmallNet, Adam and StepLR (untrained; different initial weights per seed)."""
    torch.manual_seed(seed)
    model = toys.SmallNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)


def trained_objects(
    toys, seed: int = 0
) -> tuple[nn.Module, torch.optim.Adam, torch.optim.lr_scheduler.StepLR]:
    """Model, Adam and StepLR after a few real optimisation steps."""
    model, optimizer, scheduler = fresh_objects(toys, seed)
    x, y = toys.features().tensors
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def draws(loader: DataLoader) -> tuple:
    """One draw from every RNG the checkpoint restores, plus the loader's next order."""
    order = torch.cat([y for _, y in loader])
    return random.random(), float(np.random.rand()), torch.rand(3), order


# ----------------------------------------------------------------------------- 1


def test_round_trip_is_exact(toys, tmp_path: Path) -> None:
    model, optimizer, scheduler = trained_objects(toys)
    loader = make_loader(toys)
    next(iter(loader))  # advance the loader's generator
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    history = {"train_loss": [np.float32(0.75), 0.5], "val_acc": [0.25, 0.5]}
    path = tmp_path / "runs" / "lesson07" / "ckpt.pt"

    out = save_checkpoint(
        path,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epoch=np.int64(2),
        history=history,
        loader=loader,
        best_acc=np.float64(0.5),
        tags=("resnet", "cifar"),
        note="hi",
    )
    assert out == path and path.is_file()  # parent folders created
    assert sorted(os.listdir(path.parent)) == ["ckpt.pt"]  # no temp file left behind
    expected = draws(loader)

    random.seed(10), np.random.seed(20), torch.manual_seed(30)
    model2, optimizer2, scheduler2 = fresh_objects(toys)
    loader2 = make_loader(toys, loader_seed=123)
    assert not torch.equal(model2.fc1.weight, model.fc1.weight)
    state = load_checkpoint(path, model=model2, optimizer=optimizer2, scheduler=scheduler2, loader=loader2)

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


def test_restore_rng_false_leaves_generators_alone(toys, tmp_path: Path) -> None:
    model, _, _ = trained_objects(toys)
    save_checkpoint(tmp_path / "c.pt", model=model, epoch=1, loss=0.3)
    target = toys.SmallNet()
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    state = load_checkpoint(tmp_path / "c.pt", model=target, restore_rng=False)
    assert state["loss"] == 0.3
    assert torch.equal(torch.rand(2), expected)


def test_failed_save_keeps_previous_checkpoint(toys, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model, _, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1)
    before = path.read_bytes()

    with pytest.raises(TypeError, match="object"):  # refused before anything is written
        save_checkpoint(path, model=model, epoch=2, config=object())

    def broken_save(obj: object, fh: object) -> None:
        fh.write(b"partial bytes")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_file.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model=model, epoch=3)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.pt"]  # the temp file was removed


# ----------------------------------------------------------------------------- 2


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_truncated_or_corrupt_file(toys, tmp_path: Path, damage: str) -> None:
    model, optimizer, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "good.pt", model=model, optimizer=optimizer, epoch=1)
    data = path.read_bytes()
    bad = tmp_path / f"{damage}_epoch3.pt"
    bad.write_bytes(
        {
            "truncated": data[: len(data) // 2],
            "garbage": b"this is not a checkpoint at all\n" * 40,
            "empty": b"",
        }[damage]
    )
    with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
        load_checkpoint(bad, model=toys.SmallNet())
    assert bad.name in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_missing_file_and_missing_keys(toys, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found") as info:
        load_checkpoint(tmp_path / "nowhere.pt", model=toys.SmallNet())
    assert "nowhere.pt" in str(info.value)

    plain = tmp_path / "weights_only.pt"
    torch.save({"weights": toys.SmallNet().state_dict()}, plain)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(plain, model=toys.SmallNet())
    message = str(info.value)
    assert "weights_only.pt" in message and "model_state" in message and "epoch" in message

    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), tensor_only)
    with pytest.raises(CheckpointError, match="not a dict"):
        load_checkpoint(tensor_only, model=toys.SmallNet())


def test_optimizer_requested_but_not_saved(toys, tmp_path: Path) -> None:
    model, optimizer, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, model=toys.SmallNet(), optimizer=optimizer)


# ----------------------------------------------------------------------------- 3

KILLED_WRITER = textwrap.dedent('''
    import os, sys, tempfile, time
    import torch
    from course_utils import checkpoint as ck, checkpoint_file

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
    checkpoint_file.tempfile.NamedTemporaryFile = lambda *a, **k: SlowFile(real(*a, **k))
    ck.save_checkpoint(path, model=torch.nn.Linear(512, 512), epoch=2, note="second")
''')


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX SIGKILL")
def test_kill_during_write_keeps_previous_checkpoint(tmp_path: Path) -> None:
    path, marker = tmp_path / "ckpt.pt", tmp_path / "writing.marker"
    pythonpath = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path), str(marker)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
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
        assert temp.stat().st_size > 0  # a partial second checkpoint is on disk
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
    save_checkpoint(path, model=loaded, epoch=2)  # and saving again works, removing it
    assert not temp.exists() and sorted(os.listdir(tmp_path)) == ["ckpt.pt", "writing.marker"]
    assert load_checkpoint(path, model=torch.nn.Linear(8, 3))["epoch"] == 2


# ----------------------------------------------------------------------------- 4


def test_other_architecture_lists_keys(toys, tmp_path: Path) -> None:
    model, _, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "smallnet.pt", model=model, epoch=1)
    target = OtherNet()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=target)
    message = str(info.value)
    assert "smallnet.pt" in message and "OtherNet: it was saved from a SmallNet" in message
    assert "missing keys" in message and "unexpected keys" in message
    for key in ("bn.weight", "bn.running_mean", "head.weight", "head.bias"):
        assert key in message.split("unexpected keys")[0]  # listed as missing
    for key in ("fc2.weight", "fc2.bias"):
        assert key in message.split("unexpected keys")[1]  # listed as unexpected
    assert_same(before, target.state_dict())  # nothing was loaded

    with pytest.raises(CheckpointError, match="size mismatches") as info:
        load_checkpoint(path, model=toys.SmallNet(hidden=32))
    assert "fc1.weight (checkpoint (16, 8), model (32, 8))" in str(info.value)


# ----------------------------------------------------------------------------- 5


class RunsCode:
    """Unpickling this would call a function (print here; os.system in an attack)."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("payload", [Payload, RunsCode])
def test_pickled_code_or_objects_are_refused_without_suggesting_weights_only_false(toys, tmp_path, payload):
    path = tmp_path / "untrusted.pt"
    torch.save({"model_state": toys.SmallNet().state_dict(), "epoch": 1, "extra": payload()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=toys.SmallNet())
    message = str(info.value)
    assert "untrusted.pt" in message and ("Payload" if payload is Payload else "system") in message
    assert "holds code or objects that are not allowed" in message and "arbitrary code" in message
    assert "corrupt" not in message and "weights_only=False" not in message


def test_the_refused_global_is_named_from_torch_2_14s_wording_too(tmp_path, monkeypatch):
    """Without get_unsafe_globals_in_checkpoint (older torch) the message is parsed instead."""
    monkeypatch.delattr(torch.serialization, "get_unsafe_globals_in_checkpoint", raising=False)
    for text, name in [
        ("Trying to load unsupported GLOBAL posix.system whose module posix is blocked.", "posix.system"),
        ("Unsupported global: GLOBAL __main__.Payload was not an allowed global", "__main__.Payload"),
    ]:
        assert checkpoint_file._forbidden_globals(tmp_path / "x.pt", RuntimeError(text)) == [name]


# ----------------------------------------------------------------------------- 6 damage and mismatches


def test_flipped_bytes_are_a_damaged_checkpoint(tmp_path: Path) -> None:
    """torch does not check its zip CRCs: the stored checksum catches 64 changed bytes."""
    torch.manual_seed(0)
    model = nn.Linear(256, 256)
    path = save_checkpoint(tmp_path / "big.pt", model=model, epoch=1)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    path.write_bytes(bytes(data))
    target = nn.Linear(256, 256)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match="is damaged") as info:
        load_checkpoint(path, model=target)
    assert "big.pt" in str(info.value) and "checksum" in str(info.value)
    assert_same(before, target.state_dict())


class TwinNet(nn.Module):
    """Two layers of the same shape: an optimizer can hold them in either order."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x))


def test_optimizer_state_is_matched_by_parameter_name_not_position(tmp_path: Path) -> None:
    model = TwinNet()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    path = save_checkpoint(tmp_path / "twin.pt", model=model, optimizer=optimizer, epoch=1)
    again = TwinNet()
    swapped = torch.optim.SGD([*again.b.parameters(), *again.a.parameters()], lr=0.1, momentum=0.9)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, model=again, optimizer=swapped)
    message = str(info.value)
    assert "slot 0 of group 0 is a.weight (4, 4) in the checkpoint but b.weight (4, 4) here" in message
    assert "model.parameters()" in message
    assert swapped.state_dict()["state"] == {}  # nothing loaded


def test_an_optimizer_or_scheduler_of_another_type_is_refused_before_loading(toys, tmp_path: Path) -> None:
    model, optimizer, scheduler = trained_objects(toys)  # Adam + StepLR
    path = save_checkpoint(
        tmp_path / "adam.pt", model=model, optimizer=optimizer, scheduler=scheduler, epoch=1
    )
    target = toys.SmallNet()
    before = {k: v.clone() for k, v in target.state_dict().items()}
    sgd = torch.optim.SGD(target.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(
        CheckpointError, match="holds the optimizer state of Adam, but the optimizer given is SGD"
    ):
        load_checkpoint(path, model=target, optimizer=sgd)
    adam = torch.optim.Adam(target.parameters(), lr=1e-2)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(adam, T_max=4)
    with pytest.raises(
        CheckpointError,
        match="holds the scheduler state of StepLR, but the scheduler given is CosineAnnealingLR",
    ):
        load_checkpoint(path, model=target, optimizer=adam, scheduler=cosine)
    assert_same(before, target.state_dict())


def test_damaged_rng_state_changes_nothing(toys, tmp_path: Path) -> None:
    model, optimizer, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=optimizer, epoch=1)
    ckpt = torch.load(path, weights_only=True)
    ckpt["rng_state"]["python"] = (3, "not a state", None)
    ckpt["checksum"] = checkpoint_file.digest(ckpt)  # damage that passes the checksum
    torch.save(ckpt, path)
    target, target_opt, _ = fresh_objects(toys)
    before = {k: v.clone() for k, v in target.state_dict().items()}
    with pytest.raises(CheckpointError, match="random-number states .* are damaged"):
        load_checkpoint(path, model=target, optimizer=target_opt)
    assert_same(before, target.state_dict())
    assert target_opt.state_dict()["state"] == {}
    load_checkpoint(path, model=target, optimizer=target_opt, restore_rng=False)  # as the message says
    assert_same(model.state_dict(), target.state_dict())


def test_a_newer_format_is_refused(toys, tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", model=toys.SmallNet(), epoch=1)
    ckpt = torch.load(path, weights_only=True)
    ckpt["format_version"] = 99
    ckpt["checksum"] = checkpoint_file.digest(ckpt)
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError, match="newer course_utils .*format 99.* update course_utils"):
        load_checkpoint(path, model=toys.SmallNet())


def _format_1_checkpoint(path: Path, model, optimizer, loader: DataLoader) -> None:
    """What save_checkpoint wrote before format 2 (commit afdb96d): the layout, built by hand."""
    version, internal, gauss_next = random.getstate()
    torch.save(
        {
            "format_version": 1,
            "torch_version": str(torch.__version__),
            "epoch": 2,
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": None,
            "history": {"epoch": [1, 2], "train_loss": [0.9, 0.7]},
            "rng_state": {
                "python": (version, torch.tensor(internal, dtype=torch.int64), gauss_next),
                "torch": torch.get_rng_state(),
                "loader": loader.generator.get_state(),
            },
            "loss": 0.7,
            "scaler": {"scale": 1024.0},
        },
        path,
    )


def test_a_format_1_checkpoint_still_loads(toys, tmp_path: Path) -> None:
    model, optimizer, _ = trained_objects(toys)
    loader = make_loader(toys)
    next(iter(loader))
    _format_1_checkpoint(tmp_path / "old.pt", model, optimizer, loader)
    expected = draws(loader)[2:]
    target, target_opt, _ = fresh_objects(toys)
    loader2 = make_loader(toys, loader_seed=5)
    state = load_checkpoint(tmp_path / "old.pt", model=target, optimizer=target_opt, loader=loader2)
    assert (state["epoch"], state["format_version"], state["loss"]) == (2, 1, 0.7)
    assert_same(model.state_dict(), target.state_dict())
    again = draws(loader2)[2:]
    assert torch.equal(again[0], expected[0]) and torch.equal(again[1], expected[1])


def test_resuming_warns_about_what_differs(toys, tmp_path: Path) -> None:
    model, optimizer, scheduler = trained_objects(toys)
    path = save_checkpoint(
        tmp_path / "c.pt",
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epoch=1,
        loader=make_loader(toys),
    )
    target = toys.SmallNet()
    asked = torch.optim.Adam(target.parameters(), lr=0.5)
    bigger = toys.loader(toys.features(80), 16, shuffle=True)
    with pytest.warns(UserWarning) as record:
        load_checkpoint(
            path,
            model=target,
            optimizer=asked,
            loader=bigger,
            scheduler=torch.optim.lr_scheduler.StepLR(asked, step_size=2, gamma=0.5),
        )
    messages = " | ".join(str(w.message) for w in record)
    assert "learning rate saved in the checkpoint (0.01) replaces the 0.5" in messages
    assert "batch size of 8, this loader has 16" in messages
    assert "dataset length of 64, this loader has 80" in messages


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(
            "[enforce fail at inline_container.cc:672] . PytorchStreamWriter failed writing file "
            "data/0: file write failed"
        ),
        OSError(28, "No space left on device"),
    ],
)
def test_a_full_disk_is_named_and_the_old_checkpoint_survives(toys, tmp_path, monkeypatch, error) -> None:
    path = save_checkpoint(tmp_path / "c.pt", model=toys.SmallNet(), epoch=1)
    before = path.read_bytes()

    def full_disk(obj: object, fh) -> None:
        fh.write(b"partial")
        raise error

    monkeypatch.setattr(checkpoint_file.torch, "save", full_disk)
    monkeypatch.setattr(checkpoint_file.shutil, "disk_usage", lambda p: shutil_usage(free=1000))
    with pytest.raises(CheckpointError) as info:
        save_checkpoint(path, model=toys.SmallNet(), epoch=2)
    assert str(info.value).startswith(f"no space left on the device while saving {path}")
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.pt"]


def shutil_usage(*, free: int):
    import shutil

    return shutil._ntuple_diskusage(10**9, 10**9 - free, free)


# ----------------------------------------------------------------------------- 7 objects own their state


def test_the_checkpoint_assembles_each_objects_state(toys, tmp_path: Path) -> None:
    from course_utils.data import BatchAugment, DeviceLoader
    from course_utils.engine import History

    images = torch.randint(0, 256, (12, 8, 8, 3), dtype=torch.uint8)
    augment = BatchAugment(generator=torch.Generator().manual_seed(3))
    loader = DeviceLoader((images, torch.arange(12) % 3), 4, augment=augment, seed=1)
    next(iter(loader))
    history = History()
    history.append(epoch=1, train_loss=0.5)
    scaler = torch.amp.GradScaler("cpu", init_scale=512.0)
    path = save_checkpoint(
        tmp_path / "dl.pt", model=toys.SmallNet(), epoch=1, loader=loader, history=history, scaler=scaler
    )
    saved = torch.load(path, weights_only=True)
    assert saved["loader_state"]["epoch"] == 1 and saved["loader_state"]["seed"] == 1
    assert torch.equal(saved["loader_state"]["augment"]["generator"], augment.generator.get_state())
    assert saved["history"] == history.state_dict() and saved["scaler_state"]["scale"] == 512.0
    expected = [x for x, _ in loader]  # what the next epoch gives after the save

    other = DeviceLoader(
        (images, torch.arange(12) % 3),
        4,
        seed=9,
        augment=BatchAugment(generator=torch.Generator().manual_seed(0)),
    )
    fresh_scaler = torch.amp.GradScaler("cpu")
    load_checkpoint(path, model=toys.SmallNet(), loader=other, scaler=fresh_scaler)
    assert all(torch.equal(a, b) for a, b in zip(expected, [x for x, _ in other], strict=False))
    assert fresh_scaler.get_scale() == 512.0


def test_device_loader_order_comes_from_seed_plus_epoch() -> None:
    from course_utils.data import DeviceLoader

    labels = torch.arange(20)
    loader = DeviceLoader((torch.zeros(20, 1, 2, 2, dtype=torch.uint8), labels), 5, seed=4)
    for epoch in range(3):
        order = torch.cat([y for _, y in loader])
        assert torch.equal(order, torch.randperm(20, generator=torch.Generator().manual_seed(4 + epoch)))
    loader.set_epoch(1)
    assert loader.state_dict()["epoch"] == 1
    with pytest.raises(ValueError, match="integer 'seed' and 'epoch'"):
        loader.load_state_dict({"seed": "4", "epoch": 1})


def test_a_checkpoint_written_by_format_1_code_resumes_bitwise(toys, tmp_path: Path) -> None:
    """tests/fixtures/checkpoint_format1.pt: written by engine.fit at commit afdb96d (format 1).

    There: torch.manual_seed(0); model = SmallNet(); Adam(lr=1e-2); StepLR(step_size=1,
    gamma=0.5); loader(features(), 8, shuffle=True, seed=0); fit(epochs=1, checkpoint=...).
    Today's code resumes it to epoch 2 exactly as an uninterrupted run of today's code.
    """
    from course_utils import engine

    def run(seed: int):
        torch.manual_seed(seed)
        model = toys.SmallNet()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return dict(
            model=model,
            train_loader=toys.loader(toys.features(), 8, shuffle=True, seed=seed),
            optimizer=optimizer,
            scheduler=scheduler,
            criterion=nn.CrossEntropyLoss(),
            epochs=2,
            progress=False,
            verbose=False,
        )

    straight = run(0)
    expected = engine.fit(**straight)
    old = tmp_path / "old.pt"
    old.write_bytes((REPO / "tests" / "fixtures" / "checkpoint_format1.pt").read_bytes())
    resumed = run(7)
    history = engine.fit(**resumed, checkpoint=old, resume=True)
    assert history.train_loss == expected.train_loss and history.epoch == [1, 2]
    assert_same(straight["model"].state_dict(), resumed["model"].state_dict())
    assert torch.load(old, weights_only=True)["format_version"] == 2  # saved again in today's format
