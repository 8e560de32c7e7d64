"""cocotb bench for mnist_stream_in: image slots, framing checks, s_axis flow control.

The layer-1 side is modelled here: a consumer reads each complete image out of
its slot word by word (with random delays, so both slots fill and TREADY must
hold the source off) and releases it. Every image it reads is compared byte for
byte with what was sent, and err_flag/n_good/err_set with a framing model
written from the rules in hw/README.md ("Streams").
"""

from __future__ import annotations

import logging
import random

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout
from cocotbext.axi import AxiStreamBus, AxiStreamFrame, AxiStreamSource
from tb_common import cycle_pause, random_pause

from pynq_mnist.hardware import regmap as rm

BEATS = 196  # 32-bit beats per image
TIMEOUT_US = 2000
FLUSH_IDLE_CYCLES = 512  # the parameter's default


def reference_framing(beats: list[tuple[bool, bool]], n: int) -> tuple[int | None, int, int]:
    """(n_good or None when the batch is clean, ERROR_CAUSE bits, beats consumed).

    ``beats`` are (TKEEP complete, TLAST) per beat as sent; the stream must end
    in TLAST.
    """
    final = n * BEATS - 1

    def drained(idx: int) -> int:
        return next(k for k in range(idx, len(beats)) if beats[k][1]) + 1

    for idx, (keep_ok, last) in enumerate(beats):
        image, beat = divmod(idx, BEATS)
        causes = 0
        if not keep_ok:
            causes |= rm.ERR_BAD_TKEEP
        if last and idx != final:
            causes |= rm.ERR_EARLY_TLAST
        if idx == final and not last:
            causes |= rm.ERR_MISSING_TLAST
        if not keep_ok or (last and beat != BEATS - 1):
            return image, causes, drained(idx)
        if last and idx != final:
            return image + 1, causes, idx + 1
        if idx == final:
            return (None, 0, idx + 1) if last else (n, causes, drained(idx))
    raise AssertionError("the stream must end in TLAST")


class TB:
    """Clock, reset, image source, layer-1 consumer model."""

    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.source = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst_n, reset_active_level=False
        )
        self.source.log.setLevel(logging.WARNING)
        self.rng = random.Random(7)
        self.consumer_delay = 0  # max random cycles before the consumer takes an image
        self.consumer_hold = 0  # fixed cycles before the consumer takes an image
        self.held_off = 0  # cycles the source offered a beat that TREADY refused
        self.images: list[bytes] = []
        self.err_causes = 0
        self.slot = 0
        self.tready_while_idle = 0
        self.in_beats = 0  # s_axis beats accepted since reset
        self.source_stalled = False
        dut.start.value = 0
        dut.abort.value = 0
        dut.n_images.value = 0
        dut.img_release.value = 0
        dut.img_rd_addr.value = 0
        cocotb.start_soon(self._consumer())
        cocotb.start_soon(self._monitor())

    async def reset(self) -> None:
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 2)

    async def _monitor(self) -> None:
        """Collect err_set pulses; count TREADY while the receiver is idle."""
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            self.err_causes |= int(dut.err_set.value)
            self.in_beats += int(dut.s_axis_tvalid.value and dut.s_axis_tready.value)
            self.held_off += int(dut.s_axis_tvalid.value and not dut.s_axis_tready.value)
            if dut.in_done.value and dut.s_axis_tready.value:
                self.tready_while_idle += 1

    async def _consumer(self) -> None:
        """Layer 1: take the oldest complete image, read its 196 words, release it."""
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            if not dut.img_avail.value:
                continue
            await RisingEdge(dut.clk)
            if self.consumer_hold:
                await ClockCycles(dut.clk, self.consumer_hold)
            if self.consumer_delay:
                await ClockCycles(dut.clk, self.rng.randint(0, self.consumer_delay))
            # one word per cycle, read data one cycle after its address
            base = self.slot << 8
            dut.img_rd_addr.value = base
            words = []
            for word in range(BEATS):
                await RisingEdge(dut.clk)
                if word + 1 < BEATS:
                    dut.img_rd_addr.value = base + word + 1
                await ReadOnly()
                words.append(int(dut.img_rd_data.value))
            self.images.append(np.array(words, dtype="<u4").tobytes())
            await RisingEdge(dut.clk)
            dut.img_release.value = 1
            await RisingEdge(dut.clk)
            dut.img_release.value = 0
            self.slot ^= 1

    async def batch(self, n: int, frames: list[AxiStreamFrame]) -> None:
        """START a batch of n images, send the frames, wait until the stream is consumed."""
        dut = self.dut
        self.images = []
        self.err_causes = 0
        self.slot = 0
        await RisingEdge(dut.clk)
        dut.n_images.value = n
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        for frame in frames:
            await self.source.send(frame)
        await with_timeout(self.source.wait(), TIMEOUT_US, "us")
        while not dut.in_done.value:
            await RisingEdge(dut.clk)


