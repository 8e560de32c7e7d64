"""cocotb testbench for mnist_ctrl_axil: the AXI4-Lite register file and weight-window port.

The engine side is modelled here: status inputs are driven directly, and the
window read port is answered by a Python memory with a random latency.
"""

from __future__ import annotations

import logging
import os
import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiLiteBus, AxiLiteMaster
from tb_common import (
    RESP_OKAY,
    RESP_SLVERR,
    AxiLiteAccess,
    BusMonitor,
    cycle_pause,
    random_pause,
    stall_pause,
)

from pynq_mnist.hardware import regmap as rm

WIN = rm.WEIGHT_WINDOW_OFFSET
WIN_WORDS = rm.WEIGHT_WINDOW_BYTES // 4


class TB(AxiLiteAccess):
    """Clock, reset, AXI4-Lite master, engine-side models."""

    def __init__(self, dut) -> None:
        self.dut = dut
        self.clock = dut.clk
        self.reset_n = dut.rst_n
        self.nb = int(os.environ.get("PARAM_NUM_BANKS", "64"))
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axi"), dut.clk, dut.rst_n, reset_active_level=False
        )
        self.axil.write_if.log.setLevel(logging.WARNING)
        self.mem: dict[int, int] = {}
        self.win_writes: list[tuple[int, int, int]] = []
        self.win_reads = 0
        self.starts = 0
        self.empty_starts = 0
        self.soft_resets = 0
        self.rng = random.Random(1)
        self.latency = (1, 6)
        dut.busy.value = 0
        dut.draining.value = 0
        dut.eng_reset.value = 0
        dut.done_set.value = 0
        dut.error_set.value = 0
        dut.images_done.value = 0
        dut.cycles.value = 0
        dut.win_rd_valid.value = 0
        dut.win_rd_data.value = 0
        cocotb.start_soon(self._engine())

    async def _engine(self) -> None:
        """Window memory with 1..6 cycles of read latency; counts START/SOFT_RESET pulses."""
        dut = self.dut
        pending: list[tuple[int, int]] = []  # (due cycle, word)
        cycle = 0
        while True:
            await RisingEdge(dut.clk)
            cycle += 1
            dut.win_rd_valid.value = 0
            if dut.eng_reset.value:
                pending.clear()  # the engine reset empties layer 1's read pipeline
            if pending and pending[0][0] <= cycle:
                _, word = pending.pop(0)
                dut.win_rd_valid.value = 1
                dut.win_rd_data.value = self.mem.get(word, 0)
            if dut.win_wr_en.value:
                word = int(dut.win_wr_addr.value)
                data = int(dut.win_wr_data.value)
                strb = int(dut.win_wr_strb.value)
                self.win_writes.append((word, data, strb))
                old = self.mem.get(word, 0)
                mask = sum(0xFF << (8 * k) for k in range(4) if strb >> k & 1)
                self.mem[word] = (old & ~mask) | (data & mask)
            if dut.win_rd_en.value:
                assert not pending, "a second window read before the first answered"
                due = cycle + self.rng.randint(*self.latency)
                pending.append((due, int(dut.win_rd_addr.value)))
                self.win_reads += 1
            self.starts += int(dut.start.value) + int(dut.start_empty.value)
            self.empty_starts += int(dut.start_empty.value)
            self.soft_resets += int(dut.soft_reset.value)

    async def pulse(self, signal, value: int = 1) -> None:
        signal.value = value
        await RisingEdge(self.dut.clk)
        signal.value = 0

    def set_pauses(self, idle, backpressure, w_idle=None) -> None:
        """Pause the request channels (idle) and the response channels (backpressure).

        ``w_idle`` gives W a generator of its own (AW keeps ``idle``), so that W
        reaches the slave before, with and after AW.
        """
        chans = (
            (self.axil.write_if.aw_channel, idle),
            (self.axil.write_if.w_channel, w_idle or idle),
            (self.axil.read_if.ar_channel, idle),
            (self.axil.write_if.b_channel, backpressure),
            (self.axil.read_if.r_channel, backpressure),
        )
        for ch, gen in chans:
            ch.set_pause_generator(gen() if gen else None)
            ch.pause = False


async def setup(dut) -> TB:
    tb = TB(dut)
    await tb.reset()
    return tb


