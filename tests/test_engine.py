"""Tests for course_utils.engine: sample-weighted loops, fit, resume and predict."""

from __future__ import annotations

import copy
import math
import random
import re
import time
import warnings

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils import engine, metrics, models, viz
from course_utils.engine import History


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
    for x, y in DataLoader(ds, batch_size=size):
        losses.append(F.cross_entropy(x, y).item())
        accs.append((x.argmax(1) == y).float().mean().item())
    return sum(losses) / len(losses), sum(accs) / len(accs)


def test_evaluate_is_sample_weighted_with_short_last_batch(toys, device):
    ds = skewed_case()
    x, y = ds.tensors
    result = engine.evaluate(Passthrough(), toys.loader(ds, 4), device=device, progress=False, topk=(1, 2))
    assert result["samples"] == 10
    assert result["acc"] == pytest.approx(0.8)
    assert result["loss"] == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-6)
    per_batch_loss, per_batch_acc = batch_means(ds, 4)
    assert per_batch_acc == pytest.approx(2 / 3)  # what batch averaging would have said
    assert abs(per_batch_loss - result["loss"]) > 0.1
    assert result["top1"] == result["acc"]
    assert 0.8 <= result["top2"] <= 1.0


def test_train_one_epoch_is_sample_weighted_with_short_last_batch(toys, device):
    ds = skewed_case()
    x, y = ds.tensors
    model = Passthrough()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)  # weights stay put
    start = time.perf_counter()
    result = engine.train_one_epoch(
        model, toys.loader(ds, 4), optimizer, criterion=nn.CrossEntropyLoss(), device=device, progress=False
    )
    elapsed = time.perf_counter() - start
    assert result["samples"] == 10 and result["running_loss"] == []
    assert result["acc"] == pytest.approx(0.8)
    assert result["loss"] == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-6)
    assert 0 < result["seconds"] <= elapsed  # this epoch's wall time, in seconds (not ms, not since start)


def test_sum_reduction_criterion_is_not_multiplied_again(toys):
    ds = skewed_case()
    x, y = ds.tensors
    result = engine.evaluate(
        Passthrough(), toys.loader(ds, 4), progress=False, criterion=nn.CrossEntropyLoss(reduction="sum")
    )
    assert result["loss"] == pytest.approx(F.cross_entropy(x, y).item(), rel=1e-6)


def test_log_every_prints_blitz_running_loss(toys, capsys):
    torch.manual_seed(0)
    model = models.MnistCNN(num_classes=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    result = engine.train_one_epoch(
        model,
        toys.loader(toys.quadrants(64), 4),
        opt,
        criterion=nn.CrossEntropyLoss(),
        epoch=2,
        log_every=5,
        progress=False,
    )
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 == len(result["running_loss"])  # 16 batches, a line every 5
    assert re.fullmatch(r"\[2,     5\] loss: \d+\.\d{3}", lines[0])
    assert lines[2].startswith("[2,    15] loss: ")
    assert float(lines[0].rsplit(" ", 1)[1]) == pytest.approx(result["running_loss"][0], abs=5e-4)


def test_max_batches_limits_both_loops(toys, capsys):
    torch.manual_seed(0)
    ds = toys.quadrants(64)
    model = models.MnistCNN(num_classes=4)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    train = engine.train_one_epoch(
        model, toys.loader(ds, 8), opt, criterion=nn.CrossEntropyLoss(), max_batches=3
    )  # with the progress bar
    assert train["samples"] == 24
    assert "0/3 [" in capsys.readouterr().err  # the bar's total is max_batches, not len(loader)
    assert engine.evaluate(model, toys.loader(ds, 8), max_batches=2, progress=False)["samples"] == 16


def test_empty_loader_is_an_error():
    empty = DataLoader(TensorDataset(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long)))
    with pytest.raises(ValueError, match="no samples"):
        engine.evaluate(Passthrough(), empty, progress=False)


def test_evaluate_restores_mode_and_checks_topk(toys):
    model = models.LeNetV1()
    model.train()
    ds = TensorDataset(torch.randn(6, 3, 32, 32), torch.arange(6) % 10)
    result = engine.evaluate(model, toys.loader(ds, 4), topk=(1, 5), progress=False)
    assert model.training
    assert 0 <= result["top1"] <= result["top5"] <= 1
    with pytest.raises(ValueError, match="k=11 needs k between 1 and the model's 10 classes"):
        engine.evaluate(model, toys.loader(ds, 4), topk=(11,), progress=False)


