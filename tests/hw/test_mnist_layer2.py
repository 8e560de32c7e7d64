"""cocotb bench for mnist_layer2: W2 mirror, h double buffer, logits, digit word.

Layer 1 is modelled here (it writes each image's 128 hidden bytes into h slot
k % 2, pulses h_done and holds at most two images until h_release), and so is
the result FIFO behind res_room (32 words, room = at most 21 used, drained
with backpressure). Every result word is compared with integer arithmetic
from the spec: logits = W2 @ h, digits from tests/reference.py.
"""

from __future__ import annotations

import itertools
import random

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
from reference import reference_digits, reference_seed_digits
from tb_common import random_pause

N_HID, N_OUT, WORDS = 128, 10, 11
FIFO_DEPTH, ROOM_LIMIT = 32, 32 - 11


def expected_words(w2: np.ndarray, hidden: np.ndarray, s2: int) -> list[int]:
    """The 11 result words of every image: int32 logits, then digit | seed << 4 | index << 8."""
    logits = hidden.astype(np.int64) @ w2.astype(np.int64).T
    digits = reference_digits(logits)
    seeds = reference_seed_digits(logits, s2)
    words: list[int] = []
    for k, row in enumerate(logits):
        words += [int(v) & 0xFFFFFFFF for v in row]
        words.append(int(digits[k]) | int(seeds[k]) << 4 | (k & 0xFFFF) << 8)
    return words


