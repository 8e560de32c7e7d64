"""CPU backend against the independent per-image reference, extremes included."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import model_logits
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import reference_digits, reference_logits, reference_seed_digits

from pynq_mnist import Classifier, seed_digits
from pynq_mnist.backends.cpu import CpuBackend
from pynq_mnist.contract import FLOAT32_EXACT_LIMIT
from pynq_mnist.contract import exact_logits as forward_logits
from pynq_mnist.model import Model


def check_against_reference(model: Model, images: np.ndarray) -> np.ndarray:
    logits = forward_logits(model, images)
    expected = model_logits(model, images)
    assert logits.dtype == np.int32 and logits.shape == (len(images), 10)
    np.testing.assert_array_equal(logits, expected)
    return logits


weight_styles = st.sampled_from(["uniform", "max", "min", "sign", "sparse"])


def make_weights(rng: np.random.Generator, shape: tuple[int, int], style: str) -> np.ndarray:
    if style == "max":
        return np.full(shape, 127, np.int8)
    if style == "min":
        return np.full(shape, -128, np.int8)
    if style == "sign":
        return rng.choice(np.array([-128, 127], np.int8), shape)
    weights = rng.integers(-128, 128, shape, dtype=np.int8)
    if style == "sparse":
        weights[rng.random(shape) < 0.9] = 0
    return weights


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    style1=weight_styles,
    style2=weight_styles,
    shift_l1=st.sampled_from([0, 1, 7, 12, 17, 24, 31]),
    shift_l2=st.integers(0, 31),
    pixels=st.sampled_from(["uniform", "saturated", "binary", "mnist-like"]),
)
def test_random_models_match_reference(
    seed: int, style1: str, style2: str, shift_l1: int, shift_l2: int, pixels: str
) -> None:
    rng = np.random.default_rng(seed)
    model = Model.from_arrays(
        make_weights(rng, (128, 784), style1),
        make_weights(rng, (10, 128), style2),
        shift_l1,
        shift_l2,
    )
    count = 6
    if pixels == "saturated":
        images = np.full((count, 784), 255, np.uint8)
    elif pixels == "binary":
        images = (rng.random((count, 784)) < 0.5).astype(np.uint8) * 255
    elif pixels == "mnist-like":
        images = rng.integers(0, 256, (count, 784), dtype=np.uint8)
        images[rng.random((count, 784)) < 0.8] = 0
    else:
        images = rng.integers(0, 256, (count, 784), dtype=np.uint8)
    logits = check_against_reference(model, images)
    np.testing.assert_array_equal(
        seed_digits(logits, model), reference_seed_digits(logits, shift_l2)
    )


def test_saturation_at_255_and_shift_extremes() -> None:
    images = np.full((2, 784), 255, np.uint8)
    images[1] = 1
    for shift_l1 in (0, 31):
        model = Model.from_arrays(np.full((128, 784), 127), np.full((10, 128), 127), shift_l1, 0)
        logits = check_against_reference(model, images)
        if shift_l1 == 0:  # every hidden unit saturates at 255
            assert logits[0, 0] == 128 * 255 * 127
            assert logits[1, 0] == 128 * min(255, 784 * 127) * 127
        else:  # 784*255*127 < 2**31, so every hidden unit shifts to zero
            assert not logits.any()


def test_float32_fallback_is_needed_and_taken() -> None:
    """An input whose exact layer-1 sum is odd and above 2**24 breaks naive float32."""
    w1 = np.zeros((128, 784), np.int8)
    w1[0, :] = 127
    w1[1, :] = 126
    image = np.full((1, 784), 255, np.uint8)
    image[0, :3] = 254  # exact sums: 127*(781*255 + 3*254), odd and > 2**24
    exact = int(w1[0].astype(np.int64) @ image[0].astype(np.int64))
    assert exact > FLOAT32_EXACT_LIMIT and exact % 2 == 1
    naive = image.astype(np.float32) @ w1.T.astype(np.float32)
    assert int(naive[0, 0]) != exact  # the trap the bound must catch
    w2 = np.eye(10, 128, dtype=np.int8)
    model = Model.from_arrays(w1, w2, 0, 0)
    logits = check_against_reference(model, image)
    assert logits[0, 0] == 255 and logits[0, 1] == 255


def test_mixed_batch_of_certified_and_uncertified_images(rng: np.random.Generator) -> None:
    model = Model.from_arrays(
        rng.choice(np.array([-128, 127], np.int8), (128, 784)),
        rng.integers(-128, 128, (10, 128)),
        13,
        2,
    )
    images = rng.integers(0, 256, (9, 784), dtype=np.uint8)
    images[::2] = 0
    images[::2, :40] = rng.integers(0, 256, (5, 40))  # small sums: certified float32 rows
    check_against_reference(model, images)


def test_chunking_keeps_order(rng: np.random.Generator) -> None:
    from pynq_mnist import contract

    model = Model.from_arrays(
        rng.integers(-8, 8, (128, 784)), rng.integers(-128, 128, (10, 128)), 6, 0
    )
    images = rng.integers(0, 256, (contract.CHUNK_IMAGES + 3, 784), dtype=np.uint8)
    whole = forward_logits(model, images)
    picked = rng.choice(len(images), 12, replace=False)
    expected = reference_logits(model.w1, model.w2, 6, 0, images[picked])
    np.testing.assert_array_equal(whole[picked], expected)


def test_classifier_shapes_and_ties(rng: np.random.Generator) -> None:
    model = Model.from_arrays(rng.integers(-5, 6, (128, 784)), np.zeros((10, 128), np.int8), 4, 0)
    with Classifier(model, backend="cpu") as classifier:
        single = classifier.classify(rng.integers(0, 256, (28, 28), dtype=np.uint8))
        assert single.digits.shape == (1,) and single.digits.dtype == np.int64
        assert single.logits.dtype == np.int32 and single.backend == "cpu"
        assert single.digits[0] == 0  # all-zero logits: lowest index wins
        assert single.confidence[0] == pytest.approx(0.1)
        batch = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
        flat = classifier.classify(batch.reshape(5, 784))
        np.testing.assert_array_equal(classifier.classify(batch).logits, flat.logits)
        np.testing.assert_array_equal(flat.digits, reference_digits(flat.logits))


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (np.zeros((28, 28), np.float32), "must be uint8"),
        (np.zeros((3, 27, 28), np.uint8), "got [3, 27, 28]"),
        (np.zeros((2, 785), np.uint8), "got [2, 785]"),
    ],
)
def test_bad_image_batches(images: np.ndarray, message: str) -> None:
    backend = CpuBackend()
    backend.load(
        Model.from_arrays(np.zeros((128, 784), np.int8), np.zeros((10, 128), np.int8), 0, 0)
    )
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        backend.infer(images)