@cocotb.test()
async def register_file(dut):
    """Reset values, RW/RO/W1C behaviour, START/SOFT_RESET pulses, interrupt, SLVERR."""
    tb = await setup(dut)
    assert await tb.read_reg(rm.REG_ID) == rm.ID_VALUE
    assert await tb.read_reg(rm.REG_NUM_BANKS) == tb.nb
    assert await tb.read_reg(rm.REG_LAYER_SIZES) == rm.LAYER_SIZES_VALUE
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_IDLE
    dut.images_done.value = 0x01020304
    dut.cycles.value = 0xCAFEF00D
    await RisingEdge(dut.clk)
    assert await tb.read_reg(rm.REG_IMAGES_DONE) == 0x01020304
    assert await tb.read_reg(rm.REG_CYCLES) == 0xCAFEF00D

    for reg, width in ((rm.REG_N_IMAGES, 32), (rm.REG_SHIFT_L1, 5), (rm.REG_SHIFT_L2, 5)):
        for value in (0xFFFFFFFF, 0x5A5A5A5A, 0):
            assert await tb.write(reg, value) == RESP_OKAY
            assert await tb.read_reg(reg) == value & ((1 << width) - 1)
    assert dut.n_images.value == 0

    # START: one pulse per write, none while busy; IRQ_EN sticky
    assert await tb.write(rm.REG_CTRL, rm.CTRL_START | rm.CTRL_IRQ_EN) == RESP_OKAY
    await ClockCycles(dut.clk, 3)
    assert tb.starts == 1
    assert await tb.read_reg(rm.REG_CTRL) == rm.CTRL_IRQ_EN
    assert tb.empty_starts == 1, "N_IMAGES = 0 starts no batch"
    dut.busy.value = 1
    await RisingEdge(dut.clk)
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_BUSY
    # START while busy: refused with SLVERR, sticky START_REJECTED, IRQ_EN untouched
    assert await tb.write(rm.REG_CTRL, rm.CTRL_START) == RESP_SLVERR
    await ClockCycles(dut.clk, 3)
    assert tb.starts == 1, "START while busy must be ignored"
    assert await tb.read_reg(rm.REG_CTRL) == rm.CTRL_IRQ_EN
    status = await tb.read_reg(rm.REG_STATUS)
    assert status == rm.STATUS_BUSY | rm.STATUS_START_REJECTED
    await tb.write_reg(rm.REG_STATUS, rm.STATUS_START_REJECTED)
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_BUSY
    # ... and while draining; IDLE reads 0 then
    dut.busy.value = 0
    dut.draining.value = 1
    await RisingEdge(dut.clk)
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_DRAINING
    assert await tb.write(rm.REG_CTRL, rm.CTRL_START | rm.CTRL_IRQ_EN) == RESP_SLVERR
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_DRAINING | rm.STATUS_START_REJECTED
    await tb.write_reg(rm.REG_STATUS, rm.STATUS_START_REJECTED)
    dut.draining.value = 0
    dut.busy.value = 1
    await RisingEdge(dut.clk)

    # errors accumulate in ERROR_CAUSE, DONE raises the interrupt
    await tb.pulse(dut.error_set, rm.ERR_EARLY_TLAST)
    await tb.pulse(dut.error_set, rm.ERR_BAD_TKEEP)
    await tb.pulse(dut.done_set)
    dut.busy.value = 0
    await ClockCycles(dut.clk, 2)
    assert dut.interrupt.value == 1
    status = await tb.read_reg(rm.REG_STATUS)
    assert status == rm.STATUS_IDLE | rm.STATUS_DONE | rm.STATUS_ERROR
    assert await tb.read_reg(rm.REG_ERROR_CAUSE) == rm.ERR_EARLY_TLAST | rm.ERR_BAD_TKEEP
    # W1C: only the written bit clears
    await tb.write(rm.REG_STATUS, rm.STATUS_DONE)
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_IDLE | rm.STATUS_ERROR
    await ClockCycles(dut.clk, 2)
    assert dut.interrupt.value == 0
    # START clears ERROR and ERROR_CAUSE
    await tb.write(rm.REG_CTRL, rm.CTRL_START)
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_IDLE
    assert await tb.read_reg(rm.REG_ERROR_CAUSE) == 0
    assert tb.starts == 2
    # IRQ_EN cleared by that write: DONE alone does not interrupt
    await tb.pulse(dut.done_set)
    await ClockCycles(dut.clk, 2)
    assert dut.interrupt.value == 0
    # SOFT_RESET: a pulse, no START even if both bits are written; clears status
    await tb.pulse(dut.error_set, rm.ERR_MISSING_TLAST)
    await tb.write(rm.REG_CTRL, rm.CTRL_SOFT_RESET | rm.CTRL_START)
    await ClockCycles(dut.clk, 3)
    assert (tb.soft_resets, tb.starts) == (1, 2)
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_IDLE
    assert await tb.read_reg(rm.REG_ERROR_CAUSE) == 0
    # RO registers ignore writes; undefined addresses answer SLVERR with 0
    assert await tb.write(rm.REG_ID, 0) == RESP_OKAY
    assert await tb.read_reg(rm.REG_ID) == rm.ID_VALUE
    for addr in (0x0C, 0x34, 0x80, 0xFC, 0x100, 0x10000, 0x1FFFC):
        assert await tb.read(addr) == (0, RESP_SLVERR), f"{addr:#x}"
        assert await tb.write(addr, 0xFFFFFFFF) == RESP_SLVERR, f"{addr:#x}"
    assert not tb.win_writes and tb.win_reads == 0
    # aresetn clears every control register, whatever it held
    for reg, value in ((rm.REG_N_IMAGES, 0x80000003), (rm.REG_SHIFT_L1, 9), (rm.REG_SHIFT_L2, 11)):
        await tb.write_reg(reg, value)
    await tb.write_reg(rm.REG_OWNER_TAG, 0x0BADCAFE)
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_IRQ_EN)
    await tb.pulse(dut.error_set, rm.ERR_BAD_TKEEP)
    await tb.pulse(dut.done_set)
    dut.busy.value = 1
    assert await tb.write(rm.REG_CTRL, rm.CTRL_START) == RESP_SLVERR
    dut.busy.value = 0
    await ClockCycles(dut.clk, 2)
    assert dut.interrupt.value == 1
    sticky = rm.STATUS_DONE | rm.STATUS_ERROR | rm.STATUS_START_REJECTED
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_IDLE | sticky
    await tb.reset()
    for reg in (rm.REG_N_IMAGES, rm.REG_SHIFT_L1, rm.REG_SHIFT_L2, rm.REG_OWNER_TAG, rm.REG_CTRL):
        assert await tb.read_reg(reg) == 0, f"{reg:#x} survived aresetn"
    assert await tb.read_reg(rm.REG_STATUS) == rm.STATUS_IDLE
    assert await tb.read_reg(rm.REG_ERROR_CAUSE) == 0
    assert dut.interrupt.value == 0
    # and N_IMAGES reads 0 to the engine too: START is an empty batch
    starts = tb.starts, tb.empty_starts
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_START)
    await ClockCycles(dut.clk, 3)
    assert (tb.starts, tb.empty_starts) == (starts[0] + 1, starts[1] + 1)


