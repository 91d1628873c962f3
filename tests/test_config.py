from __future__ import annotations

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
    assert cfg.data_sources == {"cifar10": "synthetic (offline stand-in)", "mnist": "synthetic (offline stand-in)"}
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


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": -4}, {"epochs": 2.5}, {"lr": -1.0}])
def test_bad_values_are_refused(bad) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        config.setup(profile="full", **bad)


def test_unknown_setting_says_how_to_add_it() -> None:
    cfg = config.setup(profile="full", epochs=1, verbose=False)
    with pytest.raises(AttributeError, match="setup\\(momentum=...\\)"):
        cfg.momentum


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
        other = config.setup(profile=profile, epochs=2, smoke={"epochs": 2, "train_samples": 5000},
                             verbose=False)
        assert (other.epochs, other.train_samples) == (2, None)


def test_smoke_overrides_are_checked(monkeypatch) -> None:
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    with pytest.raises(ValueError, match="smoke= takes epochs, train_samples, test_samples; got lr"):
        config.setup(epochs=2, smoke={"lr": 0.1})
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        config.setup(epochs=2, smoke={"epochs": 0})
    with pytest.raises(ValueError, match="train_samples must be a positive integer"):
        config.setup(epochs=2, smoke={"train_samples": -5})
