"""The board's code path on the virtual board: the generated .hwh, pynq's parser, pynq.Overlay.

``MnistOverlay`` and ``FabricBackend`` (unmodified) run on a ``VirtualDevice``
that downloads a stand-in ``.bit`` beside the ``.hwh`` that ``pynq_mnist.hwh``
generates from regmap.py; pynq's own parser (pynqmetadata) reads it, its
``Clocks`` code sets FCLK0 from it, its VLNV binding picks the drivers. The
logits are checked against the independent reference in ``tests/reference.py``.
Select these tests with ``-m board_stack`` (they run on every pynq lane).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pynq
import pytest
from helpers import model_logits
from pynqmetadata.frontends import Metadata
from pynqmetadata.views.runtime import RuntimeMetadataParser
from reference import reference_digits
from sim_hooks import reset_counters

from pynq_mnist.backends import get_backend
from pynq_mnist.backends.fabric import FabricBackend
from pynq_mnist.backends.sim import SimBackend
from pynq_mnist.board import detect, overlay
from pynq_mnist.data import load_mnist
from pynq_mnist.errors import AcceleratorError, BackendUnavailable, ConfigError
from pynq_mnist.hardware import hwh, regmap
from pynq_mnist.model import load_model
from pynq_mnist.sim.bitstream import STANDIN_MAGIC, standin_bitstream
from pynq_mnist.sim.device import MappedWindow, VirtualDevice

pytestmark = pytest.mark.board_stack

NAMINGS = {
    "script": hwh.BlockDesign(),
    "gui": hwh.BlockDesign(accel="mnist_accel_0", dma="axi_dma_0"),
    "hierarchy": hwh.BlockDesign(accel="accel/mnist_accel_0", dma="accel/axi_dma_0"),
}
MMAP_IMAGES = 1000


def parse(design: hwh.BlockDesign) -> RuntimeMetadataParser:
    return RuntimeMetadataParser(Metadata(input=standin_bitstream(design).with_suffix(".hwh")))


@pytest.fixture(scope="module")
def test_images(mnist_dir: Path) -> np.ndarray:
    images, _ = load_mnist("test", mnist_dir)
    return images.reshape(len(images), regmap.N_IN)


# --- the generated .hwh ------------------------------------------------------------


def test_every_register_and_field_has_access_and_bits() -> None:
    root = ET.fromstring(hwh.REFERENCE_PATH.read_bytes())
    assert (root.tag, root.get("EDWVERSION"), root.get("VIVADOVERSION")) == (
        "EDKSYSTEM",
        "1.2",
        "2024.1",
    )
    registers = list(root.iter("REGISTER"))
    assert len(registers) == len(regmap.REGISTERS) + len(regmap.DMA_REGISTERS)
    for element in [*registers, *root.iter("FIELD")]:
        props = {p.get("NAME"): p.get("VALUE") for p in element.findall("PROPERTY")}
        assert props.get("ACCESS") in ("read-only", "read-write", "write-only"), element.get("NAME")
        keys = {"BIT_OFFSET", "BIT_WIDTH"} if element.tag == "FIELD" else {"ADDRESS_OFFSET", "SIZE"}
        assert keys <= set(props), element.get("NAME")


def test_streams_share_a_bus_both_ways() -> None:
    """As Vivado writes it: both ends of a stream carry the driver's BUSNAME, ports connect."""
    root = ET.fromstring(hwh.render(NAMINGS["hierarchy"]).encode())
    modules = {m.get("FULLNAME"): m for m in root.iter("MODULE")}
    accel, dma = modules["/accel/mnist_accel_0"], modules["/accel/axi_dma_0"]

    def bus(module: ET.Element, name: str) -> ET.Element:
        return next(b for b in module.iter("BUSINTERFACE") if b.get("NAME") == name)

    assert bus(dma, "M_AXIS_MM2S").get("BUSNAME") == bus(accel, "s_axis").get("BUSNAME")
    assert bus(accel, "m_axis").get("BUSNAME") == bus(dma, "S_AXIS_S2MM").get("BUSNAME")
    tdata = next(p for p in accel.iter("PORT") if p.get("NAME") == "s_axis_tdata")
    assert [(c.get("INSTANCE"), c.get("PORT")) for c in tdata.iter("CONNECTION")] == [
        ("accel_axi_dma_0", "m_axis_mm2s_tdata")
    ]


@pytest.mark.parametrize("naming", NAMINGS)
def test_pynq_parser_reads_the_design(naming: str) -> None:
    design = NAMINGS[naming]
    parser = parse(design)
    accel, dma = parser.ip_dict[design.accel], parser.ip_dict[design.dma]
    assert (accel["type"], accel["phys_addr"], accel["addr_range"]) == (
        regmap.VLNV,
        regmap.ACCEL_BASE,
        regmap.ACCEL_RANGE,
    )
    assert accel["registers"] == regmap.REGISTERS
    assert accel["parameters"]["NUM_BANKS"] == str(design.num_banks)
    assert (dma["type"], dma["phys_addr"], dma["addr_range"]) == (
        regmap.DMA_VLNV,
        regmap.DMA_BASE,
        regmap.DMA_RANGE,
    )
    assert dma["registers"] == regmap.DMA_REGISTERS
    assert {k: dma["parameters"][k] for k in regmap.DMA_PARAMETERS} == regmap.DMA_PARAMETERS
    assert parser.clock_dict[0]["enable"] == 1
    assert (parser.clock_dict[0]["divisor0"], parser.clock_dict[0]["divisor1"]) == (5, 2)
    assert [parser.clock_dict[i]["enable"] for i in (1, 2, 3)] == [0, 0, 0]
    assert overlay.find_accelerator(parser.ip_dict, parser.systemgraph, naming) == (
        design.accel,
        design.dma,
    )


