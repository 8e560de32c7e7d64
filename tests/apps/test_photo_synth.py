"""The synthetic photo generator: reproducible, big enough, and the variations it claims."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import pynq_mnist
from pynq_mnist.apps import photo_bench, photo_synth

SAMPLES = Path(pynq_mnist.__file__).resolve().parent / "samples"


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    paths = sorted(SAMPLES.glob("digit_*_*.png"))
    images = np.stack([np.asarray(Image.open(p), dtype=np.uint8) for p in paths])
    return images, np.array([int(p.name.split("_")[1]) for p in paths])


def _gray(photo: photo_synth.Photo) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(photo.jpeg)).convert("L"), dtype=np.float64)


def test_same_seed_same_bytes(digits: tuple[np.ndarray, np.ndarray]) -> None:
    first = list(photo_synth.generate(*digits, per_variation=1, seed=3))
    again = list(photo_synth.generate(*digits, per_variation=1, seed=3))
    other = list(photo_synth.generate(*digits, per_variation=1, seed=4))
    assert [p.jpeg for p in first] == [p.jpeg for p in again]
    assert [p.jpeg for p in first] != [p.jpeg for p in other]
    assert [p.variation for p in first] == list(photo_synth.VARIATIONS)
    labels = digits[1]
    assert all(p.label == labels[p.mnist_index] for p in first)


def test_default_set_has_at_least_500_photos() -> None:
    parser = argparse.ArgumentParser()
    photo_bench.add_arguments(parser)
    per_variation = parser.parse_args([]).per_variation
    assert per_variation * len(photo_synth.VARIATIONS) >= 500


def test_variations_do_what_they_say(digits: tuple[np.ndarray, np.ndarray]) -> None:
    photos = {p.variation: p for p in photo_synth.generate(*digits, per_variation=1, seed=0)}
    plain = _gray(photos["plain"])
    assert plain.shape in ((480, 640), (640, 480))
    assert min(plain[0, 0], plain[0, -1], plain[-1, 0], plain[-1, -1]) > 150, "paper everywhere"
    tilted = _gray(photos["tilt 3-10"])
    corners = [tilted[0, 0], tilted[0, -1], tilted[-1, 0], tilted[-1, -1]]
    assert max(corners) < 130, "table in every corner"
    assert 3 <= abs(photos["tilt 3-10"].scene.tilt_deg) <= 10
    assert 5 <= photos["perspective"].scene.keystone_deg <= 15
    assert 60 <= photos["jpeg 60-70"].scene.quality <= 70
    assert photos["small (10%)"].scene.digit_size == pytest.approx(0.1)
    assert photos["large (60%)"].scene.digit_size == pytest.approx(0.6)
    inked = {name: photos[name].scene.ink for name in ("pencil", "blue ink", "marker")}
    assert inked == {"pencil": "pencil", "blue ink": "blue", "marker": "marker"}
    blue = np.asarray(Image.open(io.BytesIO(photos["blue ink"].jpeg)).convert("RGB"), float)
    darkest = blue[np.unravel_index(np.argmin(blue.sum(axis=2)), blue.shape[:2])]
    assert darkest[2] > darkest[0] + 40, "blue ink is blue"


def test_saved_photos_come_with_what_the_network_saw(mnist_dir: Path, tmp_path: Path) -> None:
    """--save writes each photo and, beside it, the 28x28 after the model's input transform."""
    from reference import reference_deskew

    from pynq_mnist.preprocess import read_digit_bytes

    deskew_model = Path(pynq_mnist.__file__).resolve().parent / "models" / "deskew.npz"
    args = argparse.Namespace(
        per_variation=1, seed=3, data=str(mnist_dir), backend="cpu", model=str(deskew_model),
        save=str(tmp_path),
    )  # fmt: skip
    table, _, _, _ = photo_bench.accuracy_table(args)
    seen = sorted(tmp_path.glob("*.seen.png"))
    assert len(seen) == sum(row[1] - row[2] for row in table.values()) >= 19
    for path in seen[:3]:
        photo = path.with_name(path.name.replace(".seen.png", ".jpg"))
        pixels = read_digit_bytes(photo.read_bytes(), name=photo.name).pixels
        want = reference_deskew(pixels)
        np.testing.assert_array_equal(np.asarray(Image.open(path)), want)
