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

where x[ri, j] = 0 outside 0 <= ri, j <= 27. A blank image (m = 0) is
returned unchanged. Every intermediate fits in int64 (|num * 2**(K+1)| < 2**60).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pynq_mnist.errors import ModelFormatError

__all__ = ["DESKEW", "TRANSFORMS", "apply_input_transform", "bench", "check_transform", "deskew"]

DESKEW = "deskew"
TRANSFORMS = (DESKEW,)
SIDE = 28
FRAC_BITS = 16  # K: fraction bits of the shear and the column position
_ONE = 1 << FRAC_BITS
_HALF = 1 << (FRAC_BITS - 1)
_CENTER2 = SIDE - 1  # twice the image centre, 2 * 13.5


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
    x = array.reshape(-1, SIDE, SIDE).astype(np.int64)
    n = x.shape[0]
    idx = np.arange(SIDE, dtype=np.int64)
    rows, cols = x.sum(axis=2), x.sum(axis=1)  # [N, 28] each
    m = rows.sum(axis=1)
    sr, sc = rows @ idx, cols @ idx
    srr = rows @ (idx * idx)
    src = (x @ idx) @ idx  # sum_r r * sum_c c * x[r, c]
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
    pos = (idx * _ONE)[None, None, :] + off[:, :, None]  # [N, 28, 28] Q16 column
    i = pos >> FRAC_BITS
    f = pos - i * _ONE

    # Zero border of one pixel: out-of-range rows and columns read zeros.
    wide = SIDE + 2
    padded = np.zeros((n, wide, wide), dtype=np.uint8)
    padded[:, 1:-1, 1:-1] = array.reshape(-1, SIDE, SIDE)
    base = (
        np.arange(n, dtype=np.int64)[:, None] * (wide * wide) + np.clip(ri + 1, 0, wide - 1) * wide
    )
    flat = padded.reshape(-1)
    left = flat[base[:, :, None] + np.clip(i + 1, 0, wide - 1)].astype(np.int32)
    right = flat[base[:, :, None] + np.clip(i + 2, 0, wide - 1)].astype(np.int32)
    weight = f.astype(np.int32)  # 0 <= f < 2**16, so every product below fits in int32
    out = ((_ONE - weight) * left + weight * right + _HALF) >> FRAC_BITS
    out[blank] = x[blank]
    return out.astype(np.uint8).reshape(array.shape)


def bench(images: np.ndarray, repeats: int = 3) -> dict[str, float]:
    """Best-of-``repeats`` wall time of ``deskew(images)``: total and per image."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        deskew(images)
        best = min(best, time.perf_counter() - start)
    return {
        "images": float(len(images)),
        "total[s]": best,
        "per_image[us]": best / len(images) * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m pynq_mnist.deskew --bench``: time deskew on the 10k MNIST test images."""
    parser = argparse.ArgumentParser(prog="python -m pynq_mnist.deskew", description=__doc__)
    parser.add_argument("--bench", action="store_true", help="time deskew on MNIST test images")
    parser.add_argument("--data", metavar="DIR", help="MNIST directory (default as for train)")
    parser.add_argument("--images", type=int, default=10000, help="batch size (default 10000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of N runs (default 3)")
    args = parser.parse_args(argv)
    if not args.bench:
        parser.print_help()
        return 0
    from pynq_mnist.data import load_mnist  # the CLI only; the library stays bottom-layer

    images, _ = load_mnist("test", args.data)
    images = images[: args.images].reshape(-1, SIDE * SIDE)
    result = bench(images, args.repeats)
    print(
        f"deskew: {int(result['images'])} images in {result['total[s]'] * 1e3:.1f} ms "
        f"(best of {args.repeats}), {result['per_image[us]']:.2f} us per image"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
