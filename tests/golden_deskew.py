"""tests/golden/deskew_x86_64.npz: the deskewed MNIST test set, pinned bit for bit.

Run as a script on x86-64 after a deliberate change to the deskew definition,
to rewrite the file (tests/test_golden_deskew.py compares every other stack,
including 32- and 64-bit ARM, against it)::

    python tests/golden_deskew.py
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynq_mnist.data import load_mnist  # noqa: E402
from pynq_mnist.deskew import deskew  # noqa: E402

GOLDEN_DESKEW = Path(__file__).resolve().parent / "golden" / "deskew_x86_64.npz"
PINNED_IMAGES = 64  # kept in full, so a mismatch names the pixel


def pixels_sha256(pixels: np.ndarray) -> str:
    """Digest of uint8 pixels [N, 784] in C order."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def main() -> None:
    """Compute and write the golden file."""
    images, _ = load_mnist("test")
    out = deskew(images.reshape(-1, 784))
    provenance = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    np.savez_compressed(
        GOLDEN_DESKEW,
        mnist_test_deskew_sha256=np.array(pixels_sha256(out)),
        mnist_test_input_sha256=np.array(pixels_sha256(images.reshape(-1, 784))),
        first_pixels=out[:PINNED_IMAGES],
        provenance=np.array(json.dumps(provenance)),
    )
    print(f"wrote {GOLDEN_DESKEW} ({provenance})")


if __name__ == "__main__":
    main()
