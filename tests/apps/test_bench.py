"""The host-vs-fabric benchmark: JSON shape, exit codes, table, plot, module entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pynq_mnist.apps import bench
from pynq_mnist.board import detect
from pynq_mnist.hardware import regmap
from pynq_mnist.model import Model, save_model

REPO_ROOT = Path(__file__).resolve().parents[2]
LIMIT = 60
BATCH = 25


@pytest.fixture
def model_path(tmp_path: Path, rng: np.random.Generator) -> Path:
    model = Model.from_arrays(
        rng.integers(-40, 40, (regmap.N_HID, regmap.N_IN), dtype=np.int8),
        rng.integers(-128, 128, (regmap.N_OUT, regmap.N_HID), dtype=np.int8),
        10,
        6,
    )
    path = tmp_path / "model.npz"
    save_model(model, path)
    return path


@pytest.mark.sim
def test_bench_cpu_sim_json_table_and_plot(
    tmp_path: Path, model_path: Path, mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_path, png_path = tmp_path / "bench.json", tmp_path / "bench.png"
    argv = [
        "--backends", "cpu,sim", "--data", str(mnist_dir), "--limit", str(LIMIT),
        "--batch", str(BATCH), "--latency-calls", "5", "--model", str(model_path),
        "--json", str(json_path), "--plot", str(png_path), "--no-progress",
    ]  # fmt: skip
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    first, second = out.splitlines()[:2]
    assert first == f"data: MNIST test set, 10000 images from {mnist_dir}; the first {LIMIT} used"
    assert second.startswith("| backend | accuracy |")
    assert "| cpu |" in out and "| sim |" in out

    report = json.loads(json_path.read_text())
    assert report["n"] == LIMIT
    assert set(report["backends"]) == {"cpu", "sim"}
    cpu, sim = report["backends"]["cpu"], report["backends"]["sim"]
    for r in (cpu, sim):
        assert 0.0 <= r["accuracy"] <= 1.0
        assert r["images_per_s"] > 0
        assert r["identical_to_cpu"] == LIMIT
        assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"]
        assert np.asarray(r["confusion"]).sum() == LIMIT
    assert sim["accuracy"] == cpu["accuracy"]
    assert sim["batches"] == -(-LIMIT // BATCH)
    assert 0 < sim["register_accesses_per_batch"] <= 12
    assert sim["register_accesses_source"] == "virtual device counters"
    # layer 1 alone needs N_IN * N_HID / NUM_BANKS MAC cycles per image
    assert sim["cycles_per_image"] >= regmap.N_IN * regmap.N_HID / regmap.SUPPORTED_NUM_BANKS[-1]
    assert sim["images_per_s_at_fclk"] == pytest.approx(
        regmap.FCLK_MHZ * 1e6 / sim["cycles_per_image"]
    )
    assert sim["hw_digit_mismatches"] == 0
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_benchmark_library_returns_data_and_prints_nothing(
    capsys: pytest.CaptureFixture[str], rng: np.random.Generator
) -> None:
    model = Model.from_arrays(
        rng.integers(-40, 40, (regmap.N_HID, regmap.N_IN), dtype=np.int8),
        rng.integers(-128, 128, (regmap.N_OUT, regmap.N_HID), dtype=np.int8),
        10,
        6,
    )
    images = rng.integers(0, 256, (30, regmap.N_IN), dtype=np.uint8)
    labels = rng.integers(0, 10, 30)
    report = bench.benchmark(["cpu"], images, labels, model, batch=7, latency_calls=3)
    assert capsys.readouterr() == ("", "")
    assert report["n"] == 30 and list(report["backends"]) == ["cpu"]
    r = report["backends"]["cpu"]
    from pynq_mnist.contract import exact_logits as forward_logits

    assert r["accuracy"] == pytest.approx(
        np.mean(forward_logits(model, images).argmax(1) == labels)
    )
    assert "| cpu |" in bench.render_table(report)


def test_unavailable_backend_exits_2_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
    mnist_dir: Path,
    model_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(detect, "FPGA_DEVICE_PATHS", (Path("/nonexistent/fpga_manager"),))
    argv = ["--backends", "cpu,fabric", "--data", str(mnist_dir), "--limit", "10",
            "--model", str(model_path), "--no-progress"]  # fmt: skip
    assert bench.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "fabric" in captured.err


def test_bad_backend_list_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--backends", "cpu,gpu", "--no-progress"]) == 2
    assert "gpu" in capsys.readouterr().err


def test_module_entry_point(mnist_dir: Path, model_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pynq_mnist.apps.bench", "--backends", "cpu",
         "--data", str(mnist_dir), "--limit", "20", "--latency-calls", "2",
         "--model", str(model_path), "--no-progress"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "| cpu |" in proc.stdout and "20/20" in proc.stdout


def test_a_deskew_model_is_measured_on_deskewed_pixels(
    mnist_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench runs the model's input transform once, before every backend, and says its cost."""
    from reference import reference_deskew, reference_digits, reference_logits

    from pynq_mnist.data import load_mnist
    from pynq_mnist.model import load_model

    model = load_model(Path(bench.__file__).resolve().parents[1] / "models" / "deskew.npz")
    assert model.input_transform == "deskew"
    images, labels = load_mnist("test", mnist_dir)
    images, labels = images[:60], labels[:60]
    report = bench.benchmark(["cpu"], images, labels, model, batch=25, latency_calls=1)
    pixels = np.stack([reference_deskew(image) for image in images]).reshape(60, -1)
    want = reference_logits(model.w1, model.w2, model.shift_l1, model.shift_l2, pixels)
    assert report["input_transform"] == "deskew" and report["input_transform_s"] > 0
    assert report["backends"]["cpu"]["accuracy"] == np.mean(reference_digits(want) == labels)
    line = bench._transform_line(report)
    assert line.startswith("input transform deskew on this host: ") and "% on cpu" in line
    assert capsys.readouterr().out == ""
