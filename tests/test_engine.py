"""Tests for course_utils.engine: sample-weighted loops, fit, resume and predict."""
from __future__ import annotations

import copy
import re
import sys
import types
import warnings

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import course_utils
from course_utils import engine, models, viz
from course_utils.engine import History


def quadrant_images(n: int = 256, seed: int = 0) -> TensorDataset:
    """Learnable 1x28x28 images: the class (0..3) is the quadrant holding a bright square."""
    g = torch.Generator().manual_seed(seed)
    x = 0.3 * torch.randn(n, 1, 28, 28, generator=g)
    y = torch.arange(n) % 4
    for i, label in enumerate(y.tolist()):
        r, c = divmod(label, 2)
        x[i, 0, 14 * r + 3: 14 * r + 11, 14 * c + 3: 14 * c + 11] += 2.0
    return TensorDataset(x, y)


def loader(ds: TensorDataset, batch_size: int, *, shuffle: bool = False, seed: int = 0) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle,
                      generator=torch.Generator().manual_seed(seed))


class Passthrough(nn.Module):
    """Logits = inputs * scale: the test decides every prediction."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def skewed_case() -> TensorDataset:
    """10 samples in batches of 4, 4, 2: the first 8 right, the short last batch wrong.

    Sample-weighted accuracy 8/10 = 0.8; averaging batch accuracies would give 2/3.
    """
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 3, (10,), generator=g)
    logits = torch.randn(10, 3, generator=g)
    logits[torch.arange(10), y] = 5.0 + torch.rand(10, generator=g)
    logits[8:, :] = logits[8:].roll(1, dims=1)  # the last two now predict a wrong class
    return TensorDataset(logits, y)


def batch_means(ds: TensorDataset, size: int) -> tuple[float, float]:
    losses, accs = [], []
    for x, y in loader(ds, size):
        losses.append(F.cross_entropy(x, y).item())
        accs.append((x.argmax(1) == y).float().mean().item())
    return sum(losses) / len(losses), sum(accs) / len(accs)


def test_evaluate_is_sample_weighted_with_short_last_batch():
    ds = skewed_case()
    x, y = ds.tensors
    result = engine.evaluate(Passthrough(), loader(ds, 4), progress=False, topk=(1, 2))
    assert result["samples"] == 10
    assert result["acc"] == pytest.approx(0.8)
    assert result["loss"] == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-6)
    per_batch_loss, per_batch_acc = batch_means(ds, 4)
    assert per_batch_acc == pytest.approx(2 / 3)  # what batch averaging would have said
    assert abs(per_batch_loss - result["loss"]) > 0.1
    assert result["top1"] == result["acc"]
    assert 0.8 <= result["top2"] <= 1.0


def test_train_one_epoch_is_sample_weighted_with_short_last_batch():
    ds = skewed_case()
    x, y = ds.tensors
    model = Passthrough()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay put
    result = engine.train_one_epoch(model, loader(ds, 4), optimizer,
                                    criterion=nn.CrossEntropyLoss(), progress=False)
    assert result["samples"] == 10 and result["running_loss"] == []
    assert result["acc"] == pytest.approx(0.8)
    assert result["loss"] == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-6)
    assert result["seconds"] > 0


def test_sum_reduction_criterion_is_not_multiplied_again():
    ds = skewed_case()
    x, y = ds.tensors
    result = engine.evaluate(Passthrough(), loader(ds, 4), progress=False,
                             criterion=nn.CrossEntropyLoss(reduction="sum"))
    assert result["loss"] == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-6)


def test_log_every_prints_blitz_running_loss(capsys):
    torch.manual_seed(0)
    model = models.MnistCNN(num_classes=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    result = engine.train_one_epoch(model, loader(quadrant_images(64), 4), opt,
                                    criterion=nn.CrossEntropyLoss(), epoch=2, log_every=5,
                                    progress=False)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 == len(result["running_loss"])  # 16 batches, a line every 5
    assert re.fullmatch(r"\[2,     5\] loss: \d+\.\d{3}", lines[0])
    assert lines[2].startswith("[2,    15] loss: ")
    assert float(lines[0].rsplit(" ", 1)[1]) == pytest.approx(result["running_loss"][0], abs=5e-4)


def test_max_batches_limits_both_loops(capsys):
    torch.manual_seed(0)
    ds = quadrant_images(64)
    model = models.MnistCNN(num_classes=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    train = engine.train_one_epoch(model, loader(ds, 8), opt, criterion=nn.CrossEntropyLoss(),
                                   max_batches=3)  # with the progress bar
    assert train["samples"] == 24
    assert "0/3 [" in capsys.readouterr().err  # the bar's total is max_batches, not len(loader)
    assert engine.evaluate(model, loader(ds, 8), max_batches=2, progress=False)["samples"] == 16


def test_empty_loader_is_an_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="no samples"):
        engine.evaluate(Passthrough(), empty, progress=False)


def test_evaluate_restores_mode_and_checks_topk():
    model = models.LeNetV1()
    model.train()
    ds = TensorDataset(torch.randn(6, 3, 32, 32), torch.arange(6) % 10)
    result = engine.evaluate(model, loader(ds, 4), topk=(1, 5), progress=False)
    assert model.training
    assert 0 <= result["top1"] <= result["top5"] <= 1
    with pytest.raises(ValueError, match="k=11"):
        engine.evaluate(model, loader(ds, 4), topk=(11,), progress=False)


def make_run(seed: int = 0, *, lr: float = 0.05):
    torch.manual_seed(seed)
    model = models.MnistCNN(num_classes=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    train = loader(quadrant_images(200), 32, shuffle=True)  # 7 batches, the last holds 8
    val = loader(quadrant_images(100, seed=1), 32)
    return model, optimizer, scheduler, train, val


def test_fit_learns_and_records_history(capsys):
    model, optimizer, scheduler, train, val = make_run()
    history = engine.fit(model, train, val, epochs=3, optimizer=optimizer,
                         criterion=nn.CrossEntropyLoss(), scheduler=scheduler, topk=(1, 3),
                         progress=False)
    assert history.epoch == [1, 2, 3] and len(history) == 3
    assert history.lr == pytest.approx([0.05, 0.025, 0.0125])  # the rate used in each epoch
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.00625)  # stepped after epoch 3
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.train_acc[-1] > history.train_acc[0]
    assert history.val_acc[-1] >= 0.9
    for series in (history.train_acc, history.val_acc, history.val_top3):
        assert all(0.0 <= v <= 1.0 for v in series) and len(series) == 3
    assert all(a <= b for a, b in zip(history.val_acc, history.val_top3))
    assert all(s > 0 for s in history.seconds)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 3 and "epoch 3/3: train loss" in out


def test_history_round_trips_through_plain_dict():
    h = History()
    h.append(epoch=1, train_loss=1.5, train_acc=0.25, val_loss=1.4, val_acc=0.3, lr=0.1,
             seconds=2.0, val_top5=0.7)
    d = h.to_dict()
    assert d["val_top5"] == [0.7] and d["epoch"] == [1]
    assert all(type(v) is list for v in d.values())
    again = History.from_dict(d)
    assert again == h and again.val_top5 == [0.7]
    with pytest.raises(AttributeError, match="val_top3"):
        again.val_top3


def test_fit_without_validation_loader():
    model, optimizer, _, train, _ = make_run()
    history = engine.fit(model, train, epochs=1, optimizer=optimizer,
                         criterion=nn.CrossEntropyLoss(), progress=False, verbose=False)
    assert history.val_acc == [] and len(history.train_acc) == 1


def test_amp_is_ignored_on_cpu():
    model, optimizer, _, train, _ = make_run()
    with pytest.warns(UserWarning, match="amp=True only applies on CUDA"):
        history = engine.fit(model, train, epochs=1, optimizer=optimizer, amp=True,
                             criterion=nn.CrossEntropyLoss(), progress=False, verbose=False)
    assert len(history) == 1


def _train_mnist_cnn(*, channels_last: bool) -> tuple[models.MnistCNN, dict]:
    torch.manual_seed(0)
    model = models.MnistCNN()
    x, y = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    engine.train_one_epoch(model, loader, optimizer, criterion=nn.CrossEntropyLoss(),
                           channels_last=channels_last, progress=False)
    return model, engine.evaluate(model, loader, channels_last=channels_last, progress=False)


def test_channels_last_applies_on_cpu_and_trains_the_same():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ignored" warning on the CPU
        cl_model, cl_result = _train_mnist_cnn(channels_last=True)
    plain_model, plain_result = _train_mnist_cnn(channels_last=False)
    assert cl_model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain_model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(cl_model.parameters(), plain_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert cl_result["loss"] == pytest.approx(plain_result["loss"], rel=1e-4)


def test_live_plot_is_a_no_op_without_a_kernel(capsys):
    model, optimizer, _, train, _ = make_run()
    history = engine.fit(model, train, epochs=1, optimizer=optimizer, live_plot=True,
                         criterion=nn.CrossEntropyLoss(), progress=False, verbose=False)
    assert len(history) == 1 and capsys.readouterr().out == ""


# ------------------------------------------------------------ predict


def test_predict_returns_eval_mode_logits_and_restores_mode():
    torch.manual_seed(0)
    model = models.LeNetV2()  # has dropout: eval mode makes it deterministic
    model.train()
    x = torch.randn(3, 3, 32, 32)
    out = engine.predict(model, x)
    assert model.training
    assert out.shape == (3, 10) and not out.requires_grad
    model.eval()
    with torch.no_grad():
        assert torch.equal(out, model(x))


def test_predict_rejects_a_pil_image():
    img = Image.new("RGB", (32, 32))
    with pytest.raises(TypeError) as err:
        engine.predict(models.TutorialNet(), img)
    msg = str(err.value)
    assert "PIL Image" in msg and "ToTensor()" in msg
    assert "[None]" in msg and "unsqueeze(0)" in msg


def test_predict_rejects_a_single_image_without_batch_axis():
    with pytest.raises(ValueError) as err:
        engine.predict(models.TutorialNet(), torch.randn(3, 32, 32))
    msg = str(err.value)
    assert "(C, H, W) = (3, 32, 32)" in msg and "(N, C, H, W)" in msg
    assert "x[None]" in msg and "(1, 3, 32, 32)" in msg


# ------------------------------------------------------------ checkpoints


class FakeCheckpoint:
    """In-memory stand-in for course_utils.checkpoint with the contract's signatures."""

    def __init__(self) -> None:
        self.saved: dict = {}
        self.save_epochs: list[int] = []

    def save_checkpoint(self, path, *, model, optimizer=None, scheduler=None, epoch,
                        history=None, loader=None, **extra):
        self.save_epochs.append(epoch)
        path.touch()  # fit looks for the file before resuming
        self.saved[str(path)] = copy.deepcopy({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "epoch": epoch, "history": history,
            "torch_rng": torch.get_rng_state(), "loader_rng": loader.generator.get_state(),
            **extra})
        return path

    def load_checkpoint(self, path, *, model, optimizer=None, scheduler=None, loader=None,
                        **_):
        state = copy.deepcopy(self.saved[str(path)])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        loader.generator.set_state(state["loader_rng"])
        return state


