"""cocotb bench for mnist_result_out: result FIFO, error records, TLAST, IMAGES_DONE.

Layer 2 and the receiver are modelled here: a producer writes 11-word records
(random words, random gaps) and starts each one only after it has seen
res_room, as layer 2 does; err_flag/n_good are raised mid-batch like the
receiver raises them. The m_axis sink applies backpressure. The stream must be
exactly the expected N*11 words (error records built here from the rules in
hw/README.md) as one packet, i.e. TLAST on the last word only.
"""

from __future__ import annotations

import itertools
import logging
import random

import cocotb
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamSink
from tb_common import cycle_pause, random_pause

WORDS = 11
FIFO_DEPTH = 32
TIMEOUT_US = 1000
FLUSH_IDLE_CYCLES = 512  # the parameter's default


def error_record(index: int) -> list[int]:
    """Logits 0, digit and seed digit 0xF, image index mod 2^16, ERROR (bit 31)."""
    return [0] * (WORDS - 1) + [(1 << 31) | ((index & 0xFFFF) << 8) | 0xFF]


class TB:
    """Clock, reset, producer model, m_axis sink, FIFO occupancy monitor."""

    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.sink = AxiStreamSink(
            AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst_n, reset_active_level=False
        )
        self.sink.log.setLevel(logging.WARNING)
        self.rng = random.Random(3)
        self.gap = 0  # max random idle cycles between producer words
        self.written = 0  # FIFO words written / accepted from the FIFO in this batch
        self.accepted_good = 0
        self.good_limit = 0  # beats below this index come from the FIFO
        self.last_beats = 0
        self.beats = 0  # beats accepted in this batch
        self.stalling = False
        self.aborted = False  # abort since the last START
        for name in ("start", "abort", "n_images", "res_valid", "res_data", "err_flag", "n_good"):
            getattr(dut, name).value = 0
        cocotb.start_soon(self._monitor())

    async def reset(self) -> None:
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 2)

    async def _monitor(self) -> None:
        """FIFO words = written - accepted good words; never more than the FIFO holds."""
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if dut.start.value:
                self.beats = 0
            if dut.res_valid.value:
                self.written += 1
            if dut.m_axis_tvalid.value and dut.m_axis_tready.value:
                if self.beats < self.good_limit:
                    self.accepted_good += 1
                self.beats += 1
            self.last_beats += int(dut.last_beat.value)
            # one more word may sit in the output register
            assert self.written - self.accepted_good <= FIFO_DEPTH + 1, "FIFO overflow"

    async def produce(self, records: list[list[int]]) -> None:
        """Write each record after a cycle with res_room, word by word with gaps.

        Timed like layer 2 at its earliest: res_room is looked at already in the
        cycle after the previous record's last word (when the FIFO's registered
        count does not hold that word yet), and the record starts the cycle after.
        """
        dut = self.dut
        for record in records:
            while True:
                await ReadOnly()
                if dut.res_room.value:
                    break
                await RisingEdge(dut.clk)
            await RisingEdge(dut.clk)
            for word in record:
                if self.gap:
                    await ClockCycles(dut.clk, self.rng.randint(0, self.gap))
                dut.res_valid.value = 1
                dut.res_data.value = word
                await RisingEdge(dut.clk)
                dut.res_valid.value = 0

    async def start(self, n: int, good_words: int) -> None:
        """Pulse START for n images (the previous batch over or flushed)."""
        dut = self.dut
        self.written = self.accepted_good = self.last_beats = 0
        self.good_limit = good_words
        await RisingEdge(dut.clk)
        assert not dut.flushing.value, "START while flushing"
        assert dut.out_done.value or self.aborted, "START needs the previous batch to be over"
        self.aborted = False
        dut.n_images.value = n
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0

    async def abort(self) -> None:
        """One abort pulse (SOFT_RESET), as mnist_top sends it."""
        self.aborted = True
        self.dut.abort.value = 1
        await RisingEdge(self.dut.clk)
        self.dut.abort.value = 0

    async def batch(self, n: int, err_at: int | None = None, n_good: int = 0) -> None:
        """Run a batch of n images; raise err_flag with n_good after ``err_at`` records."""
        dut = self.dut
        records = [[self.rng.getrandbits(32) for _ in range(WORDS)] for _ in range(n)]
        produced = n if err_at is None else n_good
        expected = [w for r in records[:produced] for w in r]
        for k in range(produced, n):
            expected += error_record(k)
        await self.start(n, produced * WORDS)
        await self.produce(records[: produced if err_at is None else err_at])
        if err_at is not None:
            dut.err_flag.value = 1
            dut.n_good.value = n_good
            await self.produce(records[err_at:n_good])
        frame = await with_timeout(self.sink.recv(), TIMEOUT_US, "us")
        words = [
            int.from_bytes(frame.tdata[i : i + 4], "little") for i in range(0, len(frame.tdata), 4)
        ]
        assert len(words) == n * WORDS, f"{len(words)} words before TLAST, expected {n * WORDS}"
        for k in range(n):
            got, want = words[k * WORDS : (k + 1) * WORDS], expected[k * WORDS : (k + 1) * WORDS]
            assert got == want, f"record {k}: {[hex(w) for w in got]} != {[hex(w) for w in want]}"
        await ClockCycles(dut.clk, 20)
        assert self.sink.empty(), "beats after TLAST"
        assert dut.out_done.value and int(dut.images_done.value) == n
        assert self.last_beats == 1
        dut.err_flag.value = 0  # the receiver clears it at the next START


