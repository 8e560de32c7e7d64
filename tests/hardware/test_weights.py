"""pynq_mnist.hardware.weights: the weight window's layout, exact."""

from __future__ import annotations

import numpy as np
import pytest

from pynq_mnist.hardware.weights import pack_weights, unpack_weights


def _loop_layout(w1: np.ndarray, w2: np.ndarray, nb: int) -> np.ndarray:
    """Window built weight by weight from the prose rules in architecture.md."""
    npl = 128 // nb
    out = np.full(101632, 99, dtype=np.int64)
    for n in range(128):
        bank, j = n % nb, n // nb
        for i in range(784):
            out[(j * 784 + i) * nb + bank] = w1[n, i]
        for o in range(10):
            out[(784 * npl + o * npl + j) * nb + bank] = w2[o, n]
    return out


@pytest.mark.parametrize("nb", [1, 2, 32, 64, 128])
def test_pack_weights_matches_loop_layout(nb: int) -> None:
    rng = np.random.default_rng(1234 + nb)
    w1 = rng.integers(-128, 128, size=(128, 784), dtype=np.int64)
    w2 = rng.integers(-128, 128, size=(10, 128), dtype=np.int64)
    packed = pack_weights(w1, w2, nb)
    assert packed.dtype == np.int8 and packed.shape == (101632,)
    expected = _loop_layout(w1, w2, nb)
    np.testing.assert_array_equal(packed.astype(np.int64), expected)
    # the checker catches one flipped weight
    w1b = w1.copy()
    w1b[77, 500] ^= 1
    assert not np.array_equal(pack_weights(w1b, w2, nb).astype(np.int64), expected)
    u1, u2 = unpack_weights(packed.view(np.uint8), nb)
    np.testing.assert_array_equal(u1, w1)
    np.testing.assert_array_equal(u2, w2)


def test_pack_weights_rejects_bad_input() -> None:
    w1 = np.zeros((128, 784), np.int8)
    w2 = np.zeros((10, 128), np.int8)
    with pytest.raises(ValueError, match="num_banks=48"):
        pack_weights(w1, w2, 48)
    with pytest.raises(ValueError, match="w1 shape"):
        pack_weights(w1[:, :10], w2, 64)
    with pytest.raises(ValueError, match="outside int8"):
        pack_weights(w1.astype(np.int16) + 200, w2, 64)
    with pytest.raises(ValueError, match="not an integer"):
        pack_weights(w1.astype(np.float32), w2, 64)
