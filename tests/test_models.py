"""Tests for course_utils.models: exact parameter counts, shapes, notebook-compatible names."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils import models

# (class, input shape, exact parameter count with 10 classes)
CASES = [
    (models.TutorialNet, (1, 3, 32, 32), 62_006),
    (models.MnistCNN, (1, 1, 28, 28), 5_142),
    (models.LeNetV1, (1, 3, 32, 32), 657_080),
    (models.LeNetV2, (1, 3, 32, 32), 541_094),
]


@pytest.mark.parametrize("cls, shape, n_params", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_parameter_counts_and_output_shape(cls, shape, n_params):
    torch.manual_seed(0)
    model = cls()
    assert models.count_parameters(model) == n_params
    out = model(torch.randn(5, *shape[1:]))
    assert out.shape == (5, 10)


def test_tutorialnet_layer_by_layer_counts():
    # conv1 456 + conv2 2,416 + fc1 48,120 + fc2 10,164 + fc3 850 = 62,006 (the blitz figure)
    net = models.TutorialNet()
    per_layer = {name: models.count_parameters(m) for name, m in net.named_children()}
    assert per_layer == {"conv1": 456, "pool": 0, "conv2": 2416, "fc1": 48120, "fc2": 10164, "fc3": 850}


def test_num_classes_option():
    net = models.LeNetV2(num_classes=3)
    assert net(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    assert models.count_parameters(net) == 541_094 - 7 * 501


def test_wrong_input_size_fails():
    # MnistCNN is sized for 28x28: a 32x32 image leaves 16*5*5 = 400 features, not 256
    with pytest.raises(RuntimeError):
        models.MnistCNN()(torch.randn(1, 1, 32, 32))


def test_resnet50_untrained_with_ten_classes():
    torch.manual_seed(0)
    net = models.resnet50(10)
    assert models.count_parameters(net) == 23_528_522
    assert net.fc.out_features == 10
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 64, 64)).shape == (1, 10)


def test_count_parameters_trainable_only():
    net = models.TutorialNet()
    for p in net.conv1.parameters():
        p.requires_grad_(False)
    assert models.count_parameters(net) == 62_006
    assert models.count_parameters(net, trainable_only=True) == 62_006 - 456


class BlitzNet(nn.Module):
    """The blitz Net typed out the way a notebook does it."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class NotebookLeNet(nn.Module):
    """LeNetV2 as the source tutorial writes it (view instead of flatten)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, 1, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 64, 500)
        self.dropout1 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2, 2)
        x = x.view(-1, 4 * 4 * 64)
        x = self.dropout1(F.relu(self.fc1(x)))
        return self.fc2(x)


@pytest.mark.parametrize("ours, theirs", [(models.TutorialNet, BlitzNet), (models.LeNetV2, NotebookLeNet)])
def test_notebook_class_has_identical_state_dict(ours, theirs):
    torch.manual_seed(0)
    a, b = ours(), theirs()
    assert models.same_architecture(a, b)
    assert list(a.state_dict()) == list(b.state_dict())
    b.load_state_dict(a.state_dict())  # strict: every key and shape matches
    a.eval(), b.eval()
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(a(x), b(x))


def test_same_architecture_detects_differences():
    assert models.same_architecture(models.TutorialNet(), models.TutorialNet())
    assert models.same_architecture(models.TutorialNet(), models.TutorialNet().state_dict())
    assert not models.same_architecture(models.LeNetV1(), models.LeNetV2())
    assert not models.same_architecture(models.TutorialNet(), models.TutorialNet(num_classes=5))


# ---------------------------------------------------------------- layer_shapes


def test_layer_shapes_lenet_v2_with_functional_pooling() -> None:
    rows = models.layer_shapes(models.LeNetV2(), (1, 3, 32, 32))
    spatial = [
        (row.name, row.output_shape[-1]) for row in rows if row.type in ("Tensor", "Conv2d", "F.max_pool2d")
    ]
    assert spatial == [
        ("input", 32),
        ("conv1", 32),
        ("max_pool2d_1", 16),
        ("conv2", 16),
        ("max_pool2d_2", 8),
        ("conv3", 8),
        ("max_pool2d_3", 4),
    ]
    assert rows.shapes("fc1") == [(1, 500)] and rows.shapes("fc2") == [(1, 10)]
    assert all(len(row) == 3 for row in rows)


def test_layer_shapes_modules_only_sees_convs_and_linears() -> None:
    rows = models.layer_shapes(models.LeNetV2(), (1, 3, 32, 32), functional=False)
    assert [(r.name, r.output_shape) for r in rows] == [
        ("input", (1, 3, 32, 32)),
        ("conv1", (1, 16, 32, 32)),
        ("conv2", (1, 32, 16, 16)),
        ("conv3", (1, 64, 8, 8)),
        ("fc1", (1, 500)),
        ("dropout", (1, 500)),
        ("fc2", (1, 10)),
    ]


def test_layer_shapes_modules_restores_mode_and_removes_hooks() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 3 * 3, 2)
    )
    model.train()
    rows = models.layer_shapes(model, (2, 1, 8, 8))
    assert [r.output_shape for r in rows] == [
        (2, 1, 8, 8),
        (2, 4, 6, 6),
        (2, 4, 6, 6),
        (2, 4, 3, 3),
        (2, 36),
        (2, 2),
    ]
    assert [r.type for r in rows][1:] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    assert model.training
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    model.eval()
    models.layer_shapes(model, (1, 1, 8, 8))
    assert not model.training


def test_layer_shapes_table_text() -> None:
    text = str(models.layer_shapes(models.LeNetV2(), (1, 3, 32, 32), functional=False))
    lines = text.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape"]
    assert lines[3].split() == ["conv1", "Conv2d", "1", "x", "16", "x", "32", "x", "32"]
    assert repr(models.layer_shapes(nn.Linear(2, 3), (1, 2))).endswith("Linear  1 x 3")
