"""The MNIST layout: 28x28, the ink scaled into a 20x20 box with its centre of mass
at pixel (14, 14), strokes as wide as MNIST's; and the test for an image already so.
"""

from __future__ import annotations

import logging

import numpy as np

from .arrays import UINT8_MAX, border, dilate, resize

# The package's one logger, as before it was split into modules: a logging
# configuration that names "pynq_mnist.preprocess" sees every record.
logger = logging.getLogger(__package__)

SIZE = 28
BOX = 20
CENTRE = 14.0  # MNIST's centre of mass in row/column index coordinates
# A 28x28 8-bit image whose border median is at most this is already MNIST-like.
MNIST_BORDER_MAX = 16
# MNIST strokes are 1.8 to 3.6 px wide (10th to 90th percentile, median 2.5) at
# half height; thinner ones are dilated to the median.
MIN_STROKE = 1.8
TARGET_STROKE = 2.5
HALF_INK = 0.5


def is_mnist_like(pixels: np.ndarray) -> bool:
    """True for a 28x28 gray image with a dark border."""
    if pixels.shape != (SIZE, SIZE):
        return False
    return float(np.median(border(pixels.astype(np.float32), 2))) <= MNIST_BORDER_MAX


def fit_and_centre(crop: np.ndarray) -> np.ndarray:
    """Scale ``crop`` to fit BOX x BOX and place its centre of mass at (14, 14)."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    new_h = min(BOX, max(1, round(height * scale)))
    new_w = min(BOX, max(1, round(width * scale)))
    patch = np.clip(resize(crop, new_w, new_h), 0.0, None)
    patch = np.rint(patch / patch.max() * UINT8_MAX).astype(np.uint8)

    rows, cols = np.indices(patch.shape)
    total = float(patch.sum(dtype=np.int64))
    centre_row = float((rows * patch).sum()) / total
    centre_col = float((cols * patch).sum()) / total
    top = int(np.clip(np.floor(CENTRE - centre_row + 0.5), 0, SIZE - new_h))
    left = int(np.clip(np.floor(CENTRE - centre_col + 0.5), 0, SIZE - new_w))
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = patch
    return out


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a mask: twice the area over the boundary length."""
    padded = np.pad(mask, 1)
    interior = (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )
    boundary = int((mask & ~interior).sum())
    return 2.0 * float(mask.sum()) / max(boundary, 1)


def thicken(crop: np.ndarray, source: str) -> np.ndarray:
    """Dilate strokes that would end up thinner than MNIST's (pen on paper, thin fonts)."""
    scale = BOX / max(crop.shape)
    width = _stroke_width(crop >= HALF_INK)
    if width * scale >= MIN_STROKE:
        return crop
    radius = round((TARGET_STROKE / scale - width) / 2)
    if radius < 1:
        return crop
    logger.debug(
        "%s: stroke %.1f px at 20x20 scale: dilating by %d px", source, width * scale, radius
    )
    return dilate(np.pad(crop, radius), radius)
