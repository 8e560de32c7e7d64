"""The virtual board's AXI DMA model (PG021, direct register mode) under pynq's DMA driver:
run/stop, lengths, errors, soft reset, halt with residual beats, interrupts."""

from __future__ import annotations

import numpy as np
import pynq
import pytest
from pynq.lib.dma import DMA
from sim_board import (
    DEC_ERR,
    ERR_IRQ,
    HALTED,
    IDLE,
    INT_ERR,
    IOC_IRQ,
    RS,
    SOFT_RESET,
    WORDS,
    dma_bit,
    dma_mmio,
    dma_reg,
    load,
    random_model_arrays,
    set_address,
    start_batch,
)

from pynq_mnist.hardware import regmap
from pynq_mnist.sim import verilator
from pynq_mnist.sim.device import VirtualDevice

pytestmark = pytest.mark.sim


# --- AXI DMA register model (PG021, direct register mode) --------------------------


def test_dma_power_on_and_run_stop(dev: VirtualDevice) -> None:
    mmio = dma_mmio(dev)
    for cr, sr, length in (
        ("MM2S_DMACR", "MM2S_DMASR", "MM2S_LENGTH"),
        ("S2MM_DMACR", "S2MM_DMASR", "S2MM_LENGTH"),
    ):
        assert mmio.read(dma_reg(sr)) == HALTED
        assert mmio.read(dma_reg(length)) == 0
        mmio.write(dma_reg(cr), RS)
        assert mmio.read(dma_reg(sr)) == 0  # running, idle only after a first transfer
        assert mmio.read(dma_reg(cr)) & RS
        mmio.write(dma_reg(cr), 0)
        assert mmio.read(dma_reg(sr)) == HALTED


def test_idle_and_length_after_a_transfer_and_a_halt(
    dev: VirtualDevice, rng: np.random.Generator
) -> None:
    """PG021: Idle=1 once a transfer completed, 0 again when halted; LENGTH survives RS=0."""
    w1, w2, s1, s2 = random_model_arrays(rng)
    images = rng.integers(0, 256, size=(1, regmap.N_IN), dtype=np.uint8)
    ip = load(dev, w1, w2, s1, s2)
    dma, _, _ = start_batch(dev, ip, images, out_words=3 * WORDS)
    dma.recvchannel.wait()
    mmio = dma_mmio(dev)
    assert mmio.read(dma_reg("S2MM_DMASR")) & (IDLE | HALTED) == IDLE
    assert mmio.read(dma_reg("S2MM_LENGTH")) == 4 * WORDS  # received, not the 3 records armed
    mmio.write(dma_reg("S2MM_DMACR"), 0)
    assert mmio.read(dma_reg("S2MM_DMASR")) & (IDLE | HALTED) == HALTED
    assert mmio.read(dma_reg("S2MM_LENGTH")) == 4 * WORDS
    assert mmio.read(dma_reg("MM2S_LENGTH")) == regmap.N_IN


def test_dma_length_zero_is_internal_error(dev: VirtualDevice) -> None:
    dma = DMA(dev.description(regmap.DMA_INSTANCE))
    buf = pynq.allocate((16,), np.uint32)
    mmio = dma_mmio(dev)
    set_address(mmio, "MM2S_SA", buf.physical_address)
    mmio.write(dma_reg("MM2S_LENGTH"), 0)
    status = mmio.read(dma_reg("MM2S_DMASR"))
    assert status & (INT_ERR | ERR_IRQ | HALTED) == INT_ERR | ERR_IRQ | HALTED
    assert dma.sendchannel.error and not dma.sendchannel.running
    # PG021: an error halts the channel, so pynq's wait() never gets to decode it
    with pytest.raises(RuntimeError, match="not started"):
        dma.sendchannel.wait()
    mmio.write(dma_reg("MM2S_DMACR"), RS)  # errors clear only by reset
    assert mmio.read(dma_reg("MM2S_DMASR")) & HALTED
    mmio.write(dma_reg("MM2S_DMACR"), SOFT_RESET)
    assert mmio.read(dma_reg("MM2S_DMASR")) == HALTED
    assert mmio.read(dma_reg("S2MM_DMASR")) == HALTED


@pytest.mark.parametrize("where", ["unmapped", "past_the_buffer"])
def test_dma_decode_error(dev: VirtualDevice, where: str) -> None:
    dma = DMA(dev.description(regmap.DMA_INSTANCE))
    buf = pynq.allocate((64,), np.uint8)
    mmio = dma_mmio(dev)
    address = 0x100 if where == "unmapped" else buf.physical_address
    set_address(mmio, "S2MM_DA", address)
    mmio.write(dma_reg("S2MM_LENGTH"), 128)
    assert mmio.read(dma_reg("S2MM_DMASR")) & (DEC_ERR | HALTED) == DEC_ERR | HALTED
    assert dma.recvchannel.error
    assert mmio.read(dma_reg("MM2S_DMASR")) & (DEC_ERR | HALTED) == 0  # other channel fine


