"""The weight window's layout: W1 and W2 as the int8 bytes the banks hold.

The accelerator keeps one weight bank per MAC lane (``num_banks`` of them);
hidden neuron ``n`` lives in bank ``n % num_banks`` at slot ``j = n // num_banks``
(``NPL = N_HID / num_banks`` slots). Byte ``bank_address * num_banks + bank``
of the window holds that bank's weight at ``bank_address``: W1[n][i] at
``j*N_IN + i``, then W2[o][n] at ``N_IN*NPL + o*NPL + j``.
"""

from __future__ import annotations

import numpy as np

from ..model import N_HID, N_IN, N_OUT

__all__ = [
    "BANK_WORDS_PER_NEURON",
    "W2_BYTE_OFFSET",
    "WEIGHT_WINDOW_BYTES",
    "pack_weights",
    "unpack_weights",
]

BANK_WORDS_PER_NEURON = N_IN + N_OUT  # bank depth = 794 * NPL
WEIGHT_WINDOW_BYTES = BANK_WORDS_PER_NEURON * N_HID  # 101,632, independent of num_banks
W2_BYTE_OFFSET = N_IN * N_HID  # window byte of W2[0][0]


def _check_num_banks(num_banks: int) -> int:
    if num_banks <= 0 or N_HID % num_banks != 0:
        raise ValueError(f"num_banks={num_banks} must be a positive divisor of {N_HID}")
    return N_HID // num_banks


def pack_weights(w1: np.ndarray, w2: np.ndarray, num_banks: int) -> np.ndarray:
    """Lay W1 [128,784] and W2 [10,128] out as the 101,632-byte weight window (int8).

    Byte ``bank_address * num_banks + bank`` holds the weight of bank
    ``n % num_banks``; W1[n][i] sits at bank address ``j*784 + i`` and
    W2[o][n] at ``784*NPL + o*NPL + j`` with ``j = n // num_banks``.

    Raises
    ------
    ValueError
        Wrong shape, values outside int8, or num_banks not dividing 128.
    """
    npl = _check_num_banks(num_banks)
    w1 = np.asarray(w1)
    w2 = np.asarray(w2)
    if w1.shape != (N_HID, N_IN):
        raise ValueError(f"w1 shape {w1.shape} != ({N_HID}, {N_IN})")
    if w2.shape != (N_OUT, N_HID):
        raise ValueError(f"w2 shape {w2.shape} != ({N_OUT}, {N_HID})")
    for name, w in (("w1", w1), ("w2", w2)):
        if not np.issubdtype(w.dtype, np.integer):
            raise ValueError(f"{name} dtype {w.dtype} is not an integer type")
        if w.size and (int(w.min()) < -128 or int(w.max()) > 127):
            raise ValueError(f"{name} values {int(w.min())}..{int(w.max())} outside int8 -128..127")
    # n = j*NB + b  ->  W1 as [j, b, i]; window index ((j*784 + i)*NB + b) -> [j, i, b]
    part1 = w1.astype(np.int8).reshape(npl, num_banks, N_IN).transpose(0, 2, 1)
    # W2[o][j*NB + b] -> window index ((784*NPL + o*NPL + j)*NB + b) -> [o, j, b]
    part2 = w2.astype(np.int8).reshape(N_OUT, npl, num_banks)
    window = np.concatenate([part1.ravel(), part2.ravel()])
    return np.ascontiguousarray(window, dtype=np.int8)


def unpack_weights(window: np.ndarray, num_banks: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_weights`: window bytes -> (W1 int8 [128,784], W2 int8 [10,128])."""
    npl = _check_num_banks(num_banks)
    flat = np.asarray(window).astype(np.uint8, copy=False).view(np.int8).ravel()
    if flat.size != WEIGHT_WINDOW_BYTES:
        raise ValueError(f"window has {flat.size} bytes, expected {WEIGHT_WINDOW_BYTES}")
    w1 = flat[:W2_BYTE_OFFSET].reshape(npl, N_IN, num_banks).transpose(0, 2, 1).reshape(N_HID, N_IN)
    w2 = flat[W2_BYTE_OFFSET:].reshape(N_OUT, N_HID)
    return np.ascontiguousarray(w1), np.ascontiguousarray(w2)
