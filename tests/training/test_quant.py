"""Quantization helpers: known answers on synthetic data, checked against tests/reference.py."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from reference import reference_digits, reference_logits, reference_seed_digits

from pynq_mnist import contract
from pynq_mnist.model import N_HID, N_IN, N_OUT, load_model, save_model
from pynq_mnist.training import quant


def test_quantize_symmetric_known_answer() -> None:
    q, scale = quant.quantize_symmetric(np.array([1.27, -0.5, 0.013, 0.0, -1.27]))
    assert scale == pytest.approx(0.01)
    assert q.dtype == np.int8
    assert q.tolist() == [127, -50, 1, 0, -127]


def test_quantize_symmetric_bounds_and_error(rng: np.random.Generator) -> None:
    w = rng.normal(0.0, 0.05, size=(N_HID, N_IN))
    q, scale = quant.quantize_symmetric(w)
    assert int(np.abs(q.astype(np.int64)).max()) == 127
    assert int(q.min()) >= -127  # symmetric: -128 never appears
    assert scale == pytest.approx(np.abs(w).max() / 127)
    assert np.abs(quant.dequantize(q, scale) - w).max() <= scale / 2 * (1 + 1e-9)


def test_quantize_symmetric_zero_and_nonfinite() -> None:
    q, scale = quant.quantize_symmetric(np.zeros((2, 3)))
    assert scale == 1.0 and not q.any()
    with pytest.raises(ValueError, match="non-finite"):
        quant.quantize_symmetric(np.array([0.1, np.nan]))


@pytest.mark.parametrize(
    ("multiplier", "shift"),
    [(2.0**-7, 7), (2.0**-7.4, 7), (2.0**-7.6, 8), (0.3, 2), (1.0, 0), (1.5, 0), (2.0**-40, 31)],
)
def test_shift_from_multiplier(multiplier: float, shift: int) -> None:
    assert quant.shift_from_multiplier(multiplier) == shift


@pytest.mark.parametrize("multiplier", [0.0, -0.25, math.nan, math.inf])
def test_shift_from_multiplier_rejects(multiplier: float) -> None:
    with pytest.raises(ValueError, match="multiplier"):
        quant.shift_from_multiplier(multiplier)


def test_build_model_metadata_and_round_trip(tmp_path: Path, rng: np.random.Generator) -> None:
    w1 = rng.normal(0, 0.05, size=(N_HID, N_IN))
    w2 = rng.normal(0, 0.2, size=(N_OUT, N_HID))
    model = quant.build_model(w1, w2, 9, 4, "unit", extra={"seed": 3})
    q1, s_w1 = quant.quantize_symmetric(w1)
    q2, s_w2 = quant.quantize_symmetric(w2)
    np.testing.assert_array_equal(model.w1, q1)
    np.testing.assert_array_equal(model.w2, q2)
    assert (model.shift_l1, model.shift_l2) == (9, 4)
    assert model.metadata["recipe"] == "unit" and model.metadata["seed"] == 3
    assert model.metadata["logit_scale"] == pytest.approx(s_w1 * 2**9 * s_w2 / 255)
    save_model(model, tmp_path / "m.npz")
    loaded = load_model(tmp_path / "m.npz")
    assert loaded == model
    assert loaded.metadata == model.metadata
    assert loaded.logit_scale == pytest.approx(model.metadata["logit_scale"])


def test_logit_scale_dequantizes_integer_logits(rng: np.random.Generator) -> None:
    """float logits ~ int logits * logit_scale, within the floor error of h (no saturation)."""
    w1 = rng.normal(0, 0.05, size=(N_HID, N_IN))
    w2 = rng.normal(0, 0.3, size=(N_OUT, N_HID))
    x = rng.integers(0, 256, size=(50, N_IN), dtype=np.uint8)
    q1, s_w1 = quant.quantize_symmetric(w1)
    q2, s_w2 = quant.quantize_symmetric(w2)
    acc_max = int(np.maximum(0, x.astype(np.int64) @ q1.T.astype(np.int64)).max())
    shift = max(0, math.ceil(math.log2(acc_max / 255)))  # smallest shift without saturation
    model = quant.build_model(w1, w2, shift, 0, "unit")
    logits = reference_logits(model.w1, model.w2, shift, 0, x).astype(np.float64)
    float_logits = np.maximum(0, x * quant.INPUT_SCALE @ (q1 * s_w1).T) @ (q2 * s_w2).T
    hidden_unit = quant.INPUT_SCALE * s_w1 * 2**shift
    bound = np.abs(q2 * s_w2).sum(axis=1) * hidden_unit  # every h is off by < 1 unit
    assert np.all(np.abs(logits * model.logit_scale - float_logits) <= bound + 1e-9)
    # And the bound is tight enough to catch a logit_scale off by a factor of two.
    assert np.any(np.abs(2 * logits * model.logit_scale - float_logits) > bound)


def test_predict_digits_and_seed_digits() -> None:
    logits = np.array(
        [
            [5, 5, 1, 0, 0, 0, 0, 0, 0, 0],  # tie: lowest index
            [-9, -1, -3, -1, -8, -2, -2, -2, -2, -2],  # all negative: seed clamps to 0 -> digit 0
            [600, 599, 0, 0, 0, 0, 0, 0, 0, 1000],  # 600>>1 and 1000>>1 both saturate at 255
            [3, 2, 0, 0, 0, 0, 0, 0, 0, 0],  # 3>>1 == 2>>1: seed tie
        ],
        dtype=np.int32,
    )
    assert contract.digits(logits).tolist() == [0, 1, 9, 0]
    assert contract.seed_digits(logits, 1).tolist() == [0, 0, 0, 0]
    assert contract.seed_digits(logits, 2).tolist() == [0, 0, 9, 0]
    for s2 in (0, 1, 2, 5):
        np.testing.assert_array_equal(
            contract.seed_digits(logits, s2), reference_seed_digits(logits, s2)
        )
    np.testing.assert_array_equal(contract.digits(logits), reference_digits(logits))


def test_integer_accuracy_matches_reference(rng: np.random.Generator) -> None:
    w1 = rng.normal(0, 0.05, size=(N_HID, N_IN))
    w2 = rng.normal(0, 0.3, size=(N_OUT, N_HID))
    model = quant.build_model(w1, w2, 12, 3, "unit")
    x = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    ref = reference_digits(reference_logits(model.w1, model.w2, 12, 3, x))
    labels = ref.copy()
    labels[:10] = (labels[:10] + 1) % 10  # 10 of 40 wrong
    assert quant.integer_accuracy(model, x, labels) == pytest.approx(0.75)


def _block_problem() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ten hidden units, each watching a 10-pixel block plus a shared 84-pixel block.

    Class k lights block k and the shared block at 255, so unit k accumulates
    (10 + 84) * 127 * 255 = 3,044,190 and the others 84 * 127 * 255 = 2,720,340.
    Shifts 14..18 separate them; <= 13 saturates both at 255 and >= 19 rounds
    them together, which leaves a tie (digit 0).
    """
    w1 = np.zeros((N_HID, N_IN))
    for k in range(10):
        w1[k, 10 * k : 10 * k + 10] = 1.0
        w1[k, 700:] = 1.0
    w2 = np.zeros((N_OUT, N_HID))
    w2[np.arange(10), np.arange(10)] = 1.0
    labels = np.repeat(np.arange(10), 3)
    images = np.zeros((len(labels), N_IN), dtype=np.uint8)
    images[:, 700:] = 255
    for row, k in enumerate(labels):
        images[row, 10 * k : 10 * k + 10] = 255
    return w1, w2, images, labels


