"""course_utils.interpret: hand-written saliency and Grad-CAM equal captum's; hooks; the rank correlation."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from course_utils import interpret, models

captum_attr = pytest.importorskip("captum.attr", reason="captum is in the test extra: pip install -e .[test]")

NETWORKS = {  # (network, the layer Grad-CAM looks at, an input batch shape)
    "lenet": (models.LeNetV1, "conv2", (4, 3, 32, 32)),
    "mnist": (models.MnistCNN, "conv2", (4, 1, 28, 28)),
    "resnet18": (lambda: torchvision.models.resnet18(num_classes=10), "layer3", (4, 3, 32, 32)),
}


@pytest.fixture(params=sorted(NETWORKS))
def network(request: pytest.FixtureRequest) -> tuple[nn.Module, nn.Module, torch.Tensor, torch.Tensor]:
    build, layer, shape = NETWORKS[request.param]
    torch.manual_seed(0)
    model = build().eval()
    return model, getattr(model, layer), torch.randn(shape), torch.tensor([3, 1, 4, 1])


def test_saliency_equals_captum(network) -> None:
    model, _, x, target = network
    ours = interpret.saliency(model, x, target)
    theirs = captum_attr.Saliency(model).attribute(x.clone().requires_grad_(), target=target)
    assert ours.shape == x.shape and ours.abs().sum() > 0
    torch.testing.assert_close(ours, theirs)


def test_grad_cam_equals_captum(network) -> None:
    model, layer, x, target = network
    ours = interpret.grad_cam(model, layer, x, target)
    theirs = captum_attr.LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)
    assert ours.shape == theirs.shape and ours.shape[:2] == (4, 1)
    torch.testing.assert_close(ours, theirs)


def test_saliency_leaves_the_model_as_it_was() -> None:
    torch.manual_seed(0)
    model = models.LeNetV1().train()
    interpret.saliency(model, torch.randn(2, 3, 32, 32), torch.tensor([0, 1]))
    assert model.training and all(p.grad is None for p in model.parameters())


def test_one_target_per_image() -> None:
    with pytest.raises(ValueError, match="2 images but 3 targets"):
        interpret.saliency(models.LeNetV1(), torch.randn(2, 3, 32, 32), torch.tensor([0, 1, 2]))


def test_recording_catches_outputs_and_removes_its_hooks() -> None:
    model = models.MnistCNN()
    with interpret.recording({"conv1": model.conv1, "conv2": model.conv2}) as maps:
        model(torch.randn(3, 1, 28, 28))
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"conv1": (3, 6, 24, 24), "conv2": (3, 16, 8, 8)}
    assert not model.conv1._forward_hooks and not model.conv2._forward_hooks


def test_spearman_of_known_rankings() -> None:
    a = torch.tensor([0.1, 0.4, 0.2, 0.9])
    assert interpret.spearman(a, a * 10 + 3) == pytest.approx(1.0)
    assert interpret.spearman(a, -a) == pytest.approx(-1.0)
    # ranks (0, 2, 1, 3) vs (3, 2, 1, 0): 1 - 6 * sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 18 / 60
    assert interpret.spearman(a, torch.tensor([4.0, 3.0, 2.0, 1.0])) == pytest.approx(-0.8)


def test_reinitialised_changes_every_weight_but_not_the_original() -> None:
    torch.manual_seed(1)
    model = models.LeNetV1()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fresh = interpret.reinitialised(model, seed=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(not torch.equal(before[k], v) for k, v in fresh.state_dict().items())


def test_highest_loss_picks_the_worst_images() -> None:
    logits = torch.tensor([[5.0, 0.0], [0.0, 5.0], [1.0, 0.0]])
    targets = torch.tensor([0, 0, 1])
    index, loss = interpret.highest_loss(logits, targets, 2)
    assert index.tolist() == [1, 2] and loss[0] > loss[1]
