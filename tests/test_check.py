"""course_utils.check: exercise checks judge values without revealing answers."""

from __future__ import annotations

import pytest

from course_utils import check


def test_unknown_exercise_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="no check for exercise '99.9'"):
        check.exercise("99.9", 1)


def test_register_twice_is_refused() -> None:
    check.register("98.1", "a test-only question")(lambda v: (True, "fine"))
    try:
        with pytest.raises(ValueError, match="registered twice"):
            check.register("98.1", "again")(lambda v: (True, "fine"))
        assert check.exercise("98.1", 0) is True
    finally:
        check._EXERCISES.pop("98.1")


def test_a_judge_that_cannot_read_the_value_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    check.register("98.2", "a fraction")(lambda v: (check.as_fraction(v) > 0.5, "above one half"))
    try:
        assert check.exercise("98.2", "abc") is False
        assert "cannot be judged (ValueError" in capsys.readouterr().out
        assert check.exercise("98.2", 75) is True  # a percentage
    finally:
        check._EXERCISES.pop("98.2")


@pytest.mark.parametrize(("value", "expected"), [(0.25, 0.25), (53, 0.53), (1, 1.0), (0, 0.0)])
def test_as_fraction(value: float, expected: float) -> None:
    assert check.as_fraction(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.1, 101])
def test_as_fraction_refuses(value: float) -> None:
    with pytest.raises(ValueError):
        check.as_fraction(value)


# ---- lesson 01 ------------------------------------------------------------