def test_choose_shift_l1_known_answer() -> None:
    w1, w2, images, labels = _block_problem()
    best, scores = quant.choose_shift_l1(w1, w2, images, labels)
    assert best == 18  # ties go to the larger shift
    assert [s for s, acc in scores.items() if acc == 1.0] == [14, 15, 16, 17, 18]
    assert all(scores[s] == pytest.approx(0.1) for s in (*range(14), *range(19, 32)))
    assert quant.choose_shift_l1(w1, w2, images, labels, prefer=15)[0] == 15
    assert quant.choose_shift_l1(w1, w2, images, labels, candidates=range(10, 15))[0] == 14
    with pytest.raises(ValueError, match=r"0\.\.31"):
        quant.choose_shift_l1(w1, w2, images, labels, candidates=[30, 32])


def test_choose_shift_l2_known_answer() -> None:
    """With s1 = 14 the logits are 127 * 185 = 23495 vs 127 * 166 = 21082."""
    w1, w2, images, labels = _block_problem()
    model = quant.build_model(w1, w2, 14, 0, "unit")
    logits = reference_logits(model.w1, model.w2, 14, 0, images)
    assert sorted(set(logits.ravel().tolist())) == [21082, 23495]
    best, scores = quant.choose_shift_l2(logits, labels)
    assert best == 7  # 23495 >> 7 = 183 fits in uint8; 23495 >> 6 = 367 saturates
    assert [s for s, acc in scores.items() if acc == 1.0] == [7, 8, 9, 10, 11]
