"""Randomised concurrency stress of mnist_top: everything at once, checked by a scoreboard.

Three agents share the AXI4-Lite port while both streams run under random
backpressure and the AXI4-Lite channels pause at random:

- the batch agent runs short batches one after the other: good ones, ones with
  a framing error (early TLAST, extra beats, a TKEEP hole) and ones aborted by
  SOFT_RESET at a random moment (then, half of the time, the DMA is reset too:
  the image stream stops without TLAST). The first framing error is an early
  TLAST exactly at an image boundary. It also changes a few weights and the
  shifts between batches (every other good batch with a SHIFT_L2 that puts the
  largest seed value in 256..511, where the clamp decides), sends a START
  while busy now and then, races a window read against every START and
  writes START together with every other SOFT_RESET (SOFT_RESET wins);
- the register agent reads every register, writes OWNER_TAG, read-only and
  undefined addresses;
- the window agent reads and rewrites (same value, random WSTRB) a set of
  weight words that the batch agent leaves alone.

Scoreboard: every AR gets exactly one R and every AW/W one B (BusMonitor, and
every access returns within its deadline); every answer is the one the
contract allows; every result record is exact against tests/reference.py or
flagged as an error record (an aborted packet is an exact prefix, closed by an
error-flagged terminator); STATUS never shows BUSY with DONE or IDLE with
BUSY/DRAINING; after every batch the engine is IDLE again; m_axis never drops
TVALID or changes its payload before TREADY; a final aresetn clears every
control register.

``MNIST_STRESS_TRANSACTIONS`` (default 10,000) sets the number of AXI4-Lite
transactions of the random phase, not counting the weight load.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import AxiStreamFrame
from tb_common import RESP_OKAY, RESP_SLVERR, random_pause
from top_tb import (
    N_HID,
    N_IN,
    N_OUT,
    TB,
    WORDS,
    default_model,
    describe_mismatch,
    expected_words,
    rand_images,
    window_image,
)

from pynq_mnist.hardware import regmap as rm

WIN = rm.WEIGHT_WINDOW_OFFSET
WIN_WORDS = rm.WEIGHT_WINDOW_BYTES // 4
# window words the window agent owns (the batch agent never changes them)
NOISE_WORDS = list(range(40, 40 + 64 * 97, 97)) + list(range(25100, 25400, 7))
ALWAYS_SLVERR = (0x0C, 0x34, 0x80, 0xFC, 0x100, 0x1FFFC, WIN + rm.WEIGHT_WINDOW_BYTES)
STATUS_ALLOWED_FORBIDDEN = (
    (rm.STATUS_BUSY, rm.STATUS_DONE),
    (rm.STATUS_BUSY, rm.STATUS_IDLE),
    (rm.STATUS_DRAINING, rm.STATUS_IDLE),
)
# the closing word of an aborted packet: ERROR, both digits 0xF (any record index)
TERMINATOR = (
    (1 << rm.RESULT_ERROR_BIT) | (0xF << rm.RESULT_SEED_SHIFT) | (0xF << rm.RESULT_DIGIT_SHIFT)
)
# every kind of batch comes up within the first five
BATCH_KINDS = ("good", "abort", "framing", "good", "abort")
BEAT_BYTES = 4
IMAGE_BEATS = N_IN // BEAT_BYTES


def seed_shift(w1: np.ndarray, w2: np.ndarray, s1: int, images: np.ndarray) -> int:
    """SHIFT_L2 that puts the largest logit's seed value in 256..511, where the clamp decides."""
    from reference import reference_logits

    top = int(reference_logits(w1, w2, s1, 0, images).max())
    return min(31, max(0, top.bit_length() - 9))


def check_status(status: int, what: str) -> None:
    """STATUS combinations that must never be seen."""
    for a, b in STATUS_ALLOWED_FORBIDDEN:
        assert not (status & a and status & b), f"{what}: STATUS {status:#x}"