def make_frames(
    data: bytes, tkeep: list[int] | None, tlast_at: list[int]
) -> tuple[list[AxiStreamFrame], list[tuple[bool, bool]]]:
    """Frames whose TLASTs fall on the beats ``tlast_at``; also (keep ok, last) per beat."""
    frames, beats, start = [], [], 0
    for end in tlast_at:
        chunk = data[4 * start : 4 * (end + 1)]
        keep = tkeep[4 * start : 4 * (end + 1)] if tkeep else None
        frames.append(AxiStreamFrame(tdata=chunk, tkeep=keep))
        for b in range(start, end + 1):
            ok = tkeep is None or all(tkeep[4 * b : 4 * b + 4])
            beats.append((ok, b == end))
        start = end + 1
    return frames, beats


async def run_case(
    tb: TB, n: int, beats_sent: int, tlast_at: list[int], bad_keep_beat: int | None, what: str
):
    """Send a batch with the given framing and check it against reference_framing."""
    rng = np.random.default_rng(len(tlast_at) * 1000 + beats_sent)
    data = rng.integers(0, 256, beats_sent * 4, dtype=np.uint8).tobytes()
    tkeep = None
    if bad_keep_beat is not None:
        tkeep = [1] * (beats_sent * 4)
        tkeep[4 * bad_keep_beat + 2] = 0
    frames, beats = make_frames(data, tkeep, tlast_at)
    n_good, causes, consumed = reference_framing(beats, n)
    await tb.batch(n, frames)
    dut = tb.dut
    good = n if n_good is None else n_good
    # the consumer drains the slots; then nothing more may come
    per_image = tb.consumer_delay + tb.consumer_hold + BEATS + 10
    for _ in range(3 * per_image):
        if len(tb.images) >= good:
            break
        await RisingEdge(dut.clk)
    await ClockCycles(dut.clk, per_image)
    assert int(dut.err_flag.value) == (n_good is not None), what
    if n_good is not None:
        assert int(dut.n_good.value) == n_good, what
    assert tb.err_causes == causes, f"{what}: causes {tb.err_causes:#x} != {causes:#x}"
    assert consumed == beats_sent, f"{what}: test sends exactly the consumed beats"
    assert len(tb.images) == good, f"{what}: {len(tb.images)} images handed on, expected {good}"
    for k, image in enumerate(tb.images):
        assert image == data[k * BEATS * 4 : (k + 1) * BEATS * 4], f"{what}: image {k} differs"
    assert not dut.img_avail.value
    assert tb.tready_while_idle == 0, "TREADY high while idle"


async def setup(dut, idle=None, consumer_delay: int = 0) -> TB:
    tb = TB(dut)
    await tb.reset()
    if idle:
        tb.source.set_pause_generator(idle())
    tb.consumer_delay = consumer_delay
    return tb


