"""bench-cpu: the seed loop it compares against is the contract too, and it reports figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from reference import reference_logits

from pynq_mnist.apps import cli
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


def test_bench_cpu_falls_back_to_the_shipped_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No MNIST anywhere: like bench, bench-cpu runs on the 1,000 shipped test images."""
    monkeypatch.delenv("PYNQ_MNIST_DATA", raising=False)
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["bench-cpu", "--limit", "50", "--repeats", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("data:                  shipped sample, the first 1000 MNIST test")
    assert out[1] == "images:                50"
