"""Why a result may be wrong: a second digit-sized mark beside the digit, or low confidence.

Several digits in one image are not separated; the result then carries a doubt.
"""

from __future__ import annotations

import numpy as np

from .components import label_components

# Doubt: another ink component this tall and heavy, relative to the largest, and
# beside it rather than part of it, is a second digit-sized mark.
DOUBT_HEIGHT = 0.5
DOUBT_MASS = 0.1
DOUBT_OVERLAP = 0.3  # shared column span, as a share of the narrower component
LOW_CONFIDENCE = 0.5
"""Confidence below which an answer is reported as doubtful (see :func:`doubt_note`)."""


def crop_doubt(crop: np.ndarray) -> str | None:
    """ "two digit-sized ink marks" when the crop holds a second digit-sized component
    beside the largest one; else None."""
    labels, n_labels = label_components(crop > 0)
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


def doubt_note(doubt: str | None, confidence: float) -> str | None:
    """The preprocessing's doubt, or "low confidence" below LOW_CONFIDENCE, or None."""
    if doubt is not None:
        return doubt
    if confidence < LOW_CONFIDENCE:
        return f"low confidence (under {LOW_CONFIDENCE:.1f})"
    return None
