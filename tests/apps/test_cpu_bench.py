"""bench-cpu: the seed loop it compares against is the contract too, and it reports figures."""

from __future__ import annotations

import numpy as np
from reference import reference_logits

from pynq_mnist.apps.cpu_bench import compare, seed_loop_logits
from pynq_mnist.model import Model


def test_seed_loop_matches_reference(rng: np.random.Generator) -> None:
    model = Model.from_arrays(
        rng.integers(-128, 128, (128, 784)), rng.integers(-128, 128, (10, 128)), 15, 2
    )
    images = rng.integers(0, 256, (8, 784), dtype=np.uint8)
    expected = reference_logits(model.w1, model.w2, 15, 2, images)
    np.testing.assert_array_equal(seed_loop_logits(model, images), expected)


def test_compare_reports_both_times(rng: np.random.Generator) -> None:
    model = Model.from_arrays(
        rng.integers(-30, 30, (128, 784)), rng.integers(-128, 128, (10, 128)), 10, 0
    )
    images = rng.integers(0, 256, (64, 784), dtype=np.uint8)
    figures = compare(model, images, repeats=2)
    assert figures["n"] == 64 and figures["identical"] == 64
    assert figures["seed_loop_s"] > 0 and figures["cpu_s"] > 0
    assert figures["speedup"] == figures["seed_loop_s"] / figures["cpu_s"]
