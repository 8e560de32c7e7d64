"""Independent golden model of the arithmetic contract.

Plain per-image integer arithmetic written from the spec; it imports nothing
from pynq_mnist, so a bug in a backend's packing or float tricks cannot hide
in here too.
"""

from __future__ import annotations

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
