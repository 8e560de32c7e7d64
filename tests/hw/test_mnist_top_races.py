"""cocotb testbench for mnist_top's control races: an AXI4-Lite access and a second event
(another access, a stream resume) at every relative skew of a few cycles."""

from __future__ import annotations

import logging

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout
from cocotbext.axi import (
    AxiStreamFrame,
)
from tb_common import (
    RESP_OKAY,
    RESP_SLVERR,
)
from top_tb import (
    N_HID,
    N_IN,
    WORDS,
    default_model,
    describe_mismatch,
    rand_images,
    setup,
)

from pynq_mnist.hardware import regmap as rm

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- control races
# Each race test issues an AXI4-Lite access and a second event (another access, a
# stream resume) at a sweep of issue offsets, measures the handshake skew that the
# bus really saw (BusMonitor) and finally checks that the skews 0..4 were covered.

RACE_SKEWS = set(range(5))
WIN = rm.WEIGHT_WINDOW_OFFSET


def assert_covered(skews: set[int], what: str) -> None:
    logging.getLogger("cocotb.tb").info("%s: handshake skews %s", what, sorted(skews))
    missing = RACE_SKEWS - skews
    assert not missing, f"{what}: skews {sorted(missing)} never happened (saw {sorted(skews)})"


@cocotb.test()
async def race_read_soft_reset(dut):
    """Race 1: SOFT_RESET 0..4 cycles after a window read's AR: the read answers, the bus lives."""
    tb = await setup(dut)
    mon = tb.monitor()
    word, value = 123, 0x5EED1234
    await tb.write_reg(WIN + 4 * word, value)
    skews = set()
    for offset in range(-2, 9):
        read = cocotb.start_soon(tb.read(WIN + 4 * word))
        await ClockCycles(dut.aclk, max(offset, 0))
        write = cocotb.start_soon(tb.write(rm.REG_CTRL, rm.CTRL_SOFT_RESET))
        got = await with_timeout(read, 5, "us")
        assert got in ((value, RESP_OKAY), (0, RESP_SLVERR)), f"offset {offset}: read {got}"
        assert await with_timeout(write, 5, "us") == RESP_OKAY
        skews.add(mon.cycles["aw"][-1] - mon.cycles["ar"][-1])
        assert await tb.read_reg(rm.REG_ID) == rm.ID_VALUE
        await tb.wait_idle()
        assert await tb.read_reg(WIN + 4 * word) == value
    assert_covered(skews, "SOFT_RESET after window AR")
    assert mon.outstanding() == {"read": 0, "write_aw": 0, "write_w": 0}


@cocotb.test()
async def race_start_window_read(dut):
    """Race 2: START and a window read 0..4 cycles apart: the right word or SLVERR, never stale."""
    tb = await setup(dut)
    mon = tb.monitor()
    (word_a, value_a), (word_b, value_b) = (10, 0xAAAA0001), (1000, 0xBBBB0002)
    await tb.write_reg(WIN + 4 * word_a, value_a)
    await tb.write_reg(WIN + 4 * word_b, value_b)
    await tb.write_reg(rm.REG_N_IMAGES, 1)
    skews = set()
    for offset in range(-4, 8):
        # layer 1's read address now holds word A's row: a stale answer would be A
        assert await tb.read_reg(WIN + 4 * word_a) == value_a
        first, second = (tb.read(WIN + 4 * word_b), tb.write(rm.REG_CTRL, rm.CTRL_START))
        if offset < 0:
            first, second = second, first
        task1 = cocotb.start_soon(first)
        await ClockCycles(dut.aclk, abs(offset))
        task2 = cocotb.start_soon(second)
        r1, r2 = await with_timeout(task1, 5, "us"), await with_timeout(task2, 5, "us")
        got, wresp = (r1, r2) if offset >= 0 else (r2, r1)
        assert got in ((value_b, RESP_OKAY), (0, RESP_SLVERR)), f"offset {offset}: read {got}"
        assert wresp == RESP_OKAY
        skews.add(abs(mon.cycles["aw"][-1] - mon.cycles["ar"][-1]))
        # the batch waits for an image that never comes: abort it
        await tb.write_reg(rm.REG_CTRL, rm.CTRL_SOFT_RESET)
        await tb.wait_idle()
    assert_covered(skews, "START vs window read")


