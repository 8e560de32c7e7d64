"""Background that is not paper: a page on a darker table, and marks from the border.

A bright region filling most of its bounding box is a page photographed on a
darker table (:func:`page_box`, or :func:`loose_page_box` when it lies tilted
or in perspective); a border ring split into paper and table with the paper
the majority is a page cut by the frame (:func:`page_fills_frame`). Dark
marks connected to the image border (table in the corners of a tilted page, a
shadow, the page's edge, a finger) are background whatever their shape, as
long as some ink does not touch the border (:func:`border_marks`,
:func:`faint_border_marks`).
"""

from __future__ import annotations

import numpy as np

from .arrays import BORDER_FRACTION, border, dilate, otsu_threshold, well_separated
from .components import fill_holes, label_components

# A bright region (holes filled) covering this share of the image and this share of
# its own bounding box is a page on a darker surface, with the digit dark on it.
PAGE_MIN_AREA = 0.25
PAGE_MIN_FILL = 0.85
PAGE_INSET_STEP = 0.01  # shrink the page box by this share of its size per step
PAGE_MAX_INSET_STEPS = 15
MIN_PAGE_SIDE = 16
# A page on a table may be tilted or in perspective: a looser fill of its bounding box
# then still makes it a page if its holes (the ink) are a small share of it, unlike a
# bold digit's.
PAGE_LOOSE_FILL = 0.6
PAGE_MAX_HOLES = 0.15
# Border ring of table and paper: the paper is the background if it covers this share.
PAGE_MAJORITY = 0.55
MARK_REACH = 4  # ink this close (working pixels) to a border mark belongs to it
STRONG_INK = 0.5  # share of the stroke level: the digit's core, not a shadow's edge


def page_fills_frame(gray: np.ndarray) -> bool:
    """True when the border ring is two well separated classes (paper and table) and
    the brighter one covers PAGE_MAJORITY of the image: a page cut by the frame."""
    ring = border(gray, max(1, round(BORDER_FRACTION * min(gray.shape))))
    shifted = ring - ring.min()
    split = otsu_threshold(shifted)
    if not well_separated(shifted, split):
        return False
    return float((gray > split + ring.min()).mean()) >= PAGE_MAJORITY


def page_box(mask: np.ndarray) -> tuple[slice, slice] | None:
    """The largest centred box inside a page-like bright region, or None.

    Page-like: the region with its holes (the ink) filled covers PAGE_MIN_AREA
    of the image and PAGE_MIN_FILL of its bounding box, which a digit's
    strokes do not. The box is the bounding box shrunk until its edges lie
    on the page (clear of a slightly rotated page's corners).
    """
    if mask.mean() < PAGE_MIN_AREA:
        return None
    filled = fill_holes(mask)
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
        if border(inside.astype(np.float32), 1).min() > 0:
            return box
    return None


def loose_page_box(gray: np.ndarray) -> tuple[slice, slice] | None:
    """The bounding box of a tilted or keystoned page on a darker table, or None.

    The page is the bright class of the gray levels (Otsu), holes filled: it
    must cover PAGE_MIN_AREA of the image and PAGE_LOOSE_FILL of its box, and
    its holes (the ink) at most PAGE_MAX_HOLES of it, unlike a bold digit's.
    The table left in the box's corners touches the box's border and is
    dropped there as border marks.
    """
    low = float(gray.min())
    bright = gray > low + otsu_threshold(gray - low)
    if bright.mean() < PAGE_MIN_AREA:
        return None
    filled = fill_holes(bright)
    rows = np.flatnonzero(filled.any(axis=1))
    cols = np.flatnonzero(filled.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    if min(filled[box].shape) < MIN_PAGE_SIDE or filled[box].mean() < PAGE_LOOSE_FILL:
        return None
    if (filled & ~bright).sum() > PAGE_MAX_HOLES * filled.sum():
        return None
    return box


def border_marks(mask: np.ndarray, touching: np.ndarray | None = None) -> np.ndarray | None:
    """The 8-connected components of ``mask`` touching the image border (or ``touching``).

    None unless some component does not touch it: an image whose only ink
    touches the border is a tight crop of the digit.
    """
    labels, n_labels = label_components(mask)
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


def faint_border_marks(ink: np.ndarray, touching: np.ndarray | None = None) -> np.ndarray | None:
    """Faint ink reaching in from the border and touching the digit (a shadow's edge), or None.

    The digit is the strong ink (at least STRONG_INK) away from the border;
    faint ink farther than MARK_REACH from it, in components that touch the
    border, is returned. None when all strong ink touches the border (a tight
    crop) or nothing faint reaches the border (or ``touching``).
    """
    labels, n_labels = label_components(ink >= STRONG_INK)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    inner = np.setdiff1d(np.arange(1, n_labels + 1), edge)
    if inner.size == 0:
        return None
    rest = (ink > 0) & ~dilate(np.isin(labels, inner), MARK_REACH)
    faint, _ = label_components(rest)
    edges = [faint[0], faint[-1], faint[:, 0], faint[:, -1]]
    if touching is not None:
        edges.append(faint[touching])
    edge = np.unique(np.concatenate(edges))
    edge = edge[edge > 0]
    if edge.size == 0:
        return None
    return np.isin(faint, edge)