async def setup(dut, backpressure=None, gap: int = 0) -> TB:
    tb = TB(dut)
    await tb.reset()
    if backpressure:
        tb.sink.set_pause_generator(backpressure())
    tb.gap = gap
    return tb


@cocotb.test()
@cocotb.parametrize(
    backpressure=[None, cycle_pause, lambda: random_pause(21)],
    gap=[0, 4],
)
async def batches(dut, backpressure, gap):
    """Good batches and error batches: exact words, N*11 beats, TLAST on the last."""
    tb = await setup(dut, backpressure, gap)
    await tb.batch(1)
    await tb.batch(5)
    await tb.batch(6, err_at=1, n_good=2)  # error while image 1 was being received
    await tb.batch(3, err_at=0, n_good=0)  # error in the first image
    await tb.batch(4, err_at=4, n_good=4)  # extra beats after a complete batch
    await tb.batch(2)


def stall_after(tb: TB, beats: int):
    """Pause generator: stall the sink once ``beats`` beats of the batch are accepted."""
    while True:
        yield tb.stalling and tb.beats >= beats


@cocotb.test()
async def stalled_sink(dut):
    """The sink stalls after 0..11 beats: every FIFO fill level at which res_room matters."""
    tb = await setup(dut)
    for beats in range(WORDS + 1):
        tb.sink.set_pause_generator(stall_after(tb, beats))
        tb.stalling = True
        task = cocotb.start_soon(tb.batch(6))
        # longer than FLUSH_IDLE_CYCLES: a live batch's beat is never withdrawn
        await ClockCycles(dut.clk, FLUSH_IDLE_CYCLES + 100)
        assert not dut.res_room.value, f"res_room with a full FIFO (stall after {beats})"
        if beats:
            assert dut.m_axis_tvalid.value, f"beat {beats} withdrawn from a live batch"
        tb.stalling = False
        await with_timeout(task, TIMEOUT_US, "us")