@cocotb.test()
@cocotb.parametrize(
    idle=[None, cycle_pause, lambda: random_pause(5)],
    consumer_delay=[0, 300],
)
async def good_batches(dut, idle, consumer_delay):
    """Batches of 1 and 3 images arrive intact, in order, through both slots."""
    tb = await setup(dut, idle, consumer_delay)
    for n in (1, 3):
        await run_case(tb, n, n * BEATS, [n * BEATS - 1], None, f"good N={n}")


@cocotb.test()
async def slots_full(dut):
    """A consumer that holds each image 600 cycles: both slots fill, TREADY holds the source off
    (a beat taken then would overwrite an image not yet read)."""
    tb = await setup(dut)
    tb.consumer_hold = 600
    await run_case(tb, 4, 4 * BEATS, [4 * BEATS - 1], None, "slots full")
    assert tb.held_off > 300, f"the source was held off for only {tb.held_off} cycles"


@cocotb.test()
async def framing_errors(dut):
    """Each framing rule of hw/README.md, each followed by a clean batch."""
    tb = await setup(dut, lambda: random_pause(11), consumer_delay=50)
    n = 3
    total = n * BEATS
    cases = [
        # (beats sent, TLAST beats, bad TKEEP beat, name)
        (BEATS + 50 + 1, [BEATS + 50], BEATS + 50, "bad TKEEP with TLAST in image 1"),
        (BEATS + 80, [BEATS + 79], BEATS + 20, "bad TKEEP without TLAST, drained"),
        (BEATS, [BEATS - 1], None, "TLAST on the last beat of image 0"),
        (2 * BEATS + 7, [2 * BEATS + 6], None, "TLAST in the middle of image 2"),
        (total + 5, [total + 4], None, "extra beats after the final one"),
        (1, [0], None, "single-beat batch"),
        (total, [total - 1], total - 1, "bad TKEEP on the final beat"),
    ]
    for beats_sent, tlast_at, bad, name in cases:
        await run_case(tb, n, beats_sent, tlast_at, bad, name)
        await run_case(tb, 2, 2 * BEATS, [2 * BEATS - 1], None, f"clean batch after {name}")


def stall_after(tb: TB, beats: int):
    """Source pause generator: send ``beats`` beats (from now), then stall while source_stalled."""
    start = tb.in_beats
    while True:
        yield tb.source_stalled and tb.in_beats - start >= beats


async def flushing_cycles(tb: TB) -> int:
    """Cycles ``flushing`` stays high, counting the current one (call in ReadOnly).

    Returns after the next clock edge, out of the ReadOnly phase.
    """
    high = 0
    while tb.dut.flushing.value and high <= 2 * FLUSH_IDLE_CYCLES:
        high += 1
        await RisingEdge(tb.dut.clk)
        await ReadOnly()
    await RisingEdge(tb.dut.clk)
    return high


async def abort_on_tlast_beat(tb: TB) -> None:
    """An abort in the very cycle a packet's TLAST beat is accepted: nothing is left to flush.

    The packet ends early (TLAST on beat 50 of image 0), so no image reaches the consumer.
    """
    dut = tb.dut
    beats = 51
    tb.images = []
    await RisingEdge(dut.clk)
    dut.n_images.value = 2
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    await tb.source.send(AxiStreamFrame(tdata=bytes(4 * beats)))
    taken = 0
    while taken < beats - 1:  # count handshakes up to the one before TLAST
        await RisingEdge(dut.clk)
        await ReadOnly()
        taken += int(dut.s_axis_tvalid.value and dut.s_axis_tready.value)
    await RisingEdge(dut.clk)
    dut.abort.value = 1
    await ReadOnly()
    hit = dut.s_axis_tvalid.value and dut.s_axis_tready.value and dut.s_axis_tlast.value
    assert hit, "the TLAST beat is not accepted in the abort cycle (stimulus timing)"
    await RisingEdge(dut.clk)
    dut.abort.value = 0
    await ReadOnly()
    assert dut.in_done.value and not dut.flushing.value, "flushing after the packet's TLAST"
    await RisingEdge(dut.clk)
    await ReadOnly()
    assert not dut.s_axis_tready.value, "TREADY after an abort on the TLAST beat"
    await with_timeout(tb.source.wait(), TIMEOUT_US, "us")
    await ClockCycles(dut.clk, 2 * (tb.consumer_delay + BEATS + 10))


