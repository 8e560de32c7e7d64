"""Bounded decoding of image files and uploads into an upright PIL image.

Only PNG, JPEG, GIF, BMP, WebP and 8-bit TIFF are read, and an image whose
decoded pixels (after JPEG draft reduction) would take more than
``MAX_DECODED_BYTES`` is refused before it is decoded. JPEGs are decoded at
reduced scale; EXIF orientation is applied. Works with Pillow 9.0.1 (the
PYNQ v3 image's) as well as current Pillow.
"""

from __future__ import annotations

import io
import os
import warnings

from PIL import Image

from ..errors import ImageError
from .gray import WORK_SIDE, has_alpha

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

# Pillow 9.1 moved the transpositions into the Image.Transpose enum; Pillow 9.0
# has only the module-level constants, with the same values.
_TRANSPOSITION = getattr(Image, "Transpose", Image)


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
    if (has_alpha(img) and mode != "RGBA") or mode.startswith("I;16"):
        converted = 4  # to RGBA or 32-bit integers, at full size, in gray.shrink
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
