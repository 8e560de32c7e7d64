"""Float -> integer quantization for the 784-128-10 MLP (numpy only).

Scales are float values of one integer unit: a float tensor t is
represented by round(t / scale). The integer pipeline of the contract
(uint8 pixels, int8 weights, shift-only requantization) relates to the
float MLP ``relu(x/255 @ W1f.T) @ W2f.T`` through

- ``S_in = 1/255`` (pixels), ``S_w = max|W| / 127`` (per tensor),
- ``S_h = S_in * S_w1 * 2**s1`` (one unit of h after the shift),
- ``logit_scale = S_h * S_w2`` (one unit of the int32 logits).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .. import contract
from ..model import MAX_SHIFT, Model

__all__ = [
    "INPUT_SCALE",
    "INT8_MAX",
    "build_model",
    "choose_shift_l1",
    "choose_shift_l2",
    "dequantize",
    "integer_accuracy",
    "logit_scale",
    "quantize_symmetric",
    "seed_accuracy",
    "shift_from_multiplier",
]

logger = logging.getLogger(__name__)

INPUT_SCALE = 1.0 / 255.0
INT8_MAX = 127
# Output activations of the seed design are uint8, so the seed digit saturates here.


def quantize_symmetric(w: np.ndarray) -> tuple[np.ndarray, float]:
    """Symmetric max-abs int8 quantization: return (int8 q, scale) with q*scale ~ w.

    The scale is ``max|w| / 127``, so the largest weight maps to +-127 and
    -128 is never used. An all-zero tensor gets scale 1.0.
    """
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError(f"cannot quantize non-finite weights (shape {w.shape})")
    max_abs = float(np.max(np.abs(w))) if w.size else 0.0
    scale = max_abs / INT8_MAX if max_abs > 0.0 else 1.0
    q = np.clip(np.rint(w / scale), -INT8_MAX, INT8_MAX).astype(np.int8)
    return q, scale


def dequantize(q: np.ndarray, scale: float) -> np.ndarray:
    """Float values (float64) of integer tensor ``q`` at ``scale``."""
    return np.asarray(q, dtype=np.float64) * scale


def shift_from_multiplier(multiplier: float) -> int:
    """Right shift approximating a requantization multiplier M < 1 by 2**-shift.

    Returns ``round(-log2 M)`` clamped to 0..MAX_SHIFT.

    Raises
    ------
    ValueError
        M is not a positive finite number.
    """
    if not (math.isfinite(multiplier) and multiplier > 0.0):
        raise ValueError(f"requantization multiplier must be positive and finite, got {multiplier}")
    return int(min(MAX_SHIFT, max(0, round(-math.log2(multiplier)))))


def logit_scale(w1_scale: float, w2_scale: float, shift_l1: int) -> float:
    """Float value of one int32 logit unit: ``S_in * S_w1 * 2**s1 * S_w2``."""
    return INPUT_SCALE * w1_scale * float(2**shift_l1) * w2_scale


def build_model(
    w1_float: np.ndarray,
    w2_float: np.ndarray,
    shift_l1: int,
    shift_l2: int,
    recipe: str,
    extra: Mapping[str, Any] | None = None,
) -> Model:
    """Quantize float weights (max-abs int8) into a contract ``Model``.

    Metadata holds ``recipe``, the weight scales, ``logit_scale`` (so that
    float_logit ~ int_logit * logit_scale) and everything in ``extra``.

    Raises
    ------
    ModelFormatError
        Shapes or shifts outside the contract (from ``Model.from_arrays``).
    """
    w1, w1_scale = quantize_symmetric(w1_float)
    w2, w2_scale = quantize_symmetric(w2_float)
    metadata: dict[str, Any] = {
        "recipe": recipe,
        "w1_scale": w1_scale,
        "w2_scale": w2_scale,
        "input_scale": INPUT_SCALE,
        "logit_scale": logit_scale(w1_scale, w2_scale, shift_l1),
    }
    metadata.update(extra or {})
    return Model.from_arrays(w1, w2, int(shift_l1), int(shift_l2), metadata=metadata)


def integer_accuracy(model: Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose contract digit equals the label."""
    logits = contract.exact_logits(model, images)
    return float(np.mean(contract.digits(logits) == np.asarray(labels)))


def seed_accuracy(logits: np.ndarray, shift_l2: int, labels: np.ndarray) -> float:
    """Fraction of seed digits (from contract logits) equal to the labels."""
    return float(np.mean(contract.seed_digits(logits, shift_l2) == np.asarray(labels)))


def choose_shift_l1(
    w1_float: np.ndarray,
    w2_float: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    candidates: Iterable[int] | None = None,
    prefer: int | None = None,
) -> tuple[int, dict[int, float]]:
    """Pick the layer-1 shift with the best integer accuracy on ``images``.

    ``images``/``labels`` must be held-out training data, never the test set.
    Ties go to the candidate nearest ``prefer`` (the shift the weights were
    trained with), then to the larger shift (fewer saturated hidden units).

    Returns
    -------
    (shift, {shift: accuracy}) over the tried candidates.
    """
    tried = sorted(set(range(MAX_SHIFT + 1) if candidates is None else candidates))
    if not tried or tried[0] < 0 or tried[-1] > MAX_SHIFT:
        raise ValueError(f"shift candidates must lie in 0..{MAX_SHIFT}, got {tried}")
    scores = {
        s: integer_accuracy(build_model(w1_float, w2_float, s, 0, "probe"), images, labels)
        for s in tried
    }

    def rank(s: int) -> tuple[float, int, int]:
        return scores[s], 0 if prefer is None else -abs(s - prefer), s

    best = max(tried, key=rank)
    logger.info("layer-1 shift %d: held-out integer accuracy %.4f", best, scores[best])
    return best, scores


def choose_shift_l2(logits: np.ndarray, labels: np.ndarray) -> tuple[int, dict[int, float]]:
    """Pick the seed-digit shift with the best accuracy on held-out ``logits``.

    Ties go to the smaller shift (finer resolution before the argmax).
    """
    scores = {s: seed_accuracy(logits, s, labels) for s in range(MAX_SHIFT + 1)}
    best = max(scores, key=lambda s: (scores[s], -s))
    return best, scores
