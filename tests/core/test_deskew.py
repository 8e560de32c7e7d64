"""The integer deskew (pynq_mnist.deskew) against ``reference.reference_deskew``, and the
model key that asks for it."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from reference import reference_deskew

from pynq_mnist import deskew
from pynq_mnist.data import load_mnist
from pynq_mnist.errors import ModelFormatError
from pynq_mnist.model import Model, load_model, save_model


def _synthetic(rng: np.random.Generator) -> np.ndarray:
    """Edge cases: blank, single pixels in corners, full ink, lines, noise, slanted strokes."""
    images = np.zeros((12, 28, 28), dtype=np.uint8)
    images[1, 0, 0] = 1
    images[2, 27, 27] = 255
    images[3] = 255
    images[4, 5, :] = 200  # one row of ink: zero row variance
    images[5, :, 0] = 255  # one column at the edge
    for r in range(28):
        images[6, r, r] = 255  # the diagonal: shear clipped at +1
        images[7, r, 27 - r] = 255
        images[8, r, min(27, 4 + r // 2) : min(28, 7 + r // 2)] = 180
    images[9] = rng.integers(0, 256, (28, 28), dtype=np.uint8)
    images[10, 20:, 20:] = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    images[11, 0:3, 25:] = 255
    return images


def test_matches_the_reference_on_edge_cases(rng: np.random.Generator) -> None:
    images = _synthetic(rng)
    got = deskew.deskew(images)
    for k, image in enumerate(images):
        expected = reference_deskew(image)
        assert np.array_equal(got[k], expected), (
            f"image {k}: {int((got[k] != expected).sum())} pixels differ"
        )


def test_matches_the_reference_on_mnist(mnist_dir: Path, rng: np.random.Generator) -> None:
    images, _ = load_mnist("test", mnist_dir)
    picks = np.sort(rng.choice(len(images), 200, replace=False))
    got = deskew.deskew(images[picks].reshape(-1, 784))
    for k, index in enumerate(picks):
        expected = reference_deskew(images[index]).reshape(784)
        differ = np.flatnonzero(got[k] != expected)
        assert differ.size == 0, f"test image {index}: pixels {differ[:8].tolist()} differ"


def test_the_comparison_catches_a_changed_rounding(mnist_dir: Path) -> None:
    # Negative case: a reference that truncates instead of rounding half up must disagree.
    images, _ = load_mnist("test", mnist_dir)
    got = deskew.deskew(images[:1])[0]
    assert not np.array_equal(got, images[0]), "deskew left test image 0 unchanged"
    truncating = reference_deskew(images[0], pixel_rounding=Fraction(0))
    assert not np.array_equal(got, truncating)


def test_blank_and_shapes() -> None:
    blank = np.zeros((3, 784), dtype=np.uint8)
    assert np.array_equal(deskew.deskew(blank), blank)
    square = np.zeros((2, 28, 28), dtype=np.uint8)
    square[:, 10:18, 10:18] = 255  # centred, symmetric: nothing to do
    assert np.array_equal(deskew.deskew(square), square)
    assert deskew.deskew(square).shape == (2, 28, 28)
    assert deskew.deskew(np.zeros((0, 784), dtype=np.uint8)).shape == (0, 784)


def test_a_slanted_stroke_becomes_upright_and_centred() -> None:
    image = np.zeros((28, 28), dtype=np.uint8)
    for r in range(4, 24):
        image[r, 6 + r // 2 : 9 + r // 2] = 255
    out = deskew.deskew(image[None])[0].astype(np.int64)
    r, c = np.nonzero(out)
    w = out[r, c]
    mean_c = (w * c).sum() / w.sum()
    cov = (w * (r - (w * r).sum() / w.sum()) * (c - mean_c)).sum() / w.sum()
    assert abs(mean_c - 13.5) < 0.1
    assert abs(cov) < 0.05
    assert image.astype(bool).sum() > 0 and not np.array_equal(out, image)


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="uint8"):
        deskew.deskew(np.zeros((1, 784), dtype=np.int16))
    with pytest.raises(ValueError, match="784"):
        deskew.deskew(np.zeros((1, 780), dtype=np.uint8))


def test_apply_input_transform() -> None:
    images = np.zeros((1, 784), dtype=np.uint8)
    images[0, 300:310] = 9
    assert deskew.apply_input_transform(None, images) is images
    assert np.array_equal(deskew.apply_input_transform("deskew", images), deskew.deskew(images))
    with pytest.raises(ModelFormatError, match="'input_transform' is 'blur'"):
        deskew.apply_input_transform("blur", images)


def _model(transform: str | None = None) -> Model:
    rng = np.random.default_rng(1)
    return Model.from_arrays(
        rng.integers(-128, 128, (128, 784)),
        rng.integers(-128, 128, (10, 128)),
        9,
        5,
        metadata={"recipe": "test"},
        input_transform=transform,
    )


def test_model_key_round_trip(tmp_path: Path) -> None:
    save_model(_model("deskew"), tmp_path / "d.npz")
    loaded = load_model(tmp_path / "d.npz")
    assert loaded.input_transform == "deskew"
    assert loaded == _model("deskew")
    assert loaded != _model()


def test_no_transform_writes_todays_file(tmp_path: Path) -> None:
    save_model(_model(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz") as npz:
        assert sorted(npz.files) == ["metadata", "shift_l1", "shift_l2", "w1", "w2"]
    assert load_model(tmp_path / "m.npz").input_transform is None
    assert load_model().input_transform is None  # the bundled default


@pytest.mark.parametrize(
    ("value", "message"),
    [("sharpen", "'input_transform' is 'sharpen', expected one of"), (3, "must be a string")],
)
def test_model_key_rejects_unknown(tmp_path: Path, value: object, message: str) -> None:
    model = _model()
    path = tmp_path / "bad.npz"
    np.savez(
        path,
        w1=model.w1,
        w2=model.w2,
        shift_l1=9,
        shift_l2=5,
        input_transform=np.array(value),
    )
    with pytest.raises(ModelFormatError, match=message) as info:
        load_model(path)
    assert "\n" not in str(info.value)
    with pytest.raises(ModelFormatError):
        _model(str(value))


def test_batch_equals_one_image_at_a_time(mnist_dir: Path) -> None:
    images, _ = load_mnist("test", mnist_dir)
    batch = images[: deskew.CHUNK + 44].reshape(-1, 784)  # crosses a chunk boundary
    one_by_one = np.concatenate([deskew.deskew(image[None]) for image in batch])
    assert np.array_equal(deskew.deskew(batch), one_by_one)
