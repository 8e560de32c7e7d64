"""Turn real-world digit images (files, photos, arrays) into MNIST-style 28x28 uint8.

The MNIST recipe: ink bright on a zero background, cropped to the ink, scaled to
fit a 20x20 box (antialiased, aspect kept) and placed in 28x28 so that the
centre of mass of the ink sits at pixel (14, 14). Photos of paper additionally
get their uneven lighting flattened and their paper texture thresholded away,
thin pen strokes are thickened to MNIST's width, and a page photographed on a
darker table is found and only its inside is used. Dark marks connected to
the image border (table in the corners of a tilted page, a shadow, the page's
edge, a finger) are background whatever their shape, as long as some ink does
not touch the border; they are painted over with the surrounding paper level
and the ink is measured again without them. A page cut by the frame, with
table along some edges, is paper when it covers most of the image; a page
lying tilted or in perspective on a table is cropped to its bounding box.

Decoding is bounded: only PNG, JPEG, GIF, BMP, WebP and 8-bit TIFF are read,
and an image whose decoded pixels (after JPEG draft reduction) would take more
than ``MAX_DECODED_BYTES`` is refused before it is decoded.

Several digits in one image are not separated; the result then carries a doubt.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .errors import ImageError

__all__ = [
    "ALLOWED_FORMATS",
    "MAX_DECODED_BYTES",
    "MAX_PIXELS",
    "Digit",
    "analyse",
    "decode_image",
    "load_image",
    "load_image_bytes",
    "preprocess",
    "read_digit",
    "read_digit_bytes",
]

logger = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000
"""Largest image (width * height) load_image decodes: a decompression-bomb guard."""

MAX_DECODED_BYTES = 48 * 2**20
"""Most memory, in bytes, that decoding one image may take at full size (after JPEG
draft reduction), counting the full-size copies made before it is reduced.