@pytest.mark.parametrize("topk", [(0,), (-1, 5), iter([1, 0])])
def test_evaluate_names_a_k_below_one(toys, topk):
    ds = TensorDataset(torch.randn(6, 3, 32, 32), torch.arange(6) % 10)
    with pytest.raises(ValueError, match=r"k=(0|-1) needs k between 1 and the model's 10 classes"):
        engine.evaluate(models.LeNetV1(), toys.loader(ds, 4), topk=topk, progress=False)


@pytest.mark.parametrize(
    ("logits", "labels", "shapes"),
    [
        (
            torch.randn(4),
            torch.tensor([0.0, 1.0, 1.0, 0.0]),
            r"outputs of shape \(4,\) and labels of shape \(4,\)",
        ),
        (torch.randn(4, 3, 2, 2), torch.arange(4) % 3, r"outputs of shape \(4, 3, 2, 2\)"),
        (torch.randn(4, 3), F.one_hot(torch.arange(4) % 3).float(), r"labels of shape \(4, 3\)"),
    ],
    ids=["one-score", "per-pixel", "one-hot"],
)
def test_evaluate_refuses_outputs_that_are_not_scores_per_class(toys, logits, labels, shapes):
    """Without this check, per-pixel outputs gave an "accuracy" of 5.5 and one-hot labels 0.0 (12-03)."""
    loader = toys.loader(TensorDataset(logits, labels), 4)
    with pytest.raises(
        ValueError, match=f"evaluate measures accuracy from outputs of shape \\(N, C\\).*{shapes}"
    ):
        engine.evaluate(Passthrough(), loader, criterion=nn.MSELoss(), progress=False)


def test_evaluate_top_k_agrees_with_metrics(toys):
    """The engine counts top-k in its loop; metrics.topk_accuracy on all logits at once must agree."""
    g = torch.Generator().manual_seed(3)
    logits, labels = torch.randn(37, 10, generator=g), torch.randint(0, 10, (37,), generator=g)
    result = engine.evaluate(
        Passthrough(), toys.loader(TensorDataset(logits, labels), 8), topk=(1, 3, 5), progress=False
    )
    expected = metrics.topk_accuracy(logits, labels, ks=(1, 3, 5))
    assert {k: result[f"top{k}"] for k in (1, 3, 5)} == pytest.approx(expected, abs=1e-12)
    assert 0 < expected[1] < expected[3] < expected[5] < 1  # three different figures, not a trivial case


def make_run(toys, seed: int = 0, *, lr: float = 0.05):
    torch.manual_seed(seed)
    model = models.MnistCNN(num_classes=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    train = toys.loader(toys.quadrants(200), 32, shuffle=True)  # 7 batches, the last holds 8
    val = toys.loader(toys.quadrants(100, seed=1), 32)
    return model, optimizer, scheduler, train, val


@pytest.mark.parametrize("epochs", [0, -1, 2.0, True])
def test_fit_refuses_epochs_that_would_train_nothing(toys, epochs):
    model, optimizer, _, train, _ = make_run(toys)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match=rf"fit\(epochs={epochs!r}\) would train nothing.*whole number >= 1"):
        engine.fit(model, train, epochs=epochs, optimizer=optimizer, criterion=nn.CrossEntropyLoss())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_fit_learns_and_records_history(toys, capsys, device):
    model, optimizer, scheduler, train, val = make_run(toys)
    history = engine.fit(
        model,
        train,
        val,
        epochs=3,
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        scheduler=scheduler,
        topk=(1, 3),
        device=device,
        progress=False,
    )
    assert history.epoch == [1, 2, 3] and len(history) == 3
    assert history.lr == pytest.approx([0.05, 0.025, 0.0125])  # the rate used in each epoch
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.00625)  # stepped after epoch 3
    assert history.train_loss[-1] < 0.5 * history.train_loss[0]
    assert history.val_loss[-1] < history.val_loss[0]
    assert history.train_acc[-1] > history.train_acc[0]
    assert history.val_acc[-1] >= 0.9
    for series in (history.train_acc, history.val_acc, history.val_top3):
        assert all(0.0 <= v <= 1.0 for v in series) and len(series) == 3
    assert all(a <= b for a, b in zip(history.val_acc, history.val_top3, strict=False))
    assert all(s > 0 for s in history.seconds)
    out = capsys.readouterr().out
    assert out.count("epoch ") == 3 and "epoch 3/3: train loss" in out


