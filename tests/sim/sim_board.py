"""Driving the virtual board by hand through pynq (DefaultIP, MMIO, pynq's DMA driver), and
checking its result records against the independent reference in ``tests/reference.py``."""

from __future__ import annotations

import numpy as np
import pynq
from helpers import random_weights
from pynq.lib.dma import DMA
from reference import reference_digits, reference_logits, reference_seed_digits

from pynq_mnist.hardware import regmap
from pynq_mnist.sim.device import VirtualDevice

NUM_BANKS = regmap.DEFAULT_NUM_BANKS
WORDS = regmap.RESULT_WORDS_PER_IMAGE

dma_reg = regmap.dma_offset
dma_bit = regmap.dma_bit
HALTED = dma_bit("MM2S_DMASR", "Halted")
IDLE = dma_bit("MM2S_DMASR", "Idle")
INT_ERR = dma_bit("MM2S_DMASR", "DMAIntErr")
DEC_ERR = dma_bit("MM2S_DMASR", "DMADecErr")
IOC_IRQ = dma_bit("MM2S_DMASR", "IOC_Irq")
ERR_IRQ = dma_bit("MM2S_DMASR", "Err_Irq")
RS = dma_bit("MM2S_DMACR", "RS")
SOFT_RESET = dma_bit("MM2S_DMACR", "Reset")


def accel_base(dev: VirtualDevice) -> int:
    """Where the programmed design put the accelerator (the PS family's master window)."""
    return int(dev.description(regmap.ACCEL_INSTANCE)["phys_addr"])


def dma_mmio(dev: VirtualDevice) -> pynq.MMIO:
    desc = dev.description(regmap.DMA_INSTANCE)
    return pynq.MMIO(desc["phys_addr"], desc["addr_range"], device=dev)


def set_address(mmio: pynq.MMIO, register: str, phys: int) -> None:
    """Write a 64-bit address as pynq's DMA driver does: ``register`` (MM2S_SA / S2MM_DA)
    and its _MSB (which a DMA built with 32 address bits does not have)."""
    mmio.write(dma_reg(register), phys & 0xFFFF_FFFF)
    mmio.write(dma_reg(f"{register}_MSB"), phys >> 32)


def random_model_arrays(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Random full-range weights with shift_l1=14, shift_l2=9."""
    w1, w2 = random_weights(rng)
    return w1, w2, 14, 9


def load(dev: VirtualDevice, w1: np.ndarray, w2: np.ndarray, s1: int, s2: int) -> pynq.DefaultIP:
    ip = pynq.DefaultIP(dev.description(regmap.ACCEL_INSTANCE))
    window = regmap.pack_weights(w1, w2, dev.num_banks)
    ip.mmio.write(regmap.WEIGHT_WINDOW_OFFSET, window.tobytes())
    ip.write(regmap.REG_SHIFT_L1, s1)
    ip.write(regmap.REG_SHIFT_L2, s2)
    return ip


def start_batch(
    dev: VirtualDevice,
    ip: pynq.DefaultIP,
    images: np.ndarray,
    out_words: int | None = None,
    ctrl: int = regmap.CTRL_START,
) -> tuple[DMA, pynq.buffer.PynqBuffer, pynq.buffer.PynqBuffer]:
    """Arm S2MM, start MM2S, then START: the order that keeps waiting out of CYCLES."""
    n = len(images)
    dma = DMA(dev.description(regmap.DMA_INSTANCE))
    inbuf = pynq.allocate((n, regmap.N_IN), np.uint8)
    outbuf = pynq.allocate((out_words or n * WORDS,), np.int32)
    inbuf[:] = images
    ip.write(regmap.REG_N_IMAGES, n)
    dma.recvchannel.transfer(outbuf)
    dma.sendchannel.transfer(inbuf)
    ip.write(regmap.REG_CTRL, ctrl)
    return dma, inbuf, outbuf


def check_results(
    words: np.ndarray, w1: np.ndarray, w2: np.ndarray, s1: int, s2: int, images: np.ndarray
) -> None:
    records = np.asarray(words).reshape(len(images), WORDS)
    expected = reference_logits(w1, w2, s1, s2, images)
    np.testing.assert_array_equal(records[:, : regmap.N_OUT].astype(np.int64), expected)
    info = records[:, regmap.N_OUT].view(np.uint32).astype(np.int64)
    np.testing.assert_array_equal(info & 0xF, reference_digits(expected))
    np.testing.assert_array_equal((info >> 4) & 0xF, reference_seed_digits(expected, s2))
    np.testing.assert_array_equal((info >> 8) & 0xFFFF, np.arange(len(images)))
    assert not (info >> 31).any()


def fabric_reads(memory: bytes, nbytes: int, built: int, width_set: int) -> bytes:
    """What a port built ``built`` bytes wide but set to ``width_set`` gives the fabric
    (sim.hp_port's rule, byte by byte): fabric byte k*built+j is memory byte
    k*width_set+j on the lanes both widths have, else 0; memory past the buffer reads 0."""
    out = bytearray(nbytes)
    for i in range(nbytes):
        beat, lane = divmod(i, built)
        source = beat * width_set + lane
        if lane < width_set and source < len(memory):
            out[i] = memory[source]
    return bytes(out)


def memory_after_write(memory: bytes, data: bytes, built: int, width_set: int) -> bytes:
    """``memory`` after the fabric wrote ``data`` through such a port: memory byte
    k*width_set+j takes fabric byte k*built+j on the shared lanes; the rest stays."""
    out = bytearray(memory)
    for i, value in enumerate(data):
        beat, lane = divmod(i, built)
        target = beat * width_set + lane
        if lane < width_set and target < len(out):
            out[target] = value
    return bytes(out)
