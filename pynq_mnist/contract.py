"""The arithmetic contract, in one place: every backend, the classifier, the server and
the training code take their input normalisation, digits and confidences from here.

x: 784 uint8 pixels; W1 int8 [128,784], W2 int8 [10,128]; s1, s2 in 0..31.

* acc1 = W1 x (exact); h = min(255, max(0, acc1) >> s1)
* logits = W2 h (int32, exact); digit = argmax(logits), lowest index on ties
* seed digit = argmax(min(255, max(0, logits >> s2)))

:func:`network_input` gives the pixels the network sees (the model's input
transform applied, :mod:`pynq_mnist.deskew`); :func:`exact_logits` evaluates
the whole contract vectorised over a batch; backends run the network on
``network_input``'s pixels.
Why float GEMMs are exact here
------------------------------
All operands are small integers. A float32 sum of integers is exact while
every partial sum stays below 2**24 in magnitude: each partial sum is then an
integer the 24-bit significand holds exactly, so no addition (or FMA) rounds,
whatever order or blocking BLAS uses.

* Layer 1: for image x and neuron n, any partial sum of W1[n,i]*x[i] is at
  most sum_i |W1[n,i]| * x[i] <= sum_i c[i] * x[i] =: B(x), with
  c[i] = max_n |W1[n,i]|. B(x) is one cheap GEMV per batch. It is itself
  computed in float32 over non-negative terms, so its relative error is at
  most 784 * 2**-24 < 5e-5; images with B(x) < 2**24 * (1 - 1e-3) are
  certified and take the float32 GEMM. The rest take float64, which is exact
  for every input because |acc1| <= 784 * 255 * 128 < 2**25 << 2**53.
* Requantisation: acc1 is an exact integer below 2**25; multiplying by
  2**-s1 is exact (a power of two, far from subnormals), so
  floor(acc1 * 2**-s1) equals the arithmetic shift acc1 >> s1.
* Layer 2: |logit| <= 128 * 255 * 128 < 2**23 for every input, so float32
  is always exact.
"""

from __future__ import annotations

import numpy as np

from .deskew import apply_input_transform
from .model import N_IN, Model

FLOAT32_EXACT_LIMIT = float(2**24)
# Float32 evaluation of the non-negative bound sum has relative error < 5e-5.
BOUND_SAFETY = 1.0 - 1e-3
UINT8_MAX = 255
CHUNK_IMAGES = 1024  # a chunk of float32 images stays in cache across both GEMMs


def as_image_batch(images: np.ndarray) -> np.ndarray:
    """Check and reshape images to a C-contiguous uint8 batch [N, 784].

    Accepts uint8 [28, 28], [N, 28, 28], [784] or [N, 784].

    Raises
    ------
    ValueError
        Wrong dtype or shape.
    """
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {array.dtype}")
    flat = array.ndim in (1, 2) and array.shape[-1] == N_IN
    square = array.ndim in (2, 3) and array.shape[-2:] == (28, 28)
    if not (flat or square):
        raise ValueError(
            f"images must have shape [28,28], [N,28,28], [784] or [N,784], got {list(array.shape)}"
        )
    return np.ascontiguousarray(array.reshape(-1, N_IN))


def network_input(model: Model, images: np.ndarray) -> np.ndarray:
    """The uint8 pixels [N, 784] the network sees: the batch after ``model.input_transform``."""
    return apply_input_transform(model.input_transform, as_image_batch(images))


def exact_logits(model: Model, images: np.ndarray) -> np.ndarray:
    """Int32 logits [N, 10] of the contract for uint8 images ([N, 784] or [N, 28, 28])."""
    return ExactKernel(model)(network_input(model, images))


def digits(logits: np.ndarray) -> np.ndarray:
    """Digit of the contract: argmax of the logits, lowest index on ties (int64 [N])."""
    return np.asarray(logits).argmax(axis=-1).astype(np.int64)


def seed_digits(logits: np.ndarray, shift_l2: int) -> np.ndarray:
    """Seed digit: argmax(min(255, max(0, logits >> s2))), lowest index on ties (int64 [N])."""
    shifted = np.right_shift(np.asarray(logits, dtype=np.int64), int(shift_l2))
    return digits(np.clip(shifted, 0, UINT8_MAX))


class ExactKernel:
    """Float copies of one model's weights, prepared once for many batches."""

    def __init__(self, model: Model) -> None:
        self.w1_t32 = np.ascontiguousarray(model.w1.T, dtype=np.float32)
        self.w1_t64 = self.w1_t32.astype(np.float64)
        self.w2_t32 = np.ascontiguousarray(model.w2.T, dtype=np.float32)
        self.column_bound = np.abs(model.w1.astype(np.float32)).max(axis=0)
        self.scale_l1 = np.float32(2.0**-model.shift_l1)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        logits = np.empty((batch.shape[0], self.w2_t32.shape[1]), dtype=np.int32)
        for start in range(0, batch.shape[0], CHUNK_IMAGES):
            chunk = batch[start : start + CHUNK_IMAGES]
            logits[start : start + len(chunk)] = self._chunk(chunk)
        return logits

    def _chunk(self, batch: np.ndarray) -> np.ndarray:
        x = batch.astype(np.float32)
        hidden = self._requantise(x @ self.w1_t32)
        uncertified = np.flatnonzero(x @ self.column_bound >= FLOAT32_EXACT_LIMIT * BOUND_SAFETY)
        if uncertified.size:
            hidden[uncertified] = self._requantise(
                batch[uncertified].astype(np.float64) @ self.w1_t64
            )
        return (hidden @ self.w2_t32).astype(np.int32)

    def _requantise(self, acc1: np.ndarray) -> np.ndarray:
        hidden = np.floor(acc1 * self.scale_l1)
        return np.clip(hidden, 0, 255, out=hidden).astype(np.float32, copy=False)


def softmax(logits: np.ndarray, model: Model) -> np.ndarray:
    """Softmax over classes of the dequantised logits (``logits * model.logit_scale``)."""
    scaled = np.asarray(logits, dtype=np.float64) * model.logit_scale
    scaled -= scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    return weights / weights.sum(axis=-1, keepdims=True)


def confidence(logits: np.ndarray, model: Model) -> np.ndarray:
    """Probability of the argmax class under :func:`softmax`."""
    return softmax(logits, model).max(axis=-1)