Pillow holds 8-bit gray and palette images in 1 byte per pixel, 16-bit gray
in 2 and everything else (RGB included) in 4; turning palette or bilevel
images into gray adds 1, alpha or 16-bit into RGBA or 32-bit adds 4, and an
EXIF rotation copies the whole image once more (checked once the EXIF is
read, which for a PNG may follow its pixels). 48 MiB holds a 12-megapixel
RGB PNG, and any JPEG up to MAX_PIXELS (decoded at 1/2 to 1/8 scale).
"""

ALLOWED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
"""The only Pillow plugins consulted when opening a file (TIFF: 8-bit samples only)."""
_FORMAT_NAMES = "PNG, JPEG, GIF, BMP, WebP or TIFF"
_TIFF_BITS_PER_SAMPLE = 258
_EXIF_ORIENTATION = 0x0112

SIZE = 28
BOX = 20
CENTRE = 14.0  # MNIST's centre of mass in row/column index coordinates
UINT8_MAX = 255
UINT16_MAX = 65535

# Longest side the analysis runs at; a 20x20 target needs far less, but
# strokes must stay several pixels wide for the noise threshold to work.
WORK_SIDE = 512
# A 28x28 8-bit image whose border median is at most this is already MNIST-like.
MNIST_BORDER_MAX = 16
BLUR_DIVISOR = 256  # denoising blur radius = longest working side / this
BORDER_FRACTION = 0.05  # border ring width, as a fraction of the shorter side
OUTLIER_MADS = 3.0  # border pixels this many median errors off the fit are ink
TAIL_PERCENTILE = 0.05  # polarity: compare this far into the dark and bright tails
BLOCK_SIDE = 64  # background-estimate block size at working resolution
BACKGROUND_PERCENTILE = 25.0  # ink covers well under 75 % of a block
MIN_PAPER_LEVEL = 32.0  # darker 'paper' is not scaled up further
MIN_VALID_FRACTION = 0.1  # second-pass blocks need this share of non-ink pixels
NOISE_SIGMAS = 6.0  # threshold above the background noise (MAD estimate)
MAD_TO_SIGMA = 1.4826
# Class means this many lower-class sigmas apart: Otsu halves of pure noise are 2.7.
TIGHT_CROP_SEPARATION = 4.0
EDGE_FLOOR = 0.2  # also drop ink fainter than this fraction of the stroke level
MIN_CONTRAST = 8.0  # gray levels between background noise and ink; less is blank
# MNIST strokes are 1.8 to 3.6 px wide (10th to 90th percentile, median 2.5) at
# half height; thinner ones are dilated to the median.
MIN_STROKE = 1.8
TARGET_STROKE = 2.5
HALF_INK = 0.5
# A bright region (holes filled) covering this share of the image and this share of
# its own bounding box is a page on a darker surface, with the digit dark on it.
PAGE_MIN_AREA = 0.25
PAGE_MIN_FILL = 0.85
PAGE_INSET_STEP = 0.01  # shrink the page box by this share of its size per step
PAGE_MAX_INSET_STEPS = 15
MIN_PAGE_SIDE = 16
SPECK_FRACTION = 0.02  # components lighter than this share of the largest are specks
# A page on a table may be tilted or in perspective: a looser fill of its bounding box
# then still makes it a page if its holes (the ink) are a small share of it, unlike a
# bold digit's.
PAGE_LOOSE_FILL = 0.6
PAGE_MAX_HOLES = 0.15
# Border ring of table and paper: the paper is the background if it covers this share.
PAGE_MAJORITY = 0.55
MARK_REACH = 4  # ink this close (working pixels) to a border mark belongs to it
STRONG_INK = 0.5  # share of the stroke level: the digit's core, not a shadow's edge
# Doubt: another ink component this tall and heavy, relative to the largest, and
# beside it rather than part of it, is a second digit-sized mark.
DOUBT_HEIGHT = 0.5
DOUBT_MASS = 0.1
DOUBT_OVERLAP = 0.3  # shared column span, as a share of the narrower component
LOW_CONFIDENCE = 0.5
"""Confidence below which an answer is reported as doubtful (see :func:`doubt_note`)."""
STROKE_PERCENTILE = 90.0

# ITU-R 601 luma weights, as PIL uses for RGB -> L.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

# Pillow 9.1 moved the resampling filters into the Image.Resampling enum; Pillow 9.0
# (the PYNQ v3 image's) has only the module-level constants, with the same values.
_RESAMPLING = getattr(Image, "Resampling", Image)
_TRANSPOSITION = getattr(Image, "Transpose", Image)


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


def decode_image(
    source: str | os.PathLike[str] | io.BytesIO,
    *,
    name: str = "image",
    max_pixels: int = MAX_PIXELS,
    max_bytes: int = MAX_DECODED_BYTES,
) -> Image.Image:
    """Open, size-check and fully decode a file or in-memory image, upright (EXIF).

    Only ALLOWED_FORMATS are tried. JPEGs are decoded at the smallest 1/2..1/8
    scale that keeps WORK_SIDE pixels on each side. The pixel count and the
    decoded size in bytes are checked before any pixel is decoded.

    Raises
    ------
    ImageError
        Missing, unreadable, truncated, other format, or over a limit; the
        one-line message starts with ``name``.
    """
    try:
        with warnings.catch_warnings():
            # PIL warns (then refuses) far above our own limit; both mean "too big".
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source, formats=_openable_formats()) as img:
                _check_size(img, name, max_pixels)
                # JPEG only: decode at 1/2..1/8 scale, still >= WORK_SIDE on each side.
                img.draft(None, (WORK_SIDE, WORK_SIDE))
                _check_decoded_bytes(img, name, max_bytes, 1)
                # Read before load(): Pillow 9.0 reads a TIFF's EXIF from the file,
                # which load() closes. (A PNG's EXIF may follow its pixels: it decodes.)
                orientation = img.getexif().get(_EXIF_ORIENTATION, 1)
                _check_decoded_bytes(img, name, max_bytes, orientation)
                img.load()
                return _upright(img, orientation)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name}: {exc} (limit {max_pixels} pixels)") from None
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a directory, not an image") from None
    except Image.UnidentifiedImageError:
        raise ImageError(f"{name}: not an image in a format we read ({_FORMAT_NAMES})") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # PIL reports corrupt data with any of these, depending on the codec.
        raise ImageError(f"{name}: cannot read image: {exc}") from None


def _openable_formats() -> list[str]:
    """ALLOWED_FORMATS this Pillow registers (Image.open fails on an unknown name)."""
    if not all(name in Image.OPEN for name in ALLOWED_FORMATS):
        Image.init()
    return [name for name in ALLOWED_FORMATS if name in Image.OPEN]


def _check_size(img: Image.Image, name: str, max_pixels: int) -> None:
    """Pixel count, empty images, and TIFF sample depth, from the header alone."""
    width, height = img.size
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: image is {width}x{height} = {width * height} pixels, "
            f"over the limit of {max_pixels} pixels"
        )
    if width == 0 or height == 0:
        raise ImageError(f"{name}: image is empty ({width}x{height} pixels)")
    if img.format == "TIFF":
        bits = img.tag_v2.get(_TIFF_BITS_PER_SAMPLE, (1,))
        bits = bits if isinstance(bits, tuple) else (bits,)
        if any(b != 8 for b in bits):
            raise ImageError(
                f"{name}: TIFF with {'/'.join(str(b) for b in bits)}-bit samples; "
                "only 8-bit TIFF is read (save it as PNG)"
            )


def _decoding_cost(img: Image.Image, orientation: int) -> int:
    """Bytes per pixel that decoding ``img`` and its full-size conversions take at peak."""
    mode = img.mode
    held = 1 if mode in ("1", "L", "P") else 2 if mode.startswith("I;16") else 4
    if (_has_alpha(img) and mode != "RGBA") or mode.startswith("I;16"):
        converted = 4  # to RGBA or 32-bit integers, at full size, in _shrink
    elif mode in ("1", "P"):
        converted = 1  # to 8-bit gray
    else:
        converted = 0
    rotated = held if orientation in _TRANSPOSE else 0
    return held + max(converted, rotated)


def _check_decoded_bytes(img: Image.Image, name: str, max_bytes: int, orientation: int) -> None:
    width, height = img.size
    needed = width * height * _decoding_cost(img, orientation)
    if needed > max_bytes:
        raise ImageError(
            f"{name}: image too large to read: {width}x{height} pixels would take "
            f"{needed / 2**20:.0f} MiB to decode, the limit is {max_bytes / 2**20:.0f} MiB; "
            "send a smaller image (a JPEG of any size up to "
            f"{MAX_PIXELS // 1_000_000} megapixels is fine)"
        )


_TRANSPOSE = {
    orientation: getattr(_TRANSPOSITION, method)
    for orientation, method in [
        (2, "FLIP_LEFT_RIGHT"),
        (3, "ROTATE_180"),
        (4, "FLIP_TOP_BOTTOM"),
        (5, "TRANSPOSE"),
        (6, "ROTATE_270"),
        (7, "TRANSVERSE"),
        (8, "ROTATE_90"),
    ]
}


def _upright(img: Image.Image, orientation: int) -> Image.Image:
    """Apply the EXIF orientation; an upright image is returned as is, not copied."""
    method = _TRANSPOSE.get(orientation)
    return img if method is None else img.transpose(method)


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
            if _is_mnist_like(pixels):
                return Digit(pixels.copy())
        gray = _pil_to_gray(_shrink(image))
    elif isinstance(image, np.ndarray):
        if image.dtype == np.uint8 and _is_mnist_like(image):
            return Digit(image.copy())
        gray = _array_to_gray(image, source)
    else:
        raise TypeError(
            f"{source}: expected a PIL image or a numpy array, got {type(image).__name__}"
        )
    return _to_mnist(gray, source)


def doubt_note(doubt: str | None, confidence: float) -> str | None:
    """The preprocessing's doubt, or "low confidence" below LOW_CONFIDENCE, or None."""
    if doubt is not None:
        return doubt
    if confidence < LOW_CONFIDENCE:
        return f"low confidence (under {LOW_CONFIDENCE:.1f})"
    return None


