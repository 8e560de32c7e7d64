"""From an image file, upload, PIL image or array to a :class:`Digit`: the pipeline.

Gray levels at working size, the ink map, a page on a table cropped to,
border marks painted over with the paper around them and the ink measured
again, specks dropped, then the crop fitted and centred the MNIST way.
"""

from __future__ import annotations

import io
import logging
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import ImageError
from .arrays import dilate, resize
from .components import drop_specks, holds_heaviest
from .decode import MAX_DECODED_BYTES, MAX_PIXELS, decode_image
from .doubt import crop_doubt
from .gray import WORK_SIDE, array_to_gray, pil_to_gray, shrink
from .ink import BLUR_DIVISOR, block_statistic, ink_map
from .layout import fit_and_centre, is_mnist_like, thicken
from .page import MARK_REACH, border_marks, faint_border_marks, loose_page_box, page_box

# The package's one logger, as before it was split into modules: a logging
# configuration that names "pynq_mnist.preprocess" sees every record.
logger = logging.getLogger(__package__)


@dataclass(frozen=True)
class Digit:
    """A preprocessed image: MNIST-style uint8 [28,28] pixels and why it may be wrong.

    ``doubt`` is None, or a short phrase such as "two digit-sized ink marks".
    """

    pixels: np.ndarray
    doubt: str | None = None


def load_image(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> np.ndarray:
    """Read an image file and return an MNIST-style uint8 [28,28].

    EXIF orientation is honoured; multi-frame files use their first frame.

    Raises
    ------
    ImageError
        The file is missing, unreadable, truncated, not one of ALLOWED_FORMATS,
        larger than ``max_pixels`` or ``max_bytes`` decoded, or holds no digit
        (blank). The message names the file.
    """
    return read_digit(path, max_pixels=max_pixels, max_bytes=max_bytes).pixels


def load_image_bytes(
    data: bytes,
    *,
    name: str = "image",
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> np.ndarray:
    """:func:`load_image` for an encoded image held in memory (an upload); ``name`` is
    used in error messages."""
    return read_digit_bytes(data, name=name, max_pixels=max_pixels, max_bytes=max_bytes).pixels


def read_digit(
    path: str | os.PathLike[str],
    *,
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> Digit:
    """:func:`load_image`, also saying whether the digit found is doubtful."""
    name = os.fspath(path)
    return analyse(
        decode_image(name, name=name, max_pixels=max_pixels, max_bytes=max_bytes), source=name
    )


def read_digit_bytes(
    data: bytes,
    *,
    name: str = "image",
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> Digit:
    """:func:`read_digit` for an encoded image held in memory."""
    image = decode_image(io.BytesIO(data), name=name, max_pixels=max_pixels, max_bytes=max_bytes)
    return analyse(image, source=name)


def preprocess(image: Image.Image | np.ndarray, *, source: str = "image") -> np.ndarray:
    """Return the MNIST-style uint8 [28,28] version of a PIL image or an array.

    Arrays are [H,W] gray or [H,W,C] with C = 1 (gray), 2 (gray, alpha),
    3 (RGB) or 4 (RGBA); uint8 and 0..255 integers are gray levels, uint16 and
    larger integers 16-bit levels, bool is black/white, floats are 0..1 (or
    0..255 if any value exceeds 1). Alpha is composited on white.

    A 28x28 8-bit gray image whose border is dark (median <= 16) is already
    in MNIST form and comes back unchanged.

    Raises
    ------
    ImageError
        No digit in the image (blank or uniform); the message names ``source``.
    ValueError
        An array of unsupported shape, or with NaN/inf values.
    """
    return analyse(image, source=source).pixels


def analyse(image: Image.Image | np.ndarray, *, source: str = "image") -> Digit:
    """:func:`preprocess`, also saying whether the digit found is doubtful."""
    if isinstance(image, Image.Image):
        if image.mode == "La":  # premultiplied; PIL converts it only to LA
            image = image.convert("LA")
        if image.mode == "L" and "transparency" not in image.info:
            pixels = np.asarray(image, dtype=np.uint8)
            if is_mnist_like(pixels):
                return Digit(pixels.copy())
        gray = pil_to_gray(shrink(image))
    elif isinstance(image, np.ndarray):
        if image.dtype == np.uint8 and is_mnist_like(image):
            return Digit(image.copy())
        gray = array_to_gray(image, source)
    else:
        raise TypeError(
            f"{source}: expected a PIL image or a numpy array, got {type(image).__name__}"
        )
    return _to_mnist(gray, source)


def _to_mnist(
    gray: np.ndarray, source: str, *, find_page: bool = True, inverted: bool | None = None
) -> Digit:
    """The full pipeline on float gray levels: ink map, crop, 20x20 fit, centring.

    ``inverted`` given: that polarity (True: dark ink on light paper), not the one measured.
    """
    height, width = gray.shape
    longest = max(height, width)
    if longest > WORK_SIDE:
        scale = WORK_SIDE / longest
        gray = resize(gray, max(1, round(width * scale)), max(1, round(height * scale)))
    ink, inverted = ink_map(gray, source, inverted=inverted)
    cleaned = drop_specks(ink)
    page = None
    if find_page and not inverted:
        page = page_box(cleaned > 0) or loose_page_box(gray)
    if page is not None:
        # A sheet of paper on a darker table looks like one huge bright "stroke".
        try:
            return _to_mnist(gray[page], source, find_page=False, inverted=True)
        except ImageError:
            logger.debug("%s: no digit on the page-like region; it is the digit", source)
    marks = border_marks(ink > 0)
    if marks is not None:
        # Pieces of a page edge broken by the threshold lie next to what touches the border.
        marks = border_marks(ink > 0, touching=dilate(marks, MARK_REACH))
    else:
        marks = faint_border_marks(ink)
    if marks is not None:
        # Table, shadow or page edge reaching in from the border: paint it over with
        # the paper around it and measure the ink again, so that it sets no levels.
        logger.debug(
            "%s: %.1f %% of the image is marks from the border", source, 100 * marks.mean()
        )
        blur = round(max(gray.shape) / BLUR_DIVISOR)
        cover = dilate(marks, blur + MARK_REACH)
        paper = block_statistic(gray, 50.0, valid=~cover)
        ink, _ = ink_map(np.where(cover, paper, gray), source, inverted=inverted)
        near = dilate(cover, MARK_REACH)
        leftover = border_marks(ink > 0, touching=near)
        if leftover is None or holds_heaviest(ink, leftover):
            # The digit itself lies next to the painted marks: keep its strong core.
            leftover = faint_border_marks(ink, touching=near)
        if leftover is not None:
            ink = np.where(leftover, 0.0, ink).astype(np.float32)
        cleaned = drop_specks(ink)
    ink = cleaned
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Digit(fit_and_centre(thicken(crop, source)), crop_doubt(crop))
