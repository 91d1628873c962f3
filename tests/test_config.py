from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest
import torch

from course_utils import config


@pytest.fixture(autouse=True)
def no_data_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COURSE_OFFLINE", "1")


def test_smoke_profile_scales_epochs_data_and_logging(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    cfg = config.setup(epochs=20, batch_size=100, lr=0.001, log_every=2000, seed=3)
    assert (cfg.profile, cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed) == ("smoke", 1, 100, 0.001, 3)
    assert cfg.log_every == 100
    assert (cfg.train_samples, cfg.test_samples) == (2000, 500)
    assert cfg.changes == {"epochs": (20, 1), "log_every": (2000, 100)}
    banner = capsys.readouterr().out.strip()
    assert banner.count("\n") == 0
    assert "profile smoke" in banner and "epochs 20->1" in banner and "log_every 2000->100" in banner
    assert f"device {cfg.device.type}" in banner and "train samples ->2000" in banner


def test_quick_profile_caps_epochs_at_three_and_keeps_all_data(monkeypatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    cfg = config.setup(epochs=12, batch_size=20, image_size=224, verbose=False)
    assert (cfg.epochs, cfg.batch_size, cfg.image_size) == (3, 20, 64)
    assert cfg.train_samples is None and cfg.test_samples is None
    assert config.setup(epochs=2, verbose=False).changes == {}


def test_full_profile_changes_nothing(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "full")
    cfg = config.setup(epochs=20, batch_size=4, image_size=224)
    assert (cfg.epochs, cfg.batch_size, cfg.image_size, cfg.changes) == (20, 4, 224, {})
    assert "changed: nothing" in capsys.readouterr().out


def test_banner_names_data_sources(monkeypatch, capsys, offline) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    cfg = config.setup(epochs=2, data=("cifar10", "mnist"))
    assert cfg.data_sources == {
        "cifar10": "synthetic (offline stand-in)",
        "mnist": "synthetic (offline stand-in)",
    }
    assert "data cifar10: synthetic (offline stand-in)" in capsys.readouterr().out


@pytest.mark.parametrize("device, profile", [("cpu", "quick"), ("mps", "full"), ("cuda", "full")])
def test_default_profile_follows_the_device(monkeypatch, device, profile) -> None:
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(config, "pick_device", lambda: torch.device(device))
    assert config.resolve_profile() == profile


def test_bogus_profile_lists_the_valid_ones(monkeypatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "bogus")
    with pytest.raises(ValueError, match="'bogus'.*smoke, quick, full"):
        config.setup(epochs=1)


@pytest.mark.parametrize(
    "bad",
    [
        {"epochs": 0},
        {"batch_size": -4},
        {"epochs": 2.5},
        {"epochs": True},
        {"batch_size": np.float64(4)},
        {"lr": -1.0},
        {"lr": float("nan")},
        {"lr": float("inf")},
        {"lr": "0.1"},
        {"lr": True},
        {"momentum": -0.1},
        {"momentum": 1.0},
        {"momentum": float("nan")},
        {"weight_decay": -1e-4},
        {"weight_decay": float("inf")},
        {"gamma": 0.0},
        {"gamma": 1.5},
        {"step_size": 0},
        {"dropout": 1.0},
        {"label_smoothing": -0.1},
    ],
    ids=repr,
)
def test_bad_values_are_refused(bad) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        config.setup(profile="full", **bad)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, np.float32(3)])
def test_bad_seeds_are_refused(seed) -> None:
    with pytest.raises(ValueError, match="seed must be an integer from 0 to 2\\*\\*32 - 1"):
        config.setup(profile="full", seed=seed, verbose=False)


def test_meaningful_edge_values_are_accepted() -> None:
    cfg = config.setup(profile="full", lr=0, momentum=0.0, weight_decay=0.0, gamma=1.0, verbose=False)
    assert (cfg.lr, cfg.momentum, cfg.weight_decay, cfg.gamma) == (0, 0.0, 0.0, 1.0)
    assert config.setup(profile="full", momentum=0.99, verbose=False).momentum == 0.99


