"""``python -m course_utils.train`` in one process: the command line, its checks and its files.

Runs in-process (``train.main(argv)``) on the generated MNIST stand-in, so it is
fast; the launches under torchrun are in tests/test_distributed.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from course_utils import train

pytestmark = pytest.mark.filterwarnings("ignore::course_utils.data.OfflineDataWarning")

TINY = [
    "--model",
    "mnist_cnn",
    "--data",
    "mnist",
    "--batch-size",
    "16",
    "--lr",
    "0.05",
    "--train-samples",
    "64",
    "--val-samples",
    "32",
    "--epochs",
    "1",
]


@pytest.fixture
def no_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "RANK",
        "WORLD_SIZE",
        "LOCAL_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "TORCHELASTIC_RESTART_COUNT",
    ):
        monkeypatch.delenv(name, raising=False)


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(argv)``; it must exit with code 2 and print one error message. Returns it."""
    with pytest.raises(SystemExit) as exit_info:
        train.main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1, err
    return err[err.index("error:") :]


@pytest.mark.usefixtures("no_launcher")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "vgg16"], "argument --model: invalid choice: 'vgg16'"),
        (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
        (["--epochs", "two"], "argument --epochs: 'two' is not a number"),
        (["--data", "cifar10"], "--model mnist_cnn does not fit --data cifar10"),
        (["--augment"], "--augment: the course has no augmentation pipeline for MNIST"),
        (["--crash-at-epoch", "1"], "it needs at least 2 processes (here 1)"),
    ],
)
def test_bad_arguments_exit_2_with_one_message(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert message in refused([*TINY, "--out", str(tmp_path / "o"), *extra], capsys)
    assert not (tmp_path / "o").exists()  # nothing trained, nothing written


def test_a_batch_that_does_not_split_across_the_processes_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    line = refused([*TINY, "--batch-size", "18", "--out", str(tmp_path / "o")], capsys)
    assert (
        "--batch-size 18 is the global batch and must be divisible by the number of processes (4): try 16"
        in line
    )


def test_only_rank_0_prints_the_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(SystemExit) as exit_info:
        train.main([*TINY, "--batch-size", "18", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and capsys.readouterr().err == ""


@pytest.mark.usefixtures("no_launcher")
def test_resume_without_a_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused([*TINY, "--out", str(tmp_path), "--resume"], capsys)
    assert f"--resume: there is no checkpoint at {tmp_path / 'checkpoint.pt'}" in line


@pytest.mark.usefixtures("no_launcher")
def test_an_image_folder_with_a_broken_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (tmp_path / "images" / split / name).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(tmp_path / "images" / split / name / "a.png")
    (tmp_path / "images" / "train" / "cat" / "b.png").write_text("not a picture")
    line = refused(
        ["--model", "lenet_v2", "--data", str(tmp_path / "images"), "--out", str(tmp_path / "o")], capsys
    )
    assert "b.png: not an image" in line and line.startswith("error: --data ")
    assert "check=False" not in line  # a Python option, not one of the command line


@pytest.mark.usefixtures("no_launcher")
def test_a_missing_image_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")], capsys)
    assert "does not exist" in line and "nowhere" in line


@pytest.mark.usefixtures("no_launcher", "offline")
def test_one_process_trains_writes_its_files_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    monkeypatch.setattr(train, "tensorboard_available", lambda: False)
    assert train.main([*TINY, "--out", str(out), "--tensorboard"]) == 0
    printed = capsys.readouterr()
    assert "the tensorboard package is not installed" in printed.err
    assert "1 process(es) on cpu (no process group) | global batch 16 = 1 x 16" in printed.out
    result = json.loads((out / "result.json").read_text())
    assert (result["world_size"], result["epochs"], result["train_samples"]) == (1, 1, 64)
    assert set(result["final"]) >= {"train_loss", "train_acc", "val_loss", "val_acc"}
    assert result["versions"]["torch"] == torch.__version__
    assert not (out / "tensorboard").exists()

    assert "already exists: pass --resume" in refused([*TINY, "--out", str(out)], capsys)
    assert train.main([*TINY[:-1], "2", "--out", str(out), "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and len(history["val_acc"]) == 2
    saved = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert saved["epoch"] == 2


@pytest.mark.usefixtures("no_launcher", "offline")
def test_tensorboard_files_when_tensorboard_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    assert train.main([*TINY, "--out", str(tmp_path), "--tensorboard"]) == 0
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_help_explains_the_global_batch_and_torchrun() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils.train", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0
    assert "GLOBAL batch" in proc.stdout and "torchrun --standalone --nproc_per_node=2" in proc.stdout
    assert "--crash-at-epoch K" in proc.stdout