def test_dma_length_ignored_while_halted(dev: VirtualDevice) -> None:
    buf = pynq.allocate((784,), np.uint8)
    mmio = dma_mmio(dev)
    set_address(mmio, "MM2S_SA", buf.physical_address)
    cycles = dev.cycles
    mmio.write(dma_reg("MM2S_LENGTH"), buf.nbytes)
    assert mmio.read(dma_reg("MM2S_DMASR")) == HALTED
    assert dev.cycles == cycles  # no transfer started, nothing clocked


def test_mm2s_into_idle_engine_does_not_progress(dev: VirtualDevice) -> None:
    """TREADY stays low while the engine is idle: the read returns after idle_limit cycles."""
    dma = DMA(dev.description(regmap.DMA_INSTANCE))
    buf = pynq.allocate((2, regmap.N_IN), np.uint8)
    dma.sendchannel.transfer(buf)
    assert not dma.sendchannel.idle
    assert dev.last_run is not None
    assert dev.last_run.reason == verilator.RunReason.NO_PROGRESS
    assert dev.last_run.cycles == dev.starve_limit  # the engine owes nothing


def test_allocate_gives_unique_aligned_addresses(dev: VirtualDevice) -> None:
    bufs = [pynq.allocate((n,), np.uint8) for n in (1, 4096, 5000, 12)]
    addrs = [b.physical_address for b in bufs]
    assert len(set(addrs)) == len(addrs) and all(a % 4096 == 0 for a in addrs)
    assert all(isinstance(b, pynq.buffer.PynqBuffer) and b.device is dev for b in bufs)
    view = bufs[1][100:]
    assert view.physical_address == addrs[1] + 100
    freed = addrs[2]
    del bufs[2], view
    again = pynq.allocate((5000,), np.uint8)
    assert again.physical_address <= freed  # first fit reuses freed ranges
    assert all(again.physical_address != b.physical_address for b in bufs)


# --- PG021 soft reset, halt, residual beats, memory errors ---------------------------


def test_soft_reset_takes_cycles_and_restores_reset_values(dev: VirtualDevice) -> None:
    mmio = dma_mmio(dev)
    buf = pynq.allocate((64,), np.uint8)
    mmio.write(dma_reg("S2MM_DMACR"), RS)
    set_address(mmio, "S2MM_DA", buf.physical_address)
    mmio.write(dma_reg("S2MM_LENGTH"), 64)
    dev.inject("slow_reset", cycles=5000)
    cycles = dev.cycles
    mmio.write(dma_reg("S2MM_DMACR"), SOFT_RESET)
    assert dev.model is not None and dev.model.dma_resetting  # not instantaneous
    assert mmio.read(dma_reg("MM2S_DMACR")) & SOFT_RESET == 0  # the read waits it out
    assert dev.cycles - cycles >= dev.dma.reset_cycles + 5000
    for name in ("S2MM_DA", "S2MM_DA_MSB", "S2MM_LENGTH", "MM2S_SA", "MM2S_LENGTH"):
        assert mmio.read(dma_reg(name)) == 0, name
    assert mmio.read(dma_reg("S2MM_DMASR")) == HALTED  # Idle 0 again: no transfer yet
    assert not mmio.read(dma_reg("S2MM_DMACR")) & RS


def test_halt_leaves_residual_beats_that_reset_ends_with_tlast(
    dev: VirtualDevice, rng: np.random.Generator
) -> None:
    """RS=0 keeps the fetched beats on s_axis; Reset waits until a taker consumes them."""
    assert dev.model is not None
    w1, w2, s1, s2 = random_model_arrays(rng)
    ip = load(dev, w1, w2, s1, s2)
    dma = DMA(dev.description(regmap.DMA_INSTANCE))
    buf = pynq.allocate((2, regmap.N_IN), np.uint8)
    dma.sendchannel.transfer(buf)
    assert not dma.sendchannel.idle  # time passes: the engine is idle, TREADY low, FIFO fills
    mmio = dma_mmio(dev)
    mmio.write(dma_reg("MM2S_DMACR"), 0)
    assert mmio.read(dma_reg("MM2S_DMASR")) == HALTED  # halted, not idle
    assert dev.model.mm2s_residual == 16
    mmio.write(dma_reg("MM2S_DMACR"), SOFT_RESET)
    for _ in range(3):  # nobody takes the TLAST that ends the packet: Reset stays set
        assert mmio.read(dma_reg("MM2S_DMACR")) & SOFT_RESET
    ip.write(regmap.REG_N_IMAGES, 1)
    ip.write(regmap.REG_CTRL, regmap.CTRL_START)  # a taker: the packet ends on its 16th beat
    assert not mmio.read(dma_reg("MM2S_DMACR")) & SOFT_RESET
    assert dev.model.mm2s_residual == 0
    assert ip.read(regmap.REG_ERROR_CAUSE) & regmap.ERR_EARLY_TLAST
    assert ip.read(regmap.REG_STATUS) & regmap.STATUS_IDLE  # its result went to the flush


