"""The torch side of training: straight-through integer forward passes, augmentation,
deterministic runs. Only :mod:`pynq_mnist.training` imports it (torch lives here and in
:mod:`.train`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual torch alias)

from .. import deskew
from ..model import N_IN
from . import quant


class Augmentation(Protocol):
    """The augmentation ranges of a training recipe."""

    rotation_deg: float
    translate_px: float
    scale: float


EVAL_BATCH = 2000


class DeterministicTorch:
    """Seeded, single-configuration torch for the duration of a run; restores the old state."""

    def __init__(self, seed: int, threads: int) -> None:
        self.seed = seed
        self.threads = threads

    def __enter__(self) -> torch.Generator:
        self._old = (torch.get_num_threads(), torch.are_deterministic_algorithms_enabled())
        torch.set_num_threads(self.threads)
        torch.use_deterministic_algorithms(True)
        torch.manual_seed(self.seed)
        return torch.Generator().manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self._old[0])
        torch.use_deterministic_algorithms(self._old[1])


def ste(x: torch.Tensor, quantized: torch.Tensor) -> torch.Tensor:
    """``quantized`` in the forward pass, identity gradient to ``x`` (straight-through)."""
    return x + (quantized - x).detach()


def int8_ste(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max-abs int8 values of ``w`` (as float, STE) and the detached scale."""
    scale = w.detach().abs().max().clamp_min(1e-12) / quant.INT8_MAX
    q = torch.round(w / scale).clamp(-quant.INT8_MAX, quant.INT8_MAX)
    return ste(w / scale, q), scale


def float_logits(w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Float MLP on pixels 0..255: relu(x/255 W1^T) W2^T."""
    return F.relu(x * quant.INPUT_SCALE @ w1.t()) @ w2.t()


def integer_logits(
    w1: torch.Tensor, w2: torch.Tensor, x: torch.Tensor, shift_l1: int
) -> torch.Tensor:
    """The contract's integer pipeline in float ops, dequantized to float logits.

    x holds integer pixels 0..255. The result is int_logits * logit_scale, so
    cross-entropy sees the same temperature the exported model reports.
    """
    w1q, s_w1 = int8_ste(w1)
    w2q, s_w2 = int8_ste(w2)
    acc1 = (x @ w1q.t()) * 2.0**-shift_l1
    hidden = ste(acc1, torch.floor(acc1)).clamp(0, 255)
    return (hidden @ w2q.t()) * (quant.INPUT_SCALE * s_w1 * 2.0**shift_l1 * s_w2)


def augment(x: torch.Tensor, recipe: Augmentation, gen: torch.Generator) -> torch.Tensor:
    """Random rotation, zoom and translation of uint8 [B,28,28]; integer pixels as float [B,784]."""
    b = x.shape[0]
    xf = x.to(torch.float32).unsqueeze(1)
    if recipe.rotation_deg == 0 and recipe.translate_px == 0 and recipe.scale == 0:
        return xf.reshape(b, N_IN)

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=gen) * 2.0 - 1.0

    angle = uniform(b) * math.radians(recipe.rotation_deg)
    zoom = 1.0 + uniform(b) * recipe.scale
    # affine_grid works in [-1, 1] coordinates: one pixel is 2/28.
    shift = uniform(b, 2) * recipe.translate_px * 2.0 / 28.0
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    grid = F.affine_grid(theta, [b, 1, 28, 28], align_corners=False)
    out = F.grid_sample(xf, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    # The accelerator sees uint8 pixels, so train on exactly those.
    return torch.round(out).clamp(0, 255).reshape(b, N_IN)


def accuracy(
    logits_fn: Callable[[torch.Tensor], torch.Tensor], images: np.ndarray, labels: np.ndarray
) -> float:
    """Argmax accuracy of ``logits_fn`` on uint8 images [N,28,28]."""
    if len(images) == 0:
        return float("nan")
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), EVAL_BATCH):
            x = torch.from_numpy(images[start : start + EVAL_BATCH].reshape(-1, N_IN)).float()
            pred = logits_fn(x).argmax(1).numpy()
            correct += int((pred == labels[start : start + EVAL_BATCH]).sum())
    return correct / len(images)


def deskew_batch(x: torch.Tensor) -> torch.Tensor:
    """Deskew a batch of integer pixels (float [B,784], as ``augment`` returns them)."""
    pixels = x.numpy().astype(np.uint8)  # exact: the values are integers 0..255
    return torch.from_numpy(deskew.deskew(pixels)).to(torch.float32)