@cocotb.test()
async def window_port(dut):
    """Window writes forward word index and WSTRB; reads wait for the bank; SLVERR rules."""
    tb = await setup(dut)
    assert await tb.write(WIN + 4 * 7, 0x11223344) == RESP_OKAY
    assert tb.win_writes[-1] == (7, 0x11223344, 0xF)
    resp = await with_timeout(tb.axil.write(WIN + 4 * 7 + 3, b"\xee"), 10, "us")
    assert resp.resp == RESP_OKAY
    assert tb.win_writes[-1][0] == 7 and tb.win_writes[-1][2] == 0x8
    assert await tb.read_reg(WIN + 4 * 7) == 0xEE223344
    last = WIN + 4 * (WIN_WORDS - 1)
    assert await tb.write(last, 0xA5A5A5A5) == RESP_OKAY
    assert tb.win_writes[-1][0] == WIN_WORDS - 1
    assert await tb.read_reg(last) == 0xA5A5A5A5
    n_writes = len(tb.win_writes)
    for addr in (last + 4, WIN + 0x1FFFC):
        assert await tb.write(addr, 1) == RESP_SLVERR
        assert await tb.read(addr) == (0, RESP_SLVERR)
    # busy: SLVERR, nothing forwarded
    dut.busy.value = 1
    await RisingEdge(dut.clk)
    reads = tb.win_reads
    assert await tb.write(WIN, 0) == RESP_SLVERR
    assert await tb.read(WIN + 4 * 7) == (0, RESP_SLVERR)
    assert len(tb.win_writes) == n_writes and tb.win_reads == reads
    dut.busy.value = 0
    await RisingEdge(dut.clk)
    assert await tb.read_reg(WIN + 4 * 7) == 0xEE223344


