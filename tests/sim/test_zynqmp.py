"""The virtual KV260 (Zynq UltraScale+) as pynq sees it: PL clocks through CRL_APB/CRF_APB,
HP port widths set on download (AFIFM, AXI_FS), a port set to another width corrupting
transfers, 64-bit DMA addresses into DDR above 4 GiB, and a 32-bit DMA that cannot reach them.

Register addresses and codes are written out here from UG1087 / pynq's tables, not taken
from the model."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pynq
import pytest
from helpers import model_logits, random_images, random_model
from pynq.lib.dma import DMA
from sim_board import (
    DEC_ERR,
    HALTED,
    check_results,
    dma_mmio,
    dma_reg,
    fabric_reads,
    load,
    memory_after_write,
    random_model_arrays,
    start_batch,
)
from sim_hooks import reset_counters

from pynq_mnist.backends.sim import SimBackend
from pynq_mnist.errors import AcceleratorError
from pynq_mnist.hardware import regmap
from pynq_mnist.hardware.design import BlockDesign
from pynq_mnist.sim.bitstream import standin_bitstream
from pynq_mnist.sim.device import VirtualDevice

pytestmark = pytest.mark.sim

KV260 = "kv260"
CRL_APB = 0xFF5E_0000
CRF_APB = 0xFD1A_0000
IOPLL_CTRL, PL0_REF_CTRL = CRL_APB + 0x20, CRL_APB + 0xC0
AFIFM2_RDCTRL, AFIFM2_WRCTRL = 0xFD38_0000, 0xFD38_0014  # S_AXI_HP0_FPD = S_AXI_GP2
FPD_AXI_FS = 0xFD61_5000
FABRIC_WIDTH = {128: 0, 64: 1, 32: 2}  # AFIFM RDCTRL/WRCTRL bits 1:0
DDR_HIGH = 0x8_0000_0000


def word(dev: VirtualDevice, address: int) -> int:
    """One 32-bit read as the driver does it: pynq.MMIO over the register's 4 KiB page."""
    return int(pynq.MMIO(address & ~0xFFF, 0x1000, device=dev).read(address & 0xFFF))


def put(dev: VirtualDevice, address: int, value: int) -> None:
    pynq.MMIO(address & ~0xFFF, 0x1000, device=dev).write(address & 0xFFF, value)


@pytest.fixture
def kv260(memory_mapped: bool) -> Iterator[VirtualDevice]:
    with VirtualDevice(board=KV260, memory_mapped=memory_mapped) as device:
        yield device


def overlay(dev: VirtualDevice, design: BlockDesign, download: bool = True) -> pynq.Overlay:
    return pynq.Overlay(str(standin_bitstream(design)), device=dev, download=download)


# --- the PS: clocks -----------------------------------------------------------------


def test_pynqs_clocks_read_pl0_from_crl_apb(kv260: VirtualDevice) -> None:
    assert kv260.arch == "aarch64" and kv260.env_name == "KV260"
    assert word(kv260, IOPLL_CTRL) == 0x0001_5A00  # FBDIV 90, DIV2: psu_init's value
    assert word(kv260, PL0_REF_CTRL) == 0x0101_0A00  # CLKACT, DIVISOR1 1, DIVISOR0 10, IOPLL
    assert type(pynq.ps.Clocks._real_instance).__name__ == "_ClocksUltrascale"
    assert pynq.Clocks.fclk0_mhz == round(round(33.333 * 90 / 2, 6) / 10, 6) == 149.9985
    assert pynq.Clocks.cpu_mhz == round(33.333 * 72 / 2 / 1, 6) == 1199.988  # APLL x72 / 2


def test_setting_fclk0_writes_the_divisors_pynq_computes(kv260: VirtualDevice) -> None:
    pynq.Clocks.fclk0_mhz = 100
    assert word(kv260, PL0_REF_CTRL) == 0x0101_0F00  # 1499.985 / 100 -> 15 x 1
    assert pynq.Clocks.fclk0_mhz == 99.999
    pynq.Clocks.set_pl_clk(0, div0=5, div1=3)
    assert word(kv260, PL0_REF_CTRL) == 0x0103_0500


