"""Training smoke runs on a small MNIST subset: export, report, determinism, CLI.

torch is imported only inside the tests (through pynq_mnist.train), so the
rest of the suite collects without it; CI installs torch, so nothing skips.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from reference import reference_digits, reference_logits, reference_seed_digits

from pynq_mnist import contract
from pynq_mnist.data import load_mnist, sha256_of_files
from pynq_mnist.model import MAX_SHIFT, load_model

TRAIN_LIMIT = 2000
TEST_LIMIT = 1000
REFERENCE_IMAGES = 200  # the golden model is a slow per-image loop
REPO_ROOT = Path(__file__).resolve().parents[2]


def _train(mnist_dir: Path, out: Path, recipe: str, seed: int, train_limit: int = TRAIN_LIMIT):
    from pynq_mnist.training.train import train

    return train(
        recipe=recipe,
        data_dir=mnist_dir,
        out=out,
        epochs=1,
        seed=seed,
        threads=1,
        train_limit=train_limit,
        test_limit=TEST_LIMIT,
        progress=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["qat", "seed"])
def test_smoke_export_and_report(tmp_path: Path, mnist_dir: Path, seed: int, recipe: str) -> None:
    out = tmp_path / "m.npz"
    report = _train(mnist_dir, out, recipe, seed)
    model = load_model(out)
    assert model.metadata["recipe"] == recipe
    assert model.metadata["seed"] == seed
    assert 0 <= model.shift_l1 <= MAX_SHIFT and 0 <= model.shift_l2 <= MAX_SHIFT
    assert model.logit_scale == pytest.approx(report["logit_scale"])

    written = json.loads(out.with_suffix(".json").read_text())
    assert written == report
    for key in ("float_accuracy_test", "int_accuracy_test", "wall_time_s", "torch_version"):
        assert key in report
    assert (report["shift_l1"], report["shift_l2"]) == (model.shift_l1, model.shift_l2)
    assert report["data_sha256"] == sha256_of_files(mnist_dir)
    assert report["test_images"] == TEST_LIMIT
    assert report["train_images"] + report["holdout_images"] == TRAIN_LIMIT

    # The reported integer accuracy is the model's, per the independent golden model.
    test_x, test_y = load_mnist("test", mnist_dir)
    test_x, test_y = test_x[:TEST_LIMIT], test_y[:TEST_LIMIT]
    logits = contract.exact_logits(model, test_x)
    accuracy = float(np.mean(reference_digits(logits) == test_y))
    assert report["int_accuracy_test"] == pytest.approx(accuracy)
    ref = reference_logits(
        model.w1, model.w2, model.shift_l1, model.shift_l2, test_x[:REFERENCE_IMAGES]
    )
    np.testing.assert_array_equal(logits[:REFERENCE_IMAGES], ref)
    seed_acc = float(np.mean(reference_seed_digits(logits, model.shift_l2) == test_y))
    assert report["seed_digit_accuracy_test"] == pytest.approx(seed_acc)
    assert accuracy > 0.5  # chance is 0.1


@pytest.mark.slow
def test_seed_recipe_shifts_follow_the_notebook_rule(
    tmp_path: Path, mnist_dir: Path, seed: int
) -> None:
    """s1 = round(-log2(S_in S_w1 / S_h)), s2 = round(-log2(S_h S_w2 / (10/127)))."""
    model = load_model(_train(mnist_dir, tmp_path / "s.npz", "seed", seed)["model_file"])
    meta = model.metadata
    s_h = meta["calibration_hidden_scale"]
    s1 = round(-math.log2(meta["w1_scale"] / 255 / s_h))
    s2 = round(-math.log2(s_h * meta["w2_scale"] / (10 / 127)))
    assert (model.shift_l1, model.shift_l2) == (min(31, max(0, s1)), min(31, max(0, s2)))


@pytest.mark.slow
def test_same_seed_same_model(tmp_path: Path, mnist_dir: Path, seed: int) -> None:
    a = load_model(_train(mnist_dir, tmp_path / "a.npz", "qat", seed, 1000)["model_file"])
    b = load_model(_train(mnist_dir, tmp_path / "b.npz", "qat", seed, 1000)["model_file"])
    c = load_model(_train(mnist_dir, tmp_path / "c.npz", "qat", seed + 1, 1000)["model_file"])
    assert a == b
    assert a.metadata == b.metadata
    assert a != c


def test_bad_arguments(tmp_path: Path, mnist_dir: Path) -> None:
    from pynq_mnist.training.train import train

    with pytest.raises(ValueError, match="'adam'"):
        train(recipe="adam", data_dir=mnist_dir, out=tmp_path / "x.npz")
    with pytest.raises(ValueError, match="epochs must be >= 1, got 0"):
        train(data_dir=mnist_dir, out=tmp_path / "x.npz", epochs=0)
    with pytest.raises(ValueError, match=r"output directory .*nowhere does not exist"):
        train(data_dir=mnist_dir, out=tmp_path / "nowhere" / "x.npz")
    with pytest.raises(ValueError, match="10 training images, need at least 128"):
        train(data_dir=mnist_dir, out=tmp_path / "x.npz", train_limit=10, progress=False)


@pytest.mark.slow
def test_module_entry_point(tmp_path: Path, mnist_dir: Path) -> None:
    """``python -m pynq_mnist.train`` trains, prints a summary, and fails with one error line."""
    out = tmp_path / "cli.npz"
    args = [
        sys.executable,
        "-m",
        "pynq_mnist.training.train",
        "--data",
        str(mnist_dir),
        "--out",
        str(out),
    ]
    small = ["--epochs", "1", "--train-limit", "600", "--test-limit", "200", "--threads", "1"]
    done = subprocess.run(
        [*args, *small, "--no-progress"], cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "integer accuracy (test):" in done.stdout
    assert load_model(out).metadata["recipe"] == "qat"
    assert out.with_suffix(".json").is_file()

    failed = subprocess.run(
        [*args, "--data", str(tmp_path / "nowhere")],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1
    assert "train-images-idx3-ubyte" in failed.stderr and "Traceback" not in failed.stderr
