"""Input transforms a model may ask for (model key ``input_transform``); numpy only.

``deskew``: shear each 28x28 uint8 image so that its ink's principal axis is
vertical and move its centre of mass to the image centre, in integer arithmetic
only, so the 784 output pixels are bit-identical on every platform and numpy.

Definition (per image x[r, c], r = row 0..27, c = column 0..27, all int64;
``rdiv(a, b) = floor((2a + b) / (2b))`` for b > 0, i.e. a/b rounded half up;
``>>`` and ``//`` round toward minus infinity; K = 16 fraction bits)::

    m   = sum x                 Sr  = sum r*x       Sc  = sum c*x
    Srr = sum r*r*x             Src = sum r*c*x
    den = m*Srr - Sr*Sr         num = m*Src - Sr*Sc          (m**2 var(r), m**2 cov(r, c))
    a   = 0 if den == 0 else clip(rdiv(num * 2**K, den), -2**K, 2**K)   (shear, Q16)
    dr  = rdiv(2*Sr - 27*m, 2*m)                                        (row shift, integer)

The output pixel y[r, c] reads input row ri = r + dr at column position
(Q16) p = c * 2**K + off[r], with

    off[r] = rdiv(a * (ri*m - Sr) + (2*Sc - 27*m) * 2**(K-1), m)

(the shear about the row centre of mass plus the column centring shift).
With i = p >> K and f = p - i * 2**K (0 <= f < 2**K), linear interpolation
along the row, rounded half up:

    y[r, c] = ((2**K - f) * x[ri, i] + f * x[ri, i+1] + 2**(K-1)) >> K

where x[ri, j] = 0 outside 0 <= ri, j <= 27. Since c * 2**K is a whole number
of pixels, i = c + (off[r] >> K) and f = off[r] mod 2**K: each output row is its
source row moved by a per-row fixed-point offset. A blank image (m = 0) is
returned unchanged. Every intermediate fits in int64 (|num * 2**(K+1)| < 2**60)
and the interpolation in int32 (< 2**24).

Use: ``apply_input_transform(model.input_transform, pixels)`` on uint8 [N, 784]
right before the network, once per batch; ``None`` is the identity.
"""

from __future__ import annotations

import time

import numpy as np

from .errors import ModelFormatError

__all__ = ["DESKEW", "TRANSFORMS", "apply_input_transform", "bench", "check_transform", "deskew"]

DESKEW = "deskew"
TRANSFORMS = (DESKEW,)
SIDE = 28
FRAC_BITS = 16  # K: fraction bits of the shear and the column position
_ONE = 1 << FRAC_BITS
_HALF = 1 << (FRAC_BITS - 1)
_CENTER2 = SIDE - 1  # twice the image centre, 2 * 13.5
CHUNK = 256  # images per vectorised step (about 3 MB of int64 indices)


def check_transform(name: object, source: str = "model") -> str | None:
    """Return ``name`` if it is ``None`` or a known transform.

    Raises
    ------
    ModelFormatError
        ``name`` is not one of ``TRANSFORMS``; ``source`` names the file.
    """
    if name is None or (isinstance(name, str) and name in TRANSFORMS):
        return name
    raise ModelFormatError(
        f"{source}: 'input_transform' is {name!r}, expected one of {list(TRANSFORMS)} or absent"
    )


def apply_input_transform(name: str | None, images: np.ndarray) -> np.ndarray:
    """Apply a model's input transform to uint8 images [N, 784] (or [N, 28, 28]).

    ``None`` returns the images unchanged (the same object); ``"deskew"`` returns
    a new uint8 array of the input's shape.

    Raises
    ------
    ModelFormatError
        Unknown transform name.
    ValueError
        Images are not uint8 with 784 pixels each.
    """
    check_transform(name, source="apply_input_transform")
    if name is None:
        return images
    return deskew(images)