def _is_mnist_like(pixels: np.ndarray) -> bool:
    """True for a 28x28 gray image with a dark border."""
    if pixels.shape != (SIZE, SIZE):
        return False
    return float(np.median(_border(pixels.astype(np.float32), 2))) <= MNIST_BORDER_MAX


def _border(gray: np.ndarray, width: int) -> np.ndarray:
    """The pixels of the ring ``width`` pixels wide around the image, flattened."""
    ring = np.ones(gray.shape, dtype=bool)
    ring[width:-width, width:-width] = False
    return gray[ring]


def _has_alpha(img: Image.Image) -> bool:
    if img.mode == "LAB":  # its "A" band is the green-red axis a*, not alpha
        return False
    return bool({"A", "a"} & set(img.getbands())) or "transparency" in img.info


def _shrink(img: Image.Image) -> Image.Image:
    """Box-reduce big images by an integer factor in PIL, before any float copy exists."""
    factor = max(img.size) // WORK_SIDE
    if factor < 2:
        return img
    if _has_alpha(img):
        # PIL reduces RGBA premultiplied: transparent pixels' colour cannot bleed in.
        return (img if img.mode == "RGBA" else img.convert("RGBA")).reduce(factor)
    if img.mode.startswith("I;16"):
        img = img.convert("I")
    elif img.mode in ("1", "P"):
        img = img.convert("L")
    return img.reduce(factor)


