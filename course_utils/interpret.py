"""Looking inside a trained network (lesson 12): activations, saliency, Grad-CAM, a sanity check.

Each function is written with plain autograd and hooks, the way lesson 12 builds it
by hand; tests/test_interpret.py checks :func:`saliency` and :func:`grad_cam` equal to
captum's ``Saliency`` and ``LayerGradCam``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["recording", "saliency", "grad_cam", "spearman", "reinitialised", "highest_loss"]


@contextmanager
def recording(layers: dict[str, nn.Module]) -> Iterator[dict[str, torch.Tensor]]:
    """Record each layer's output (detached) in a dict while the ``with`` block runs forward passes.

    Forward hooks are removed when the block ends, even after an error.
    """
    outputs: dict[str, torch.Tensor] = {}
    handles = [
        layer.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.detach()))
        for name, layer in layers.items()
    ]
    try:
        yield outputs
    finally:
        for handle in handles:
            handle.remove()


def _check_batch(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``target`` as a long tensor of one class per image; ValueError when the sizes differ."""
    target = torch.as_tensor(target, dtype=torch.long, device=x.device).reshape(-1)
    if target.numel() != x.shape[0]:
        raise ValueError(f"{x.shape[0]} images but {target.numel()} targets: give one class index per image")
    return target


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """|d score(target) / d input| per pixel and channel, shape of ``x`` (Simonyan et al. 2014).

    The model runs in eval mode (its mode is restored after); its parameters' ``.grad`` are left alone.
    """
    target = _check_batch(model, x, target)
    was_training = model.training
    model.eval()
    try:
        x = x.detach().clone().requires_grad_(True)
        scores = model(x).gather(1, target[:, None]).sum()  # each image's score only depends on itself
        (grad,) = torch.autograd.grad(scores, x)
    finally:
        model.train(was_training)
    return grad.abs()


def grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Grad-CAM (Selvaraju et al. 2017) at ``layer``: ReLU(sum_k mean(dS/dA_k) * A_k), shape (N, 1, h, w).

    ``A`` is the layer's output, caught by a forward hook; its gradient comes from autograd.
    """
    target = _check_batch(model, x, target)
    captured: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: captured.append(out))
    was_training = model.training
    model.eval()
    try:
        scores = model(x.detach()).gather(1, target[:, None]).sum()
        (grads,) = torch.autograd.grad(scores, captured[0])
    finally:
        handle.remove()
        model.train(was_training)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # one weight per channel: its mean gradient
    return F.relu((weights * captured[0].detach()).sum(dim=1, keepdim=True))


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman's rank correlation of two maps (flattened): Pearson's correlation of their ranks.

    Ties get distinct ranks in the order of their position (enough for maps of real numbers).
    """
    ra, rb = (t.flatten().double().argsort().argsort().double() for t in (a, b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def reinitialised(model: nn.Module, *, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer's parameters drawn afresh (``reset_parameters``).

    The architecture stays; what training learned is gone: the randomisation test of
    Adebayo et al. 2018, "Sanity Checks for Saliency Maps".
    """
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh


def highest_loss(logits: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices and per-image losses of the ``k`` images with the highest cross-entropy, highest first."""
    losses = F.cross_entropy(logits, targets, reduction="none")
    top = losses.topk(min(k, len(losses)))
    return top.indices, top.values