@pytest.mark.parametrize(("channel", "kind"), [("mm2s", "decerr"), ("s2mm", "slverr")])
def test_memory_error_sets_dmasr_halts_and_raises_err_irq(
    dev: VirtualDevice, rng: np.random.Generator, channel: str, kind: str
) -> None:
    w1, w2, s1, s2 = random_model_arrays(rng)
    images = rng.integers(0, 256, size=(3, regmap.N_IN), dtype=np.uint8)
    ip = load(dev, w1, w2, s1, s2)
    dev.inject(f"{channel}_error", kind=kind, at_byte=100)
    mmio = dma_mmio(dev)
    sr = dma_reg(f"{channel.upper()}_DMASR")
    cr = dma_reg(f"{channel.upper()}_DMACR")
    bit = DEC_ERR if kind == "decerr" else dma_bit("MM2S_DMASR", "DMASlvErr")
    start_batch(dev, ip, images)
    status = mmio.read(sr)
    assert status & (bit | ERR_IRQ | HALTED) == bit | ERR_IRQ | HALTED
    assert not status & IDLE and not mmio.read(cr) & RS
    assert not dev.interrupts[f"axi_dma/{channel}_introut"]
    mmio.write(cr, dma_bit("MM2S_DMACR", "Err_IrqEn"))
    assert dev.interrupts[f"axi_dma/{channel}_introut"]
    mmio.write(sr, ERR_IRQ)  # W1C clears the interrupt, not the error
    assert mmio.read(sr) & (bit | ERR_IRQ) == bit
    assert not dev.interrupts[f"axi_dma/{channel}_introut"]


def test_short_s2mm_packet_reads_back_its_length(
    dev: VirtualDevice, rng: np.random.Generator
) -> None:
    w1, w2, s1, s2 = random_model_arrays(rng)
    images = rng.integers(0, 256, size=(3, regmap.N_IN), dtype=np.uint8)
    ip = load(dev, w1, w2, s1, s2)
    dev.inject("short_s2mm", nbytes=WORDS * 4 + 8)
    dma, _, outbuf = start_batch(dev, ip, images)
    dma.recvchannel.wait()
    assert dma_mmio(dev).read(dma_reg("S2MM_LENGTH")) == WORDS * 4 + 8 < outbuf.nbytes


def test_drop_tlast_flags_framing_error(dev: VirtualDevice, rng: np.random.Generator) -> None:
    w1, w2, s1, s2 = random_model_arrays(rng)
    images = rng.integers(0, 256, size=(2, regmap.N_IN), dtype=np.uint8)
    ip = load(dev, w1, w2, s1, s2)
    dev.inject("drop_tlast")
    dma, _, _ = start_batch(dev, ip, images)
    dma.sendchannel.wait()
    dma.recvchannel.wait()  # the engine still emits N*11 words ending in TLAST
    assert ip.read(regmap.REG_STATUS) & regmap.STATUS_ERROR
    assert ip.read(regmap.REG_ERROR_CAUSE) & regmap.ERR_MISSING_TLAST


def test_interrupt_line_follows_done_and_irq_en(
    dev: VirtualDevice, rng: np.random.Generator
) -> None:
    w1, w2, s1, s2 = random_model_arrays(rng)
    images = rng.integers(0, 256, size=(1, regmap.N_IN), dtype=np.uint8)
    ip = load(dev, w1, w2, s1, s2)
    dma, _, _ = start_batch(dev, ip, images, ctrl=regmap.CTRL_START | regmap.CTRL_IRQ_EN)
    assert not dev.interrupts["mnist_accel/interrupt"]
    dma.recvchannel.wait()
    ip.read(regmap.REG_STATUS)
    assert dev.interrupts["mnist_accel/interrupt"]
    ip.write(regmap.REG_STATUS, regmap.STATUS_DONE)
    assert not dev.interrupts["mnist_accel/interrupt"]
    # the DMA's introut needs the completed-transfer IRQ and its enable bit
    mmio = dma_mmio(dev)
    assert not dev.interrupts["axi_dma/s2mm_introut"]
    mmio.write(dma_reg("S2MM_DMACR"), RS | dma_bit("S2MM_DMACR", "IOC_IrqEn"))
    assert dev.interrupts["axi_dma/s2mm_introut"]
    mmio.write(dma_reg("S2MM_DMASR"), IOC_IRQ)
    assert not dev.interrupts["axi_dma/s2mm_introut"]
