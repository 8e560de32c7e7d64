"""The ink map: how strongly each pixel is ink, 0 on the background, 1 at stroke level.

Polarity is measured against a lighting surface fitted to the border, uneven
lighting is flattened by a blockwise background estimate, and the noise floor
and typical stroke level set the scale; a blank image is refused here.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ..errors import ImageError
from .arrays import (
    BORDER_FRACTION,
    NOISE_SIGMAS,
    UINT8_MAX,
    box_blur,
    dilate,
    otsu_threshold,
    resize,
    well_separated,
)
from .page import page_fills_frame

# The package's one logger, as before it was split into modules: a logging
# configuration that names "pynq_mnist.preprocess" sees every record.
logger = logging.getLogger(__package__)

BLUR_DIVISOR = 256  # denoising blur radius = longest working side / this
OUTLIER_MADS = 3.0  # border pixels this many median errors off the fit are ink
TAIL_PERCENTILE = 0.05  # polarity: compare this far into the dark and bright tails
BLOCK_SIDE = 64  # background-estimate block size at working resolution
BACKGROUND_PERCENTILE = 25.0  # ink covers well under 75 % of a block
MIN_PAPER_LEVEL = 32.0  # darker 'paper' is not scaled up further
MIN_VALID_FRACTION = 0.1  # second-pass blocks need this share of non-ink pixels
MAD_TO_SIGMA = 1.4826
# Class means this many lower-class sigmas apart: Otsu halves of pure noise are 2.7.
TIGHT_CROP_SEPARATION = 4.0
EDGE_FLOOR = 0.2  # also drop ink fainter than this fraction of the stroke level
MIN_CONTRAST = 8.0  # gray levels between background noise and ink; less is blank
STROKE_PERCENTILE = 90.0


def ink_map(
    gray: np.ndarray, source: str, *, inverted: bool | None = None
) -> tuple[np.ndarray, bool]:
    """Ink strength 0..1 with the background exactly 0, and whether the input was inverted.

    Polarity: a smooth (quadratic) lighting surface is fitted to the border
    pixels, which are background; the residual against it has a long dark
    tail for dark ink on light paper and a long bright tail for bright ink on
    a dark background, and the longer tail wins. After inversion (ink
    bright), uneven lighting is removed by subtracting a blockwise background
    (first a low percentile per block, then the median of the pixels that
    the first pass did not call ink), and whatever is within the noise of
    that background, or fainter than a fifth of the typical stroke, becomes 0.
    ``inverted`` given: that polarity, not the one measured.
    """
    blur = round(max(gray.shape) / BLUR_DIVISOR)
    gray = box_blur(gray, blur)
    if inverted is None:
        residual = gray - _border_surface(gray)
        low, high = np.percentile(residual, [TAIL_PERCENTILE, 100.0 - TAIL_PERCENTILE])
        inverted = bool(-low > high) or page_fills_frame(gray)
    if inverted:
        gray = UINT8_MAX - gray

    ink = gray - block_statistic(gray, BACKGROUND_PERCENTILE)
    if float(ink.max()) < MIN_CONTRAST:
        raise ImageError(
            f"{source}: no digit found: blank image (contrast {float(ink.max()):.0f} gray "
            f"levels, need at least {MIN_CONTRAST:.0f})"
        )
    # Anti-aliased stroke edges sit just below the threshold; keep them out too.
    rough_floor = _ink_threshold(ink, centred=False, source=source)[0]
    if not (ink > rough_floor).any():
        # Either blank, or a tight crop where ink is no minority and the MAD overshoots;
        # only the crop splits into two classes well apart.
        otsu = otsu_threshold(ink)
        if well_separated(ink, otsu, TIGHT_CROP_SEPARATION):
            rough_floor = otsu
    first_pass = dilate(ink > rough_floor, blur + 1)
    background = block_statistic(gray, 50.0, valid=~first_pass)
    ink = gray - background
    if inverted:
        # Paper reflects a fraction of the local light and ink less: contrast is a ratio.
        ink *= UINT8_MAX / np.maximum(UINT8_MAX - background, MIN_PAPER_LEVEL)

    floor, stroke = _ink_threshold(ink, centred=True, source=source)
    if stroke - floor < MIN_CONTRAST:
        raise ImageError(
            f"{source}: no digit found: ink is {max(0.0, stroke - floor):.0f} gray levels "
            f"above the background noise, need at least {MIN_CONTRAST:.0f}"
        )
    return np.clip((ink - floor) / (stroke - floor), 0.0, 1.0), inverted


def _ink_threshold(residual: np.ndarray, *, centred: bool, source: str) -> tuple[float, float]:
    """(floor, stroke level) of a residual over the background: noise floor, typical ink.

    ``centred``: background pixels scatter around zero and ink adds a
    positive tail, so the negative side is pure noise and its median absolute
    value gives sigma however much of the image is ink (a tightly cropped
    digit). Otherwise the background level is only roughly known and the
    median and MAD of all pixels are used, which assumes ink is a minority.
    """
    if centred:
        below = residual[residual < 0]
        sigma = MAD_TO_SIGMA * float(np.median(-below)) if below.size else 0.0
        noise_floor = NOISE_SIGMAS * sigma
    else:
        median = float(np.median(residual))
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(residual - median)))
        noise_floor = median + NOISE_SIGMAS * sigma
    ink = np.clip(residual, 0.0, None)
    strokes = ink[ink > max(noise_floor, otsu_threshold(ink))]
    stroke = float(np.percentile(strokes, STROKE_PERCENTILE)) if strokes.size else float(ink.max())
    floor = max(noise_floor, EDGE_FLOOR * stroke)
    logger.debug(
        "%s: background noise %.1f, floor %.1f, stroke level %.1f", source, sigma, floor, stroke
    )
    return floor, stroke


def _border_surface(gray: np.ndarray) -> np.ndarray:
    """Quadratic surface a + bx + cy + dx^2 + exy + fy^2 fitted to the border ring.

    When ink crosses the border, the ring splits into two well separated
    classes and only the larger one is fitted; one refit without the ring
    pixels far from the first fit drops what ink is left.
    """
    height, width = gray.shape
    rows, cols = np.indices(gray.shape, dtype=np.float64)
    y = rows / max(1, height - 1) * 2.0 - 1.0
    x = cols / max(1, width - 1) * 2.0 - 1.0
    terms = np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)
    ring = np.ones(gray.shape, dtype=bool)
    inner = max(1, round(BORDER_FRACTION * min(gray.shape)))
    ring[inner:-inner, inner:-inner] = False
    design, target = terms[ring], gray[ring].astype(np.float64)
    shifted = target - target.min()
    split = otsu_threshold(shifted)
    if well_separated(shifted, split):
        # Ink crosses the border (a tight crop): the background is the majority class.
        dark = shifted <= split
        majority = dark if dark.mean() >= 0.5 else ~dark
        design, target = design[majority], target[majority]
    coefficients = np.linalg.lstsq(design, target, rcond=None)[0]
    error = np.abs(design @ coefficients - target)
    inliers = error <= OUTLIER_MADS * max(float(np.median(error)), 1.0)
    if inliers.sum() >= design.shape[1]:
        coefficients = np.linalg.lstsq(design[inliers], target[inliers], rcond=None)[0]
    return (terms @ coefficients).astype(np.float32)


def block_statistic(
    gray: np.ndarray, percentile: float, *, valid: np.ndarray | None = None
) -> np.ndarray:
    """A percentile per BLOCK_SIDE block, bilinearly upsampled to the image size.

    Without ``valid``, each block then takes the minimum over its 3x3
    neighbourhood: a block mostly covered by a stroke over-estimates the
    background, its neighbours do not. With ``valid``, only those pixels
    count, and blocks with too few of them take their neighbours' mean.
    """
    height, width = gray.shape
    n_rows = max(1, round(height / BLOCK_SIDE))
    n_cols = max(1, round(width / BLOCK_SIDE))
    row_edges = np.linspace(0, height, n_rows + 1).round().astype(int)
    col_edges = np.linspace(0, width, n_cols + 1).round().astype(int)
    grid = np.full((n_rows, n_cols), np.nan, dtype=np.float64)
    for i in range(n_rows):
        for j in range(n_cols):
            rows = slice(row_edges[i], row_edges[i + 1])
            cols = slice(col_edges[j], col_edges[j + 1])
            block = gray[rows, cols]
            if valid is not None:
                block = block[valid[rows, cols]]
                if block.size < MIN_VALID_FRACTION * gray[rows, cols].size:
                    continue
            grid[i, j] = np.percentile(block, percentile)
    if valid is None:
        padded = np.pad(grid, 1, mode="edge")
        grid = np.min(
            [padded[di : di + n_rows, dj : dj + n_cols] for di in range(3) for dj in range(3)],
            axis=0,
        )
    elif np.isnan(grid).all():
        return block_statistic(gray, BACKGROUND_PERCENTILE)
    while np.isnan(grid).any():
        padded = np.pad(grid, 1, mode="constant", constant_values=np.nan)
        neighbours = np.stack(
            [padded[di : di + n_rows, dj : dj + n_cols] for di in range(3) for dj in range(3)]
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN neighbourhoods
            grid = np.where(np.isnan(grid), np.nanmean(neighbours, axis=0), grid)
    if grid.size == 1:
        return np.full_like(gray, grid[0, 0])
    return resize(grid.astype(np.float32), width, height)