@cocotb.test()
async def race_start_busy_falls(dut):
    """Race 3: START from 2 cycles before to 4 after BUSY falls: a new batch or SLVERR, never both.

    An accepted START (OKAY) starts a batch: BUSY=1, DONE=0, no interrupt. A
    refused one (BUSY still set) answers SLVERR and sets STATUS.START_REJECTED,
    and the finishing batch's DONE stays visible.
    """
    tb = await setup(dut)
    mon = tb.monitor()
    rng = np.random.default_rng(77)
    image = rand_images(rng, 1)
    await tb.write_reg(rm.REG_N_IMAGES, 1)
    ctrl = rm.CTRL_START | rm.CTRL_IRQ_EN
    per_image = N_IN * N_HID // tb.nb
    skews = set()
    for offset in range(-3, 10):
        tb.sink.pause = True
        await tb.write_reg(rm.REG_CTRL, ctrl)
        await tb.source.send(AxiStreamFrame(tdata=image.tobytes()))
        # the record waits in the result FIFO; BUSY falls a fixed time after the sink resumes
        await ClockCycles(dut.aclk, per_image + 1000)
        assert (await tb.read_reg(rm.REG_STATUS)) & rm.STATUS_BUSY
        tb.sink.pause = False
        await ClockCycles(dut.aclk, max(offset + 8, 0))
        resp = await tb.write(rm.REG_CTRL, ctrl)
        start_cycle = mon.cycles["aw"][-1]
        words = await tb.recv_words(100)
        assert len(words) == WORDS
        await ClockCycles(dut.aclk, 4)
        fall = mon.falls["busy"][-1] if mon.falls["busy"] else None
        status = await tb.read_reg(rm.REG_STATUS)
        if fall is not None and fall <= start_cycle:
            skews.add(start_cycle - fall)
        what = f"offset {offset} (START at {start_cycle}, BUSY fell at {fall}): STATUS {status:#x}"
        if resp == RESP_OKAY:
            assert status & rm.STATUS_BUSY and not status & rm.STATUS_DONE, what
            assert not status & rm.STATUS_START_REJECTED, what
            assert dut.interrupt.value == 0, what
            await tb.source.send(AxiStreamFrame(tdata=image.tobytes()))
            assert len(await tb.recv_words(tb.batch_timeout_us(1))) == WORDS
            await tb.wait_done(tb.batch_timeout_us(1))
        else:
            assert resp == RESP_SLVERR, what
            assert status & rm.STATUS_START_REJECTED and status & rm.STATUS_DONE, what
            assert not status & rm.STATUS_BUSY, what
            await tb.write_reg(rm.REG_STATUS, rm.STATUS_START_REJECTED)
            assert not (await tb.read_reg(rm.REG_STATUS)) & rm.STATUS_START_REJECTED
        await tb.write_reg(rm.REG_STATUS, rm.STATUS_DONE | rm.STATUS_ERROR)
    assert_covered(skews, "START after BUSY falls")
    assert not mon.stream_violations, mon.stream_violations[:3]


