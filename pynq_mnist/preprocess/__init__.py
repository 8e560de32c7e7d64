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

The modules, each importing only those above it:

- ``arrays``: resize, border ring, dilation, box blur, Otsu threshold
- ``components``: 8-connected components, hole filling, specks
- ``gray``: PIL modes and arrays to float gray levels, alpha on white
- ``decode``: bounded decoding of files and uploads (formats, size limits, EXIF)
- ``page``: a page on a table, marks reaching in from the border
- ``ink``: polarity, lighting, noise floor and stroke level: the ink map
- ``layout``: the MNIST 28x28 layout, stroke thickening
- ``doubt``: a second digit-sized mark, low confidence
- ``digit``: the pipeline and its entry points (:func:`preprocess`, :func:`read_digit`, ...)
"""

from __future__ import annotations

from .decode import ALLOWED_FORMATS, MAX_DECODED_BYTES, MAX_PIXELS, decode_image
from .digit import (
    Digit,
    analyse,
    load_image,
    load_image_bytes,
    preprocess,
    read_digit,
    read_digit_bytes,
)

# Public but, as before the split, outside __all__: the command line reports doubt with it.
from .doubt import LOW_CONFIDENCE as LOW_CONFIDENCE
from .doubt import doubt_note as doubt_note

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
