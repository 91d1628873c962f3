"""The networks the course trains, written the way the source tutorials write them.

Attribute names (``conv1``, ``conv2``, ``conv3``, ``fc1``, ``fc2``, ``fc3``,
``dropout``) follow the tutorials, so a class typed out in a notebook the same
way has exactly the same ``state_dict`` keys as the one here
(see :func:`same_architecture`).

=============  ===========  ==========
model          input        parameters
=============  ===========  ==========
TutorialNet    3 x 32 x 32      62,006
MnistCNN       1 x 28 x 28       5,142
LeNetV1        3 x 32 x 32     657,080
LeNetV2        3 x 32 x 32     541,094
resnet50(10)   3 x H x W    23,528,522
=============  ===========  ==========

Beside the networks, what looks at one: :func:`count_parameters` and
:func:`same_architecture`. What the training loops check about a model's inputs, and
``eval_mode``, live with the loops, in :mod:`course_utils.engine.checks`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "TutorialNet",
    "MnistCNN",
    "LeNetV1",
    "LeNetV2",
    "resnet50",
    "count_parameters",
    "same_architecture",
]


class TutorialNet(nn.Module):
    """The CNN of PyTorch's "Deep Learning with PyTorch: A 60 Minute Blitz".

    Input ``(N, 3, 32, 32)`` (CIFAR-10), output ``(N, num_classes)`` logits;
    62,006 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 3, 32, 32)``."""
        x = self.pool(F.relu(self.conv1(x)))  # (N, 6, 14, 14)
        x = self.pool(F.relu(self.conv2(x)))  # (N, 16, 5, 5)
        x = torch.flatten(x, 1)  # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class MnistCNN(nn.Module):
    """A small CNN for 28x28 grey-scale digits: two conv/ReLU/pool blocks, one linear layer.

    Input ``(N, 1, 28, 28)``: 28 -> 24 -> 12 -> 8 -> 4, so 16 * 4 * 4 = 256
    features reach the linear layer. 5,142 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 1, 28, 28)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (N, 6, 12, 12)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (N, 16, 4, 4)
        return self.fc1(torch.flatten(x, 1))


class LeNetV1(nn.Module):
    """LeNet for CIFAR-10: conv 3->20 5x5, pool, conv 20->50 5x5, pool, 1250->500, dropout, 500->10.

    Input ``(N, 3, 32, 32)``: 32 -> 28 -> 14 -> 10 -> 5, so 50 * 5 * 5 = 1250
    features. 657,080 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 20, 5, 1)
        self.conv2 = nn.Conv2d(20, 50, 5, 1)
        self.fc1 = nn.Linear(5 * 5 * 50, 500)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 3, 32, 32)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)  # (N, 20, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)  # (N, 50, 5, 5)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


class LeNetV2(nn.Module):
    """Deeper LeNet: three 3x3 conv layers (3->16->32->64, padding 1), each ReLU + pool 2.

    Input ``(N, 3, 32, 32)``: 32 -> 16 -> 8 -> 4, so 64 * 4 * 4 = 1024 features,
    then 1024->500, dropout 0.5, 500->10. 541,094 parameters with 10 classes.
    """

    def __init__(self, *, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, 1, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, 1, padding=1)
        self.fc1 = nn.Linear(4 * 4 * 64, 500)
        self.dropout = nn.Dropout(0.5)
        self.fc2 = nn.Linear(500, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for a batch ``x`` of shape ``(N, 3, 32, 32)``."""
        x = F.max_pool2d(F.relu(self.conv1(x)), 2, 2)  # (N, 16, 16, 16)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2, 2)  # (N, 32, 8, 8)
        x = F.max_pool2d(F.relu(self.conv3(x)), 2, 2)  # (N, 64, 4, 4)
        x = torch.flatten(x, 1)
        x = self.dropout(F.relu(self.fc1(x)))
        return self.fc2(x)


def resnet50(num_classes: int = 10) -> nn.Module:
    """An untrained torchvision ResNet-50 with a ``num_classes``-way final layer.

    No weights are downloaded (``weights=None``); 23,528,522 parameters with 10 classes.
    """
    from torchvision import models as tv_models

    return tv_models.resnet50(weights=None, num_classes=num_classes)


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameter values in ``model`` (only those with ``requires_grad`` if asked)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _shapes(obj: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    state = obj.state_dict() if isinstance(obj, nn.Module) else obj
    return {key: tuple(value.shape) for key, value in state.items()}


def same_architecture(
    a: nn.Module | Mapping[str, torch.Tensor], b: nn.Module | Mapping[str, torch.Tensor]
) -> bool:
    """True when ``a`` and ``b`` (models or state dicts) have equal state_dict keys and shapes.

    Then the weights of one load into the other with ``load_state_dict``.
    """
    return _shapes(a) == _shapes(b)