def test_fclk_divisors_are_the_ps7_wizard_s() -> None:
    assert hwh.fclk_divisors(100) == (5, 2)  # PYNQ base overlay: FCLK0 5 x 2
    assert hwh.fclk_divisors(200) == (5, 1)
    with pytest.raises(ValueError, match="99"):
        hwh.fclk_divisors(99)


def test_find_accelerator_needs_the_vlnv_and_the_wiring() -> None:
    parser = parse(hwh.BlockDesign())
    no_accel = {n: d for n, d in parser.ip_dict.items() if d["type"] != regmap.VLNV}
    with pytest.raises(ConfigError, match=r"expected one IP of VLNV .* found 0"):
        overlay.find_accelerator(no_accel, parser.systemgraph, "x.bit")
    renamed = dict(parser.ip_dict)
    renamed["other_dma"] = renamed.pop(regmap.DMA_INSTANCE)  # not the wired instance
    with pytest.raises(ConfigError, match="M_AXIS_MM2S"):
        overlay.find_accelerator(renamed, parser.systemgraph, "x.bit")


# --- MnistOverlay / FabricBackend on the virtual board ------------------------------


@pytest.fixture
def board() -> Iterator[VirtualDevice]:
    with VirtualDevice() as device:
        yield device


@pytest.mark.sim
@pytest.mark.parametrize("naming", NAMINGS)
def test_fabric_backend_on_the_virtual_board(
    board: VirtualDevice, naming: str, test_images: np.ndarray
) -> None:
    bitfile = standin_bitstream(NAMINGS[naming])
    backend = FabricBackend(bitfile, device=board, timeout_s=30.0)
    try:
        assert backend.overlay.is_loaded()
        assert isinstance(backend.overlay.dma, pynq.lib.dma.DMA)
        model = load_model()
        backend.load(model)
        images = test_images[:64]
        run = backend.run(images)
        logits, digits = run.logits, run.digits
        want = model_logits(model, images)
        np.testing.assert_array_equal(logits, want)
        np.testing.assert_array_equal(digits, reference_digits(want))
    finally:
        backend.close()


@pytest.mark.sim
def test_download_bookkeeping(board: VirtualDevice) -> None:
    """The booted design is loaded; a download makes the previous overlay not loaded."""
    booted = overlay.MnistOverlay(standin_bitstream(), device=board, download=False)
    assert booted.is_loaded() and board.timestamp == ""
    gui = overlay.MnistOverlay(standin_bitstream(NAMINGS["gui"]), device=board)
    try:
        assert gui.is_loaded() and board.timestamp == gui.timestamp != ""
        assert board.bitfile_name == gui.bitfile_name
        assert not booted.is_loaded()
        assert sorted(board.ip_dict) == sorted(
            ["mnist_accel_0", "axi_dma_0", "processing_system7_0"]
        )
    finally:
        booted.accel.close()
        gui.accel.close()


@pytest.mark.sim
def test_download_sets_fclk0_from_the_hwh(board: VirtualDevice) -> None:
    bitfile = standin_bitstream(hwh.BlockDesign(fclk_mhz=50))
    mnist = overlay.MnistOverlay(bitfile, device=board)
    try:
        assert pynq.Clocks.fclk0_mhz == 50.0
        assert mnist.accel.fclk_mhz == 50.0
    finally:
        mnist.accel.close()


@pytest.mark.sim
def test_download_refuses_what_is_not_its_stand_in(board: VirtualDevice, tmp_path: Path) -> None:
    good = standin_bitstream()
    fake = tmp_path / "mnist.bit"
    fake.write_bytes(good.read_bytes().replace(STANDIN_MAGIC, b"X" * len(STANDIN_MAGIC)))
    fake.with_suffix(".hwh").write_bytes(good.with_suffix(".hwh").read_bytes())
    with pytest.raises(AcceleratorError, match="not a virtual-board stand-in"):
        overlay.MnistOverlay(fake, device=board)
    fake.write_bytes(good.read_bytes())
    fake.with_suffix(".hwh").write_text(hwh.render(hwh.BlockDesign(accel="mnist_accel_0")))
    with pytest.raises(AcceleratorError, match=r"another \.hwh"):
        overlay.MnistOverlay(fake, device=board)


