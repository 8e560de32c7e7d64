"""Training for deskewed input (``--deskew before|after``) on a small MNIST subset.

torch is imported only inside the tests (through pynq_mnist.training.train); like
tests/test_train.py this file runs on the main lane, where torch is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference import reference_deskew, reference_digits, reference_logits

from pynq_mnist.data import load_mnist
from pynq_mnist.model import load_model

TRAIN_LIMIT = 1200
TEST_LIMIT = 150  # the reference deskew is a per-pixel loop
REPO_ROOT = Path(__file__).resolve().parent.parent


def _train(mnist_dir: Path, out: Path, deskew_mode: str | None, seed: int) -> dict:
    from pynq_mnist.training.train import train

    return train(
        data_dir=mnist_dir,
        out=out,
        epochs=1,
        seed=seed,
        train_limit=TRAIN_LIMIT,
        test_limit=TEST_LIMIT,
        progress=False,
        deskew_mode=deskew_mode,
    )


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["before", "after"])
def test_deskew_model_and_its_accuracy(tmp_path: Path, mnist_dir: Path, seed: int, mode: str):
    report = _train(mnist_dir, tmp_path / "d.npz", mode, seed)
    model = load_model(tmp_path / "d.npz")
    assert model.input_transform == "deskew" == report["input_transform"]
    assert report["hyperparameters"]["deskew"] == mode
    # The reported accuracies are those of the network on independently deskewed pixels.
    test_x, test_y = load_mnist("test", mnist_dir)
    pixels = np.stack([reference_deskew(image).reshape(784) for image in test_x[:TEST_LIMIT]])
    logits = reference_logits(model.w1, model.w2, model.shift_l1, model.shift_l2, pixels)
    accuracy = float(np.mean(reference_digits(logits) == test_y[:TEST_LIMIT]))
    assert report["int_accuracy_test"] == pytest.approx(accuracy)
    raw = reference_logits(
        model.w1, model.w2, model.shift_l1, model.shift_l2, test_x[:TEST_LIMIT].reshape(-1, 784)
    )
    assert not np.array_equal(raw, logits)  # negative case: skipping the transform shows
    assert 0.0 <= report["int_accuracy_holdout"] <= 1.0


@pytest.mark.slow
def test_no_deskew_is_todays_training(tmp_path: Path, mnist_dir: Path, seed: int) -> None:
    plain = _train(mnist_dir, tmp_path / "a.npz", None, seed)
    none = _train(mnist_dir, tmp_path / "b.npz", "none", seed)
    a, b = load_model(tmp_path / "a.npz"), load_model(tmp_path / "b.npz")
    assert a == b and a.metadata == b.metadata
    assert a.input_transform is None and plain["input_transform"] is None
    with np.load(tmp_path / "b.npz") as npz:
        assert "input_transform" not in npz.files
    assert none["int_accuracy_test"] == plain["int_accuracy_test"]


def test_bad_deskew_mode(tmp_path: Path, mnist_dir: Path) -> None:
    from pynq_mnist.training.train import train

    with pytest.raises(ValueError, match="deskew must be one of"):
        train(data_dir=mnist_dir, out=tmp_path / "x.npz", deskew_mode="sideways")


@pytest.mark.slow
def test_cli_records_the_option(tmp_path: Path, mnist_dir: Path) -> None:
    out = tmp_path / "c.npz"
    command = [sys.executable, "-m", "pynq_mnist", "train", "--data", str(mnist_dir)]
    command += ["--out", str(out), "--epochs", "1", "--deskew", "after", "--no-progress"]
    command += ["--train-limit", str(TRAIN_LIMIT), "--test-limit", str(TEST_LIMIT)]
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "integer accuracy (hold-out)" in done.stdout
    report = json.loads(out.with_suffix(".json").read_text())
    assert "--deskew after" in report["command"]
    assert load_model(out).input_transform == "deskew"