class DropoutNet(nn.Module):
    """MnistCNN plus dropout, so the torch RNG matters during training."""

    def __init__(self) -> None:
        super().__init__()
        self.body = models.MnistCNN(num_classes=4)
        self.dropout = nn.Dropout(0.3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.dropout(x))


def dropout_run(seed: int):
    torch.manual_seed(seed)
    model = DropoutNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    train = loader(quadrant_images(96), 32, shuffle=True, seed=seed)
    return model, optimizer, scheduler, train


def fit_run(run, epochs: int, **kwargs) -> History:
    model, optimizer, scheduler, train = run
    return engine.fit(model, train, epochs=epochs, optimizer=optimizer, scheduler=scheduler,
                      criterion=nn.CrossEntropyLoss(), progress=False, verbose=False, **kwargs)


def assert_resume_is_bitwise_identical(path) -> None:
    straight = dropout_run(0)
    expected = fit_run(straight, 3)
    first = dropout_run(0)
    fit_run(first, 1, checkpoint=path)
    resumed_run = dropout_run(7)  # fresh objects, different initial weights and RNG
    resumed = fit_run(resumed_run, 3, checkpoint=path, resume=True)
    for key, value in straight[0].state_dict().items():
        assert torch.equal(value, resumed_run[0].state_dict()[key]), key
    assert resumed.epoch == [1, 2, 3]
    assert resumed.train_loss == expected.train_loss
    assert resumed.lr == pytest.approx(expected.lr)