@cocotb.test()
async def engine_races(dut):
    """A window read lost to the engine reset answers SLVERR; START clears a same-cycle DONE."""
    tb = await setup(dut)
    await tb.write_reg(WIN + 4 * 5, 0x600D)
    tb.latency = (10, 10)
    read = cocotb.start_soon(tb.read(WIN + 4 * 5))
    await ClockCycles(dut.clk, 6)
    await tb.pulse(dut.eng_reset)
    assert await with_timeout(read, 1, "us") == (0, RESP_SLVERR)
    assert await tb.read_reg(rm.REG_ID) == rm.ID_VALUE
    tb.latency = (1, 6)
    assert await tb.read_reg(WIN + 4 * 5) == 0x600D
    # N_IMAGES != 0: a batch start; the zero flag follows every N_IMAGES write
    await tb.write_reg(rm.REG_N_IMAGES, 1 << 31)
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_START | rm.CTRL_IRQ_EN)
    await ClockCycles(dut.clk, 2)
    assert (tb.starts, tb.empty_starts) == (1, 0)
    # DONE arriving in the very cycle a START is accepted belongs to the old batch

    async def done_when_start_handshakes() -> None:
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            # AWREADY rises in the cycle after AWVALID is seen: that cycle is the handshake
            if dut.s_axi_awvalid.value and not dut.s_axi_awready.value:
                break
        await RisingEdge(dut.clk)
        dut.done_set.value = 1
        await ReadOnly()
        assert dut.s_axi_awready.value and dut.s_axi_awvalid.value, "missed the handshake"
        await RisingEdge(dut.clk)
        dut.done_set.value = 0

    watcher = cocotb.start_soon(done_when_start_handshakes())
    assert await tb.write(rm.REG_CTRL, rm.CTRL_START | rm.CTRL_IRQ_EN) == RESP_OKAY
    await watcher
    await ClockCycles(dut.clk, 2)
    assert not (await tb.read_reg(rm.REG_STATUS)) & rm.STATUS_DONE
    assert dut.interrupt.value == 0
    assert tb.starts == 2


@cocotb.test()
async def owner_tag(dut):
    """OWNER_TAG: RW with WSTRB; cleared by window writes (even refused) and SHIFT writes."""
    tb = await setup(dut)
    assert await tb.read_reg(rm.REG_OWNER_TAG) == 0
    await tb.write_reg(rm.REG_OWNER_TAG, 0xA5A55A5A)
    assert await tb.read_reg(rm.REG_OWNER_TAG) == 0xA5A55A5A
    resp = await with_timeout(tb.axil.write(rm.REG_OWNER_TAG + 2, b"\x11"), 10, "us")
    assert resp.resp == RESP_OKAY
    assert await tb.read_reg(rm.REG_OWNER_TAG) == 0xA5115A5A
    # neither reads, other registers, window reads, SOFT_RESET nor START touch it
    await tb.write_reg(rm.REG_N_IMAGES, 3)
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_SOFT_RESET)
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_START)
    await tb.write_reg(rm.REG_STATUS, 0xFF)
    await tb.read_reg(WIN + 4 * 9)
    assert await tb.read_reg(rm.REG_OWNER_TAG) == 0xA5115A5A
    # a write beyond the window is not a weight write
    assert await tb.write(WIN + rm.WEIGHT_WINDOW_BYTES, 1) == RESP_SLVERR
    assert await tb.read_reg(rm.REG_OWNER_TAG) == 0xA5115A5A

    async def cleared_by(offset: int, value: int, busy: int = 0) -> None:
        await tb.write_reg(rm.REG_OWNER_TAG, 0x1234)
        dut.busy.value = busy
        await RisingEdge(dut.clk)
        await tb.write(offset, value)
        dut.busy.value = 0
        await RisingEdge(dut.clk)
        got = await tb.read_reg(rm.REG_OWNER_TAG)
        assert got == 0, f"write {offset:#x} busy={busy}: OWNER_TAG {got:#x}"

    await cleared_by(WIN, 7)
    await cleared_by(WIN + rm.WEIGHT_WINDOW_BYTES - 4, 7)
    await cleared_by(WIN + 4 * 100, 7, busy=1)  # refused (SLVERR), still a weight write
    await cleared_by(rm.REG_SHIFT_L1, 3)
    await cleared_by(rm.REG_SHIFT_L2, 3)
    # aresetn clears it
    await tb.write_reg(rm.REG_OWNER_TAG, 0x99)
    await tb.reset()
    assert await tb.read_reg(rm.REG_OWNER_TAG) == 0