def test_numpy_numbers_are_accepted_as_python_numbers(monkeypatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    cfg = config.setup(
        epochs=np.int64(3),
        batch_size=np.int32(50),
        lr=np.float32(0.5),
        seed=np.int64(4),
        smoke={"train_samples": np.int16(300)},
        verbose=False,
    )
    assert (cfg.epochs, cfg.batch_size, cfg.lr, cfg.seed, cfg.train_samples) == (1, 50, 0.5, 4, 300)
    assert [type(v) for v in (cfg.batch_size, cfg.lr, cfg.seed, cfg.train_samples)] == [int, float, int, int]
    assert cfg.changes == {"epochs": (3, 1)}


@pytest.mark.parametrize("cores, workers", [(1, 1), (6, 6), (16, 8), (128, 8)])
def test_full_profile_on_cuda_loads_with_the_cpu_cores(monkeypatch, capsys, cores, workers) -> None:
    monkeypatch.setattr(config, "pick_device", lambda: torch.device("cuda"))
    monkeypatch.setattr(config.os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    cfg = config.setup(profile="full", epochs=2, batch_size=100)
    assert cfg.num_workers == workers
    assert f"num_workers 0->{workers} (CPU cores)" in capsys.readouterr().out
    assert cfg.changes == {}  # a loader setting, not a hyper-parameter the lesson wrote


@pytest.mark.parametrize(
    "device, profile", [("cuda", "smoke"), ("cuda", "quick"), ("cpu", "full"), ("mps", "full")]
)
def test_other_profiles_and_devices_load_in_the_main_process(monkeypatch, capsys, device, profile) -> None:
    monkeypatch.setattr(config, "pick_device", lambda: torch.device(device))
    cfg = config.setup(profile=profile, epochs=2)
    assert cfg.num_workers == 0
    assert "num_workers" not in capsys.readouterr().out


def test_a_setting_the_lesson_did_not_pass_is_none_and_every_setting_is_a_field() -> None:
    cfg = config.setup(profile="full", epochs=1, verbose=False)
    assert cfg.momentum is None and cfg.epochs == 1
    names = {f.name for f in dataclasses.fields(cfg)}
    assert set(config.SETTINGS) | {"profile", "device", "seed", "train_samples", "num_workers"} <= names
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 0.1  # type: ignore[misc]


@pytest.mark.parametrize(
    "misspelt, meant",
    [("mom", "momentum"), ("batchsize", "batch_size"), ("epoch", "epochs"), ("seeds", "seed")],
)
def test_a_misspelt_setting_is_a_type_error_naming_the_close_match(misspelt, meant) -> None:
    with pytest.raises(TypeError, match=rf"no setting '{misspelt}'; did you mean {meant}=\?"):
        config.setup(profile="full", verbose=False, **{misspelt: 1})


def test_a_setting_with_no_close_match_lists_every_setting() -> None:
    with pytest.raises(TypeError, match=r"^setup\(\) has no setting 'xyzzy'\. It takes .*\bmomentum\b"):
        config.setup(profile="full", verbose=False, xyzzy=1)


def test_the_device_is_the_accelerator_torch_finds(monkeypatch) -> None:
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *a, **k: torch.device("mps"))
    assert config.pick_device() == torch.device("mps") and config.default_profile() == "full"
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: False)
    assert config.pick_device() == torch.device("cpu") and config.default_profile() == "quick"


def test_setup_seeds_python_numpy_and_torch() -> None:
    config.setup(profile="full", seed=7, verbose=False)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    config.setup(profile="full", seed=7, verbose=False)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_a_lesson_can_ask_the_smoke_profile_for_more(monkeypatch, capsys) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    cfg = config.setup(epochs=2, batch_size=4, smoke={"epochs": 2, "train_samples": 5000})
    assert (cfg.epochs, cfg.train_samples, cfg.test_samples) == (2, 5000, 500)
    assert cfg.changes == {}
    assert "train samples ->5000" in capsys.readouterr().out
    for profile in ("quick", "full"):  # the overrides only concern smoke
        other = config.setup(
            profile=profile, epochs=2, smoke={"epochs": 2, "train_samples": 5000}, verbose=False
        )
        assert (other.epochs, other.train_samples) == (2, None)


def test_smoke_overrides_are_checked(monkeypatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    with pytest.raises(ValueError, match="smoke= takes epochs, train_samples, test_samples; got lr"):
        config.setup(epochs=2, smoke={"lr": 0.1})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        config.setup(epochs=2, smoke={"epochs": 0})
    with pytest.raises(ValueError, match="train_samples must be a positive integer"):
        config.setup(epochs=2, smoke={"train_samples": -5})
