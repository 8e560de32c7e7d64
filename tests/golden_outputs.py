"""tests/golden/x86_64.npz: outputs that every platform must reproduce bit for bit.

Run as a script on x86-64 with the main CI lane's stack after a deliberate
change to the preprocessing, the samples or the bundled model, to rewrite the
file (tests/test_golden.py compares the board-stack lanes and 32/64-bit
ARM against it)::

    python tests/golden_outputs.py
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import numpy as np
import PIL

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pynq_mnist import contract  # noqa: E402
from pynq_mnist.data import load_mnist  # noqa: E402
from pynq_mnist.model import default_model_path, load_model  # noqa: E402
from pynq_mnist.preprocess import load_image  # noqa: E402

GOLDEN = Path(__file__).resolve().parent / "golden" / "x86_64.npz"
SAMPLES = ROOT / "pynq_mnist" / "samples"


def sample_paths() -> list[Path]:
    """The bundled sample images, in a fixed order."""
    return sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))


def logits_sha256(logits: np.ndarray) -> str:
    """Digest of int32 logits, byte order fixed (little-endian)."""
    return hashlib.sha256(np.ascontiguousarray(logits, dtype="<i4").tobytes()).hexdigest()


def main() -> None:
    """Compute and write the golden file."""
    model = load_model()
    paths = sample_paths()
    pixels = np.stack([load_image(p) for p in paths])
    test_images, _ = load_mnist("test")
    provenance = {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "Pillow": PIL.__version__,
    }
    np.savez_compressed(
        GOLDEN,
        names=np.array([p.name for p in paths]),
        pixels=pixels,
        logits=contract.exact_logits(model, pixels),
        model_sha256=np.array(hashlib.sha256(default_model_path().read_bytes()).hexdigest()),
        mnist_test_logits_sha256=np.array(logits_sha256(contract.exact_logits(model, test_images))),
        provenance=np.array(json.dumps(provenance)),
    )
    print(f"wrote {GOLDEN} ({provenance})")


if __name__ == "__main__":
    main()
