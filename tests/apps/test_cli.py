"""The pynq-mnist command line: outputs against the golden model, exit codes, error lines."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reference import reference_digits, reference_logits, reference_seed_digits

import pynq_mnist
from pynq_mnist.apps import cli
from pynq_mnist.backends import Backend
from pynq_mnist.errors import AcceleratorError, BackendUnavailable, ConfigError

SAMPLES = Path(pynq_mnist.__file__).resolve().parent / "samples"
DIGIT_SAMPLES = sorted(SAMPLES.glob("digit_*_*.png"))
REPO_ROOT = Path(__file__).resolve().parents[2]
JSON_KEYS = {"path", "digit", "confidence", "logits", "seed_digit", "backend", "doubt"}
MODEL_SEED = 20261125
TEXT_LINE = re.compile(
    r"^(?P<path>.+): digit (?P<digit>\d) \(confidence (?P<conf>[01]\.\d{3})(, doubtful: .+)?\)$"
)


@pytest.fixture
def model_file(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A random model in the documented npz format, written without pynq_mnist.

    Its own fixed seed: the shifts are chosen so that, for these weights and the
    sample digits, the seed digit differs from the digit on some images.
    """
    rng = np.random.default_rng(MODEL_SEED)
    arrays = {
        "w1": rng.integers(-128, 128, (128, 784)).astype(np.int8),
        "w2": rng.integers(-128, 128, (10, 128)).astype(np.int8),
        "shift_l1": np.array(14),
        # Coarse enough that the seed digit (argmax after >> s2 and clipping) often differs.
        "shift_l2": np.array(12),
    }
    path = tmp_path / "random.npz"
    np.savez(path, **arrays, metadata=np.array(json.dumps({"source": "test_cli"})))
    return path, arrays


def _expected(arrays: dict[str, np.ndarray], paths: list[Path]) -> np.ndarray:
    """Reference logits of the MNIST samples, pixels read straight from the PNGs."""
    pixels = np.stack([np.asarray(Image.open(p), dtype=np.uint8).reshape(784) for p in paths])
    return reference_logits(
        arrays["w1"], arrays["w2"], int(arrays["shift_l1"]), int(arrays["shift_l2"]), pixels
    )


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pynq_mnist", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )


def _one_error_line(stderr: str, *needles: str) -> None:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("pynq-mnist: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _records(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_matches_reference(model_file, capsys: pytest.CaptureFixture[str]) -> None:
    path, arrays = model_file
    argv = ["infer", *map(str, DIGIT_SAMPLES), "--json", "--model", str(path), "--backend", "cpu"]
    assert cli.main(argv) == 0
    out = capsys.readouterr()
    assert out.err == ""
    records = _records(out.out)
    expected = _expected(arrays, DIGIT_SAMPLES)
    assert [r["path"] for r in records] == list(map(str, DIGIT_SAMPLES))
    for record, logits in zip(records, expected, strict=True):
        assert set(record) == JSON_KEYS
        assert record["logits"] == [int(v) for v in logits]
        assert all(type(v) is int for v in record["logits"])
        assert record["backend"] == "cpu"
        assert 0.1 <= record["confidence"] <= 1.0
    assert [r["digit"] for r in records] == list(reference_digits(expected))
    seeds = reference_seed_digits(expected, int(arrays["shift_l2"]))
    assert [r["seed_digit"] for r in records] == list(seeds)
    assert (seeds != reference_digits(expected)).any(), "the model cannot tell seed from digit"


def test_bundled_model_reads_every_sample(capsys: pytest.CaptureFixture[str]) -> None:
    samples = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))
    assert cli.main(["infer", *map(str, samples), "--backend", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = [(m["path"], int(m["digit"])) for m in map(TEXT_LINE.match, lines) if m]
    assert found == [(str(p), int(p.name.split("_")[1])) for p in samples]


def test_two_digits_are_reported_as_doubtful(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # "10" on white paper: the answer (whatever digit) must say it is doubtful.
    page = np.full((120, 200), 255, dtype=np.uint8)
    one, zero = (np.asarray(Image.open(DIGIT_SAMPLES[d]), dtype=np.uint8) for d in (1, 0))
    page[30:86, 30:86] = 255 - np.kron(one, np.ones((2, 2), dtype=np.uint8))
    page[30:86, 100:156] = 255 - np.kron(zero, np.ones((2, 2), dtype=np.uint8))
    ten = tmp_path / "ten.png"
    Image.fromarray(page).save(ten)
    argv = ["infer", str(ten), str(DIGIT_SAMPLES[3]), "--backend", "cpu"]
    assert cli.main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith(", doubtful: two digit-sized ink marks)"), lines[0]
    assert "doubtful" not in lines[1]
    assert cli.main([*argv, "--json"]) == 0
    records = _records(capsys.readouterr().out)
    assert [r["doubt"] for r in records] == ["two digit-sized ink marks", None]


def test_reference_comparison_catches_a_flipped_weight(model_file) -> None:
    _, arrays = model_file
    expected = _expected(arrays, DIGIT_SAMPLES)
    flipped = dict(arrays, w2=arrays["w2"].copy())
    flipped["w2"][int(reference_digits(expected)[0]), 0] ^= np.int8(0x40)
    assert not np.array_equal(_expected(flipped, DIGIT_SAMPLES), expected)


def test_text_output(model_file, capsys: pytest.CaptureFixture[str]) -> None:
    path, arrays = model_file
    samples = [*DIGIT_SAMPLES[:3], *sorted(SAMPLES.glob("photo_*.jpg"))]
    assert cli.main(["infer", *map(str, samples), "--model", str(path), "--backend", "cpu"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(samples)
    matches = [TEXT_LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [m["path"] for m in matches if m] == list(map(str, samples))
    digits = reference_digits(_expected(arrays, samples[:3]))
    assert [int(m["digit"]) for m in matches[:3] if m] == list(digits)


def test_bad_files_are_reported_and_the_rest_classified(
    model_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, arrays = model_file
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(DIGIT_SAMPLES[0].read_bytes()[:60])
    blank = tmp_path / "blank.png"
    Image.new("L", (40, 40), 255).save(blank)
    missing = tmp_path / "missing.png"
    good = [DIGIT_SAMPLES[1], DIGIT_SAMPLES[2]]
    argv = [str(good[0]), str(truncated), str(missing), str(blank), str(good[1])]
    assert cli.main(["infer", *argv, "--json", "--model", str(path), "--backend", "cpu"]) == 1
    out = capsys.readouterr()
    errors = out.err.strip().splitlines()
    assert len(errors) == 3
    for line, bad in zip(errors, [truncated, missing, blank], strict=True):
        assert line.startswith(f"pynq-mnist: error: {bad}: "), line
    assert "Traceback" not in out.err
    records = _records(out.out)
    assert [r["path"] for r in records] == list(map(str, good))
    assert [r["logits"] for r in records] == _expected(arrays, good).tolist()


def test_unexpected_exception_costs_only_its_file(
    model_file, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pynq_mnist.preprocess

    path, arrays = model_file
    cursed = DIGIT_SAMPLES[1]
    real_read_digit = pynq_mnist.preprocess.read_digit

    def read_digit(name: str, **kwargs: int) -> pynq_mnist.preprocess.Digit:
        if Path(name) == cursed:  # what Pillow 9.0 raised for Image.Resampling
            raise AttributeError("module 'PIL.Image' has no attribute 'Resampling'")
        return real_read_digit(name, **kwargs)

    monkeypatch.setattr(pynq_mnist.preprocess, "read_digit", read_digit)
    good = [DIGIT_SAMPLES[0], DIGIT_SAMPLES[2]]
    argv = [str(good[0]), str(cursed), str(good[1]), "--json", "--model", str(path)]
    assert cli.main(["infer", *argv, "--backend", "cpu"]) == 1
    out = capsys.readouterr()
    _one_error_line(out.err, f"error: {cursed}: ", "AttributeError", "'Resampling'")
    records = _records(out.out)
    assert [r["path"] for r in records] == list(map(str, good))
    assert [r["logits"] for r in records] == _expected(arrays, good).tolist()


def test_all_files_bad(model_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = model_file
    assert cli.main(["infer", str(tmp_path / "a.png"), "--model", str(path)]) == 1
    out = capsys.readouterr()
    assert out.out == ""
    _one_error_line(out.err, "a.png")


def test_subprocess_bad_file_among_good(model_file, tmp_path: Path) -> None:
    path, arrays = model_file
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    result = _run(
        "infer", str(DIGIT_SAMPLES[3]), str(bad), "--model", str(path), "--backend", "cpu", "--json"
    )
    assert result.returncode == 1
    _one_error_line(result.stderr, str(bad))
    (record,) = _records(result.stdout)
    assert record["logits"] == _expected(arrays, [DIGIT_SAMPLES[3]])[0].tolist()


def test_unknown_backend_exit_2(model_file, capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = model_file
    argv = ["infer", str(DIGIT_SAMPLES[0]), "--model", str(path), "--backend", "gpu"]
    assert cli.main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""
    _one_error_line(out.err, "gpu")


def test_missing_model_exit_2(tmp_path: Path) -> None:
    result = _run("infer", str(DIGIT_SAMPLES[0]), "--model", str(tmp_path / "none.npz"))
    assert result.returncode == 2
    assert result.stdout == ""
    _one_error_line(result.stderr, "none.npz")


def test_malformed_model_exit_2(
    model_file, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, arrays = model_file
    bad = tmp_path / "bad.npz"
    np.savez(bad, **dict(arrays, w1=arrays["w1"][:, :100]))
    assert cli.main(["infer", str(DIGIT_SAMPLES[0]), "--model", str(bad)]) == 2
    _one_error_line(capsys.readouterr().err, "bad.npz", "w1")
    not_npz = tmp_path / "text.npz"
    not_npz.write_text("not a zip\n")
    assert cli.main(["infer", str(DIGIT_SAMPLES[0]), "--model", str(not_npz)]) == 2
    _one_error_line(capsys.readouterr().err, "text.npz")


def test_sim_without_verilator_exit_2(model_file) -> None:
    path, _ = model_file
    result = _run(
        "infer",
        str(DIGIT_SAMPLES[0]),
        "--model",
        str(path),
        "--backend",
        "sim",
        env={"PYNQ_MNIST_VERILATOR": "/nonexistent/verilator"},
    )
    assert result.returncode == 2
    assert result.stdout == ""
    _one_error_line(result.stderr, "sim", "/nonexistent/verilator")


def test_fabric_off_board_exit_2_on_board_works(model_file) -> None:
    from pynq_mnist.board.detect import board_available

    path, _ = model_file
    result = _run("infer", str(DIGIT_SAMPLES[0]), "--model", str(path), "--backend", "fabric")
    if board_available():
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 2
    assert result.stdout == ""
    _one_error_line(result.stderr, "fabric")


def test_backend_unavailable_during_setup_exit_2(
    model_file, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pynq_mnist.classifier

    def unavailable(name: str | None = None) -> None:
        raise BackendUnavailable(f"{name}: no Verilator on this machine\n(second line)")

    monkeypatch.setattr(pynq_mnist.classifier, "get_backend", unavailable)
    path, _ = model_file
    argv = ["infer", str(DIGIT_SAMPLES[0]), "--model", str(path), "--backend", "sim"]
    assert cli.main(argv) == 2
    _one_error_line(capsys.readouterr().err, "sim: no Verilator on this machine (second line)")


class _FailingBackend(Backend):
    """A backend that fails at load (setup) or at infer (run time)."""

    name = "failing"

    def __init__(self, at: str) -> None:
        self.at = at

    def load(self, model: object) -> None:
        if self.at == "load":
            raise ConfigError("accelerator NUM_BANKS register reads 48, expected 32, 64 or 128")

    def infer(self, images: np.ndarray) -> np.ndarray:
        raise AcceleratorError("STATUS=0x0000000a: ERROR set, ERROR_CAUSE=0x1 (EARLY_TLAST)")


@pytest.mark.parametrize(("at", "status"), [("load", 2), ("infer", 1)])
def test_backend_failure_is_one_line(
    model_file,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    at: str,
    status: int,
) -> None:
    import pynq_mnist.classifier

    monkeypatch.setattr(pynq_mnist.classifier, "get_backend", lambda name: _FailingBackend(at))
    path, _ = model_file
    assert cli.main(["infer", str(DIGIT_SAMPLES[0]), "--model", str(path)]) == status
    out = capsys.readouterr()
    assert out.out == ""
    _one_error_line(out.err, "NUM_BANKS" if at == "load" else "EARLY_TLAST")


@pytest.mark.sim
@pytest.mark.slow
def test_sim_backend_matches_reference(model_file) -> None:
    path, arrays = model_file
    samples = DIGIT_SAMPLES[:4]
    result = _run("infer", *map(str, samples), "--model", str(path), "--backend", "sim", "--json")
    assert result.returncode == 0, result.stderr
    records = _records(result.stdout)
    assert [r["backend"] for r in records] == ["sim"] * len(samples)
    assert [r["logits"] for r in records] == _expected(arrays, samples).tolist()


def test_infer_imports_neither_torch_nor_pynq(model_file) -> None:
    path, _ = model_file
    code = (
        "import sys; from pynq_mnist.apps.cli import main; "
        f"rc = main(['infer', {str(DIGIT_SAMPLES[0])!r}, '--model', {str(path)!r}, "
        "'--backend', 'cpu']); "
        "print(sorted(m for m in ('torch', 'pynq') if m in sys.modules), rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT
    )
    assert result.stdout.splitlines()[-1] == "[] 0"


def test_json_stdout_stays_clean_with_verbose_logging(
    model_file, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = model_file
    argv = ["-vv", "infer", *map(str, DIGIT_SAMPLES[:2]), "--json", "--model", str(path)]
    package_logger = logging.getLogger("pynq_mnist")
    try:
        assert cli.main([*argv, "--backend", "cpu"]) == 0
    finally:
        package_logger.setLevel(logging.NOTSET)
    assert len(_records(capsys.readouterr().out)) == 2


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"pynq-mnist {pynq_mnist.__version__}"


def test_no_command_is_a_usage_error() -> None:
    result = _run()
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_subcommand_module_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(cli.DELEGATED, "train", ("pynq_mnist._not_written_yet", "train"))
    assert cli.main(["train", "--epochs", "1"]) == 2
    _one_error_line(capsys.readouterr().err, "'train' is not available", "_not_written_yet")


def test_subcommand_is_delegated(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[argparse.Namespace] = []
    module = types.ModuleType("pynq_mnist._fake_bench")

    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--limit", type=int, default=10)

    def run(args: argparse.Namespace) -> int:
        seen.append(args)
        return 3

    module.add_arguments = add_arguments  # type: ignore[attr-defined]
    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.DELEGATED, "bench", (module.__name__, "bench"))
    assert cli.main(["-v", "bench", "--limit", "5"]) == 3
    assert seen[0].limit == 5 and seen[0].command == "bench" and seen[0].verbose == 1


def test_delegated_error_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = types.ModuleType("pynq_mnist._fake_train")
    module.add_arguments = lambda parser: None  # type: ignore[attr-defined]

    def run(args: argparse.Namespace) -> int:
        raise pynq_mnist.errors.DataError("MNIST file not found: /x/t10k-images-idx3-ubyte.gz")

    module.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(cli.DELEGATED, "train", (module.__name__, "train"))
    assert cli.main(["train"]) == 1
    _one_error_line(capsys.readouterr().err, "t10k-images-idx3-ubyte.gz")


@pytest.mark.parametrize("command", sorted(cli.DELEGATED))
def test_delegated_help_is_reachable(command: str) -> None:
    result = _run(command, "--help")
    assert "Traceback" not in result.stderr
    if result.returncode == 0:
        assert f"usage: pynq-mnist {command}" in result.stdout
    else:
        assert result.returncode == 2
        _one_error_line(result.stderr, "is not available")


def test_train_help_and_train_without_torch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No torch installed: --help still works and both say how to install it."""
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch fails
    monkeypatch.delitem(sys.modules, "pynq_mnist.train", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["train", "--help"])
    assert exit_info.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert help_text.startswith("usage: pynq-mnist train")
    assert (
        "train the MLP and export the int8 model. 'train' needs torch, which is not installed: "
        "pip install 'pynq-mnist[train]'."
    ) in help_text
    assert cli.main(["train", "--epochs", "1"]) == 2
    assert capsys.readouterr().err == (
        "pynq-mnist: error: 'train' needs torch, which is not installed: "
        "pip install 'pynq-mnist[train]'\n"
    )


def test_simulator_build_shows_a_progress_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first sim start compiles for ~30 s: the command line says so before and after."""
    from pynq_mnist.sim import build as verilator

    def fake_compile(*args: object) -> float:
        final = args[-1]
        final.mkdir(parents=True)  # type: ignore[attr-defined]
        (final / verilator.LIBRARY_NAME).write_bytes(b"")  # type: ignore[operator]
        return 26.0

    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path))
    monkeypatch.setattr(verilator, "_compile", fake_compile)
    monkeypatch.setattr(
        verilator,
        "find_toolchain",
        lambda: verilator.Toolchain(verilator=Path("v"), version="5", env={}, cxx="g++"),
    )
    cli._configure_logging(0)
    assert verilator.build_library(64).built
    assert capsys.readouterr().err.splitlines() == [
        "sim: building the simulator model (NUM_BANKS=64; once per RTL version, about half a "
        "minute)...",
        "sim: built the simulator model in 26.0 s",
    ]