def _pil_to_gray(img: Image.Image) -> np.ndarray:
    """Float32 gray levels 0..255 [H,W], alpha composited on white."""
    if img.mode.startswith("I;16"):
        return np.asarray(img).astype(np.float32) / (UINT16_MAX / UINT8_MAX)
    if img.mode in ("I", "F"):
        return _levels_to_255(np.asarray(img))
    if img.mode == "LAB":  # PIL converts LAB to nothing else; its L band is the lightness
        return np.asarray(img.getchannel("L"), dtype=np.float32)
    if _has_alpha(img):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        return _composite_on_white(rgba[..., :3] @ _LUMA, rgba[..., 3] / UINT8_MAX)
    if img.mode != "L":
        img = img.convert("L")
    return np.asarray(img, dtype=np.float32)


def _array_to_gray(array: np.ndarray, source: str) -> np.ndarray:
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


def _resize(values: np.ndarray, width: int, height: int) -> np.ndarray:
    """Antialiased resize of a float32 [H,W] array: area average down, bicubic up."""
    shrinking = width <= values.shape[1] and height <= values.shape[0]
    method = _RESAMPLING.BOX if shrinking else _RESAMPLING.BICUBIC
    resized = Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), method)
    return np.asarray(resized, dtype=np.float32)


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
        gray = _resize(gray, max(1, round(width * scale)), max(1, round(height * scale)))
    ink, inverted = _ink_map(gray, source, inverted=inverted)
    cleaned = _drop_specks(ink)
    page = None
    if find_page and not inverted:
        page = _page_box(cleaned > 0) or _loose_page_box(gray)
    if page is not None:
        # A sheet of paper on a darker table looks like one huge bright "stroke".
        try:
            return _to_mnist(gray[page], source, find_page=False, inverted=True)
        except ImageError:
            logger.debug("%s: no digit on the page-like region; it is the digit", source)
    marks = _border_marks(ink > 0)
    if marks is not None:
        # Pieces of a page edge broken by the threshold lie next to what touches the border.
        marks = _border_marks(ink > 0, touching=_dilate(marks, MARK_REACH))
    else:
        marks = _faint_border_marks(ink)
    if marks is not None:
        # Table, shadow or page edge reaching in from the border: paint it over with
        # the paper around it and measure the ink again, so that it sets no levels.
        logger.debug(
            "%s: %.1f %% of the image is marks from the border", source, 100 * marks.mean()
        )
        blur = round(max(gray.shape) / BLUR_DIVISOR)
        cover = _dilate(marks, blur + MARK_REACH)
        paper = _block_statistic(gray, 50.0, valid=~cover)
        ink, _ = _ink_map(np.where(cover, paper, gray), source, inverted=inverted)
        near = _dilate(cover, MARK_REACH)
        leftover = _border_marks(ink > 0, touching=near)
        if leftover is None or _holds_heaviest(ink, leftover):
            # The digit itself lies next to the painted marks: keep its strong core.
            leftover = _faint_border_marks(ink, touching=near)
        if leftover is not None:
            ink = np.where(leftover, 0.0, ink).astype(np.float32)
        cleaned = _drop_specks(ink)
    ink = cleaned
    rows = np.flatnonzero(ink.any(axis=1))
    cols = np.flatnonzero(ink.any(axis=0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Digit(_fit_and_centre(_thicken(crop, source)), _doubt(crop))


def _border_marks(mask: np.ndarray, touching: np.ndarray | None = None) -> np.ndarray | None:
    """The 8-connected components of ``mask`` touching the image border (or ``touching``).

    None unless some component does not touch it: an image whose only ink
    touches the border is a tight crop of the digit.
    """
    labels, n_labels = _label_components(mask)
    if n_labels <= 1:
        return None
    edges = [labels[0], labels[-1], labels[:, 0], labels[:, -1]]
    if touching is not None:
        edges.append(labels[touching])
    edge = np.unique(np.concatenate(edges))
    edge = edge[edge > 0]
    if edge.size == 0 or edge.size == n_labels:
        return None
    return np.isin(labels, edge)


def _holds_heaviest(ink: np.ndarray, mask: np.ndarray) -> bool:
    """True when ``mask`` covers the heaviest 8-connected ink component."""
    labels, n_labels = _label_components(ink > 0)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n_labels + 1)
    mass[0] = 0.0
    return bool(mask[labels == int(np.argmax(mass))].any())


def _faint_border_marks(ink: np.ndarray, touching: np.ndarray | None = None) -> np.ndarray | None:
    """Faint ink reaching in from the border and touching the digit (a shadow's edge), or None.

    The digit is the strong ink (at least STRONG_INK) away from the border;
    faint ink farther than MARK_REACH from it, in components that touch the
    border, is returned. None when all strong ink touches the border (a tight
    crop) or nothing faint reaches the border (or ``touching``).
    """
    labels, n_labels = _label_components(ink >= STRONG_INK)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    inner = np.setdiff1d(np.arange(1, n_labels + 1), edge)
    if inner.size == 0:
        return None
    rest = (ink > 0) & ~_dilate(np.isin(labels, inner), MARK_REACH)
    faint, _ = _label_components(rest)
    edges = [faint[0], faint[-1], faint[:, 0], faint[:, -1]]
    if touching is not None:
        edges.append(faint[touching])
    edge = np.unique(np.concatenate(edges))
    edge = edge[edge > 0]
    if edge.size == 0:
        return None
    return np.isin(faint, edge)


def _doubt(crop: np.ndarray) -> str | None:
    """ "two digit-sized ink marks" when the crop holds a second digit-sized component
    beside the largest one; else None."""
    labels, n_labels = _label_components(crop > 0)
    if n_labels <= 1:
        return None
    mass = np.bincount(labels.ravel(), weights=crop.ravel(), minlength=n_labels + 1)[1:]
    spans = []
    for label in range(1, n_labels + 1):
        rows, cols = np.nonzero(labels == label)
        spans.append((rows.max() - rows.min() + 1, cols.min(), cols.max() + 1))
    big = int(np.argmax(mass))
    tallest = max(span[0] for span in spans)
    marks = 1
    for label, (height, left, right) in enumerate(spans):
        if label == big or height < DOUBT_HEIGHT * tallest or mass[label] < DOUBT_MASS * mass[big]:
            continue
        _, big_left, big_right = spans[big]
        shared = min(right, big_right) - max(left, big_left)
        if shared < DOUBT_OVERLAP * min(right - left, big_right - big_left):
            marks += 1
    if marks == 1:
        return None
    return f"{'two' if marks == 2 else marks} digit-sized ink marks"


def _page_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The largest centred box inside a page-like bright region, or None.

    Page-like: the region with its holes (the ink) filled covers PAGE_MIN_AREA
    of the image and PAGE_MIN_FILL of its bounding box, which a digit's
    strokes do not. The box is the bounding box shrunk until its edges lie
    on the page (clear of a slightly rotated page's corners).
    """
    if mask.mean() < PAGE_MIN_AREA:
        return None
    filled = _fill_holes(mask)
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    if filled[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].mean() < PAGE_MIN_FILL:
        return None
    height, width = rows[-1] + 1 - rows[0], cols[-1] + 1 - cols[0]
    for step in range(1, PAGE_MAX_INSET_STEPS + 1):
        dr, dc = round(step * PAGE_INSET_STEP * height), round(step * PAGE_INSET_STEP * width)
        box = (slice(rows[0] + dr, rows[-1] + 1 - dr), slice(cols[0] + dc, cols[-1] + 1 - dc))
        inside = filled[box]
        if min(inside.shape) < MIN_PAGE_SIDE:
            return None
        if _border(inside.astype(np.float32), 1).min() > 0:
            return box
    return None


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region of ~mask that does not touch the border set."""
    labels, _ = _label_components(~mask)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return ~np.isin(labels, edge_labels[edge_labels > 0])


def _loose_page_box(gray: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of a tilted or keystoned page on a darker table, or None.

    The page is the bright class of the gray levels (Otsu), holes filled: it
    must cover PAGE_MIN_AREA of the image and PAGE_LOOSE_FILL of its box, and
    its holes (the ink) at most PAGE_MAX_HOLES of it, unlike a bold digit's.
    The table left in the box's corners touches the box's border and is
    dropped there as border marks.
    """
    low = float(gray.min())
    bright = gray > low + _otsu_threshold(gray - low)
    if bright.mean() < PAGE_MIN_AREA:
        return None
    filled = _fill_holes(bright)
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    if min(filled[box].shape) < MIN_PAGE_SIDE or filled[box].mean() < PAGE_LOOSE_FILL:
        return None
    if (filled & ~bright).sum() > PAGE_MAX_HOLES * filled.sum():
        return None
    return box


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width of a mask: twice the area over the boundary length."""
    padded = np.pad(mask, 1)
    interior = (
        padded[1:-1, 1:-1]
        & padded[:-2, 1:-1]
        & padded[2:, 1:-1]
        & padded[1:-1, :-2]
        & padded[1:-1, 2:]
    )
    boundary = int((mask & ~interior).sum())
    return 2.0 * float(mask.sum()) / max(boundary, 1)


def _thicken(crop: np.ndarray, source: str) -> np.ndarray:
    """Dilate strokes that would end up thinner than MNIST's (pen on paper, thin fonts)."""
    scale = BOX / max(crop.shape)
    width = _stroke_width(crop >= HALF_INK)
    if width * scale >= MIN_STROKE:
        return crop
    radius = round((TARGET_STROKE / scale - width) / 2)
    if radius < 1:
        return crop
    logger.debug(
        "%s: stroke %.1f px at 20x20 scale: dilating by %d px", source, width * scale, radius
    )
    return _dilate(np.pad(crop, radius), radius)


def _ink_map(
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
    gray = _box_blur(gray, blur)
    if inverted is None:
        residual = gray - _border_surface(gray)
        low, high = np.percentile(residual, [TAIL_PERCENTILE, 100.0 - TAIL_PERCENTILE])
        inverted = bool(-low > high) or _page_fills_frame(gray)
    if inverted:
        gray = UINT8_MAX - gray

    ink = gray - _block_statistic(gray, BACKGROUND_PERCENTILE)
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
        otsu = _otsu_threshold(ink)
        if _well_separated(ink, otsu, TIGHT_CROP_SEPARATION):
            rough_floor = otsu
    first_pass = _dilate(ink > rough_floor, blur + 1)
    background = _block_statistic(gray, 50.0, valid=~first_pass)
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


def _page_fills_frame(gray: np.ndarray) -> bool:
    """True when the border ring is two well separated classes (paper and table) and
    the brighter one covers PAGE_MAJORITY of the image: a page cut by the frame."""
    ring = _border(gray, max(1, round(BORDER_FRACTION * min(gray.shape))))
    shifted = ring - ring.min()
    split = _otsu_threshold(shifted)
    if not _well_separated(shifted, split):
        return False
    return float((gray > split + ring.min()).mean()) >= PAGE_MAJORITY


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
    strokes = ink[ink > max(noise_floor, _otsu_threshold(ink))]
    stroke = float(np.percentile(strokes, STROKE_PERCENTILE)) if strokes.size else float(ink.max())
    floor = max(noise_floor, EDGE_FLOOR * stroke)
    logger.debug(
        "%s: background noise %.1f, floor %.1f, stroke level %.1f", source, sigma, floor, stroke
    )
    return floor, stroke


def _dilate(values: np.ndarray, radius: int) -> np.ndarray:
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


def _box_blur(values: np.ndarray, radius: int) -> np.ndarray:
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
    split = _otsu_threshold(shifted)
    if _well_separated(shifted, split):
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


def _block_statistic(
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
        return _block_statistic(gray, BACKGROUND_PERCENTILE)
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
    return _resize(grid.astype(np.float32), width, height)


def _otsu_threshold(values: np.ndarray) -> float:
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


def _well_separated(values: np.ndarray, threshold: float, sigmas: float = NOISE_SIGMAS) -> bool:
    """True when the classes split at ``threshold`` lie far apart for the lower one's spread."""
    low, high = values[values <= threshold], values[values > threshold]
    if low.size == 0 or high.size == 0:
        return False
    return float(high.mean() - low.mean()) > sigmas * float(low.std())


def _drop_specks(ink: np.ndarray) -> np.ndarray:
    """Zero the 8-connected ink components lighter than SPECK_FRACTION of the heaviest."""
    labels, n_labels = _label_components(ink > 0)
    if n_labels <= 1:
        return ink
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n_labels + 1)
    mass[0] = 0.0
    keep = mass >= SPECK_FRACTION * mass.max()
    keep[0] = False
    return np.where(keep[labels], ink, 0.0).astype(np.float32)


def _label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected component labels (1..n, 0 = background) via row runs and union-find."""
    parent: list[int] = []

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    runs: list[tuple[int, int, int, int]] = []  # row, start, stop (exclusive), run id
    previous: list[tuple[int, int, int]] = []
    for row in range(mask.shape[0]):
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mask[row].astype(np.int8), [0]))))
        current: list[tuple[int, int, int]] = []
        first = 0  # runs are sorted and disjoint: sweep the previous row once
        for start, stop in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            run_id = len(parent)
            parent.append(run_id)
            while first < len(previous) and previous[first][1] < start:
                first += 1
            # Diagonal neighbours count: runs touch if they overlap widened by one.
            touching = first
            while touching < len(previous) and previous[touching][0] <= stop:
                root_a, root_b = find(run_id), find(previous[touching][2])
                if root_a != root_b:
                    parent[max(root_a, root_b)] = min(root_a, root_b)
                touching += 1
            current.append((start, stop, run_id))
            runs.append((row, start, stop, run_id))
        previous = current
    labels = np.zeros(mask.shape, dtype=np.int32)
    roots: dict[int, int] = {}
    for row, start, stop, run_id in runs:
        labels[row, start:stop] = roots.setdefault(find(run_id), len(roots) + 1)
    return labels, len(roots)


def _fit_and_centre(crop: np.ndarray) -> np.ndarray:
    """Scale ``crop`` to fit BOX x BOX and place its centre of mass at (14, 14)."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    new_h = min(BOX, max(1, round(height * scale)))
    new_w = min(BOX, max(1, round(width * scale)))
    patch = np.clip(_resize(crop, new_w, new_h), 0.0, None)
    patch = np.rint(patch / patch.max() * UINT8_MAX).astype(np.uint8)

    rows, cols = np.indices(patch.shape)
    total = float(patch.sum(dtype=np.int64))
    centre_row = float((rows * patch).sum()) / total
    centre_col = float((cols * patch).sum()) / total
    top = int(np.clip(np.floor(CENTRE - centre_row + 0.5), 0, SIZE - new_h))
    left = int(np.clip(np.floor(CENTRE - centre_col + 0.5), 0, SIZE - new_w))
    out = np.zeros((SIZE, SIZE), dtype=np.uint8)
    out[top : top + new_h, left : left + new_w] = patch
    return out