def test_history_round_trips_through_plain_dict():
    h = History()
    h.append(
        epoch=1, train_loss=1.5, train_acc=0.25, val_loss=1.4, val_acc=0.3, lr=0.1, seconds=2.0, val_top5=0.7
    )
    d = h.state_dict()
    assert d["val_top5"] == [0.7] and d["epoch"] == [1]
    assert all(type(v) is list for v in d.values())
    again = History()
    again.load_state_dict(d)
    assert again == h and again.val_top5 == [0.7]
    with pytest.raises(AttributeError, match="val_top3"):
        _ = again.val_top3


def test_fit_without_validation_loader(toys):
    model, optimizer, _, train, _ = make_run(toys)
    history = engine.fit(
        model,
        train,
        epochs=1,
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        progress=False,
        verbose=False,
    )
    assert history.val_acc == [] and len(history.train_acc) == 1


def test_amp_is_ignored_on_cpu(toys):
    model, optimizer, _, train, _ = make_run(toys)
    with pytest.warns(UserWarning, match="amp=True only applies on CUDA"):
        history = engine.fit(
            model,
            train,
            epochs=1,
            optimizer=optimizer,
            amp=True,
            criterion=nn.CrossEntropyLoss(),
            progress=False,
            verbose=False,
        )
    assert len(history) == 1