def test_lesson_01_checks_judge_values(capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    assert check.exercise("01.1", (3, 2)) and not check.exercise("01.1", (3, 3))
    assert not check.exercise("01.1", (2, 2))
    assert check.exercise("01.2", (240, 80)) and not check.exercise("01.2", (80, 80))
    assert not check.exercise("01.2", (160, 80))
    assert check.exercise("01.3", torch.tensor(-2.1179)) and not check.exercise("01.3", -1.0)
    assert "(3, 2)" not in capsys.readouterr().out


# (end of lesson 01)


# ---- lesson 02 ------------------------------------------------------------


def test_lesson_02_checks_judge_values() -> None:
    import torch

    assert check.exercise("02.1", torch.Size([3, 64, 320])) and not check.exercise("02.1", (3, 70, 342))
    assert check.exercise("02.2", torch.tensor(7.0)) and not check.exercise("02.2", 0)
    assert check.exercise("02.3", 3e-8) and not check.exercise("02.3", 0.2)


# (end of lesson 02)


# ---- lesson 03 ------------------------------------------------------------


def test_lesson_03_checks_judge_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("03.1", (400, 500)) and not check.exercise("03.1", (500, 500))
    assert check.exercise("03.1", (404, 504)) and not check.exercise("03.1", (401, 500))
    assert check.exercise("03.2", 59_150 + 476 * 16) and not check.exercise("03.2", 62_006)
    assert not check.exercise("03.2", 62_007)
    assert check.exercise("03.3", 10) and not check.exercise("03.3", 1) and not check.exercise("03.3", 1.9)
    assert check.exercise("03.4", -0.02) and check.exercise("03.4", 3.5)  # fraction or points
    assert not check.exercise("03.4", 0.0) and not check.exercise("03.4", 0.4)
    out = capsys.readouterr().out
    assert "62,006" in out and "16 filters" in out


# (end of lesson 03)


# ---- lesson 04 ------------------------------------------------------------
@pytest.mark.parametrize(
    ("exercise_id", "right", "wrong"),
    [
        ("04.1", 938, 937),
        ("04.1", 32, 1875),
        ("04.2", 400, 256),
        ("04.3", 10_422, 5_142),
        ("04.4", 0.002, 0.97),
        ("04.4", 0, 97.5),
    ],
)
def test_lesson_04_checks_tell_right_from_wrong(
    exercise_id: str, right: float, wrong: float, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.exercise(exercise_id, right) is True
    assert check.exercise(exercise_id, wrong) is False
    out = capsys.readouterr().out
    if right > 10:  # the printed verdicts never reveal the answer
        assert str(right) not in out and f"{right:,}" not in out


def test_lesson_04_counts_match_the_networks() -> None:
    """The checks' hand-computed answers are what the changed networks really have."""
    from torch import nn

    from course_utils import models

    net = models.MnistCNN()
    net.conv1, net.conv2, net.fc1 = nn.Conv2d(1, 6, 3), nn.Conv2d(6, 16, 3), nn.Linear(400, 10)
    assert models.layer_shapes(net, (1, 1, 28, 28)).shapes("flatten_1")[0] == (1, 400)
    padded = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Conv2d(6, 16, 5, padding=2), nn.Linear(16 * 7 * 7, 10)
    )
    assert check.exercise("04.3", models.count_parameters(padded)) is True


def test_whole_number_answers_refuse_fractions() -> None:
    assert check.exercise("04.1", 937.5) is False


# (end of lesson 04)


# ---- lesson 05 ------------------------------------------------------------
def test_lesson_05_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("05.1", 0.04) is True
    assert check.exercise("05.1", 0.0) is False
    assert check.exercise("05.1", -0.02) is False
    assert check.exercise("05.1", 4) is False  # a percentage point difference, not a fraction
    assert "cannot be judged" in capsys.readouterr().out
    assert check.exercise("05.3", (0.20, 0.08)) is True
    assert check.exercise("05.3", (0.05, 0.08)) is False
    assert check.exercise("05.3", 0.2) is False  # one number where two are asked


def test_lesson_05_padded_lenet_count_is_the_real_one() -> None:
    from torch import nn

    from course_utils import models

    net = models.LeNetV1()
    net.conv1, net.conv2 = nn.Conv2d(3, 20, 5, 1, padding=2), nn.Conv2d(20, 50, 5, 1, padding=2)
    net.fc1 = nn.Linear(8 * 8 * 50, 500)
    assert check.exercise("05.2", models.count_parameters(net)) is True
    assert check.exercise("05.2", models.count_parameters(models.LeNetV1())) is False


# (end of lesson 05)


# ---- lesson 06 ------------------------------------------------------------
def test_lesson_06_checks() -> None:
    from torchvision import transforms as T

    assert check.exercise("06.1", -0.06) is True
    assert check.exercise("06.1", 0.01) is False
    jitter = T.ColorJitter(brightness=0.5)
    assert check.exercise("06.2", jitter.brightness) is True
    assert check.exercise("06.2", T.ColorJitter(brightness=0.2).brightness) is False
    assert check.exercise("06.3", 1.8) is True
    assert check.exercise("06.3", 0.9) is False
    assert check.exercise("06.3", -1) is False


# (end of lesson 06)


# ---- lesson 07 ------------------------------------------------------------
# 07.1: tests/test_exercises_06_09.py (the pair (with, without) since 2026-12-03)


@pytest.mark.parametrize(
    ("lr", "ok", "says"),
    [
        (1e-10, True, "every crossing"),
        (1e-3, False, "starting rate"),
        (1e-4, False, "one reduction"),
        (1e-11, False, "count the scheduler steps"),
        (-1.0, False, "positive"),
    ],
)
def test_07_2_steplr_every_batch(lr: float, ok: bool, says: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check.exercise("07.2", lr) is ok
    out = capsys.readouterr().out
    assert says in out and "1e-10" not in out  # the answer itself is never printed


def test_07_2_matches_a_real_steplr() -> None:
    import torch

    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(dummy, step_size=20, gamma=0.1)
    for _ in range(159):
        dummy.step()
        sched.step()
    assert check.exercise("07.2", sched.get_last_lr()[0]) is True


def test_07_3_adam_state_ratio_of_a_real_network() -> None:
    import torch
    from torch import nn

    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(2, 3, 8, 8))
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 3, 8, 8)).sum().backward()
    optimizer.step()

    def nbytes(obj: object) -> int:
        if torch.is_tensor(obj):
            return obj.numel() * obj.element_size()
        if isinstance(obj, dict):
            return sum(nbytes(v) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return sum(nbytes(v) for v in obj)
        return 0

    ratio = nbytes(optimizer.state_dict()) / nbytes(model.state_dict())
    assert check.exercise("07.3", ratio) is True
    assert check.exercise("07.3", ratio / 2) is False
    assert check.exercise("07.3", 3.0) is False


# (end of lesson 07)


# ---- lesson 08 ------------------------------------------------------------
# 08.1 and 08.3: tests/test_exercises_06_09.py (tightened 2026-12-03)


@pytest.mark.parametrize(("diff", "ok"), [(0.0, True), (1.2e-7, True), (0.05, False), (float("nan"), False)])
def test_08_2_brightness_by_hand(diff: float, ok: bool) -> None:
    assert check.exercise("08.2", diff) is ok


def test_08_2_accepts_a_tensor_and_agrees_with_batch_augment() -> None:
    import torch

    from course_utils import data

    augment = data.BatchAugment(
        hflip=0,
        degrees=None,
        shear=None,
        scale=None,
        contrast=None,
        saturation=None,
        generator=torch.Generator().manual_seed(0),
    )
    batch = torch.rand(16, 3, 8, 8)
    p = augment.sample_params(len(batch))
    mine = (batch * p["factors"][:, 0, None, None, None]).clamp(0, 1)
    assert check.exercise("08.2", (mine - augment.apply(batch, p)).abs().max()) is True
    assert check.exercise("08.2", (batch - augment.apply(batch, p)).abs().max()) is False  # no jitter


# (end of lesson 08)


# ---- lesson 09 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("exercise_id", "right", "wrong", "hint"),
    [
        ("09.1", 50, 12, "divides the steps by the processes"),
        ("09.2", 1.0, 0.02, "did you call set_epoch"),
        ("09.3", 3, 204, "how many indices it hands out in all"),
        ("09.4", 0.0, 3e-7, "should be bitwise equal"),
    ],
)
def test_lesson_09_checks(
    exercise_id: str, right: float, wrong: float, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check.exercise(exercise_id, right) is True
    assert check.exercise(exercise_id, wrong) is False
    out = capsys.readouterr().out
    assert hint in out and f"{right}" not in out.split("not yet")[1]  # never tells the answer


def test_lesson_09_counts_are_measured_against_the_real_samplers() -> None:
    import torch

    from course_utils import distributed

    loader = distributed.train_loader(
        range(800), global_batch=16, seed=0, ctx=distributed.Context(rank=0, world_size=4)
    )
    assert check.exercise("09.1", len(loader))
    handed_out = sum(
        len(torch.utils.data.DistributedSampler(range(201), num_replicas=4, rank=r)) for r in range(4)
    )
    assert check.exercise("09.3", handed_out - 201)
    assert not check.exercise("09.3", 2.5)  # not a whole number


# (end of lesson 09)
