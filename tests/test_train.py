"""``python -m course_utils.train`` in one process: the command line, its checks and its files.

Runs in-process (``train.main(argv)``) on the generated MNIST stand-in, so it is
fast; the launches under torchrun are in tests/test_distributed.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from course_utils import train
from course_utils.train import outdir

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


def launched(monkeypatch: pytest.MonkeyPatch, *, rank: int, world: int) -> None:
    """The variables torchrun sets (the checks run before the process group is joined)."""
    for name, value in [
        ("RANK", rank),
        ("WORLD_SIZE", world),
        ("MASTER_ADDR", "127.0.0.1"),
        ("MASTER_PORT", 1),
    ]:
        monkeypatch.setenv(name, str(value))


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run ``main(argv)``; it must exit with code 2 and print one error message. Returns it."""
    try:
        code = train.main(argv)
    except SystemExit as exit_info:  # argparse's errors
        code = exit_info.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1, err
    return err[err.index("error:") :]


@pytest.mark.usefixtures("no_launcher")
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--model", "vgg16"], "argument --model: invalid choice: 'vgg16'"),
        (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
        (["--epochs", "two"], "argument --epochs: 'two' is not a whole number"),
        (["--epochs", "2.5"], "argument --epochs: '2.5' is not a whole number"),
        (["--data", "cifar10"], "--model mnist_cnn does not fit --data cifar10"),
        (["--augment"], "--augment: the course has no augmentation pipeline for MNIST"),
        (["--crash-at-epoch", "1"], "it needs at least 2 processes (here 1)"),
        (["--momentum", "1.5"], "argument --momentum: must be a finite number in [0, 1), got 1.5"),
        (["--momentum", "nan"], "argument --momentum: must be a finite number in [0, 1), got nan"),
        (["--seed", "-1"], "argument --seed: must be an integer from 0 to 2**32 - 1, got -1"),
        (["--workers", "-1"], "argument --workers: must be 0 or more, got -1"),
        (["--override", "lr"], "--override only applies with --resume"),
        (["--resume", "--override", "model"], "argument --override: invalid choice: 'model'"),
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
    launched(monkeypatch, rank=0, world=4)
    line = refused([*TINY, "--batch-size", "18", "--out", str(tmp_path / "o")], capsys)
    assert (
        "--batch-size 18 is the global batch and must be divisible by the number of processes (4): try 16"
        in line
    )


def test_only_rank_0_prints_the_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    launched(monkeypatch, rank=3, world=4)
    with pytest.raises(SystemExit) as exit_info:
        train.main([*TINY, "--batch-size", "18", "--out", str(tmp_path)])
    assert exit_info.value.code == 2 and capsys.readouterr().err == ""


@pytest.mark.usefixtures("no_launcher")
def test_resume_without_a_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused([*TINY, "--out", str(tmp_path), "--resume"], capsys)
    assert f"--resume: there is no checkpoint at {tmp_path / 'checkpoint.pt'}" in line


def image_folder(root: Path, *, per_class: int) -> None:
    """``root/{train,val}/{cat,dog}/`` with ``per_class`` small PNGs each (different pixels)."""
    from PIL import Image

    for split in ("train", "val"):
        for name in ("cat", "dog"):
            (root / split / name).mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (8, 8), (100 * i, 0, 0)).save(root / split / name / f"{i}.png")


@pytest.mark.usefixtures("no_launcher")
def test_an_image_folder_with_a_broken_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image_folder(tmp_path / "images", per_class=1)
    (tmp_path / "images" / "train" / "cat" / "b.png").write_text("not a picture")
    line = refused(
        ["--model", "lenet_v2", "--data", str(tmp_path / "images"), "--out", str(tmp_path / "o")], capsys
    )
    assert "b.png: not an image" in line and line.startswith("error: --data ")
    assert "check=False" not in line  # a Python option, not one of the command line


