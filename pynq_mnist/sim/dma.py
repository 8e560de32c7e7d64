"""The virtual board's AXI DMA: Xilinx AXI DMA v7.1 in direct register (simple) mode, per PG021.

The register side lives here; the bytes move in C++ (``harness.cpp``, reached
through :class:`~pynq_mnist.sim.verilator.SimModel`), one beat per clock on
each stream. Section names below are those of PG021 v7.1 (AXI DMA LogiCORE IP
Product Guide), chapter 2 "Register Space" and chapter 3 "Programming
Sequence" / "Resets".

Modelled behaviour, and where PG021 says so:

- Power-on / after a reset (MM2S_DMACR 00h, MM2S_DMASR 04h, S2MM_DMASR 34h):
  DMACR has RS=0, DMASR has Halted=1 and Idle=0; every address and LENGTH
  register reads 0.
- Run/Stop (DMACR.RS, bit 0): RS=1 clears Halted. RS=0 stops the channel:
  "pending commands/transfers are flushed or completed; AXI4-Stream outs are
  potentially terminated". The model takes the hard reading: beats MM2S had
  already fetched stay on the stream (its 16-beat read-ahead, one burst of
  c_mm2s_burst_size), so they are what the next reader of s_axis sees first:
  the residual beats of an aborted batch. Only a soft reset ends them.
- Idle (DMASR bit 1): "for Direct Register Mode ... indicates the current
  transfer has completed"; 0 before the first transfer and while halted.
- LENGTH (MM2S_LENGTH 28h, S2MM_LENGTH 58h): writing a non-zero value starts
  the channel; while halted "writing to the LENGTH register has no effect".
  At the completion of an S2MM transfer "the number of actual bytes written
  on the S2MM AXI4 interface is updated to the S2MM_LENGTH register"; a
  packet longer than the buffer is "undefined behavior", modelled as
  DMAIntErr (as is LENGTH = 0).
- Address width (``c_addr_width``, PG021 "Register Space"): the MSB
  registers MM2S_SA_MSB 1Ch and S2MM_DA_MSB 4Ch exist only when the DMA is
  built with more than 32 address bits; otherwise they read 0, writes are
  ignored and the DMA drives the 32-bit address alone. With more, the
  address is MSB:LSB cut to ``c_addr_width`` bits. An address with no buffer
  (e.g. a buffer above 4 GiB given to a 32-bit DMA: only its low 32 bits
  reach the bus) is a decode error, never other memory.
- The memory side goes through the PS's HP port (``hp_port.HpPort``); a port
  set to another width than the design's corrupts the data (the model is
  in ``hp_port``).
- Errors (DMASR DMAIntErr bit 4, DMASlvErr bit 5, DMADecErr bit 6, Err_Irq
  bit 14): a decode error (an address with no memory, or an injected DECERR)
  or a slave error (injected SLVERR) on either channel's memory side sets
  the bit and Err_Irq, and halts the channel gracefully: RS goes to 0,
  Halted to 1. Errors clear only by a reset. Err_Irq and IOC_Irq are W1C; the
  channel's introut is (IOC_Irq and IOC_IrqEn) or (Err_Irq and Err_IrqEn).
- Soft reset (DMACR.Reset, bit 2): "Setting either MM2S_DMACR.Reset = 1 or
  S2MM_DMACR.Reset = 1 resets the entire AXI DMA engine"; the reset "is
  accomplished gracefully", pending transfers "flushed or completed" and
  stream outputs "potentially terminated early"; Reset reads 1 until the
  reset is over, then every register is at its reset value. Modelled: MM2S
  stops fetching and ends an open packet with TLAST (its remaining FIFO
  beats go out, the last with TLAST, or one extra zero beat carries it); the
  S2MM side accepts and drops every beat until the reset is over. The reset
  ends once the MM2S FIFO is empty, ``reset_cycles`` (plus an injected slow
  reset) have passed and neither stream has moved for ``quiet_cycles``
  (so what the last beats set off in the stream slave is flushed too). So, as
  on a board, a Reset never self-clears while the MM2S stream slave keeps
  TREADY low with a packet open: the driver's recovery must give the stream
  a taker (see docs/architecture.md, "Recovery").
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..hardware import regmap
from .hp_port import HpPort, read_through, write_through
from .verilator import AXI_DECERR, AXI_SLVERR, ChannelState, SimModel

__all__ = ["CHANNELS", "AxiDmaModel"]

log = logging.getLogger(__name__)

CHANNELS = ("mm2s", "s2mm")

_DMACR_RS = regmap.dma_bit("MM2S_DMACR", "RS")
_DMACR_RESET = regmap.dma_bit("MM2S_DMACR", "Reset")
_DMACR_IOC_IRQ_EN = regmap.dma_bit("MM2S_DMACR", "IOC_IrqEn")
_DMACR_ERR_IRQ_EN = regmap.dma_bit("MM2S_DMACR", "Err_IrqEn")
_DMACR_RESET_VALUE = 1 << int(
    regmap.DMA_REGISTERS["MM2S_DMACR"]["fields"]["IRQThreshold"]["bit_offset"]
)
_SR_HALTED = regmap.dma_bit("MM2S_DMASR", "Halted")
_SR_IDLE = regmap.dma_bit("MM2S_DMASR", "Idle")
_SR_INT_ERR = regmap.dma_bit("MM2S_DMASR", "DMAIntErr")
_SR_SLV_ERR = regmap.dma_bit("MM2S_DMASR", "DMASlvErr")
_SR_DEC_ERR = regmap.dma_bit("MM2S_DMASR", "DMADecErr")
_SR_IOC_IRQ = regmap.dma_bit("MM2S_DMASR", "IOC_Irq")
_SR_ERR_IRQ = regmap.dma_bit("MM2S_DMASR", "Err_Irq")
_SR_W1C = _SR_IOC_IRQ | regmap.dma_bit("MM2S_DMASR", "Dly_Irq") | _SR_ERR_IRQ
_LENGTH_MASK = (1 << int(regmap.DMA_PARAMETERS["c_sg_length_width"])) - 1
_STATE_ERRORS = {ChannelState.SLVERR: _SR_SLV_ERR, ChannelState.DECERR: _SR_DEC_ERR}
_RESP_NAMES = {"slverr": AXI_SLVERR, "decerr": AXI_DECERR}

_ROLES = ("cr", "sr", "lo", "hi", "length")
# DMA window offset -> (channel, register role)
_DECODE: dict[int, tuple[str, str]] = {
    regmap.dma_offset(reg): (channel, role)
    for channel, regs in (
        ("mm2s", ("MM2S_DMACR", "MM2S_DMASR", "MM2S_SA", "MM2S_SA_MSB", "MM2S_LENGTH")),
        ("s2mm", ("S2MM_DMACR", "S2MM_DMASR", "S2MM_DA", "S2MM_DA_MSB", "S2MM_LENGTH")),
    )
    for role, reg in zip(_ROLES, regs, strict=True)
}

# Host memory lookup: physical address and size -> (backing array, host pointer).
MemoryLookup = Callable[[int, int], "tuple[np.ndarray, int] | None"]


@dataclass
class _Channel:
    """Register state of one direct-register-mode channel (PG021 reset values)."""

    name: str
    dmacr: int = _DMACR_RESET_VALUE
    halted: bool = True
    idle: bool = False  # PG021: 0 until the first transfer completes
    errors: int = 0
    irq: int = 0
    addr_lo: int = 0
    addr_hi: int = 0
    length: int = 0
    busy: bool = False
    keepalive: np.ndarray | None = field(default=None, repr=False)
    # S2MM through a mismatched port: the written bytes go to keepalive, then here.
    scatter: Callable[[int], None] | None = field(default=None, repr=False)

    def settle(self, nbytes: int) -> None:
        """The transfer ended after ``nbytes``: deliver what a mismatched port wrote."""
        if self.scatter is not None:
            self.scatter(nbytes)
        self.scatter = None
        self.keepalive = None

    def status(self) -> int:
        value = self.errors | self.irq
        if self.halted:
            value |= _SR_HALTED
        elif self.idle:
            value |= _SR_IDLE
        return value

    def fail(self, error: int) -> None:
        """PG021 DMASR: an error halts the channel gracefully (RS cleared, Halted set)."""
        self.errors |= error
        self.irq |= _SR_ERR_IRQ
        self.dmacr &= ~_DMACR_RS
        self.halted = True
        self.idle = False
        self.busy = False

    @property
    def introut(self) -> bool:
        return bool(
            (self.irq & _SR_IOC_IRQ and self.dmacr & _DMACR_IOC_IRQ_EN)
            or (self.irq & _SR_ERR_IRQ and self.dmacr & _DMACR_ERR_IRQ_EN)
        )


class AxiDmaModel:
    """Registers of an AXI DMA (PG021 direct register mode) over the C++ stream datapath.

    Parameters
    ----------
    model : callable
        Returns the live :class:`SimModel` (raises once the board is closed).
    memory : callable
        ``memory(phys, nbytes)`` gives ``(backing array, host pointer)`` of a
        live buffer holding the whole span, or None (a decode error).
    reset_cycles : int
        Cycles a soft reset takes at least.
    quiet_cycles : int
        A soft reset lasts until neither stream has moved for this many cycles.
    addr_width : int
        ``c_addr_width`` of the DMA build (32: no MSB registers).
    port : HpPort, optional
        The PS port the memory side goes through (None: a matched port).
    """

    def __init__(
        self,
        model: Callable[[], SimModel],
        memory: MemoryLookup,
        *,
        reset_cycles: int = 64,
        quiet_cycles: int = 256,
        addr_width: int = 32,
        port: HpPort | None = None,
    ) -> None:
        self._model = model
        self._memory = memory
        self.addr_width = addr_width
        self.port = port
        self.reset_cycles = reset_cycles
        self.quiet_cycles = quiet_cycles
        self.channels = {name: _Channel(name) for name in CHANNELS}
        self.resetting = False
        # The address each channel's last transfer drove on its AXI bus (None: none yet).
        self.addresses: dict[str, int | None] = dict.fromkeys(CHANNELS)

    # --- state seen by the device --------------------------------------------

    @property
    def busy(self) -> bool:
        """A transfer or a soft reset is in progress (simulated time must advance)."""
        return self.resetting or any(ch.busy for ch in self.channels.values())

    def introut(self, channel: str) -> bool:
        """Level of ``mm2s_introut`` / ``s2mm_introut``."""
        return self.channels[channel].introut

    def power_on(self) -> None:
        """Registers at their reset values (the datapath was reset by ``SimModel.reset``)."""
        self.channels = {name: _Channel(name) for name in CHANNELS}
        self.resetting = False

    def release(self) -> None:
        """Drop references to host buffers (the board is closing)."""
        for ch in self.channels.values():
            ch.keepalive = None
            ch.scatter = None

    # --- faults ----------------------------------------------------------------

    def inject_memory_error(self, channel: str, kind: str, at_byte: int = 0) -> None:
        """Arm a ``kind`` ("decerr"/"slverr") memory response at ``at_byte`` of the next transfer.

        Raises
        ------
        ValueError
            Unknown channel or kind, or a negative offset.
        """
        if channel not in CHANNELS or kind not in _RESP_NAMES or at_byte < 0:
            raise ValueError(
                f"memory error {channel!r}/{kind!r} at byte {at_byte}: channel is one of "
                f"{CHANNELS}, kind one of {tuple(_RESP_NAMES)}, at_byte >= 0"
            )
        model = self._model()
        if channel == "mm2s":
            model.fault_mm2s_error(at_byte, _RESP_NAMES[kind])
        else:
            model.fault_s2mm_error(at_byte, _RESP_NAMES[kind])

    # --- register access -------------------------------------------------------

    def read(self, offset: int) -> int:
        """Serve a 32-bit read at ``offset`` of the DMA window (reserved offsets read 0)."""
        self.sync()
        if offset not in _DECODE:
            return 0
        channel, role = _DECODE[offset]
        ch = self.channels[channel]
        if role == "hi" and self.addr_width <= 32:
            return 0  # PG021: no MSB register below 33 address bits
        if role == "cr":
            return ch.dmacr | (_DMACR_RESET if self.resetting else 0)
        if role == "sr":
            return ch.status()
        return {"lo": ch.addr_lo, "hi": ch.addr_hi, "length": ch.length}[role]

    def write(self, offset: int, value: int) -> None:
        """Serve a 32-bit write at ``offset`` of the DMA window."""
        self.sync()
        if offset not in _DECODE:
            return
        if self.resetting:
            log.debug("sim: DMA write at %#x during a soft reset: ignored", offset)
            return
        channel, role = _DECODE[offset]
        ch = self.channels[channel]
        if role == "cr":
            self._write_dmacr(ch, value)
        elif role == "sr":
            ch.irq &= ~(value & _SR_W1C)
        elif role == "lo":
            ch.addr_lo = value
        elif role == "hi":
            if self.addr_width > 32:
                ch.addr_hi = value
        else:
            self._write_length(ch, value)

    def sync(self) -> None:
        """Fold the C++ datapath's channel states (and the end of a reset) into the registers."""
        model = self._model()
        if self.resetting:
            if model.dma_resetting:
                return
            self.power_on()  # PG021: after a soft reset every register is at its reset value
        for name, ch in self.channels.items():
            if not ch.busy:
                continue
            state, nbytes = model.mm2s_state() if name == "mm2s" else model.s2mm_state()
            if state in (ChannelState.DONE, ChannelState.OVERFLOW, *_STATE_ERRORS):
                ch.settle(nbytes)
            if state == ChannelState.DONE:
                ch.busy = False
                ch.idle = True
                ch.irq |= _SR_IOC_IRQ
                if name == "s2mm":
                    ch.length = nbytes  # PG021 S2MM_LENGTH: the bytes actually written
            elif state == ChannelState.OVERFLOW:
                log.debug("sim: S2MM overflow after %d bytes (LENGTH %d)", nbytes, ch.length)
                ch.length = nbytes
                ch.fail(_SR_INT_ERR)
            elif state in _STATE_ERRORS:
                log.debug("sim: %s %s after %d bytes", name, state.name, nbytes)
                ch.fail(_STATE_ERRORS[state])

    # --- register semantics ------------------------------------------------------

    def _write_dmacr(self, ch: _Channel, value: int) -> None:
        if value & _DMACR_RESET:
            self._soft_reset()
            return
        ch.dmacr = value
        if value & _DMACR_RS:
            # Errors clear only by reset; an erroring channel stays halted.
            ch.halted = bool(ch.errors)
            if ch.errors:
                ch.dmacr &= ~_DMACR_RS
        else:
            self._halt(ch)
            ch.halted = True
            ch.idle = False

    def _soft_reset(self) -> None:
        """PG021 DMACR.Reset: both channels, graceful, takes cycles (see the module doc)."""
        s2mm = self.channels["s2mm"]
        if s2mm.busy:
            s2mm.settle(self._model().s2mm_state()[1])
        for ch in self.channels.values():
            ch.busy = False
            ch.dmacr &= ~_DMACR_RS
            ch.halted = True
            ch.idle = False
        self.resetting = True
        self._model().dma_reset(self.reset_cycles, self.quiet_cycles)

    def _halt(self, ch: _Channel) -> None:
        model = self._model()
        if ch.name == "mm2s":
            model.mm2s_halt()
        else:
            ch.settle(model.s2mm_state()[1])
            model.s2mm_halt()
        ch.busy = False
        ch.keepalive = None

    def _write_length(self, ch: _Channel, value: int) -> None:
        if ch.halted:
            log.debug("sim: %s LENGTH written while halted: ignored (PG021)", ch.name)
            return
        if ch.busy:
            log.warning("sim: %s LENGTH written during a transfer: ignored", ch.name)
            return
        nbytes = value & _LENGTH_MASK
        ch.length = nbytes
        if nbytes == 0:
            ch.fail(_SR_INT_ERR)
            return
        phys = ((ch.addr_hi << 32) | ch.addr_lo) & ((1 << self.addr_width) - 1)
        self.addresses[ch.name] = phys
        span = self._memory(phys, nbytes)
        if span is None:
            log.debug("sim: %s %d bytes at %#x: no buffer there (DMADecErr)", ch.name, nbytes, phys)
            ch.fail(_SR_DEC_ERR)
            return
        ch.keepalive, pointer = span
        if self.port is not None:
            pointer = self._through_port(ch, pointer, nbytes)
        ch.busy = True
        ch.idle = False
        if ch.name == "mm2s":
            self._model().mm2s_start(pointer, nbytes)
        else:
            self._model().s2mm_start(pointer, nbytes)

    def _through_port(self, ch: _Channel, pointer: int, nbytes: int) -> int:
        """The host pointer the datapath uses: the buffer, or a scratch copy if the port is
        set to another width than built (see ``hp_port``)."""
        assert self.port is not None and ch.keepalive is not None
        built = self.port.built
        width_set = self.port.read_width() if ch.name == "mm2s" else self.port.write_width()
        if width_set == built:
            return pointer
        memory = ch.keepalive[pointer - ch.keepalive.ctypes.data :]
        log.debug("sim: %s through a %d-bit port built for %d", ch.name, width_set, built)
        if ch.name == "mm2s":
            scratch = read_through(memory, nbytes, built // 8, width_set // 8)
        else:
            scratch = np.zeros(nbytes, np.uint8)

            def scatter(received: int) -> None:
                write_through(memory, scratch[:received], built // 8, width_set // 8)

            ch.scatter = scatter
        ch.keepalive = scratch
        return int(scratch.ctypes.data)