def test_mnist_overlay_reads_the_pl_clock(kv260: VirtualDevice) -> None:
    from pynq_mnist.board.overlay import MnistOverlay

    mnist = MnistOverlay(standin_bitstream(BlockDesign(board=KV260)), device=kv260)
    try:
        assert mnist.accel.fclk_mhz == 149.9985
        assert word(kv260, PL0_REF_CTRL) == 0x0101_0A00
    finally:
        mnist.accel.close()


# --- the PS: HP port widths ---------------------------------------------------------


def test_boot_leaves_the_ports_at_128_bits(kv260: VirtualDevice) -> None:
    assert word(kv260, AFIFM2_RDCTRL) & 3 == word(kv260, AFIFM2_WRCTRL) & 3 == 0
    assert (word(kv260, FPD_AXI_FS) >> 8) & 0xF == 0b1010  # DW_SS0_SEL, DW_SS1_SEL = 2


@pytest.mark.parametrize("width", [128, 64, 32])
def test_download_sets_the_port_width_the_hwh_states(kv260: VirtualDevice, width: int) -> None:
    put(kv260, AFIFM2_RDCTRL, 3)  # reserved code: the download must write both
    put(kv260, AFIFM2_WRCTRL, 3)
    design = BlockDesign(board=KV260, hp_data_width=width)
    ol = overlay(kv260, design)
    ps = next(d for d in ol.ip_dict.values() if "zynq_ultra_ps_e" in d["type"])
    assert ps["parameters"]["C_SAXIGP2_DATA_WIDTH"] == str(width)
    assert word(kv260, AFIFM2_RDCTRL) & 3 == FABRIC_WIDTH[width]
    assert word(kv260, AFIFM2_WRCTRL) & 3 == FABRIC_WIDTH[width]
    assert kv260.dma.port is not None and kv260.dma.port.built == width


def test_a_zynq7000_design_is_refused(kv260: VirtualDevice) -> None:
    """As the board's FPGA manager would fail it (the driver refuses it before, by its .hwh)."""
    bit = pynq.Bitstream(str(standin_bitstream(BlockDesign(board="pynq-z2"))), device=kv260)
    with pytest.raises(AcceleratorError, match="has a Zynq UltraScale"):
        kv260.download(bit)


# --- a port set to another width than built --------------------------------------------


def _batch(dev: VirtualDevice, images: np.ndarray, fill: int) -> tuple[bytes, int]:
    """One batch through pynq's DMA into an output buffer filled with ``fill``: its bytes and
    S2MM_LENGTH."""
    w1, w2, s1, s2 = random_model_arrays(np.random.default_rng(5))
    ip = load(dev, w1, w2, s1, s2)
    out = pynq.allocate((len(images) * regmap.RESULT_WORDS_PER_IMAGE,), np.int32)
    out.view(np.uint8)[:] = fill
    dma = DMA(dev.description(regmap.DMA_INSTANCE))
    inbuf = pynq.allocate((len(images), regmap.N_IN), np.uint8)
    inbuf[:] = images
    ip.write(regmap.REG_N_IMAGES, len(images))
    dma.recvchannel.transfer(out)
    dma.sendchannel.transfer(inbuf)
    ip.write(regmap.REG_CTRL, regmap.CTRL_START)
    dma.recvchannel.wait()
    return np.array(out).view(np.uint8).tobytes(), dma_mmio(dev).read(dma_reg("S2MM_LENGTH"))


def test_reads_through_a_narrower_setting_are_corrupted(
    kv260: VirtualDevice, rng: np.random.Generator
) -> None:
    """Built 128, RDCTRL set to 64 (someone wrote it): MM2S beats come from the wrong bytes."""
    images = rng.integers(0, 256, size=(3, regmap.N_IN), dtype=np.uint8)
    put(kv260, AFIFM2_RDCTRL, FABRIC_WIDTH[64])
    seen = np.frombuffer(fabric_reads(images.tobytes(), images.size, 16, 8), np.uint8)
    assert not np.array_equal(seen, images.ravel())
    w1, w2, s1, s2 = random_model_arrays(rng)
    ip = load(kv260, w1, w2, s1, s2)
    dma, _, outbuf = start_batch(kv260, ip, images)
    dma.recvchannel.wait()
    check_results(outbuf, w1, w2, s1, s2, seen.reshape(images.shape))


