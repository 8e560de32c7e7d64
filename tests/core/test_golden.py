"""Bit-identical on every stack: outputs pinned on x86-64 (tests/golden/x86_64.npz).

The preprocessing of the bundled sample images and the CPU backend's logits
(samples and all 10k MNIST test images) were computed once on x86-64 with the
main lane's numpy and Pillow. The board-stack lanes (Python 3.10, numpy 1.21.5,
Pillow 9.0.1) and scripts/arm-check.sh (armhf and arm64, Debian's numpy/Pillow)
must reproduce them exactly. After a deliberate change to the preprocessing,
the samples or the bundled model: ``python tests/golden_outputs.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from golden_outputs import GOLDEN, logits_sha256, sample_paths
from reference import reference_logits

from pynq_mnist import contract
from pynq_mnist.data import load_mnist
from pynq_mnist.model import default_model_path, load_model
from pynq_mnist.preprocess import load_image


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN) as data:
        pinned = {key: data[key] for key in data.files}
    model_sha256 = hashlib.sha256(default_model_path().read_bytes()).hexdigest()
    assert str(pinned["model_sha256"]) == model_sha256, (
        "the bundled model changed: regenerate with python tests/golden_outputs.py"
    )
    return pinned


def test_golden_covers_every_sample(golden: dict[str, np.ndarray]) -> None:
    assert list(golden["names"]) == [p.name for p in sample_paths()]


@pytest.mark.parametrize("path", sample_paths(), ids=lambda p: p.name)
def test_sample_preprocessing_is_pixel_identical(path: Path, golden: dict[str, np.ndarray]) -> None:
    (index,) = np.flatnonzero(golden["names"] == path.name)
    pixels = load_image(path)
    expected = golden["pixels"][index]
    differ = np.argwhere(pixels != expected)
    assert differ.size == 0, (
        f"{path.name}: {len(differ)} pixels differ from x86-64, first at {differ[0].tolist()}: "
        f"{pixels[tuple(differ[0])]} != {expected[tuple(differ[0])]}"
    )


def test_sample_logits_are_identical(golden: dict[str, np.ndarray]) -> None:
    model = load_model()
    logits = contract.exact_logits(model, golden["pixels"])
    assert logits.dtype == np.int32
    assert np.array_equal(logits, golden["logits"])
    reference = reference_logits(
        model.w1, model.w2, model.shift_l1, model.shift_l2, golden["pixels"].reshape(-1, 784)
    )
    assert np.array_equal(golden["logits"], reference)


def test_mnist_test_logits_are_identical(golden: dict[str, np.ndarray], mnist_dir: Path) -> None:
    images, _ = load_mnist("test", mnist_dir)
    digest = logits_sha256(contract.exact_logits(load_model(), images))
    assert digest == str(golden["mnist_test_logits_sha256"])