def test_fit_checkpoint_calls_and_bitwise_resume_with_contract_stub(monkeypatch, tmp_path):
    fake = FakeCheckpoint()
    monkeypatch.setitem(sys.modules, "course_utils.checkpoint",
                        types.SimpleNamespace(save_checkpoint=fake.save_checkpoint,
                                              load_checkpoint=fake.load_checkpoint))
    monkeypatch.setattr(course_utils, "checkpoint", sys.modules["course_utils.checkpoint"],
                        raising=False)
    assert_resume_is_bitwise_identical(tmp_path / "run.pt")
    assert fake.save_epochs == [1, 2, 3]  # once per epoch: epoch 1, then 2 and 3 after resuming
    saved = fake.saved[str(tmp_path / "run.pt")]
    assert saved["epoch"] == 3 and saved["history"]["epoch"] == [1, 2, 3]


def test_resume_without_a_checkpoint_starts_fresh(tmp_path, capsys, monkeypatch):
    fake = FakeCheckpoint()
    monkeypatch.setitem(sys.modules, "course_utils.checkpoint",
                        types.SimpleNamespace(save_checkpoint=fake.save_checkpoint,
                                              load_checkpoint=fake.load_checkpoint))
    monkeypatch.setattr(course_utils, "checkpoint", sys.modules["course_utils.checkpoint"],
                        raising=False)
    history = fit_run(dropout_run(0), 1, checkpoint=tmp_path / "none.pt", resume=True)
    assert history.epoch == [1]
    assert "no checkpoint" in capsys.readouterr().out