@pytest.mark.sim
def test_download_needs_the_boards_num_banks(board: VirtualDevice) -> None:
    other = next(b for b in regmap.SUPPORTED_NUM_BANKS if b != board.num_banks)
    with pytest.raises(AcceleratorError, match=f"NUM_BANKS={other}"):
        overlay.MnistOverlay(standin_bitstream(hwh.BlockDesign(num_banks=other)), device=board)


def _all_10k_equal_the_reference(backend: SimBackend, test_images: np.ndarray) -> None:
    model = load_model()
    backend.load(model)
    start = time.perf_counter()
    run = backend.run(test_images)
    logits, digits = run.logits, run.digits
    rate = len(test_images) / (time.perf_counter() - start)
    logging.getLogger(__name__).info("virtual %s: %.0f images/s", backend.device.board.key, rate)
    want = model_logits(model, test_images)
    np.testing.assert_array_equal(logits, want)
    np.testing.assert_array_equal(digits, reference_digits(want))
    cpu = get_backend("cpu")
    cpu.load(model)
    np.testing.assert_array_equal(logits, cpu.infer(test_images))


@pytest.mark.sim
def test_all_10k_test_images_equal_the_reference(test_images: np.ndarray) -> None:
    """The main lane's goal: every MNIST test image, through pynq.Overlay, == reference."""
    backend = SimBackend()
    try:
        _all_10k_equal_the_reference(backend, test_images)
    finally:
        backend.close()


@pytest.mark.sim
def test_all_10k_on_a_kv260_with_buffers_above_4_gib(
    test_images: np.ndarray, memory_mapped: bool
) -> None:
    """The same on Zynq UltraScale+: the DMA was given 64-bit addresses in DDR_HIGH."""
    backend = SimBackend(board="kv260", memory_mapped=memory_mapped)
    try:
        _all_10k_equal_the_reference(backend, test_images)
        given = backend.device.dma.addresses
        assert given["mm2s"] == backend.accel._buffers.src.physical_address
        assert given["s2mm"] == backend.accel._out_buf.physical_address
        assert all(0x8_0000_0000 <= address < 0x9_0000_0000 for address in given.values())
    finally:
        backend.close()


# --- memory-mapped MMIO -----------------------------------------------------------------


@pytest.mark.sim
def test_memory_mapped_mode_is_what_pynq_mmio_uses() -> None:
    with VirtualDevice(memory_mapped=True) as device:
        assert device.has_capability("MEMORY_MAPPED") and not device.has_capability("REGISTER_RW")
        mmio = pynq.MMIO(regmap.ACCEL_BASE, regmap.ACCEL_RANGE, device=device)
        assert isinstance(mmio.array, MappedWindow)
        reset_counters(device)
        assert mmio.read(regmap.REG_ID) == regmap.ID_VALUE
        assert device.register_accesses[regmap.ACCEL_INSTANCE] == 1
        mmio.write(regmap.REG_N_IMAGES, 7)
        assert int(mmio.array[regmap.REG_N_IMAGES // 4]) == 7
        window = np.array(mmio.array[: regmap.REG_LAYER_SIZES // 4 + 1], dtype=np.uint32)
        assert window.tolist() == [regmap.ID_VALUE, device.num_banks, regmap.LAYER_SIZES_VALUE]
        regs = pynq.DefaultIP(device.description(regmap.ACCEL_INSTANCE)).register_map
        assert int(regs.NUM_BANKS.NUM_BANKS) == device.num_banks
        with pytest.raises(IndexError):
            mmio.array[regmap.ACCEL_RANGE // 4]


@pytest.mark.sim
def test_memory_mapped_1000_images_equal_the_reference(test_images: np.ndarray) -> None:
    backend = SimBackend(memory_mapped=True)
    try:
        assert backend.device.has_capability("MEMORY_MAPPED")
        model = load_model()
        backend.load(model)
        images = test_images[-MMAP_IMAGES:]
        run = backend.run(images)
        logits, digits = run.logits, run.digits
        want = model_logits(model, images)
        np.testing.assert_array_equal(logits, want)
        np.testing.assert_array_equal(digits, reference_digits(want))
    finally:
        backend.close()


# --- not root on a board ------------------------------------------------------------


@pytest.fixture
def board_without_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A PYNQ board (its FPGA manager exists) where the user is not root."""
    manager = tmp_path / "fpga0"
    manager.mkdir()
    monkeypatch.setattr(detect, "FPGA_DEVICE_PATHS", (manager,))
    monkeypatch.setattr(detect.os, "geteuid", lambda: 1000)
    detect._log_board_problem.cache_clear()


def test_not_root_auto_is_cpu_with_one_logged_reason(
    board_without_root: None, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="pynq_mnist.board.detect"):
        assert get_backend("auto").name == "cpu"
        assert get_backend("auto").name == "cpu"
    reasons = [r.getMessage() for r in caplog.records if r.name == "pynq_mnist.board.detect"]
    assert len(reasons) == 1 and "PYNQ needs root" in reasons[0], reasons


def test_not_root_fabric_is_a_one_line_error(board_without_root: None) -> None:
    with pytest.raises(BackendUnavailable) as info:
        get_backend("fabric")
    message = str(info.value)
    assert "\n" not in message and "PYNQ needs root" in message
