"""Array primitives the preprocessing is built from: resize, border ring, dilation,
box blur, Otsu's threshold and the class-separation test.

Everything works on float32 (or boolean) [H,W] arrays with numpy alone, plus
Pillow's resampling for :func:`resize`: no SciPy or OpenCV on the board.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

UINT8_MAX = 255
BORDER_FRACTION = 0.05  # border ring width, as a fraction of the shorter side
# Threshold above the background noise (MAD estimate), in sigmas; also how far
# apart two classes must lie, in the lower class's sigmas, to count as separate.
NOISE_SIGMAS = 6.0

# Pillow 9.1 moved the resampling filters into the Image.Resampling enum; Pillow 9.0
# (the PYNQ v3 image's) has only the module-level constants, with the same values.
_RESAMPLING = getattr(Image, "Resampling", Image)


def resize(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased resize of a float32 [H,W] array: area average down, bicubic up."""
    shrinking = width <= values.shape[1] and height <= values.shape[0]
    method = _RESAMPLING.BOX if shrinking else _RESAMPLING.BICUBIC
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), method)
    return np.asarray(resized, dtype=np.float32)


def border(gray: np.ndarray, width: int) -> np.ndarray:
    """The pixels of the ring ``width`` pixels wide around the image, flattened."""
    ring = np.ones(gray.shape, dtype=bool)
    ring[width:-width, width:-width] = False
    return gray[ring]


def dilate(values: np.ndarray, radius: int) -> np.ndarray:
    """Grey (or boolean) dilation of non-negative values with a (2r+1)^2 square, separably."""
    out = values
    for axis in (0, 1):
        moved = np.moveaxis(out, axis, 0)
        padded = np.pad(moved, [(radius, radius), (0, 0)])
        result = padded[: moved.shape[0]].copy()
        for shift in range(1, 2 * radius + 1):
            np.maximum(result, padded[shift : shift + moved.shape[0]], out=result)
        out = np.moveaxis(result, 0, axis)
    return out


def box_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window, edges replicated; r = 0 returns ``values``."""
    if radius <= 0:
        return values
    size = 2 * radius + 1
    summed = np.pad(values.astype(np.float64), radius, mode="edge")
    for axis in (0, 1):
        cumulative = np.insert(np.cumsum(summed, axis=axis), 0, 0.0, axis=axis)
        length = cumulative.shape[axis] - size
        summed = np.take(cumulative, np.arange(size, size + length), axis=axis) - np.take(
            cumulative, np.arange(length), axis=axis
        )
    return (summed / size**2).astype(np.float32)


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold over a 256-bin histogram of ``values`` (0 for a flat image)."""
    top = float(values.max())
    if top <= 0:
        return 0.0
    counts, edges = np.histogram(values, bins=256, range=(0.0, top))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_lo = np.cumsum(counts)
    weight_hi = weight_lo[-1] - weight_lo
    mass_lo = np.cumsum(counts * centres)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_lo = mass_lo / weight_lo
        mean_hi = (mass_lo[-1] - mass_lo) / weight_hi
        between = weight_lo * weight_hi * (mean_lo - mean_hi) ** 2
    return float(edges[int(np.nanargmax(between[:-1])) + 1])


def well_separated(values: np.ndarray, threshold: float, sigmas: float = NOISE_SIGMAS) -> bool:
    """True when the classes split at ``threshold`` lie far apart for the lower one's spread."""
    low, high = values[values <= threshold], values[values > threshold]
    if low.size == 0 or high.size == 0:
        return False
    return float(high.mean() - low.mean()) > sigmas * float(low.std())