def test_fit_resume_bitwise_identical_with_real_checkpoint(tmp_path):
    assert_resume_is_bitwise_identical(tmp_path / "run.pt")
    assert (tmp_path / "run.pt").is_file()


def test_channels_last_resume_on_cpu_is_bitwise_identical(tmp_path):
    """The checkpoint of a channels-last CNN restores into a fresh (contiguous) model exactly."""
    ds = quadrant_images(64)

    def run(epochs: int, seed: int, **options) -> tuple[nn.Module, History]:
        torch.manual_seed(seed)
        model = models.MnistCNN(num_classes=4)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        history = engine.fit(model, loader(ds, 16, shuffle=True), epochs=epochs, optimizer=optimizer,
                             criterion=nn.CrossEntropyLoss(), channels_last=True, progress=False,
                             verbose=False, **options)
        return model, history

    straight, expected = run(3, seed=0)
    run(1, seed=0, checkpoint=tmp_path / "cl.pt")
    resumed, history = run(3, seed=7, checkpoint=tmp_path / "cl.pt", resume=True)
    assert resumed.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    assert history.train_loss == expected.train_loss and history.epoch == [1, 2, 3]


def test_live_plot_updates_once_per_epoch(monkeypatch):
    seen: list[list[int]] = []

    class Recorder:
        def __init__(self, **kwargs):
            pass

        def update(self, history):
            seen.append(list(history.epoch))

    monkeypatch.setattr(viz, "LivePlot", Recorder)
    model, optimizer, _, train, _ = make_run()
    engine.fit(model, train, epochs=3, optimizer=optimizer, live_plot=True,
               criterion=nn.CrossEntropyLoss(), progress=False, verbose=False)
    assert seen == [[1], [1, 2], [1, 2, 3]]


