"""Independent golden model of the arithmetic contract.

Plain per-image integer arithmetic written from the spec; it imports nothing
from pynq_mnist, so a bug in a backend's packing or float tricks cannot hide
in here too.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np


def reference_logits(w1: np.ndarray, w2: np.ndarray, s1: int, s2: int, x: np.ndarray) -> np.ndarray:
    """Logits int64 [N, 10] for uint8 images x [N, 784] (s2 unused: logits are unshifted)."""
    del s2
    w1 = np.asarray(w1, dtype=np.int64)
    w2 = np.asarray(w2, dtype=np.int64)
    images = np.asarray(x, dtype=np.int64).reshape(-1, 784)
    out = np.zeros((len(images), w2.shape[0]), dtype=np.int64)
    for k, image in enumerate(images):
        hidden = []
        for row in w1:
            acc = int(np.dot(row, image))
            hidden.append(min(255, max(0, acc) >> s1))
        out[k] = [sum(int(w) * h for w, h in zip(row, hidden, strict=True)) for row in w2]
    return out


def _first_argmax(values: np.ndarray) -> int:
    best = 0
    for index, value in enumerate(values):
        if value > values[best]:
            best = index
    return best


def reference_digits(logits: np.ndarray) -> np.ndarray:
    """Argmax of each row, lowest index on ties."""
    return np.array([_first_argmax(list(row)) for row in np.asarray(logits)], dtype=np.int64)


def reference_seed_digits(logits: np.ndarray, s2: int) -> np.ndarray:
    """Seed digit: argmax(min(255, max(0, logits >> s2))), lowest index on ties."""
    rows = [[min(255, max(0, int(v) >> s2)) for v in row] for row in np.asarray(logits)]
    return np.array([_first_argmax(row) for row in rows], dtype=np.int64)


# The integer deskew (a model input transform), written from its definition in
# pynq_mnist/deskew.py one image and one pixel at a time, with exact fractions.
ONE = 2**16
HALF = Fraction(1, 2)


def _round_half_up(q: Fraction) -> int:
    return math.floor(q + HALF)


def reference_deskew(image: np.ndarray, pixel_rounding: Fraction = HALF) -> np.ndarray:
    """One 28x28 uint8 image, deskewed per the written definition.

    ``pixel_rounding`` is added before the interpolated value is floored (1/2:
    half up, as specified); the negative test changes it.
    """
    px = [[int(v) for v in row] for row in image.reshape(28, 28)]
    m = sum(sum(row) for row in px)
    if m == 0:
        return image.reshape(28, 28).copy()
    s_r = sum(r * px[r][c] for r in range(28) for c in range(28))
    s_c = sum(c * px[r][c] for r in range(28) for c in range(28))
    s_rr = sum(r * r * px[r][c] for r in range(28) for c in range(28))
    s_rc = sum(r * c * px[r][c] for r in range(28) for c in range(28))
    den = m * s_rr - s_r * s_r
    num = m * s_rc - s_r * s_c
    shear = 0 if den == 0 else min(ONE, max(-ONE, _round_half_up(Fraction(num * ONE, den))))
    dr = _round_half_up(Fraction(s_r, m) - Fraction(27, 2))

    def pixel(row: int, col: int) -> int:
        return px[row][col] if 0 <= row < 28 and 0 <= col < 28 else 0

    out = np.zeros((28, 28), dtype=np.uint8)
    for r in range(28):
        src = r + dr
        offset = _round_half_up(
            Fraction(shear * (src * m - s_r), m) + (Fraction(s_c, m) - Fraction(27, 2)) * ONE
        )
        for c in range(28):
            p = c * ONE + offset
            i, f = divmod(p, ONE)
            value = math.floor(
                Fraction((ONE - f) * pixel(src, i) + f * pixel(src, i + 1), ONE) + pixel_rounding
            )
            out[r, c] = value
    return out