async def aborted_packet(tb: TB, sent: int, end: str) -> None:
    """START N=2, abort after ``sent`` beats of a 300-beat packet; ``end`` is how the flush ends.

    "tlast": the source sends the rest up to TLAST, all of it is taken;
    "idle": the source stops (its DMA was reset), the flush ends after 512 idle cycles;
    "second": the source stops; a second abort 300 cycles in restarts the 512-cycle wait.
    """
    dut = tb.dut
    tb.images = []
    tb.err_causes = 0
    tb.source_stalled = end != "tlast"
    tb.source.set_pause_generator(stall_after(tb, sent))
    await RisingEdge(dut.clk)
    dut.n_images.value = 2
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    first = tb.in_beats
    await tb.source.send(AxiStreamFrame(tdata=(bytes(range(256)) * 5)[: 4 * 300]))
    for _ in range(20 * sent):
        if tb.in_beats - first >= sent:
            break
        await RisingEdge(dut.clk)
    assert tb.in_beats - first >= sent, "the source did not send"
    dut.abort.value = 1
    await RisingEdge(dut.clk)
    dut.abort.value = 0
    await ReadOnly()
    assert dut.flushing.value, "no flush after an abort mid-packet"
    if end == "tlast":
        await with_timeout(tb.source.wait(), TIMEOUT_US, "us")
        await ClockCycles(dut.clk, 2)
        assert tb.in_beats - first == 300, "beats of the aborted packet left over"
    elif end == "idle":
        high = await flushing_cycles(tb)
        assert high == FLUSH_IDLE_CYCLES, f"flush ended {high} cycles after the abort"
    else:
        await ClockCycles(dut.clk, 300)
        dut.abort.value = 1
        await RisingEdge(dut.clk)
        dut.abort.value = 0
        await ReadOnly()
        high = await flushing_cycles(tb)
        assert high == FLUSH_IDLE_CYCLES, f"second abort: flush ended after {high} cycles"
    assert dut.in_done.value and not dut.flushing.value and not dut.s_axis_tready.value, end
    assert not dut.img_avail.value and not tb.images and not dut.err_flag.value
    assert tb.err_causes == 0, "an aborted packet is not checked"
    if end != "tlast":
        # the DMA was reset: its half-sent packet is gone (cocotbext-axi's reset hook)
        tb.source._handle_reset(True)
        tb.source._handle_reset(False)
        tb.source.clear()
    tb.source_stalled = False
    tb.source.clear_pause_generator()
    tb.source.pause = False


@cocotb.test()
async def soft_reset(dut):
    """abort: the open packet is flushed to TLAST or exactly 512 idle cycles (a second abort
    restarts them); an abort on the TLAST beat itself flushes nothing."""
    tb = await setup(dut, consumer_delay=20)
    dut.abort.value = 1  # while idle: nothing to flush
    await RisingEdge(dut.clk)
    dut.abort.value = 0
    await ClockCycles(dut.clk, 2)
    assert dut.in_done.value and not dut.flushing.value and not dut.s_axis_tready.value
    for sent, end in ((50, "tlast"), (190, "tlast"), (30, "idle"), (60, "second")):
        await aborted_packet(tb, sent, end)
        await run_case(tb, 2, 2 * BEATS, [2 * BEATS - 1], None, f"clean batch after {end}")
    await abort_on_tlast_beat(tb)
    await run_case(tb, 2, 2 * BEATS, [2 * BEATS - 1], None, "clean batch after abort on TLAST")


@pytest.mark.sim
def test_mnist_stream_in() -> None:
    """Build mnist_stream_in and run its cocotb tests."""
    from cocotb_runner import run_cocotb

    run_cocotb("test_mnist_stream_in", "mnist_stream_in", {})