@pytest.mark.parametrize("progress", [False, True])
def test_train_one_epoch_matches_a_plain_loop_on_a_shuffled_loader(progress):
    """One iter() per epoch: the engine sees the same shuffled batches as a plain for-loop.

    tqdm.auto calls iter() on what it wraps in its constructor too; handing it the bare
    DataLoader drew twice from the loader's generator and trained on another order.
    """
    ds = quadrant_images(64)

    def run(use_engine: bool) -> torch.Tensor:
        torch.manual_seed(0)
        model = models.MnistCNN(num_classes=4)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        train = loader(ds, 8, shuffle=True, seed=3)
        if use_engine:
            engine.train_one_epoch(model, train, optimizer, criterion=nn.CrossEntropyLoss(),
                                   device="cpu", progress=progress)
        else:
            for x, y in train:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run(True), run(False))


def test_history_survives_copy_deepcopy_and_pickle():
    import pickle

    h = History()
    h.append(epoch=1, train_loss=1.0, train_acc=0.5, val_top5=0.9)
    for clone in (copy.copy(h), copy.deepcopy(h), pickle.loads(pickle.dumps(h))):
        assert clone == h and clone.val_top5 == [0.9]


@pytest.mark.parametrize("run", ["train_one_epoch", "evaluate"])
def test_loops_move_the_model_to_the_device_they_are_given(run, monkeypatch):
    model, optimizer, _, train, _ = make_run()
    moved = []
    real_to = model.to
    monkeypatch.setattr(model, "to", lambda *a, **k: (moved.append(a), real_to(*a, **k))[1])
    if run == "train_one_epoch":
        engine.train_one_epoch(model, train, optimizer, criterion=nn.CrossEntropyLoss(),
                               device="cpu", progress=False)
    else:
        engine.evaluate(model, train, device="cpu", progress=False)
    assert moved == [(torch.device("cpu"),)]


def test_amp_uses_fp16_where_bf16_would_only_be_emulated(monkeypatch):
    cuda = torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: including_emulation)
    assert engine._amp_dtype(True, cuda) == torch.float16  # a T4: bf16 only emulated
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert engine._amp_dtype(True, cuda) == torch.bfloat16  # Ampere and newer


def test_resume_is_bitwise_identical_with_loader_workers(tmp_path):
    """make_loader(num_workers=2): workers are not persistent, so a resumed run shuffles the same."""
    from course_utils import config, data

    cfg = config.setup(profile="full", batch_size=32, seed=0, verbose=False)

    def run(seed: int):
        torch.manual_seed(seed)
        model = DropoutNet()
        optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
        train = data.make_loader(quadrant_images(96), train=True, batch_size=cfg.batch_size, num_workers=2)
        return model, optimizer, torch.optim.lr_scheduler.StepLR(optimizer, 1, 0.7), train

    straight = run(0)
    expected = fit_run(straight, 3)
    fit_run(run(0), 1, checkpoint=tmp_path / "run.pt")
    resumed_run = run(7)
    resumed = fit_run(resumed_run, 3, checkpoint=tmp_path / "run.pt", resume=True)
    assert resumed.train_loss == expected.train_loss
    for key, value in straight[0].state_dict().items():
        assert torch.equal(value, resumed_run[0].state_dict()[key]), key