@cocotb.test()
@cocotb.parametrize(
    pauses=[
        (None, None),
        (cycle_pause, None),
        (None, cycle_pause),
        (lambda: random_pause(3), lambda: random_pause(4)),
        # AW and W paused independently: W before, with and after AW
        (lambda: random_pause(5), None, lambda: random_pause(6)),
        (None, lambda: random_pause(7), cycle_pause),
        (cycle_pause, None, lambda: stall_pause(3)),
    ],
)
async def concurrent_stress(dut, pauses):
    """16 workers of back-to-back window and register accesses under channel pauses."""
    tb = await setup(dut)
    mon = BusMonitor(dut.clk, "s_axi", dut)
    tb.set_pauses(*pauses)
    rng = random.Random(42)
    shadow: dict[int, int] = {}

    async def worker(k: int) -> None:
        r = random.Random(k)
        words = [r.randrange(WIN_WORDS) for _ in range(8)]
        # disjoint word sets per worker keep the expected values unambiguous
        words = [w - (w % 16) + k for w in words if w - (w % 16) + k < WIN_WORDS]
        for w in words:
            value = r.getrandbits(32)
            assert await tb.write(WIN + 4 * w, value) == RESP_OKAY
            shadow[w] = value
            if r.random() < 0.5:
                assert await tb.read_reg(rm.REG_ID) == rm.ID_VALUE
            got = await tb.read_reg(WIN + 4 * w)
            assert got == value, f"worker {k} word {w}: {got:#x} != {value:#x}"

    tasks = [cocotb.start_soon(worker(k)) for k in range(16)]
    for t in tasks:
        await with_timeout(t, 2000, "us")
    for w in rng.sample(sorted(shadow), 10):
        assert await tb.read_reg(WIN + 4 * w) == shadow[w]
    tb.set_pauses(None, None)
    # AW and W handshake together (the slave's rule), whatever order they came in
    assert mon.cycles["aw"] == mon.cycles["w"], "AW and W accepted in different cycles"
    assert mon.outstanding() == {"read": 0, "write_aw": 0, "write_w": 0}


@cocotb.test()
async def read_racing_start(dut):
    """A window read whose AR handshake is in the cycle of an accepted START, or the next,
    answers SLVERR with 0 (layer 1 skips a bank read then); earlier and later ones the word.
    """
    tb = await setup(dut)
    mon = BusMonitor(dut.clk, "s_axi", dut)
    word, value = 9, 0x5EED0009
    await tb.write_reg(WIN + 4 * word, value)
    await tb.write_reg(rm.REG_N_IMAGES, 1)  # a real batch start, not an empty one
    skews: set[int] = set()
    for offset in range(-5, 6):
        starts = tb.starts
        read = tb.read(WIN + 4 * word)
        write = tb.write(rm.REG_CTRL, rm.CTRL_START)
        first, second = (write, read) if offset >= 0 else (read, write)
        task = cocotb.start_soon(first)
        await ClockCycles(dut.clk, abs(offset))
        other = cocotb.start_soon(second)
        results = await with_timeout(task, 5, "us"), await with_timeout(other, 5, "us")
        got, wresp = (results[1], results[0]) if offset >= 0 else results
        assert wresp == RESP_OKAY and tb.starts == starts + 1
        skew = mon.cycles["ar"][-1] - mon.cycles["aw"][-1]
        skews.add(skew)
        want = (0, RESP_SLVERR) if skew in (0, 1) else (value, RESP_OKAY)
        assert got == want, f"AR {skew} cycles after START's AW: {got}, expected {want}"
    assert {-1, 0, 1, 2} <= skews, f"skews covered: {sorted(skews)}"


@pytest.mark.sim
# NUM_BANKS only reaches the NUM_BANKS register here; the two ends of the range
@pytest.mark.parametrize("num_banks", [32, 128])
def test_mnist_ctrl_axil(num_banks: int) -> None:
    """Build mnist_ctrl_axil for NUM_BANKS and run its cocotb tests."""
    from cocotb_runner import run_cocotb

    run_cocotb("test_mnist_ctrl_axil", "mnist_ctrl_axil", {"NUM_BANKS": num_banks})
