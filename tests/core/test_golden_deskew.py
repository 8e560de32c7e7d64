"""The deskewed MNIST test set is bit-identical on every stack (tests/golden/deskew_x86_64.npz).

Computed once on x86-64 (``python tests/golden_deskew.py``); the board-stack
lanes (numpy 1.21.5) and scripts/arm-check.sh (armhf and arm64) must reproduce it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from golden_deskew import GOLDEN_DESKEW, PINNED_IMAGES, pixels_sha256

from pynq_mnist.data import load_mnist
from pynq_mnist.deskew import deskew


@pytest.fixture(scope="module")
def golden() -> dict[str, np.ndarray]:
    with np.load(GOLDEN_DESKEW) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="module")
def test_images(mnist_dir: Path) -> np.ndarray:
    images, _ = load_mnist("test", mnist_dir)
    return images.reshape(-1, 784)


def test_input_is_the_pinned_test_set(golden: dict[str, np.ndarray], test_images: np.ndarray):
    assert pixels_sha256(test_images) == str(golden["mnist_test_input_sha256"])


def test_first_images_are_pixel_identical(golden: dict[str, np.ndarray], test_images: np.ndarray):
    out = deskew(test_images[:PINNED_IMAGES])
    differ = np.argwhere(out != golden["first_pixels"])
    assert differ.size == 0, (
        f"{len(differ)} pixels differ from x86-64, first (image, pixel) {differ[0].tolist()}: "
        f"{out[tuple(differ[0])]} != {golden['first_pixels'][tuple(differ[0])]}"
    )


def test_all_10k_are_bit_identical(golden: dict[str, np.ndarray], test_images: np.ndarray):
    out = deskew(test_images)
    assert out.dtype == np.uint8 and out.shape == (10000, 784)
    assert pixels_sha256(out) == str(golden["mnist_test_deskew_sha256"])
    # Negative case: the digest sees a single changed pixel.
    out[9999, 783] ^= 1
    assert pixels_sha256(out) != str(golden["mnist_test_deskew_sha256"])
