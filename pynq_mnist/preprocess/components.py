"""8-connected components of a mask: labelling, hole filling, specks, the heaviest one.

Labelling runs on row runs with union-find in pure numpy/Python, because the
board has no SciPy; the masks are at most WORK_SIDE pixels on a side.
"""

from __future__ import annotations

import numpy as np

SPECK_FRACTION = 0.02  # components lighter than this share of the largest are specks


def label_components(mask: np.ndarray) -> tuple[np.ndarray, int]:
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


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with every region of ~mask that does not touch the border set."""
    labels, _ = label_components(~mask)
    edge_labels = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    return ~np.isin(labels, edge_labels[edge_labels > 0])


def drop_specks(ink: np.ndarray) -> np.ndarray:
    """Zero the 8-connected ink components lighter than SPECK_FRACTION of the heaviest."""
    labels, n_labels = label_components(ink > 0)
    if n_labels <= 1:
        return ink
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n_labels + 1)
    mass[0] = 0.0
    keep = mass >= SPECK_FRACTION * mass.max()
    keep[0] = False
    return np.where(keep[labels], ink, 0.0).astype(np.float32)


def holds_heaviest(ink: np.ndarray, mask: np.ndarray) -> bool:
    """True when ``mask`` covers the heaviest 8-connected ink component."""
    labels, n_labels = label_components(ink > 0)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=n_labels + 1)
    mass[0] = 0.0
    return bool(mask[labels == int(np.argmax(mass))].any())
