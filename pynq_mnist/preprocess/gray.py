"""Any PIL image or array to float32 gray levels 0..255: modes, bit depths, alpha.

Big images are first box-reduced in Pillow (:func:`shrink`) so that no
full-size float copy is ever made; alpha is composited on white.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..errors import ImageError
from .arrays import UINT8_MAX

UINT16_MAX = 65535
# Longest side the analysis runs at; a 20x20 target needs far less, but
# strokes must stay several pixels wide for the noise threshold to work.
WORK_SIDE = 512

# ITU-R 601 luma weights, as PIL uses for RGB -> L.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def has_alpha(img: Image.Image) -> bool:
    """True when ``img`` has an alpha band or a transparent colour."""
    if img.mode == "LAB":  # its "A" band is the green-red axis a*, not alpha
        return False
    return bool({"A", "a"} & set(img.getbands())) or "transparency" in img.info


def shrink(img: Image.Image) -> Image.Image:
    """Box-reduce big images by an integer factor in PIL, before any float copy exists."""
    factor = max(img.size) // WORK_SIDE
    if factor < 2:
        return img
    if has_alpha(img):
        # PIL reduces RGBA premultiplied: transparent pixels' colour cannot bleed in.
        return (img if img.mode == "RGBA" else img.convert("RGBA")).reduce(factor)
    if img.mode.startswith("I;16"):
        img = img.convert("I")
    elif img.mode in ("1", "P"):
        img = img.convert("L")
    return img.reduce(factor)


def pil_to_gray(img: Image.Image) -> np.ndarray:
    """Float32 gray levels 0..255 [H,W], alpha composited on white."""
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32) / (UINT16_MAX / UINT8_MAX)
    if img.mode in ("I", "F"):
        return _levels_to_255(np.asarray(img))
    if img.mode == "LAB":  # PIL converts LAB to nothing else; its L band is the lightness
        return np.asarray(img.getchannel("L"), dtype=np.float32)
    if has_alpha(img):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        return _composite_on_white(rgba[..., :3] @ _LUMA, rgba[..., 3] / UINT8_MAX)
    if img.mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.float32)


def array_to_gray(array: np.ndarray, source: str) -> np.ndarray:
    """Float32 gray levels 0..255 [H,W] from a gray/GA/RGB/RGBA array."""
    if array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
        channels = array.shape[2]
    elif array.ndim == 2:
        channels = 0
    else:
        raise ValueError(
            f"{source}: expected an array [H,W] or [H,W,1|2|3|4], got shape {array.shape}"
        )
    if array.size == 0:
        raise ImageError(f"{source}: image is empty (shape {array.shape})")
    levels = _levels_to_255(array)
    if channels == 0:
        return levels
    gray = levels[..., 0] if channels in (1, 2) else levels[..., :3] @ _LUMA
    if channels in (2, 4):
        return _composite_on_white(gray, levels[..., -1] / UINT8_MAX)
    return gray


def _levels_to_255(values: np.ndarray) -> np.ndarray:
    """Map bool, 8-bit, 16-bit and float levels to float32 0..255."""
    if values.dtype == np.bool_:
        return values.astype(np.float32) * UINT8_MAX
    if np.issubdtype(values.dtype, np.floating):
        if not np.isfinite(values).all():
            raise ValueError("image array holds NaN or infinite values")
        scale = UINT8_MAX if values.max(initial=0.0) <= 1.0 else 1.0
        return np.clip(values.astype(np.float32) * scale, 0, UINT8_MAX)
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"image array has unsupported dtype {values.dtype}")
    if values.dtype == np.uint8 or values.max(initial=0) <= UINT8_MAX:
        return np.clip(values, 0, UINT8_MAX).astype(np.float32)
    return np.clip(values, 0, UINT16_MAX).astype(np.float32) / (UINT16_MAX / UINT8_MAX)


def _composite_on_white(gray: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    return (gray * alpha + UINT8_MAX * (1.0 - alpha)).astype(np.float32)