def _rdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b rounded half up, for int64 arrays and b > 0."""
    return (2 * a + b) // (2 * b)


def deskew(images: np.ndarray) -> np.ndarray:
    """Deskew and centre uint8 images [N, 784] or [N, 28, 28] (see the module docstring)."""
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise ValueError(f"deskew needs uint8 pixels, got dtype {array.dtype}")
    if array.ndim < 1 or array.size % (SIDE * SIDE) or array.shape[-1] not in (SIDE, SIDE * SIDE):
        raise ValueError(f"deskew needs images of 784 pixels, got shape {array.shape}")
    flat_images = array.reshape(-1, SIDE, SIDE)
    out = np.empty(flat_images.shape, dtype=np.uint8)
    for start in range(0, len(flat_images), CHUNK):  # bounded memory, cache-sized work
        out[start : start + CHUNK] = _deskew_chunk(flat_images[start : start + CHUNK])
    return out.reshape(array.shape)


def _deskew_chunk(x: np.ndarray) -> np.ndarray:
    """Deskew uint8 images [n, 28, 28] into uint8 [n, 28, 28]."""
    n = x.shape[0]
    idx = np.arange(SIDE, dtype=np.int64)
    rows = x.sum(axis=2, dtype=np.int64)  # [N, 28]: ink per row
    cols = x.sum(axis=1, dtype=np.int64)  # [N, 28]: ink per column
    m = rows.sum(axis=1)
    sr, sc = rows @ idx, cols @ idx
    srr = rows @ (idx * idx)
    src = np.einsum("nrc,c->nr", x, idx, dtype=np.int64) @ idx  # sum r * c * x[r, c]
    den = m * srr - sr * sr
    num = m * src - sr * sc
    blank = m == 0
    m1 = np.where(blank, 1, m)
    shear = _rdiv(num * _ONE, np.where(den == 0, 1, den))
    shear = np.where(den == 0, 0, np.clip(shear, -_ONE, _ONE))
    dr = _rdiv(2 * sr - _CENTER2 * m, 2 * m1)

    ri = idx[None, :] + dr[:, None]  # [N, 28] source row of each output row
    off = _rdiv(
        shear[:, None] * (ri * m1[:, None] - sr[:, None])
        + ((2 * sc - _CENTER2 * m) * _HALF)[:, None],
        m1[:, None],
    )
    # p = c * 2**K + off, so i = c + (off >> K) and f = off mod 2**K are per row.
    # A row shifted by SIDE or more columns either way reads only zeros: clip there.
    shift = np.clip(off >> FRAC_BITS, -SIDE - 1, SIDE)
    frac = (off - (off >> FRAC_BITS) * _ONE).astype(np.int32)[:, :, None]

    # Zero borders: one row above and below, SIDE + 2 columns either side.
    pad = SIDE + 2
    wide = SIDE + 2 * pad
    padded = np.zeros((n, SIDE + 2, wide), dtype=np.uint8)
    padded[:, 1:-1, pad : pad + SIDE] = x
    start = (
        np.arange(n, dtype=np.int64)[:, None] * (SIDE + 2) + np.clip(ri + 1, 0, SIDE + 1)
    ) * wide
    left_at = (start + pad + shift)[:, :, None] + idx  # flat index of x[ri, c + shift]
    flat = padded.reshape(-1)
    left = flat[left_at].astype(np.int32)
    right = flat[left_at + 1].astype(np.int32)
    out = ((_ONE - frac) * left + frac * right + _HALF) >> FRAC_BITS  # fits int32: < 2**24
    out[blank] = 0
    return out.astype(np.uint8)


def bench(images: np.ndarray, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` wall and process CPU time of ``deskew(images)``, total and per image.

    CPU time is the figure to compare on a shared machine: wall time includes waiting.
    """
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        deskew(images)
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    count = max(1, len(images))
    return {
        "images": float(len(images)),
        "total[s]": wall,
        "per_image[us]": wall / count * 1e6,
        "cpu_total[s]": cpu,
        "cpu_per_image[us]": cpu / count * 1e6,
    }
