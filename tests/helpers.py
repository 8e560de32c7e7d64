"""Test data shared by the test folders: seeded random models and images, and the logits
the independent reference (``tests/reference.py``) gives for a model."""

from __future__ import annotations

import numpy as np
from reference import reference_logits

from pynq_mnist.hardware import regmap
from pynq_mnist.model import Model


def random_weights(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Full-range int8 W1 (N_HID x N_IN) and W2 (N_OUT x N_HID), drawn in that order."""
    w1 = rng.integers(-128, 128, (regmap.N_HID, regmap.N_IN), dtype=np.int8)
    w2 = rng.integers(-128, 128, (regmap.N_OUT, regmap.N_HID), dtype=np.int8)
    return w1, w2


def random_model(rng: np.random.Generator) -> Model:
    """Random weights with shift_l1 in 8..13 and shift_l2 in 0..7."""
    w1, w2 = random_weights(rng)
    return Model.from_arrays(w1, w2, int(rng.integers(8, 14)), int(rng.integers(0, 8)))


def random_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` flattened uint8 images of N_IN pixels."""
    return rng.integers(0, 256, (n, regmap.N_IN), dtype=np.uint8)


def model_logits(model: Model, images: np.ndarray) -> np.ndarray:
    """The reference logits of ``model`` on ``images``."""
    return reference_logits(model.w1, model.w2, model.shift_l1, model.shift_l2, images)
