"""Backends agree bit for bit: sim (Verilated RTL behind pynq) vs cpu vs the golden reference.

The sim runs the unmodified ``pynq.lib.dma.DMA`` and ``MnistAccel`` on the
virtual board; every logit is compared, not just the argmax.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import model_logits
from pynq import Device
from reference import reference_digits, reference_logits
from sim_hooks import BOARD_KEYS

from pynq_mnist.backends import get_backend
from pynq_mnist.backends.cpu import CpuBackend
from pynq_mnist.backends.sim import SimBackend
from pynq_mnist.data import load_mnist
from pynq_mnist.errors import BackendUnavailable
from pynq_mnist.hardware import regmap
from pynq_mnist.model import Model, load_model

N_REAL = 512


@pytest.fixture(scope="module", params=BOARD_KEYS)
def sim_backend(request: pytest.FixtureRequest) -> Iterator[SimBackend]:
    """The sim backend on a virtual board of each PS family."""
    backend = SimBackend(board=request.param)
    yield backend
    backend.close()


def check_all_backends(sim: SimBackend, model: Model, images: np.ndarray) -> None:
    want = model_logits(model, images)
    sim.load(model)
    run = sim.run(images)
    logits, digits = run.logits, run.digits
    with CpuBackend() as cpu:
        cpu.load(model)
        cpu_logits = cpu.infer(images)
    assert logits.dtype == np.int32 and cpu_logits.dtype == np.int32
    np.testing.assert_array_equal(cpu_logits, want)
    np.testing.assert_array_equal(logits, want)
    np.testing.assert_array_equal(digits, reference_digits(want))


@pytest.mark.sim
def test_sim_equals_cpu_and_reference_on_real_test_images(
    sim_backend: SimBackend, mnist_dir: Path
) -> None:
    images, _ = load_mnist("test", mnist_dir)
    check_all_backends(sim_backend, load_model(), images[:N_REAL].reshape(N_REAL, regmap.N_IN))


def _extreme_models(rng: np.random.Generator) -> dict[str, Model]:
    shape1, shape2 = (regmap.N_HID, regmap.N_IN), (regmap.N_OUT, regmap.N_HID)

    def signs(shape: tuple[int, int]) -> np.ndarray:
        return (rng.choice([-127, 127], size=shape)).astype(np.int8)

    def full(shape: tuple[int, int], value: int) -> np.ndarray:
        return np.full(shape, value, np.int8)

    return {
        # |acc1| up to 784*255*127: h saturates at 255, logits reach 128*255*127
        "pm127_s0": Model.from_arrays(signs(shape1), signs(shape2), 0, 0),
        "pm127_s31": Model.from_arrays(signs(shape1), signs(shape2), 31, 31),
        "all127_s0": Model.from_arrays(full(shape1, 127), full(shape2, 127), 0, 31),
        "all127_w2neg": Model.from_arrays(full(shape1, 127), full(shape2, -128), 0, 0),
        "allneg128": Model.from_arrays(full(shape1, -128), full(shape2, -128), 0, 0),
        "random_s5": Model.from_arrays(
            rng.integers(-128, 128, shape1, dtype=np.int8),
            rng.integers(-128, 128, shape2, dtype=np.int8),
            5,
            17,
        ),
        "random_s16": Model.from_arrays(
            rng.integers(-128, 128, shape1, dtype=np.int8),
            rng.integers(-128, 128, shape2, dtype=np.int8),
            16,
            3,
        ),
    }


EXTREME = [
    "pm127_s0",
    "pm127_s31",
    "all127_s0",
    "all127_w2neg",
    "allneg128",
    "random_s5",
    "random_s16",
]


@pytest.mark.sim
@pytest.mark.parametrize("name", EXTREME)
def test_sim_equals_cpu_and_reference_on_extreme_models(
    sim_backend: SimBackend, rng: np.random.Generator, name: str
) -> None:
    model = _extreme_models(rng)[name]
    images = np.concatenate(
        [
            np.zeros((1, regmap.N_IN), np.uint8),
            np.full((1, regmap.N_IN), 255, np.uint8),
            rng.integers(0, 256, (14, regmap.N_IN), dtype=np.uint8),
            (rng.random((8, regmap.N_IN)) < 0.2).astype(np.uint8) * 255,
        ]
    )
    check_all_backends(sim_backend, model, images)


@pytest.mark.sim
def test_extreme_models_really_saturate(rng: np.random.Generator) -> None:
    """The extreme models exercise the clamps they are meant to (guards the test itself)."""
    model = _extreme_models(rng)["pm127_s0"]
    x = np.full(regmap.N_IN, 255, np.int64)
    acc1 = model.w1.astype(np.int64) @ x
    assert (acc1 > 255).any() and (acc1 < 0).any()  # both clamps of h are hit
    logits = reference_logits(model.w1, model.w2, 0, 0, x[None, :].astype(np.uint8))
    assert int(np.abs(logits).max()) > 2**16  # logits need more than 16 bits


@pytest.mark.sim
def test_get_backend_sim_sets_and_restores_the_active_device() -> None:
    had = "_active_device" in Device.__dict__
    before = Device.__dict__.get("_active_device")
    backend = get_backend("sim")
    try:
        assert backend.name == "sim"
        assert Device.active_device is backend.device
    finally:
        backend.close()
    assert ("_active_device" in Device.__dict__) == had
    assert Device.__dict__.get("_active_device") is before
    backend.close()  # idempotent


def test_fabric_off_board_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    from pynq_mnist.backends.fabric import FabricBackend
    from pynq_mnist.board import detect

    monkeypatch.setattr(detect, "FPGA_DEVICE_PATHS", (Path("/nonexistent/fpga_manager"),))
    assert detect.board_available() is False
    with pytest.raises(BackendUnavailable) as info:
        FabricBackend()
    assert "\n" not in str(info.value) and "not a PYNQ board" in str(info.value)
    with pytest.raises(BackendUnavailable):
        get_backend("fabric")


def test_missing_bitstream_lists_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pynq_mnist.board import detect

    monkeypatch.setattr(detect, "OVERLAYS_DIR", tmp_path)
    monkeypatch.setenv("BOARD", "Pynq-Z2")
    with pytest.raises(BackendUnavailable) as info:
        detect.find_bitstream()
    assert str(tmp_path / "Pynq-Z2" / "mnist.bit") in str(info.value)
    assert str(tmp_path / "Pynq-Z2" / "mnist.hwh") in str(info.value)
    monkeypatch.delenv("BOARD")
    with pytest.raises(BackendUnavailable, match=r"\$BOARD is not set"):
        detect.find_bitstream()
    (tmp_path / "Pynq-Z2").mkdir()
    (tmp_path / "Pynq-Z2" / "mnist.bit").write_bytes(b"")
    (tmp_path / "Pynq-Z2" / "mnist.hwh").write_text("")
    assert detect.find_bitstream("Pynq-Z2") == tmp_path / "Pynq-Z2" / "mnist.bit"


@pytest.mark.sim
def test_board_env_as_the_image_sets_it_finds_the_boards_overlay(
    sim_backend: SimBackend, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pynq_mnist.board import detect

    env_name = sim_backend.device.env_name
    assert env_name == {"pynq-z2": "Pynq-Z2", "kv260": "KV260"}[sim_backend.device.board.key]
    monkeypatch.setattr(detect, "OVERLAYS_DIR", tmp_path)
    monkeypatch.setenv("BOARD", env_name)
    (tmp_path / env_name).mkdir()
    (tmp_path / env_name / "mnist.bit").write_bytes(b"")
    (tmp_path / env_name / "mnist.hwh").write_text("")
    assert detect.find_bitstream() == tmp_path / env_name / "mnist.bit"


def test_overlay_binds_mnist_accel_by_vlnv() -> None:
    """pynq.Overlay would attach MnistAccel to the mnist_accel instance of the hwh."""
    from pynq import Overlay
    from pynq.overlay import _ip_drivers

    from pynq_mnist.board.accel import MnistAccel
    from pynq_mnist.board.overlay import MnistOverlay

    assert issubclass(MnistOverlay, Overlay)
    assert _ip_drivers[regmap.VLNV] is MnistAccel


def test_board_detection_does_not_import_pynq() -> None:
    """board_available() and ``import pynq_mnist`` must stay cheap: neither imports pynq."""
    import subprocess
    import sys

    code = (
        "import sys, pynq_mnist, pynq_mnist.board as b; from pynq_mnist.board import detect; "
        "detect.board_available(); pynq_mnist.get_backend('auto'); "
        "sys.exit(1 if 'pynq' in sys.modules else 0)"
    )
    root = Path(__file__).resolve().parents[2]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


@pytest.mark.board
def test_fabric_equals_cpu_on_real_test_images(mnist_dir: Path) -> None:
    images, _ = load_mnist("test", mnist_dir)
    images = images[:N_REAL].reshape(N_REAL, regmap.N_IN)
    model = load_model()
    with get_backend("fabric") as fabric, CpuBackend() as cpu:
        fabric.load(model)
        cpu.load(model)
        np.testing.assert_array_equal(fabric.infer(images), cpu.infer(images))


@pytest.mark.sim
def test_a_deskew_model_sees_the_same_deskewed_pixels_on_every_backend(
    sim_backend: SimBackend, mnist_dir: Path
) -> None:
    """The model's input transform runs once, before the backend: cpu and the RTL agree."""
    from pynq_mnist import Classifier
    from pynq_mnist.deskew import deskew

    plain = load_model()
    model = Model.from_arrays(
        plain.w1, plain.w2, plain.shift_l1, plain.shift_l2, input_transform="deskew"
    )
    images, _ = load_mnist("test", mnist_dir)
    images = images[:48].reshape(48, -1)
    pixels = deskew(images)
    assert np.sum(pixels != images) > 48 * 50  # the transform really moves ink
    want = model_logits(plain, pixels)
    results = [Classifier(model, backend) for backend in (CpuBackend(), sim_backend)]
    for result in (clf.classify(images) for clf in results):
        np.testing.assert_array_equal(result.network_input, pixels)
        np.testing.assert_array_equal(result.logits, want)
        np.testing.assert_array_equal(result.digits, reference_digits(want))
    untransformed = Classifier(plain, CpuBackend()).classify(images)
    np.testing.assert_array_equal(untransformed.network_input, images)
    np.testing.assert_array_equal(untransformed.logits, model_logits(plain, images))


def test_sim_board_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from pynq_mnist.backends.sim import SimBackend

    monkeypatch.setenv("PYNQ_MNIST_SIM_BOARD", "KV260 ")
    with SimBackend() as backend:
        assert backend.device.board.key == "kv260"
        assert backend.dma.description["parameters"]["c_addr_width"] == "64"
    monkeypatch.setenv("PYNQ_MNIST_SIM_BOARD", "zc104")
    with pytest.raises(BackendUnavailable) as info:
        SimBackend()
    assert str(info.value) == (
        "$PYNQ_MNIST_SIM_BOARD='zc104' is not a board: choose one of "
        "pynq-z1, pynq-z2, kv260, zcu104, ultra96v2"
    )
