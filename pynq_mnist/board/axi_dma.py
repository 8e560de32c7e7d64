"""AXI DMA (Xilinx PG021) in direct register mode: one channel, and the pair one batch drives.

Shaped like pynq's ``_SDMAChannel``, with what a batch of the accelerator
needs and pynq's channel lacks: one poll of both channels with a deadline,
decoded errors, and a reset that can finish while the stream's taker holds
TREADY low. Offsets and bits come from ``regmap.DMA_REGISTERS``; every access
goes through a :class:`~.mmio.CountingMmio`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pynq import allocate

from ..errors import AcceleratorError, AcceleratorTimeout, BufferAllocationError, ConfigError
from ..hardware import regmap
from .mmio import POLL_FIRST_S, AccessCount, CountingMmio, Deadline, describe_bits

__all__ = ["DirectChannel", "DmaBuffers", "DmaFault", "DmaPair", "StreamSink"]

log = logging.getLogger(__name__)

# Polling backoff of a batch: the first polls come fast (one image takes
# ~30 us at 100 MHz), later ones back off. No pause (nor the sleep before the
# first poll) exceeds POLL_MAX_S, so a DMA error is seen within ~2 ms on a
# board; a long batch costs two DMASR reads per 2 ms, ~0.1% of the CPU.
POLL_MAX_S = 2e-3
# A batch expected to take longer than this sleeps up to POLL_MAX_S before its first poll.
PRESLEEP_MIN_S = 200e-6
# What each DMASR error bit means (PG021, MMx_DMASR bits 4..6).
ERROR_TEXT = {
    "DMAIntErr": "internal error: LENGTH 0 or a packet longer than the buffer",
    "DMASlvErr": "slave error: the memory answered SLVERR",
    "DMADecErr": "decode error: no memory at the buffer address",
}


class DirectChannel:
    """One channel, MM2S (memory to stream) or S2MM (stream to memory), in direct mode.

    Parameters
    ----------
    regs : CountingMmio
        The DMA's register window.
    name : str
        ``"MM2S"`` or ``"S2MM"``, the prefix of its registers in PG021.
    addr64 : bool
        The DMA was built with ``c_addr_width`` > 32: write the address MSB too.
    """

    def __init__(self, regs: CountingMmio, name: str, addr64: bool) -> None:
        self.regs = regs
        self.name = name
        self.addr64 = addr64
        address = "SA" if name == "MM2S" else "DA"
        self.dmacr = regmap.dma_offset(f"{name}_DMACR")
        self.dmasr = regmap.dma_offset(f"{name}_DMASR")
        self.address = regmap.dma_offset(f"{name}_{address}")
        self.address_msb = regmap.dma_offset(f"{name}_{address}_MSB")
        self.length = regmap.dma_offset(f"{name}_LENGTH")
        self.sr_fields = regmap.DMA_REGISTERS[f"{name}_DMASR"]["fields"]
        self.run_bit = regmap.dma_bit(f"{name}_DMACR", "RS")
        self.reset_bit = regmap.dma_bit(f"{name}_DMACR", "Reset")
        self.halted_bit = regmap.dma_bit(f"{name}_DMASR", "Halted")
        self.idle_bit = regmap.dma_bit(f"{name}_DMASR", "Idle")
        self.error_bits = {err: regmap.dma_bit(f"{name}_DMASR", err) for err in ERROR_TEXT}
        self.error_mask = sum(self.error_bits.values())
        # What pynq's DMA wrote to DMACR (RS, and IOC_IrqEn when it found an
        # interrupt), so a reset restarts the channel the same way.
        self.run_value = regs.read(self.dmacr) | self.run_bit

    def start(self, address: int, nbytes: int) -> None:
        """Program a transfer of ``nbytes`` at physical ``address``; writing LENGTH starts it."""
        self.regs.write(self.address, address & 0xFFFFFFFF)
        if self.addr64:
            self.regs.write(self.address_msb, address >> 32)
        self.regs.write(self.length, nbytes)

    def status(self) -> int:
        """DMASR (one read)."""
        return self.regs.read(self.dmasr)

    def transferred(self) -> int:
        """LENGTH: for S2MM, the bytes the last transfer actually wrote (one read)."""
        return self.regs.read(self.length)

    def halted(self, sr: int) -> bool:
        """Halted in a DMASR value: RS=0, an error, or a reset by someone else."""
        return bool(sr & self.halted_bit)

    def idle(self, sr: int) -> bool:
        """Idle in a DMASR value: the transfer completed (0 before the first one)."""
        return bool(sr & self.idle_bit)

    def describe_errors(self, sr: int) -> str:
        """``MM2S DMADecErr (decode error: ...)`` for each error bit set in ``sr``."""
        return "; ".join(
            f"{self.name} {err} ({ERROR_TEXT[err]})"
            for err, bit in self.error_bits.items()
            if sr & bit
        )

    def describe(self, sr: int) -> str:
        """``MM2S_DMASR=0x00000002 (Idle)``."""
        return f"{self.name}_DMASR={describe_bits(sr, self.sr_fields)}"

    def reset(self) -> None:
        """Write DMACR.Reset (PG021: either channel's bit resets the whole core)."""
        self.regs.write(self.dmacr, self.reset_bit)

    def resetting(self) -> bool:
        """DMACR.Reset still reads 1: the reset is not over (one read)."""
        return bool(self.regs.read(self.dmacr) & self.reset_bit)

    def run(self, deadline: Deadline) -> None:
        """Set RS=1 (with the DMACR value pynq's DMA wrote) and wait for Halted to clear."""
        self.regs.write(self.dmacr, self.run_value)
        self.regs.wait_bits(
            self.dmasr,
            self.halted_bit,
            0,
            deadline,
            f"AXI DMA {self.name}_DMASR.Halted still set after RS=1",
        )


@dataclass(frozen=True)
class DmaFault:
    """Why :meth:`DmaPair.wait_received` stopped before S2MM completed."""

    error: type[AcceleratorError]
    message: str | None  # None: the deadline passed
    s2mm_sr: int
    mm2s_sr: int | None  # None: not read (S2MM had already failed)


class StreamSink(Protocol):
    """The IP taking M_AXIS_MM2S, as the DMA reset needs it."""

    def idle(self) -> bool:
        """Read its status: True when it holds no part of a packet."""

    def take_packet_end(self) -> None:
        """Accept beats up to the next TLAST."""

    def stop_taking(self) -> None:
        """Drop what it took (called once the DMA reset is over)."""

    def describe(self) -> str:
        """The status last read, for an error message."""


class DmaPair:
    """Both channels of one AXI DMA in direct mode, driven together as one batch needs.

    Parameters
    ----------
    dma : pynq.lib.dma.DMA
        pynq's driver of the AXI DMA, in simple mode; its MMIO is used directly.
    count : AccessCount
        The register-access count shared with the accelerator's window.
    data_width : int
        Stream data width the channels must have.

    Raises
    ------
    ConfigError
        A channel is missing, the DMA uses scatter-gather or micro mode, or
        its data widths differ from ``data_width``.
    """

    def __init__(self, dma: Any, count: AccessCount, data_width: int) -> None:
        params = dma.description.get("parameters", {})
        if dma.sendchannel is None or dma.recvchannel is None:
            raise ConfigError(
                "axi_dma needs both MM2S and S2MM channels "
                f"(c_include_mm2s={params.get('c_include_mm2s')}, "
                f"c_include_s2mm={params.get('c_include_s2mm')})"
            )
        for key, want in (("c_include_sg", 0), ("c_micro_dma", 0)):
            if int(params.get(key, 0)) != want:
                raise ConfigError(f"axi_dma parameter {key}={params[key]}, expected {want}")
        for key in ("c_m_axi_mm2s_data_width", "c_m_axi_s2mm_data_width"):
            if int(params.get(key, data_width)) != data_width:
                raise ConfigError(f"axi_dma parameter {key}={params[key]}, expected {data_width}")
        regs = CountingMmio(dma.mmio, count)
        self.addr_width = int(params.get("c_addr_width", 32))
        self.mm2s = DirectChannel(regs, "MM2S", self.addr_width > 32)
        self.s2mm = DirectChannel(regs, "S2MM", self.addr_width > 32)

    def check_reach(self, *buffers: Any) -> None:
        """Every buffer lies inside the DMA's address space (before anything is started).

        Raises
        ------
        ConfigError
            A buffer ends at or above 2**c_addr_width: the DMA would read or
            write another address (PG021: the address registers hold
            c_addr_width bits).
        """
        limit = 1 << self.addr_width
        for buf in buffers:
            end = buf.physical_address + buf.nbytes
            if end > limit:
                raise ConfigError(
                    f"DMA buffer at physical {buf.physical_address:#x} ({buf.nbytes} bytes) is "
                    f"beyond the AXI DMA's {self.addr_width}-bit addresses (c_addr_width): "
                    "allocate it below that, or use an overlay whose DMA has 64-bit addresses"
                )

    def describe(self, s2mm_sr: int | None = None, mm2s_sr: int | None = None) -> str:
        """Both DMASR values decoded; those not given are read (MM2S first)."""
        if mm2s_sr is None:
            mm2s_sr = self.mm2s.status()
        if s2mm_sr is None:
            s2mm_sr = self.s2mm.status()
        return f"{self.mm2s.describe(mm2s_sr)} {self.s2mm.describe(s2mm_sr)}"

    def wait_received(self, deadline: Deadline, expected_s: float, batch: str) -> DmaFault | None:
        """Poll until S2MM is idle, watching both channels; None when it is, else why not.

        Each poll reads S2MM_DMASR; while S2MM is not done it also reads
        MM2S_DMASR, so an MM2S error (which starves the stream, so S2MM never
        completes) ends the wait at the next poll instead of at the deadline.
        ``expected_s`` (the batch's expected time) sizes the sleep before the
        first poll; ``batch`` (``"batch of 4 images"``) goes into the messages.
        """
        pause = POLL_FIRST_S
        if expected_s > PRESLEEP_MIN_S:
            time.sleep(min(expected_s, POLL_MAX_S))
            pause = POLL_MAX_S
        while True:
            s2mm_sr = self.s2mm.status()
            if s2mm_sr & self.s2mm.error_mask:
                text = f"AXI DMA {self.s2mm.describe_errors(s2mm_sr)} on a {batch}"
                return DmaFault(AcceleratorError, text, s2mm_sr, None)
            if self.s2mm.idle(s2mm_sr):
                return None
            mm2s_sr = self.mm2s.status()
            if mm2s_sr & self.mm2s.error_mask:
                text = f"AXI DMA {self.mm2s.describe_errors(mm2s_sr)} on a {batch}"
                return DmaFault(AcceleratorError, text, s2mm_sr, mm2s_sr)
            halted = [
                ch.name for ch, sr in ((self.s2mm, s2mm_sr), (self.mm2s, mm2s_sr)) if ch.halted(sr)
            ]
            if halted:
                text = (
                    f"AXI DMA {'/'.join(halted)} halted during a {batch} "
                    "(RS=0 or reset by someone else)"
                )
                return DmaFault(AcceleratorError, text, s2mm_sr, mm2s_sr)
            if deadline.passed():
                return DmaFault(AcceleratorTimeout, None, s2mm_sr, mm2s_sr)
            time.sleep(pause)
            pause = min(2 * pause, POLL_MAX_S)

    def reset(self, deadline: Deadline, sink: StreamSink) -> None:
        """Reset both channels and wait until the reset is over and ``sink`` idle; restart them.

        A Reset still set while ``sink`` is idle means MM2S cannot end its
        packet: nobody takes the beats (docs/architecture.md#recovery). The
        sink is asked once to take them up to TLAST, and once the reset is
        over, to drop what it took.

        Raises
        ------
        AcceleratorTimeout
            Not done by ``deadline``; reload the overlay.
        """
        self.mm2s.reset()
        taking = stopped = False
        while True:
            resetting = self.mm2s.resetting()
            idle = sink.idle()
            if not resetting and idle:
                break
            if resetting and idle and not taking:
                sink.take_packet_end()
                taking = True
            elif not resetting and taking and not stopped:
                sink.stop_taking()
                stopped = True
            if deadline.passed():
                raise AcceleratorTimeout(
                    f"recovery failed within {deadline.seconds} s: AXI DMA "
                    f"MM2S_DMACR.Reset {'still set' if resetting else 'clear'}, "
                    f"{sink.describe()}; reload the overlay"
                )
            time.sleep(POLL_FIRST_S)
        for ch in (self.mm2s, self.s2mm):
            ch.run(deadline)


class DmaBuffers:
    """The source and destination buffers of a transfer: allocated once, grown only when needed.

    Parameters
    ----------
    src_item, dst_item : (int, dtype)
        Width and dtype of one item (e.g. an image, a result record) in each buffer.
    what : str
        The items, plural, for error messages.
    """

    def __init__(
        self, src_item: tuple[int, Any], dst_item: tuple[int, Any], what: str = "items"
    ) -> None:
        self._items = (src_item, dst_item)
        self._what = what
        self.src: Any = None
        self.dst: Any = None

    def get(self, n: int) -> tuple[Any, Any]:
        """Views of the first ``n`` items of the source and destination buffers.

        Raises
        ------
        BufferAllocationError
            The contiguous (CMA) memory could not hold them.
        """
        if self.src is None or self.src.shape[0] < n:
            self.free()
            (src_width, src_dtype), (dst_width, dst_dtype) = self._items
            try:
                self.src = allocate((n, src_width), dtype=src_dtype)
                self.dst = allocate((n, dst_width), dtype=dst_dtype)
            except (RuntimeError, MemoryError, OSError, AcceleratorError) as exc:
                self.free()
                nbytes = n * sum(w * np.dtype(t).itemsize for w, t in self._items)
                raise BufferAllocationError(
                    f"cannot allocate DMA buffers for {n} {self._what} ({nbytes} bytes of "
                    f"contiguous memory): {exc}. Free other pynq buffers (freebuffer()/close()), "
                    "stop other PYNQ processes or reboot the board; the PYNQ v3 image reserves "
                    "128 MiB of CMA"
                ) from exc
            log.debug("allocated DMA buffers for %d %s", n, self._what)
        return self.src[:n], self.dst[:n]

    def free(self) -> None:
        """Free both buffers (idempotent)."""
        for buf in (self.src, self.dst):
            if buf is not None:
                buf.freebuffer()
        self.src = self.dst = None