class TB:
    """Clock, reset, W2 loader, layer-1 model, result FIFO model."""

    def __init__(self, dut) -> None:
        self.dut = dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        self.rng = random.Random(5)
        self.drain = None  # pause generator of the FIFO's reader
        self.fifo_words = 0
        self.results: list[int] = []
        self.held = 0  # h images done and not yet released
        self.room = True  # res_room of the next cycle
        for name in ("start", "shift_l2", "w2_wr_en", "w2_wr_addr", "w2_wr_data", "w2_wr_strb"):
            getattr(dut, name).value = 0
        for name in ("h_wr_en", "h_wr_addr", "h_wr_data", "h_done"):
            getattr(dut, name).value = 0
        dut.res_room.value = 1
        cocotb.start_soon(self._fifo())

    async def reset(self) -> None:
        self.dut.rst_n.value = 0
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst_n.value = 1
        await ClockCycles(self.dut.clk, 2)

    async def _fifo(self) -> None:
        """Result FIFO: count words, drain one per cycle unless paused, drive res_room."""
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadOnly()
            count = self.fifo_words
            if dut.res_valid.value:
                self.results.append(int(dut.res_data.value))
                count += 1
            self.held -= int(dut.h_release.value)
            paused = next(self.drain) if self.drain else False
            if count and not paused:
                count -= 1
            assert count <= FIFO_DEPTH, "layer 2 overflowed the result FIFO"
            self.fifo_words = count
            self.room = count <= ROOM_LIMIT

    async def load_w2(self, w2: np.ndarray, strb: int = 0xF, words: range | None = None) -> None:
        """Write W2 through the mirror port, word o*32 + n/4 = W2[o][n..n+3]."""
        dut = self.dut
        packed = w2.astype(np.int8).view(np.uint8).reshape(N_OUT, N_HID // 4, 4)
        for word in words or range(N_OUT * N_HID // 4):
            o, q = divmod(word, N_HID // 4)
            dut.w2_wr_en.value = 1
            dut.w2_wr_addr.value = word
            dut.w2_wr_data.value = int.from_bytes(packed[o, q].tobytes(), "little")
            dut.w2_wr_strb.value = strb
            await RisingEdge(dut.clk)
        dut.w2_wr_en.value = 0
        await RisingEdge(dut.clk)

    async def layer1(self, hidden: np.ndarray, gap: int) -> None:
        """Write each image's h into slot k % 2 and pulse h_done, at most two held."""
        dut = self.dut
        for k, image in enumerate(hidden):
            while self.held >= 2:
                await RisingEdge(dut.clk)
            for n, value in enumerate(image):
                if gap:
                    await ClockCycles(dut.clk, self.rng.randint(0, gap))
                dut.h_wr_en.value = 1
                dut.h_wr_addr.value = (k % 2) << 7 | n
                dut.h_wr_data.value = int(value)
                await RisingEdge(dut.clk)
                dut.h_wr_en.value = 0
            self.held += 1
            dut.h_done.value = 1
            await RisingEdge(dut.clk)
            dut.h_done.value = 0

    async def batch(self, w2: np.ndarray, hidden: np.ndarray, s2: int, gap: int = 0) -> None:
        """START, feed the images, check every result word."""
        dut = self.dut
        self.results = []
        dut.shift_l2.value = s2
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        await self.layer1(hidden, gap)
        want = expected_words(w2, hidden, s2)
        for _ in range(400 * len(hidden) + 100):
            if len(self.results) >= len(want):
                break
            await RisingEdge(dut.clk)
        await ClockCycles(dut.clk, 20)
        assert len(self.results) == len(want), f"{len(self.results)} words, expected {len(want)}"
        for k in range(len(hidden)):
            got = self.results[k * WORDS : (k + 1) * WORDS]
            exp = want[k * WORDS : (k + 1) * WORDS]
            assert got == exp, f"image {k}: {[hex(w) for w in got]} != {[hex(w) for w in exp]}"
        while self.fifo_words:
            await RisingEdge(dut.clk)


async def room_driver(tb: TB) -> None:
    """res_room follows the FIFO model, registered like mnist_result_out's."""
    while True:
        await RisingEdge(tb.dut.clk)
        tb.dut.res_room.value = int(tb.room)


async def setup(dut, drain=None) -> TB:
    tb = TB(dut)
    await tb.reset()
    tb.drain = drain() if drain else None
    cocotb.start_soon(room_driver(tb))
    return tb


@cocotb.test()
@cocotb.parametrize(drain=[None, lambda: random_pause(31)])
async def random_models(dut, drain):
    """Random int8 W2 and uint8 h, several shifts, FIFO drained freely or with pauses."""
    tb = await setup(dut, drain)
    rng = np.random.default_rng(17)
    w2 = rng.integers(-128, 128, (N_OUT, N_HID))
    await tb.load_w2(w2)
    for s2, gap in ((0, 0), (7, 2), (31, 0)):
        await tb.batch(w2, rng.integers(0, 256, (5, N_HID)), s2, gap)


@cocotb.test()
async def stalled_fifo(dut):
    """A FIFO that never drains: layer 2 stops after two records (22 of 32 words)."""
    tb = await setup(dut, lambda: itertools.repeat(True))
    rng = np.random.default_rng(18)
    await tb.load_w2(rng.integers(-128, 128, (N_OUT, N_HID)))
    dut.start.value = 1
    await RisingEdge(dut.clk)
    dut.start.value = 0
    task = cocotb.start_soon(tb.layer1(rng.integers(0, 256, (4, N_HID)), 0))
    await ClockCycles(dut.clk, 3000)
    assert len(tb.results) == 2 * WORDS, f"{len(tb.results)} words into a full FIFO"
    task.cancel()


@cocotb.test()
async def extreme_models(dut):
    """Widest logits, ties (lowest index wins), seed clamps, partial WSTRB on the W2 mirror."""
    tb = await setup(dut, lambda: random_pause(8))
    h_max = np.full((2, N_HID), 255)
    for value in (-128, 127):
        w2 = np.full((N_OUT, N_HID), value)
        await tb.load_w2(w2)
        await tb.batch(w2, h_max, 0)
    w2 = np.zeros((N_OUT, N_HID), dtype=np.int64)
    await tb.load_w2(w2)
    await tb.batch(w2, h_max, 3)  # all logits 0: digit 0, seed 0
    w2[3, :] = 1
    w2[7, :] = 1  # tie between 3 and 7
    w2[5, :8] = 127  # a seed that clamps at 255 with a small shift
    await tb.load_w2(w2)
    await tb.batch(w2, np.vstack([h_max[0], np.arange(N_HID) % 256]), 2)
    # bytes 0 and 2 of word 5*32 only
    new = w2.copy()
    new[5, 0:4] = -7, -1, 99, -1  # the -1 bytes are masked out
    await tb.load_w2(new, strb=0b0101, words=range(5 * 32, 5 * 32 + 1))
    expected = w2.copy()
    expected[5, 0], expected[5, 2] = -7, 99
    await tb.batch(expected, np.vstack([h_max[0], np.arange(N_HID)]), 4)


def seed_digits_clamped_at_511(logits: np.ndarray, s2: int) -> np.ndarray:
    """Seed digits of a wrong clamp that passes 256..511 through modulo 256 (the negative case)."""
    shifted = np.asarray(logits, np.int64) >> s2
    vals = np.where(shifted < 0, 0, np.where(shifted < 512, shifted & 0xFF, 255))
    return np.argmax(vals, axis=1)  # first index on ties


@cocotb.test()
async def seed_values(dut):
    """Seed values before the clamp across 0..511 and beyond: 256..511 must clamp to 255."""
    tb = await setup(dut, lambda: random_pause(9))
    rng = np.random.default_rng(23)
    w2 = rng.integers(-128, 128, (N_OUT, N_HID))
    await tb.load_w2(w2)
    bins: set[int] = set()
    differs = 0
    for s2 in (8, 9, 10):
        hidden = rng.integers(0, 256, (8, N_HID))
        logits = hidden.astype(np.int64) @ w2.T
        shifted = logits >> s2
        bins |= {int(v) // 64 for v in shifted.ravel() if 0 <= v < 512}
        differs += int(
            np.sum(reference_seed_digits(logits, s2) != seed_digits_clamped_at_511(logits, s2))
        )
        await tb.batch(w2, hidden, s2)
    # the stimulus reaches every 64-wide bin of 0..511, and a clamp at 511 changes digits
    assert bins == set(range(8)), f"seed value bins reached: {sorted(bins)}"
    assert differs >= 3, f"only {differs} seed digits depend on the 255 clamp"


@pytest.mark.sim
def test_mnist_layer2() -> None:
    """Build mnist_layer2 and run its cocotb tests."""
    from cocotb_runner import run_cocotb

    run_cocotb("test_mnist_layer2", "mnist_layer2", {})