@pytest.mark.usefixtures("no_launcher")
def test_train_samples_that_leave_one_class_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--train-samples 1 kept one class: it trained to 100 % with exit 0 (review of 12-03)."""
    image_folder(tmp_path / "images", per_class=2)
    argv = ["--model", "lenet_v2", "--data", str(tmp_path / "images"), "--out", str(tmp_path / "o")]
    line = refused([*argv, "--train-samples", "1"], capsys)
    assert (
        line.strip()
        == "error: --train-samples 1 leaves one class to train on: pass at least 2 (one image per class)"
    )
    assert not (tmp_path / "o").exists()


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
    groups = ("what to train on:", "how to train:", "where it runs and what it writes:")
    assert [proc.stdout.index(g) for g in groups] == sorted(proc.stdout.index(g) for g in groups)
    options = proc.stdout.index("how to train:")  # after the usage lines
    assert options < proc.stdout.index("\n  --lr LR", options) < proc.stdout.index("\n  --out OUT", options)


# ------------------------------------------------------------------ issue 24: resume, --out, messages


def stored_settings(out: Path) -> list[dict]:
    return torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)["settings"]


@pytest.mark.usefixtures("no_launcher")
def test_launcher_variables_left_in_the_environment_do_not_hide_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """RANK=3 left over from a torchrun session made a plain launch exit 2 without a word."""
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("WORLD_SIZE", "4")
    line = refused([*TINY, "--momentum", "1.5", "--out", str(tmp_path / "o")], capsys)
    assert "--momentum: must be a finite number in [0, 1)" in line


@pytest.mark.usefixtures("no_launcher", "offline")
def test_resume_refuses_other_settings_naming_each_and_the_flag_to_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert train.main([*TINY, "--out", str(out)]) == 0
    before = (out / "checkpoint.pt").read_bytes()
    capsys.readouterr()
    changed = [
        "--lr",
        "0.5",
        "--batch-size",
        "32",
        "--train-samples",
        "128",
        "--seed",
        "7",
        "--momentum",
        "0.0",
    ]
    line = refused([*TINY, "--epochs", "2", "--out", str(out), "--resume", *changed], capsys)
    for was, now in [
        ("--lr 0.05", "--lr 0.5"),
        ("--batch-size 16", "--batch-size 32"),
        ("--train-samples 64", "--train-samples 128"),
        ("--seed 0", "--seed 7"),
        ("--momentum 0.9", "--momentum 0.0"),
    ]:
        assert f"{was} (now {now})" in line
    assert (
        "add --override batch-size --override lr --override momentum --override seed --override train-samples"
        in line
    )
    assert "\n" not in line.strip()
    line = refused([*TINY, "--out", str(out), "--resume", "--optimizer", "adam"], capsys)
    assert "was trained with --optimizer sgd, not --optimizer adam" in line
    assert (out / "checkpoint.pt").read_bytes() == before  # nothing trained, nothing written


@pytest.mark.usefixtures("no_launcher", "offline")
def test_resume_with_override_trains_with_the_new_value_and_records_each_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r"
    assert train.main([*TINY, "--out", str(out)]) == 0
    argv = [*TINY, "--epochs", "3", "--out", str(out), "--resume", "--lr", "0.5", "--batch-size", "32"]
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*(was trained with a|saved in the checkpoint)")
        assert train.main([*argv, "--override", "lr", "--override", "batch-size"]) == 0
    assert "from epoch 2 on: batch-size 16 -> 32, lr 0.05 -> 0.5" in capsys.readouterr().out
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3] and history["lr"] == [0.05, 0.5, 0.5]
    result = json.loads((out / "result.json").read_text())
    assert [(s["epochs"], s["lr"], s["batch-size"]) for s in result["settings"]] == [
        ([1, 1], 0.05, 16),
        ([2, 3], 0.5, 32),
    ]
    assert history["settings"] == result["settings"] and (result["lr"], result["batch_size"]) == (0.5, 32)
    saved = torch.load(out / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert saved["optimizer_state"]["param_groups"][0]["lr"] == 0.5
    assert saved["loader_state"]["batch_size"] == 32
    assert [s["first_epoch"] for s in saved["settings"]] == [1, 2]
    # the same settings again need no --override, and start no new entry
    assert train.main([*argv[:-8], "4", *argv[-7:]]) == 0
    assert "from epoch" not in capsys.readouterr().out
    assert [s["first_epoch"] for s in stored_settings(out)] == [1, 2]


@pytest.mark.usefixtures("no_launcher")
def test_a_damaged_checkpoint_is_one_line_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It was a 25-line traceback, after the process group had started."""
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint" * 10)
    assert train.main([*TINY, "--out", str(tmp_path), "--resume"]) == 2
    assert capsys.readouterr().err == (
        f"python -m course_utils.train: error: --resume: {tmp_path / 'checkpoint.pt'} is not a valid "
        "checkpoint (truncated or corrupt, or not written by torch.save)\n"
    )
    assert os.listdir(tmp_path) == ["checkpoint.pt"]