@cocotb.test()
async def race_soft_reset_mid_packet(dut):
    """Race 4: SOFT_RESET 0..4 beats into the result packet: it ends with TLAST, input drained.

    TVALID never drops before TREADY, the rest of the input packet is consumed
    up to its TLAST (the source model finishes its frame), IDLE returns, and
    the next batch sees only its own image (same words as a clean repeat).
    """
    tb = await setup(dut)
    mon = tb.monitor()
    rng = np.random.default_rng(78)
    _, _, s1, s2 = default_model()
    n = 4
    skews = set()
    for offset in range(-3, 5):
        tb.sink.pause = True
        await tb.start_batch(n, s1, s2)
        await tb.source.send(AxiStreamFrame(tdata=rand_images(rng, n).tobytes()))
        await ClockCycles(dut.aclk, N_IN * N_HID // tb.nb + 800)
        beats_before = len(mon.beats)
        # the write needs a few cycles to its handshake: issue it first for the small skews
        if offset < 0:
            write = cocotb.start_soon(tb.write(rm.REG_CTRL, rm.CTRL_SOFT_RESET))
            await ClockCycles(dut.aclk, -offset)
            tb.sink.pause = False
        else:
            tb.sink.pause = False
            await ClockCycles(dut.aclk, offset)
            write = cocotb.start_soon(tb.write(rm.REG_CTRL, rm.CTRL_SOFT_RESET))
        assert await with_timeout(write, 5, "us") == RESP_OKAY
        words = await tb.recv_words(50)
        first_beat = mon.beats[beats_before][0]
        skews.add(mon.cycles["aw"][-1] - first_beat)
        assert 0 < len(words) < n * WORDS, f"offset {offset}: {len(words)} words"
        assert not mon.stream_violations, mon.stream_violations[:3]
        await with_timeout(tb.source.wait(), 100, "us")
        await tb.wait_idle()
        assert tb.sink.empty() and dut.m_axis_tvalid.value == 0
        image = rand_images(rng, 1)
        after_reset, status = await tb.run_batch(image, s1, s2)
        assert not status & rm.STATUS_ERROR, f"offset {offset}: STATUS {status:#x}"
        clean, _ = await tb.run_batch(image, s1, s2)
        assert after_reset == clean, f"offset {offset}: {describe_mismatch(after_reset, clean)}"
    assert_covered(skews, "SOFT_RESET into the result packet")
    assert mon.outstanding() == {"read": 0, "write_aw": 0, "write_w": 0}


@cocotb.test()
async def race_stalled_sink_recovery(dut):
    """m_axis stalled across SOFT_RESET, the IDLE poll and START (S2MM reset, not re-armed).

    The aborted packet's beat stays on offer until it is withdrawn after 512
    cycles; STATUS never reads IDLE while it is still on offer (so no START can
    meet it), and the next batch, its sink still stalled for a while after
    START, delivers exactly its own words (those of a clean repeat).
    """
    tb = await setup(dut)
    rng = np.random.default_rng(79)
    _, _, s1, s2 = default_model()
    tb.sink.pause = True
    await tb.start_batch(2, s1, s2)
    await tb.source.send(AxiStreamFrame(tdata=rand_images(rng, 2).tobytes()))

    async def beat_on_offer() -> None:
        while not dut.m_axis_tvalid.value:
            await RisingEdge(dut.aclk)

    await with_timeout(beat_on_offer(), tb.batch_timeout_us(1), "us")
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_SOFT_RESET)
    polls = 0

    async def poll_idle() -> None:
        nonlocal polls
        while True:
            status = await tb.read_reg(rm.REG_STATUS)
            polls += 1
            if status & rm.STATUS_IDLE:
                # TVALID only falls after an abort: 0 now means 0 when STATUS was sampled
                assert not dut.m_axis_tvalid.value, f"IDLE read with a beat on offer ({polls})"
                return
            assert status & rm.STATUS_DRAINING, f"STATUS {status:#x}: neither IDLE nor DRAINING"
            await ClockCycles(dut.aclk, 16)

    await with_timeout(poll_idle(), 50, "us")
    assert polls > 10, f"IDLE after {polls} polls: the stalled beat was not waited for"
    await with_timeout(tb.source.wait(), 100, "us")
    tb.reset_stream_models(source=False)  # the S2MM was reset: the aborted packet is gone
    image = rand_images(rng, 1)
    await tb.start_batch(1, s1, s2)
    await tb.source.send(AxiStreamFrame(tdata=image.tobytes()))
    await ClockCycles(dut.aclk, 300)
    tb.sink.pause = False
    words = await tb.recv_words(tb.batch_timeout_us(1))
    status = await tb.wait_done(tb.batch_timeout_us(1))
    assert not status & rm.STATUS_ERROR, f"STATUS {status:#x}"
    clean, _ = await tb.run_batch(image, s1, s2)
    assert words == clean, describe_mismatch(words, clean)


# ----------------------------------------------------------------------------- pytest


RACE_TESTS = [
    "race_read_soft_reset",
    "race_start_window_read",
    "race_start_busy_falls",
    "race_soft_reset_mid_packet",
    "race_stalled_sink_recovery",
]


@pytest.mark.sim
def test_mnist_top_races() -> None:
    """The four control races (read-channel hang, stale read, DONE into the next batch,
    SOFT_RESET mid-packet) at NUM_BANKS=32 (the fastest build)."""
    from cocotb_runner import run_cocotb

    run_cocotb("test_mnist_top_races", "mnist_top", {"NUM_BANKS": 32}, testcase=RACE_TESTS)