async def aborted_batch(tb: TB, n: int, pending: int | None, how: str | None = None) -> None:
    """Abort with beat ``pending`` on offer (None: before any beat); check the closed packet.

    ``how``: None (the consumer takes the rest), "second" (a second abort 400
    cycles later restarts the wait, then the consumer takes the rest), "late"
    (the pending beat is taken 400 cycles in, the terminator 300 after that) or
    "timeout" (no TREADY for FLUSH_IDLE_CYCLES: the pending beat is withdrawn).
    """
    dut = tb.dut
    records = [[tb.rng.getrandbits(32) for _ in range(WORDS)] for _ in range(n)]
    flat = [w for r in records for w in r]
    tb.stalling = True
    # the sink sees the beat count one cycle late: stall one beat early
    tb.sink.set_pause_generator(stall_after(tb, 0 if pending is None else pending - 1))
    await tb.start(n, n * WORDS)
    producer = cocotb.start_soon(tb.produce(records))
    while pending is not None:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if dut.m_axis_tvalid.value and not dut.m_axis_tready.value:
            assert tb.beats == pending, f"beat {tb.beats} on offer, wanted {pending}"
            break
    await RisingEdge(dut.clk)
    producer.cancel()  # layer 2 is reset with the abort
    dut.res_valid.value = 0
    await tb.abort()
    if how == "second":
        await ClockCycles(dut.clk, 400)
        await tb.abort()
        await ClockCycles(dut.clk, 400)
        assert dut.m_axis_tvalid.value and dut.flushing.value, "a second abort withdrew the beat"
    if how == "late":
        # the consumer takes the pending beat 400 cycles after the abort, then stalls again:
        # the terminator stays until FLUSH_IDLE_CYCLES pass without TREADY after that beat
        await ClockCycles(dut.clk, 400)
        tb.sink.set_pause_generator(itertools.chain([False], itertools.repeat(True)))
        await ClockCycles(dut.clk, 300)
        assert tb.beats == pending + 1, f"{tb.beats} beats taken, wanted {pending + 1}"
        assert dut.m_axis_tvalid.value and dut.m_axis_tlast.value, "terminator withdrawn early"
        tb.sink.set_pause_generator(stall_after(tb, 0))  # released below
    if how == "timeout":
        await ClockCycles(dut.clk, FLUSH_IDLE_CYCLES - 4)
        assert dut.m_axis_tvalid.value, "withdrawn before FLUSH_IDLE_CYCLES"
        await ClockCycles(dut.clk, 6)
        assert not dut.m_axis_tvalid.value and not dut.flushing.value, "not withdrawn"
        assert tb.beats == pending
        # the consumer was reset: its half-received packet is gone (cocotbext-axi's reset hook)
        tb.sink._handle_reset(True)
        tb.sink._handle_reset(False)
        tb.sink.clear()
    elif pending is None:
        await ClockCycles(dut.clk, 20)
        assert not dut.m_axis_tvalid.value and not dut.flushing.value and tb.beats == 0
    else:
        tb.stalling = False
        frame = await with_timeout(tb.sink.recv(), TIMEOUT_US, "us")
        data = frame.tdata
        words = [int.from_bytes(data[i : i + 4], "little") for i in range(0, len(data), 4)]
        want = flat[: pending + 1]
        if pending != n * WORDS - 1:
            # the terminator: an error record word of the record after the last one loaded
            want.append(0x800000FF | ((pending + 1) // WORDS) << 8)
        assert words == want, f"{[hex(w) for w in words]} != {[hex(w) for w in want]}"
        await ClockCycles(dut.clk, 20)
        assert tb.sink.empty() and not dut.flushing.value
    tb.stalling = False
    tb.sink.clear_pause_generator()
    tb.sink.pause = False


@cocotb.test()
async def soft_reset(dut):
    """abort: the beat on offer stays, then one terminator with TLAST; withdrawal as documented."""
    tb = await setup(dut)
    await aborted_batch(tb, 3, 14)  # word 3 of record 1 on offer
    await tb.batch(2)
    await aborted_batch(tb, 3, 10)  # the digit word of record 0 on offer
    await tb.batch(2)
    await aborted_batch(tb, 1, 10)  # the TLAST beat on offer: no terminator
    await tb.batch(2)
    await aborted_batch(tb, 2, None)  # before any beat: nothing at all
    await tb.batch(2)
    await aborted_batch(tb, 3, 5, how="second")
    await tb.batch(2)
    await aborted_batch(tb, 3, 7, how="late")
    await tb.batch(2)
    await aborted_batch(tb, 3, 5, how="timeout")
    await tb.batch(3)


@pytest.mark.sim
def test_mnist_result_out() -> None:
    """Build mnist_result_out and run its cocotb tests."""
    from cocotb_runner import run_cocotb

    run_cocotb("test_mnist_result_out", "mnist_result_out", {})