def test_a_plain_launch_with_launcher_variables_left_prints_one_line(tmp_path: Path) -> None:
    """In a fresh process, as a learner launches it, with RANK and WORLD_SIZE left from torchrun."""
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    env = {**os.environ, "RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "COURSE_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "course_utils.train", *TINY, "--out", str(tmp_path), "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and "is not a valid checkpoint" in lines[0]


@pytest.mark.usefixtures("no_launcher", "offline")
def test_a_checkpoint_error_while_training_is_one_line_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A checkpoint saved by engine.fit (no settings) of another network: refused while loading."""
    from course_utils import checkpoint, models

    checkpoint.save_checkpoint(tmp_path / "checkpoint.pt", model=models.TutorialNet(), epoch=1)
    assert train.main([*TINY, "--epochs", "2", "--out", str(tmp_path), "--resume"]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and err.endswith("\n") and err.count("\n") == 1, err
    assert "does not fit this MnistCNN: it was saved from a TutorialNet" in err
    assert "layer sizes); unexpected keys (in the checkpoint, not in the model) (4): fc2.weight" in err
    assert "; size mismatches (3): conv1.weight (checkpoint (6, 3, 5, 5), model (6, 1, 5, 5))" in err


@pytest.mark.usefixtures("no_launcher")
def test_files_the_course_did_not_write_are_never_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "result.json").write_text('{"mine": 1}\n')
    (tmp_path / "history.json").write_text("my notes\n")
    line = refused([*TINY, "--out", str(tmp_path)], capsys)
    assert f"--out {tmp_path} holds history.json, result.json, which this command did not write" in line
    assert (tmp_path / "result.json").read_text() == '{"mine": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "result.json"]


@pytest.mark.usefixtures("no_launcher", "offline")
def test_a_second_run_into_a_folder_in_use_is_refused_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = outdir.lock_folder(tmp_path)  # what the first run holds while it trains
    try:
        line = refused([*TINY, "--out", str(tmp_path)], capsys)
    finally:
        first.close()
    assert f"--out {tmp_path} is in use by another run (process {os.getpid()} on " in line
    assert "wait for it to end, or choose another --out" in line
    assert not (tmp_path / "checkpoint.pt").exists()
    assert train.main([*TINY, "--out", str(tmp_path)]) == 0  # free again


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
@pytest.mark.usefixtures("no_launcher", "offline")
def test_a_symlink_planted_at_the_lock_overwrites_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".lock").symlink_to(victim)
    line = refused([*TINY, "--out", str(out)], capsys)
    assert line.startswith(f"error: --out {out}: {out / '.lock'} is not a lock file this course wrote")
    assert victim.read_text() == "precious\n" and not (out / "result.json").exists()


@pytest.mark.usefixtures("no_launcher", "offline")
def test_an_out_that_cannot_be_made_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("")
    line = refused([*TINY, "--out", str(tmp_path / "file" / "run")], capsys)
    assert line.startswith(f"error: --out {tmp_path / 'file' / 'run'}: [Errno 20] Not a directory")


@pytest.mark.usefixtures("no_launcher", "offline")
def test_a_full_disk_while_training_is_one_line_naming_the_file_and_exit_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from course_utils import files

    def full_disk(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", full_disk)
    assert train.main([*TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        "python -m course_utils.train: error: [Errno 28] No space left on device: "
        f"'{tmp_path / 'checkpoint.pt'}'\n"
    )


@pytest.mark.usefixtures("offline")
def test_a_process_group_that_cannot_be_joined_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """All four launcher variables left in the environment, one of them unusable: was a traceback."""
    launched(monkeypatch, rank=0, world=1)
    monkeypatch.setenv("MASTER_PORT", "not-a-port")
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    assert train.main([*TINY, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: cannot join the process group that RANK, WORLD_SIZE" in err
    assert "start the script with torchrun, or unset them to train in one process" in err


def test_workers_count_as_a_setting_only_with_augmentation(tmp_path: Path) -> None:
    """With --augment, worker processes draw the random transforms from seeds of their own (review)."""
    from course_utils.train import args as train_args

    def parse(*extra: str):
        return train_args.build_parser().parse_args(["--model", "lenet_v2", "--data", "cifar10", *extra])

    path = tmp_path / "checkpoint.pt"
    plain = train_args.settings_of(parse("--workers", "2"))
    assert train_args.check_resume(parse("--workers", "0"), plain, path) is None  # speed only
    augmented = train_args.settings_of(parse("--augment", "--workers", "2"))
    problem = train_args.check_resume(parse("--augment", "--workers", "0"), augmented, path)
    assert (
        problem is not None and "--workers 2 (now --workers 0)" in problem and "--override workers" in problem
    )
    assert train_args.check_resume(parse("--augment", "--override", "workers"), augmented, path) is None


# ---------------------------------------------------------------- the output folder's lock


@pytest.mark.skipif(os.name != "posix", reason="symlinks")
def test_a_lock_that_is_a_symlink_or_a_users_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for folder, make in (("linked", lambda p: p.symlink_to(victim)), ("own", lambda p: p.write_text("mine"))):
        (tmp_path / folder).mkdir()
        make(tmp_path / folder / ".lock")
        with pytest.raises(OSError, match=r"\.lock is not a lock file this course wrote.*move it away"):
            outdir.lock_folder(tmp_path / folder)
    assert victim.read_text() == "precious" and (tmp_path / "own" / ".lock").read_text() == "mine"
    outdir.lock_folder(tmp_path).close()  # a lock this course wrote is taken again
    outdir.lock_folder(tmp_path).close()


def test_a_folder_lock_names_the_process_that_holds_it(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDS_LOCK, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(outdir.FolderInUseError) as info:
            outdir.lock_folder(tmp_path)
        assert f"in use by another run (process {holder.pid} on " in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    outdir.lock_folder(tmp_path).close()  # the kernel dropped a killed holder's lock


HOLDS_LOCK = textwrap.dedent("""
    import sys, time
    from course_utils.train import outdir
    lock = outdir.lock_folder(sys.argv[1])
    print("locked", flush=True)
    time.sleep(120)
""")