class Stress:
    """State shared by the agents: the model, the scoreboard counters, the stop flag."""

    def __init__(self, tb: TB, seed: int) -> None:
        self.tb = tb
        self.rng = random.Random(seed)
        self.nprng = np.random.default_rng(seed)
        w1, w2, s1, s2 = default_model()
        self.w1, self.w2, self.s1, self.s2 = w1.copy(), w2.copy(), s1, s2
        self.window = np.frombuffer(window_image(self.w1, self.w2, tb.nb), dtype="<u4").copy()
        self.stop = False
        self.stats = {
            "batches": 0,
            "good": 0,
            "framing": 0,
            "aborted": 0,
            "dma_reset": 0,
            "terminated": 0,
            "rejected_starts": 0,
            "weight_changes": 0,
            "images": 0,
        }
        nb, npl = tb.nb, N_HID // tb.nb
        # weights whose window word is not a noise word, by the bank rules
        self.w1_cells = [
            (n, i)
            for n, i in ((self.rng.randrange(N_HID), self.rng.randrange(N_IN)) for _ in range(64))
            if ((n // nb * N_IN + i) * nb + n % nb) // 4 not in NOISE_WORDS
        ]
        self.w2_cells = [
            (o, n)
            for o, n in ((self.rng.randrange(N_OUT), self.rng.randrange(N_HID)) for _ in range(64))
            if ((N_IN * npl + o * npl + n // nb) * nb + n % nb) // 4 not in NOISE_WORDS
        ]

    # ------------------------------------------------------------------ batch agent
    async def change_weights(self) -> None:
        """Flip one W1 and one W2 weight, write the changed window words."""
        self.w1[self.rng.choice(self.w1_cells)] = self.rng.randrange(-128, 128)
        self.w2[self.rng.choice(self.w2_cells)] = self.rng.randrange(-128, 128)
        image = np.frombuffer(window_image(self.w1, self.w2, self.tb.nb), dtype="<u4")
        for k in np.flatnonzero(image != self.window).tolist():
            assert k not in NOISE_WORDS
            assert await self.tb.write(WIN + 4 * k, int(image[k])) == RESP_OKAY
        self.window = image.copy()
        self.stats["weight_changes"] += 1

    def payload(self, images: np.ndarray, kind: str) -> tuple[bytes, list[int] | None, int, int]:
        """(stream bytes, TKEEP, n_good, ERROR_CAUSE) for a batch of this kind."""
        n = len(images)
        data = images.tobytes()
        if kind != "framing":
            return data, None, n, 0
        how = self.rng.choice(("short", "long", "hole"))
        if self.stats["framing"] == 0 and n > 1:
            # the first framing batch ends exactly at an image boundary: image m < N-1 is
            # complete and good, EARLY_TLAST is set and m+1.. are error records
            cut = self.rng.randrange(1, n) * N_IN
            return data[:cut], None, cut // N_IN, rm.ERR_EARLY_TLAST
        if how == "short":
            cut = self.rng.randrange(1, n * IMAGE_BEATS) * BEAT_BYTES
            return data[:cut], None, cut // N_IN, rm.ERR_EARLY_TLAST
        if how == "long":
            extra = self.rng.randrange(1, 300) * BEAT_BYTES
            return data + bytes(extra), None, n, rm.ERR_MISSING_TLAST
        hole = self.rng.randrange(len(data))
        tkeep = [1] * len(data)
        tkeep[hole] = 0
        return data, tkeep, hole // N_IN, rm.ERR_BAD_TKEEP

    async def batch_agent(self, target: int, mon) -> None:
        tb = self.tb
        per_image = N_IN * N_HID // tb.nb
        while (
            mon.count["ar"] + mon.count["aw"] - self.base < target
            or self.stats["batches"] < len(BATCH_KINDS) + 1
        ):
            if self.rng.random() < 0.3:
                await self.change_weights()
            if self.rng.random() < 0.3:
                self.s1 = self.rng.choice((self.s1, 6, 7, 8, 9))
                self.s2 = self.rng.randrange(32)
            kind = BATCH_KINDS[self.stats["batches"] % len(BATCH_KINDS)]
            n = self.rng.randint(2 if kind == "framing" else 1, 3)
            images = rand_images(self.nprng, n)
            if kind == "good" and self.stats["good"] % 2 == 0:
                self.s2 = seed_shift(self.w1, self.w2, self.s1, images)
            data, tkeep, n_good, cause = self.payload(images, kind)
            await self.start_with_racing_read(n)
            want = expected_words(self.w1, self.w2, self.s1, self.s2, images, n, n_good)
            what = f"batch {self.stats['batches']} ({kind}, n={n})"
            if self.stats["batches"] % 3 == 1:
                # the stream has not started, so the engine is surely busy
                assert await tb.write(rm.REG_CTRL, rm.CTRL_START) == RESP_SLVERR, what
                status = await tb.read_reg(rm.REG_STATUS)
                assert status & rm.STATUS_START_REJECTED and status & rm.STATUS_BUSY, what
                await tb.write_reg(rm.REG_STATUS, rm.STATUS_START_REJECTED)
                self.stats["rejected_starts"] += 1
            await tb.source.send(AxiStreamFrame(tdata=data, tkeep=tkeep))
            if kind == "abort":
                await self.abort(want, self.rng.randrange(n * per_image + 800), what)
            else:
                words = await tb.recv_words(tb.batch_timeout_us(n) * 4)
                assert words == want, f"{what}: {describe_mismatch(words, want)}"
                status = await tb.wait_done(tb.batch_timeout_us(n) * 4)
                check_status(status, what)
                assert bool(status & rm.STATUS_ERROR) == (kind == "framing"), what
                assert await tb.read_reg(rm.REG_ERROR_CAUSE) == cause, what
                assert await tb.read_reg(rm.REG_IMAGES_DONE) == n, what
                await with_timeout(tb.source.wait(), 2000, "us")
                self.stats[kind] += 1
            self.stats["batches"] += 1
            self.stats["images"] += n
        self.stop = True

    async def start_with_racing_read(self, n: int) -> None:
        """START with a window read issued 0..3 cycles after it: the word or SLVERR, never stale."""
        tb = self.tb
        await tb.write_reg(rm.REG_SHIFT_L1, self.s1)
        await tb.write_reg(rm.REG_SHIFT_L2, self.s2)
        await tb.write_reg(rm.REG_N_IMAGES, n)
        k = self.rng.choice(NOISE_WORDS)
        skew = self.rng.randrange(4)

        async def racing_read() -> None:
            await ClockCycles(tb.dut.aclk, skew)
            got = await tb.read(WIN + 4 * k)
            allowed = ((int(self.window[k]), RESP_OKAY), (0, RESP_SLVERR))
            assert got in allowed, f"window read {skew} cycles after START: word {k} {got}"

        task = cocotb.start_soon(racing_read())
        await tb.write_reg(rm.REG_CTRL, rm.CTRL_START)
        await with_timeout(task, 100, "us")

    async def abort(self, want: list[int], delay: int, what: str) -> None:
        """SOFT_RESET after ``delay`` cycles; maybe a DMA reset; check the packet and IDLE."""
        tb = self.tb
        await ClockCycles(tb.dut.aclk, delay)
        # every other abort also sets START in the same write: SOFT_RESET wins, no START
        both = rm.CTRL_START if self.stats["aborted"] % 2 == 0 else 0
        await tb.write_reg(rm.REG_CTRL, rm.CTRL_SOFT_RESET | both)
        dma_reset = self.stats["aborted"] % 2 == 1
        if dma_reset:
            tb.reset_stream_models(sink=False)  # MM2S stops mid-packet: no TLAST ever
            self.stats["dma_reset"] += 1
        status = await tb.wait_idle(400)
        check_status(status, what)
        assert not status & (rm.STATUS_BUSY | rm.STATUS_DRAINING), f"{what}: {status:#x}"
        if not dma_reset:
            # the flush took the input packet up to its TLAST
            await with_timeout(tb.source.wait(), 10, "us")
        # IDLE: any packet under way is closed and taken by the sink
        if not tb.sink.empty():
            words = await tb.recv_words(10)
            assert tb.sink.empty(), f"{what}: two packets"
            body = words
            if words != want[: len(words)]:
                # closed early: an error-record word with TLAST ends the exact prefix
                index_field = 0xFFFF << rm.RESULT_INDEX_SHIFT
                assert words[-1] & ~index_field == TERMINATOR, f"{what}: last {words[-1]:#x}"
                body = words[:-1]
                self.stats["terminated"] += 1
            assert body == want[: len(body)], (
                f"{what}: {describe_mismatch(body, want[: len(body)])}"
            )
        assert tb.dut.m_axis_tvalid.value == 0
        tb.reset_stream_models()  # the DMA reset also ends the sink's view of the packet
        self.stats["aborted"] += 1

    # ------------------------------------------------------------------ noise agents
    async def register_agent(self) -> None:
        tb = self.tb
        fixed = {
            rm.REG_ID: rm.ID_VALUE,
            rm.REG_NUM_BANKS: tb.nb,
            rm.REG_LAYER_SIZES: rm.LAYER_SIZES_VALUE,
        }
        readable = [r["address_offset"] for r in rm.REGISTERS.values()]
        while not self.stop:
            roll = self.rng.random()
            if roll < 0.6:
                reg = self.rng.choice(readable)
                value, resp = await tb.read(reg)
                assert resp == RESP_OKAY, f"read {reg:#x}: resp {resp}"
                if reg in fixed:
                    assert value == fixed[reg], f"read {reg:#x}: {value:#x}"
                if reg == rm.REG_STATUS:
                    check_status(value, "register agent")
            elif roll < 0.75:
                addr = self.rng.choice(ALWAYS_SLVERR)
                assert await tb.read(addr) == (0, RESP_SLVERR), f"read {addr:#x}"
            elif roll < 0.85:
                addr = self.rng.choice(ALWAYS_SLVERR)
                assert await tb.write(addr, self.rng.getrandbits(32)) == RESP_SLVERR
            elif roll < 0.93:
                assert await tb.write(rm.REG_OWNER_TAG, self.rng.getrandbits(32)) == RESP_OKAY
            else:
                reg = self.rng.choice(list(fixed))
                assert await tb.write(reg, self.rng.getrandbits(32)) == RESP_OKAY

    async def window_agent(self) -> None:
        tb = self.tb
        while not self.stop:
            k = self.rng.choice(NOISE_WORDS)
            if self.rng.random() < 0.5:
                got = await tb.read(WIN + 4 * k)
                assert got in ((int(self.window[k]), RESP_OKAY), (0, RESP_SLVERR)), (k, got)
            else:
                # rewrite the same bytes under a random WSTRB: the weights stay as they are
                lane = self.rng.randrange(4)
                width = self.rng.choice([w for w in (1, 2, 4) if lane % w == 0 and lane + w <= 4])
                data = int(self.window[k]).to_bytes(4, "little")[lane : lane + width]
                resp = await with_timeout(tb.axil.write(WIN + 4 * k + lane, data), 100, "us")
                assert int(resp.resp) in (RESP_OKAY, RESP_SLVERR)


def set_axil_pauses(tb: TB, seed: int) -> None:
    """Random pauses on the AXI4-Lite request and response channels."""
    channels = (
        tb.axil.write_if.aw_channel,
        tb.axil.write_if.w_channel,
        tb.axil.read_if.ar_channel,
        tb.axil.write_if.b_channel,
        tb.axil.read_if.r_channel,
    )
    for k, ch in enumerate(channels):
        ch.set_pause_generator(random_pause(seed + k))


@cocotb.test()
async def random_stress(dut):
    """Random interleavings of everything; see the module docstring for the scoreboard."""
    tb = TB(dut)
    await tb.reset()
    log = logging.getLogger("cocotb.tb")
    target = int(os.environ.get("MNIST_STRESS_TRANSACTIONS", "10000"))
    seed = 1000 + tb.nb
    stress = Stress(tb, seed)
    mon = tb.monitor()
    t0 = time.perf_counter()
    await tb.load_weights(stress.w1, stress.w2)
    t_load = time.perf_counter() - t0
    stress.base = mon.count["ar"] + mon.count["aw"]
    tb.set_idle_generator(lambda: random_pause(seed + 10))
    tb.set_backpressure_generator(lambda: random_pause(seed + 11))
    set_axil_pauses(tb, seed + 20)
    agents = [
        cocotb.start_soon(stress.register_agent()),
        cocotb.start_soon(stress.window_agent()),
    ]
    await stress.batch_agent(target, mon)
    for agent in agents:
        await with_timeout(agent, 1000, "us")
    await ClockCycles(dut.aclk, 20)
    assert mon.outstanding() == {"read": 0, "write_aw": 0, "write_w": 0}, mon.count
    assert not mon.stream_violations, mon.stream_violations[:3]
    status = await tb.read_reg(rm.REG_STATUS)
    assert status & rm.STATUS_IDLE and not status & (rm.STATUS_BUSY | rm.STATUS_DRAINING)
    transactions = mon.count["ar"] + mon.count["aw"] - stress.base
    assert transactions >= target
    # aresetn at the end clears every control register, whatever the traffic left in them
    for reg, value in ((rm.REG_N_IMAGES, 5), (rm.REG_SHIFT_L1, 7), (rm.REG_OWNER_TAG, 0x5A5A)):
        await tb.write_reg(reg, value)
    await tb.write_reg(rm.REG_CTRL, rm.CTRL_IRQ_EN)
    await tb.reset()
    for reg in (rm.REG_N_IMAGES, rm.REG_SHIFT_L1, rm.REG_SHIFT_L2, rm.REG_OWNER_TAG, rm.REG_CTRL):
        assert await tb.read_reg(reg) == 0, f"{reg:#x} survived aresetn"
    summary = (
        f"NUM_BANKS={tb.nb}: {transactions} AXI4-Lite transactions in the random phase "
        f"({time.perf_counter() - t0 - t_load:.1f} s, + {t_load:.1f} s weight load, "
        f"{mon.cycle} cycles simulated); {stress.stats}"
    )
    log.info("%s", summary)
    Path(os.environ.get("MNIST_STRESS_OUT", "stress.txt")).write_text(summary + "\n")
    for kind in ("good", "framing", "aborted", "dma_reset", "rejected_starts"):
        assert stress.stats[kind] > 0, f"no {kind} case in {stress.stats}"
    assert WORDS == N_OUT + 1


@pytest.mark.sim
@pytest.mark.parametrize("num_banks", [32, 64, 128])
def test_mnist_stress(num_banks: int) -> None:
    """Build mnist_top for NUM_BANKS and run the random stress."""
    from cocotb_runner import BUILD_ROOT, run_cocotb

    out = BUILD_ROOT / f"stress_{num_banks}.txt"
    run_cocotb(
        "test_mnist_stress",
        "mnist_top",
        {"NUM_BANKS": num_banks},
        extra_env={"MNIST_STRESS_OUT": str(out)},
    )
