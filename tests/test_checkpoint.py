"""Tests for course_utils.checkpoint and files: exact round trips, corrupt/unsafe files, kills mid-write."""

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

from course_utils import checkpoint, files
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

    def full_disk(fd: int) -> None:  # the temp file holds the bytes; the disk refuses to keep them
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left on device") as info:
        save_checkpoint(path, model=model, epoch=3)
    assert info.value.filename == str(path)  # the message names the file
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
    with pytest.raises(CheckpointError, match="not a checkpoint saved by save_checkpoint .* holds a Tensor"):
        load_checkpoint(tensor_only, model=toys.SmallNet())


def test_optimizer_requested_but_not_saved(toys, tmp_path: Path) -> None:
    model, optimizer, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "c.pt", model=model, epoch=1)
    with pytest.raises(CheckpointError, match="no optimizer state"):
        load_checkpoint(path, model=toys.SmallNet(), optimizer=optimizer)


# ----------------------------------------------------------------------------- 3

KILLED_WRITER = textwrap.dedent("""
    import os, sys, time
    import torch
    from course_utils import checkpoint as ck, files

    path, marker = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    ck.save_checkpoint(path, model=torch.nn.Linear(8, 3), epoch=1, note="first")

    real_fsync, folder = os.fsync, os.path.dirname(path)

    def hanging_fsync(fd):
        real_fsync(fd)
        temps = [n for n in os.listdir(folder) if n.startswith(".ckpt.pt.") and n.endswith(".tmp")]
        with open(marker + ".part", "w") as m:
            m.write(os.path.join(folder, temps[0]))
        real_replace(marker + ".part", marker)
        time.sleep(120)  # the new checkpoint is written, not yet renamed: killed here

    real_replace = os.replace
    files.os.fsync = hanging_fsync
    ck.save_checkpoint(path, model=torch.nn.Linear(512, 512), epoch=2, note="second")
""")


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
        assert temp.stat().st_size > len(good_bytes)  # the second checkpoint is on disk
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
    save_checkpoint(path, model=loaded, epoch=2)  # and saving again works, beside it
    assert temp.exists() and len(os.listdir(tmp_path)) == 3
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
    fewer = torch.optim.SGD(again.a.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(
        CheckpointError, match=r"slot 2 of group 0 is b.weight \(4, 4\) in the checkpoint but nothing"
    ):
        load_checkpoint(path, model=again, optimizer=fewer)


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
    ckpt["checksum"] = checkpoint.digest(ckpt)  # damage that passes the checksum
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
    ckpt["checksum"] = checkpoint.digest(ckpt)
    torch.save(ckpt, path)
    with pytest.raises(
        CheckpointError, match="format 99; this course_utils reads format 2: update course_utils"
    ):
        load_checkpoint(path, model=toys.SmallNet())


def test_checkpoints_saved_before_the_rewrite_still_load(toys, tmp_path: Path) -> None:
    """Format 2 as the code of 12-02 wrote it: the same checksum, no 'cuda' key without CUDA."""
    payload = {
        "format_version": 2,
        "epoch": 1,
        "model_state": {"w": torch.arange(4, dtype=torch.float32)},
        "rng_state": {"python": (3, torch.tensor([1, 2], dtype=torch.int64), None)},
        "history": {"train_loss": [0.5, 0.25]},
        "note": "hi",
        "checksum": "not part of the checksum",
    }
    # computed by checkpoint_file.digest at commit ad7b69f (no floating-point arithmetic involved)
    assert (
        checkpoint.digest(payload)
        == "sha256:9e829758bb4cfd1146ff77e515af2553d2b69c4a6b8657ac7b4d9c95166cebde"
    )
    model, optimizer, _ = trained_objects(toys)
    path = save_checkpoint(tmp_path / "c.pt", model=model, optimizer=optimizer, epoch=1)
    old = torch.load(path, weights_only=True)
    del old["rng_state"]["cuda"]
    old["classes"] |= {"scheduler": None}
    old["checksum"] = checkpoint.digest(old)
    torch.save(old, path)
    target, target_opt, _ = fresh_objects(toys)
    assert load_checkpoint(path, model=target, optimizer=target_opt)["epoch"] == 1
    assert_same(model.state_dict(), target.state_dict())


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


def test_a_distributed_train_loader_saves_its_state_and_a_changed_one_is_seen(toys, tmp_path: Path) -> None:
    """The command line's loader (an EpochLoader over a DistributedSampler) was saved as None."""
    from course_utils import distributed

    ctx = distributed.Context()
    loader = distributed.train_loader(toys.features(), global_batch=8, ctx=ctx, seed=0)
    path = save_checkpoint(tmp_path / "c.pt", model=toys.SmallNet(), epoch=1, loader=loader)
    saved = torch.load(path, weights_only=True)["loader_state"]
    assert (saved["batch_size"], saved["samples"]) == (8, 64)
    assert torch.equal(saved["generator"], loader.loader.generator.get_state())
    other = distributed.train_loader(toys.features(640), global_batch=64, ctx=ctx, seed=0)
    with pytest.warns(UserWarning) as record:
        load_checkpoint(path, model=toys.SmallNet(), loader=other)
    messages = " | ".join(str(w.message) for w in record)
    assert "batch size of 8, this loader has 64" in messages
    assert "dataset length of 64, this loader has 640" in messages


# ----------------------------------------------------------------------------- 8 the one atomic writer


def test_a_symlink_at_the_next_temporary_name_is_never_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlink planted where the writer's next temporary file would go: its target is untouched."""
    victim, out = tmp_path / "victim.txt", tmp_path / "out"
    victim.write_text("precious")
    out.mkdir()
    (out / ".result.json.planted.tmp").symlink_to(victim)
    names = iter(["planted", "fresh"])
    monkeypatch.setattr(files.secrets, "token_hex", lambda n: next(names))
    files.write_atomically(out / "result.json", '{"a": 1}\n')
    assert victim.read_text() == "precious"
    assert (out / "result.json").read_text() == '{"a": 1}\n' and not (out / "result.json").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == [".result.json.planted.tmp", "result.json"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_files_get_the_usual_permissions_not_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        files.write_atomically(tmp_path / "result.json", "{}")
        save_checkpoint(tmp_path / "checkpoint.pt", model=nn.Linear(2, 2), epoch=1)
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.iterdir()}
    assert modes == {"result.json": 0o644, "checkpoint.pt": 0o644}