def test_writes_through_a_narrower_setting_leave_holes(
    kv260: VirtualDevice, rng: np.random.Generator
) -> None:
    """Built 128, WRCTRL set to 32: each 16-byte beat lands as its first 4 bytes, 4 apart."""
    images = rng.integers(0, 256, size=(3, regmap.N_IN), dtype=np.uint8)
    good, length = _batch(kv260, images, 0x00)
    assert length == len(good)
    put(kv260, AFIFM2_WRCTRL, FABRIC_WIDTH[32])
    bad, length = _batch(kv260, images, 0xA5)
    assert length == len(good)  # the DMA counts what it sent: it cannot tell
    assert bad == memory_after_write(b"\xa5" * len(good), good, 16, 4) != good


def test_overlay_without_download_keeps_the_boot_width_until_pynq_downloads(
    memory_mapped: bool, rng: np.random.Generator
) -> None:
    """A 64-bit design loaded at boot (not by pynq): the ports stay at 128 and every transfer
    is corrupted both ways; pynq's download sets them and the same batch is exact."""
    design = BlockDesign(board=KV260, hp_data_width=64)
    images = rng.integers(0, 256, size=(2, regmap.N_IN), dtype=np.uint8)
    with VirtualDevice(board=KV260, boot_design=design, memory_mapped=memory_mapped) as dev:
        ol = overlay(dev, design, download=False)
        assert dev.dma.port is not None and dev.dma.port.built == 64
        assert word(dev, AFIFM2_RDCTRL) & 3 == word(dev, AFIFM2_WRCTRL) & 3 == 0
        bad, _ = _batch(dev, images, 0x5A)
        ol.download()
        assert word(dev, AFIFM2_RDCTRL) & 3 == word(dev, AFIFM2_WRCTRL) & 3 == 1
        seen = np.frombuffer(fabric_reads(images.tobytes(), images.size, 8, 16), np.uint8)
        records, _ = _batch(dev, seen.reshape(images.shape), 0x00)
        w1, w2, s1, s2 = random_model_arrays(np.random.default_rng(5))
        check_results(np.frombuffer(records, np.int32), w1, w2, s1, s2, seen.reshape(-1, 784))
        assert bad == memory_after_write(b"\x5a" * len(records), records, 8, 16)
        exact, _ = _batch(dev, images, 0x00)
        check_results(np.frombuffer(exact, np.int32), w1, w2, s1, s2, images)


def test_the_drivers_port_check_reads_the_afifm_registers(memory_mapped: bool) -> None:
    """The driver reads FABRIC_WIDTH through pynq.MMIO and refuses the mismatched port; a
    download (pynq sets the port) makes the same overlay load."""
    from pynq_mnist.board.overlay import MnistOverlay
    from pynq_mnist.errors import ConfigError

    design = BlockDesign(board=KV260, hp_data_width=64)
    with VirtualDevice(board=KV260, boot_design=design, memory_mapped=memory_mapped) as dev:
        with pytest.raises(ConfigError, match=r"set to 128 bits .* built for 64"):
            MnistOverlay(standin_bitstream(design), device=dev, download=False)
        MnistOverlay(standin_bitstream(design), device=dev).accel.close()


# --- 64-bit DMA addresses -------------------------------------------------------------


def test_pynqs_dma_writes_the_address_msb_above_4_gib(
    kv260: VirtualDevice, rng: np.random.Generator
) -> None:
    w1, w2, s1, s2 = random_model_arrays(rng)
    images = rng.integers(0, 256, size=(2, regmap.N_IN), dtype=np.uint8)
    ip = load(kv260, w1, w2, s1, s2)
    dma, inbuf, outbuf = start_batch(kv260, ip, images)
    dma.recvchannel.wait()
    check_results(outbuf, w1, w2, s1, s2, images)
    mmio = dma_mmio(kv260)
    for buf, lo, hi in ((inbuf, "MM2S_SA", "MM2S_SA_MSB"), (outbuf, "S2MM_DA", "S2MM_DA_MSB")):
        assert buf.physical_address >= DDR_HIGH
        assert mmio.read(dma_reg(hi)) == buf.physical_address >> 32 == 8
        assert mmio.read(dma_reg(lo)) == buf.physical_address & 0xFFFF_FFFF