def _train_mnist_cnn(*, channels_last: bool) -> tuple[models.MnistCNN, dict]:
    torch.manual_seed(0)
    model = models.MnistCNN()
    x, y = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    loader = DataLoader(TensorDataset(x, y), batch_size=10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    run = engine.RunContext.prepare(model, channels_last=channels_last, progress=False)
    engine.train_one_epoch(model, loader, optimizer, criterion=nn.CrossEntropyLoss(), run=run)
    return model, engine.evaluate(model, loader, run=run)


def test_channels_last_applies_on_cpu_and_trains_the_same():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "ignored" warning on the CPU
        cl_model, cl_result = _train_mnist_cnn(channels_last=True)
    plain_model, plain_result = _train_mnist_cnn(channels_last=False)
    assert cl_model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    assert not plain_model.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(cl_model.parameters(), plain_model.parameters(), strict=False):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert cl_result["loss"] == pytest.approx(plain_result["loss"], rel=1e-4)


def test_a_live_plot_draws_nothing_without_a_kernel(toys, capsys):
    model, optimizer, _, train, _ = make_run(toys)
    history = engine.fit(
        model,
        train,
        epochs=1,
        optimizer=optimizer,
        on_epoch=viz.LivePlot().update,
        max_batches=1,
        criterion=nn.CrossEntropyLoss(),
        progress=False,
        verbose=False,
    )
    assert len(history) == 1 and capsys.readouterr().out == ""


# ------------------------------------------------------------ predict


def test_predict_returns_eval_mode_logits_and_restores_mode(device):
    torch.manual_seed(0)
    model = models.LeNetV2()  # has dropout: eval mode makes it deterministic
    model.train()
    x = torch.randn(3, 3, 32, 32)
    out = engine.predict(model, x, device=device)
    assert model.training
    assert out.shape == (3, 10) and not out.requires_grad
    model.eval()
    with torch.no_grad():
        assert torch.equal(out, model(x.to(device)).cpu())


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


# ------------------------------------------------------------ resuming


def _resume_objects(toys, case: str, seed: int):
    """Model, optimizer, scheduler, train and val loaders of one resume case (fresh each call)."""
    from course_utils import data
    from course_utils.data import BatchAugment, DeviceLoader

    torch.manual_seed(seed)
    model = toys.DropoutNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    images = toys.quadrants(96)
    if case == "workers":  # workers are not persistent, so a resumed run shuffles the same
        train = data.make_loader(images, train=True, batch_size=32, seed=seed, num_workers=2)
    elif case == "device_loader":  # order from seed + epoch, augmentation from its generator
        uint8 = ((images.tensors[0].clamp(-1, 3) + 1) * 60).to(torch.uint8)
        augment = BatchAugment(generator=torch.Generator().manual_seed(seed))
        train = DeviceLoader((uint8, images.tensors[1]), 32, augment=augment, mean=None, std=None, seed=seed)
    else:
        train = toys.loader(images, 32, shuffle=True, seed=seed)
    return model, optimizer, scheduler, train, toys.loader(toys.quadrants(48, seed=1), 16)


@pytest.mark.parametrize("case", ["dataloader", "channels_last", "workers", "device_loader"])
def test_resume_is_bitwise_identical(toys, tmp_path, case):
    """An interrupted run resumed from its checkpoint ends exactly where an uninterrupted one does."""

    def fit(objects, epochs: int, **kwargs) -> History:
        model, optimizer, scheduler, train, val = objects
        return engine.fit(
            model,
            train,
            val,
            epochs=epochs,
            optimizer=optimizer,
            scheduler=scheduler,
            criterion=nn.CrossEntropyLoss(),
            channels_last=case == "channels_last",
            progress=False,
            verbose=False,
            **kwargs,
        )

    straight = _resume_objects(toys, case, seed=0)
    expected = fit(straight, 3)
    first = _resume_objects(toys, case, seed=0)
    fit(first, 1, checkpoint=tmp_path / "run.pt")
    after_one = copy.deepcopy(first[0].state_dict())
    random.seed(5)
    resumed_objects = _resume_objects(toys, case, seed=7)  # the restart: other weights, RNGs, loader
    resumed = fit(resumed_objects, 3, checkpoint=tmp_path / "run.pt", resume=True)

    final, again = straight[0].state_dict(), resumed_objects[0].state_dict()
    for key in final:
        assert torch.equal(final[key], again[key]), key
    assert any(not torch.equal(after_one[k], again[k]) for k in final)  # epochs 2-3 really ran
    a, b = expected.state_dict(), resumed.state_dict()
    a.pop("seconds"), b.pop("seconds")
    assert a == b and a["epoch"] == [1, 2, 3]
    assert straight[1].state_dict()["state"][0]["step"] == resumed_objects[1].state_dict()["state"][0]["step"]
    assert resumed_objects[2].get_last_lr() == straight[2].get_last_lr()
    if case == "channels_last":
        assert resumed_objects[0].body.conv2.weight.is_contiguous(memory_format=torch.channels_last)
    state = torch.load(tmp_path / "run.pt", weights_only=True)
    assert state["epoch"] == 3 and state["history"]["epoch"] == [1, 2, 3]


@pytest.mark.parametrize("verbose", [True, False])
def test_resume_without_a_checkpoint_starts_fresh_and_says_so_only_when_verbose(
    toys, tmp_path, capsys, verbose
):
    model, optimizer, _, train, _ = make_run(toys)
    history = engine.fit(
        model,
        train,
        epochs=1,
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        checkpoint=tmp_path / "none.pt",
        resume=True,
        progress=False,
        verbose=verbose,
    )
    assert history.epoch == [1]
    out = capsys.readouterr().out
    assert ("no checkpoint" in out) is verbose
    assert out == "" or verbose


def test_resume_says_what_it_did_and_when_nothing_is_left(toys, tmp_path, capsys):
    path = tmp_path / "run.pt"
    model, optimizer, _, train, _ = make_run(toys)
    kwargs = dict(
        optimizer=optimizer, criterion=nn.CrossEntropyLoss(), checkpoint=path, max_batches=2, progress=False
    )
    engine.fit(model, train, epochs=2, **kwargs)
    capsys.readouterr()
    history = engine.fit(model, train, epochs=2, resume=True, **kwargs)
    assert len(history) == 2
    assert "already at epoch 2 of epochs=2: nothing to train" in capsys.readouterr().out
    engine.fit(model, train, epochs=3, resume=True, **kwargs)
    assert f"resumed from {path} after epoch 2; training epochs 3..3" in capsys.readouterr().out


def test_an_existing_checkpoint_is_not_overwritten_by_a_new_run(toys, tmp_path):
    path = tmp_path / "run.pt"
    model, optimizer, _, train, _ = make_run(toys)
    kwargs = dict(
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        checkpoint=path,
        max_batches=2,
        progress=False,
        verbose=False,
    )
    engine.fit(model, train, epochs=3, **kwargs)
    before = path.read_bytes()
    with pytest.raises(FileExistsError) as info:
        engine.fit(model, train, epochs=1, **kwargs)
    message = str(info.value)
    assert str(path) in message and "resume=True" in message and "overwrite=True" in message
    assert path.read_bytes() == before
    engine.fit(model, train, epochs=1, overwrite=True, **kwargs)
    assert torch.load(path, weights_only=True)["epoch"] == 1


def test_on_epoch_sees_the_history_after_every_epoch(toys):
    seen: list[list[int]] = []
    model, optimizer, _, train, _ = make_run(toys)
    engine.fit(
        model,
        train,
        epochs=3,
        optimizer=optimizer,
        on_epoch=lambda history: seen.append(list(history.epoch)),
        max_batches=1,
        criterion=nn.CrossEntropyLoss(),
        progress=False,
        verbose=False,
    )
    assert seen == [[1], [1, 2], [1, 2, 3]]


@pytest.mark.parametrize("progress", [False, True])
def test_train_one_epoch_matches_a_plain_loop_on_a_shuffled_loader(toys, progress):
    """One iter() per epoch: the engine sees the same shuffled batches as a plain for-loop.

    tqdm.auto calls iter() on what it wraps in its constructor too; handing it the bare
    DataLoader drew twice from the loader's generator and trained on another order.
    """
    ds = toys.quadrants(64)

    def run(use_engine: bool) -> torch.Tensor:
        torch.manual_seed(0)
        model = models.MnistCNN(num_classes=4)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
        train = toys.loader(ds, 8, shuffle=True, seed=3)
        if use_engine:
            engine.train_one_epoch(
                model, train, optimizer, criterion=nn.CrossEntropyLoss(), device="cpu", progress=progress
            )
        else:
            for x, y in train:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    assert torch.equal(run(True), run(False))


def test_history_survives_copy_deepcopy_pickle_and_its_state_dict():
    import pickle

    h = History()
    h.append(epoch=1, train_loss=1.0, train_acc=0.5, val_top5=0.9)
    for clone in (copy.copy(h), copy.deepcopy(h), pickle.loads(pickle.dumps(h))):
        assert clone == h and clone.val_top5 == [0.9]
    again = History()
    again.load_state_dict(h.state_dict())
    assert again == h and again.val_top5 == [0.9]


# ------------------------------------------------------------ devices and the run context


@pytest.mark.parametrize("loop", ["train_one_epoch", "evaluate", "predict"])
def test_loops_put_the_model_on_the_device_they_are_given(toys, loop, device):
    model, optimizer, _, train, _ = make_run(toys)
    if loop == "train_one_epoch":
        engine.train_one_epoch(
            model, train, optimizer, criterion=nn.CrossEntropyLoss(), device=device, progress=False
        )
    elif loop == "evaluate":
        assert engine.evaluate(model, train, device=device, progress=False)["samples"] == 200
    else:
        assert engine.predict(model, toys.quadrants(3).tensors[0], device=device).device.type == "cpu"
    assert {p.device.type for p in model.parameters()} == {device.type}


def test_fit_warns_once_about_amp_on_the_cpu_and_trains_in_full_precision(toys):
    model, optimizer, _, train, val = make_run(toys)
    with pytest.warns(UserWarning, match="amp=True only applies on CUDA") as record:
        history = engine.fit(
            model,
            train,
            val,
            epochs=2,
            optimizer=optimizer,
            criterion=nn.CrossEntropyLoss(),
            amp=True,
            progress=False,
            verbose=False,
        )
    assert len(record) == 1 and len(history) == 2  # worked out once for both epochs
    assert {p.dtype for p in model.parameters()} == {torch.float32}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("native_bf16", [False, True])
def test_amp_uses_fp16_with_a_scaler_where_bf16_would_only_be_emulated(toys, monkeypatch, native_bf16):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: native_bf16)
    model, optimizer, _, train, _ = make_run(toys)
    context = engine.RunContext.prepare(model, device="cuda", amp=True, progress=False)
    assert context.amp_dtype == (torch.bfloat16 if native_bf16 else torch.float16)
    assert (context.scaler is not None) == (not native_bf16)  # a T4: fp16 needs the GradScaler
    before = [p.detach().clone() for p in model.parameters()]
    result = engine.train_one_epoch(model, train, optimizer, criterion=nn.CrossEntropyLoss(), run=context)
    assert result["samples"] == 200 and math.isfinite(result["loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_eval_mode_restores_the_mode_even_after_an_error():
    model = models.LeNetV2()
    for mode in (True, False):
        model.train(mode)
        with pytest.raises(RuntimeError, match="inside"), engine.eval_mode(model) as inside:
            assert inside is model and not model.training
            raise RuntimeError("inside")
        assert model.training is mode


def test_fit_takes_a_distributed_data_parallel_model(toys, tmp_path):
    """One process, gloo: fit trains through DDP and checkpoints the inner module's weights."""
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model, optimizer, _, train, _ = make_run(toys)
        wrapped = nn.parallel.DistributedDataParallel(model)
        history = engine.fit(
            wrapped,
            train,
            epochs=1,
            optimizer=optimizer,
            criterion=nn.CrossEntropyLoss(),
            checkpoint=tmp_path / "ddp.pt",
            progress=False,
            verbose=False,
        )
    finally:
        dist.destroy_process_group()
    assert history.train_acc[0] > 0.25
    saved = torch.load(tmp_path / "ddp.pt", weights_only=True)["model_state"]
    assert list(saved) == list(model.state_dict()) and not any(k.startswith("module.") for k in saved)


# ------------------------------------------------------------ faults a learner makes


def test_a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(toys, tmp_path, device):
    path = tmp_path / "run.pt"
    model, optimizer, _, train, _ = make_run(toys)
    kwargs = dict(
        optimizer=optimizer,
        criterion=nn.CrossEntropyLoss(),
        checkpoint=path,
        device=device,
        progress=False,
        verbose=False,
    )
    engine.fit(model, train, epochs=1, **kwargs)
    good = path.read_bytes()
    broken = toys.quadrants(200)  # the same length and batch size as the run's own loader
    broken.tensors[0][77, 0, 5, 5] = float("nan")  # one NaN pixel, in batch 3 of 7
    with pytest.raises(FloatingPointError) as info:
        engine.fit(model, toys.loader(broken, 32), epochs=2, resume=True, **kwargs)
    message = str(info.value)
    assert "epoch 2, batch 3" in message and "not a finite number" in message
    assert "learning rate" in message and "no checkpoint was written" in message
    assert path.read_bytes() == good


def test_an_optimizer_built_for_another_model_is_refused(toys):
    model, optimizer, _, train, _ = make_run(toys)
    rebuilt = models.MnistCNN(num_classes=4)  # the model cell re-run, the optimizer cell not
    for call in (
        lambda: engine.fit(
            rebuilt,
            train,
            epochs=1,
            optimizer=optimizer,
            criterion=nn.CrossEntropyLoss(),
            progress=False,
            verbose=False,
        ),
        lambda: engine.train_one_epoch(
            rebuilt, train, optimizer, criterion=nn.CrossEntropyLoss(), progress=False
        ),
    ):
        with pytest.raises(ValueError, match="updates none of this MnistCNN's parameters") as info:
            call()
        assert "re-run the cell" in str(info.value) and "model.parameters()" in str(info.value)


def _faulty(toys, fault: str) -> tuple[torch.Tensor, torch.Tensor, str]:
    """A batch for MnistCNN(num_classes=4) with one learner's mistake, and what the message says."""
    x, y = toys.quadrants(8).tensors
    if fault == "uint8":
        return (x * 50 + 100).clamp(0, 255).to(torch.uint8), y, "dtype torch.uint8"
    if fault == "channels_last":
        return x.permute(0, 2, 3, 1), y, "(N, H, W, C)"
    if fault == "size":
        return F.interpolate(x, size=32), y, "it accepts 28x28"
    return x, y + 1, "labels from 1 to 4"


@pytest.mark.parametrize("entry", ["predict", "evaluate", "fit"])
@pytest.mark.parametrize("fault", ["uint8", "channels_last", "size", "labels"])
def test_bad_inputs_get_one_message_with_expected_and_received(toys, entry, fault):
    x, y, says = _faulty(toys, fault)
    if entry == "predict" and fault == "labels":
        pytest.skip("predict takes no labels")
    torch.manual_seed(0)
    model = models.MnistCNN(num_classes=4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    calls = {
        "predict": lambda: engine.predict(model, x),
        "evaluate": lambda: engine.evaluate(model, toys.loader(TensorDataset(x, y), 4), progress=False),
        "fit": lambda: engine.fit(
            model,
            toys.loader(TensorDataset(x, y), 4),
            epochs=1,
            optimizer=optimizer,
            criterion=nn.CrossEntropyLoss(),
            progress=False,
            verbose=False,
        ),
    }
    with pytest.raises((TypeError, ValueError)) as info:
        calls[entry]()
    message = str(info.value)
    assert says in message, message
    expected = {
        "uint8": "torch.float32",
        "channels_last": "x.permute(0, 3, 1, 2)",
        "size": "(8, 1, 28, 28)" if entry == "predict" else "(4, 1, 28, 28)",
        "labels": "0 .. 3",
    }[fault]
    assert expected in message, message
    assert "mat1 and mat2" not in message.split("PyTorch said")[0]