def test_our_driver_writes_the_address_msb(memory_mapped: bool, rng: np.random.Generator) -> None:
    backend = SimBackend(board=KV260, memory_mapped=memory_mapped)
    try:
        model = random_model(rng)
        backend.load(model)
        images = random_images(rng, 5)
        reset_counters(backend.device)
        np.testing.assert_array_equal(backend.infer(images), model_logits(model, images))
        mmio = dma_mmio(backend.device)
        buffers = backend.accel._buffers
        for buf, lo, hi in (
            (buffers.src, "MM2S_SA", "MM2S_SA_MSB"),
            (buffers.dst, "S2MM_DA", "S2MM_DA_MSB"),
        ):
            assert buf.physical_address >= DDR_HIGH
            assert mmio.read(dma_reg(hi)) << 32 | mmio.read(dma_reg(lo)) == buf.physical_address
    finally:
        backend.close()


def test_a_32_bit_dma_cannot_reach_ddr_high(kv260: VirtualDevice) -> None:
    """c_addr_width 32: no MSB register; the buffer's low 32 bits hit no memory: DMADecErr."""
    overlay(kv260, BlockDesign(board=KV260, dma_parameters=(("c_addr_width", "32"),)))
    dma = DMA(kv260.description(regmap.DMA_INSTANCE))
    buf = pynq.allocate((4, regmap.N_IN), np.uint8)
    assert buf.physical_address >= DDR_HIGH
    dma.sendchannel.transfer(buf)
    mmio = dma_mmio(kv260)
    assert mmio.read(dma_reg("MM2S_SA_MSB")) == 0  # pynq wrote 8: there is no such register
    assert mmio.read(dma_reg("MM2S_DMASR")) & (DEC_ERR | HALTED) == DEC_ERR | HALTED


def test_a_40_bit_dma_drives_only_40_address_bits(kv260: VirtualDevice) -> None:
    """c_addr_width 40 (PG021: the DMA drives c_addr_width bits): MSB bits above bit 39 do
    not reach the bus, so the transfer still lands in the buffer."""
    overlay(kv260, BlockDesign(board=KV260, dma_parameters=(("c_addr_width", "40"),)))
    buf = pynq.allocate((4, regmap.N_IN), np.uint8)
    assert buf.physical_address >> 32 == 8
    mmio = dma_mmio(kv260)
    mmio.write(dma_reg("MM2S_DMACR"), 1)
    mmio.write(dma_reg("MM2S_SA"), buf.physical_address & 0xFFFF_FFFF)
    mmio.write(dma_reg("MM2S_SA_MSB"), 0xAB00 | buf.physical_address >> 32)  # bits 47:40 set
    mmio.write(dma_reg("MM2S_LENGTH"), buf.nbytes)
    assert kv260.dma.addresses["mm2s"] == buf.physical_address
    assert mmio.read(dma_reg("MM2S_DMASR")) & (DEC_ERR | HALTED) == 0


def test_a_zynq7000_dma_has_no_msb_register(virtual_board: VirtualDevice) -> None:
    dev = virtual_board
    mmio = dma_mmio(dev)
    mmio.write(dma_reg("S2MM_DA_MSB"), 1)
    expected = 1 if dev.board.family.dma_addr_width > 32 else 0
    assert mmio.read(dma_reg("S2MM_DA_MSB")) == expected
    mmio.write(dma_reg("S2MM_DA_MSB"), 0)


# --- every board ------------------------------------------------------------------------

BOOTS = {  # board: (uname -m, $BOARD, PL clock pynq reads, where its buffers start)
    "pynq-z1": ("armv7l", "Pynq-Z1", 100.0, 0x1000_0000),
    "pynq-z2": ("armv7l", "Pynq-Z2", 100.0, 0x1000_0000),
    "kv260": ("aarch64", "KV260", 149.9985, 0x8_1000_0000),
    "zcu104": ("aarch64", "ZCU104", 149.9985, 0x1000_0000),
    "ultra96v2": ("aarch64", "Ultra96V2", 149.9985, 0x1000_0000),
}


@pytest.mark.parametrize("key", BOOTS)
def test_every_board_boots_with_its_arch_clock_and_memory(key: str) -> None:
    arch, env_name, fclk0, pool = BOOTS[key]
    with VirtualDevice(board=key) as dev:
        assert (dev.arch, dev.env_name, pynq.Clocks.fclk0_mhz) == (arch, env_name, fclk0)
        buf = pynq.allocate((16,), np.uint32)
        assert buf.physical_address == pool
