"""The mnist_top testbench shared by its benches: bit-exact models of the 11 result words
(from tests/reference.py), the weight window built from the bank rules of
docs/architecture.md (inverse mapping, independent of pynq_mnist.hardware.regmap's
pack_weights), and ``TB``, the DUT behind its three AXI ports.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, with_timeout
from cocotbext.axi import (
    AxiLiteBus,
    AxiLiteMaster,
    AxiStreamBus,
    AxiStreamFrame,
    AxiStreamSink,
    AxiStreamSource,
)
from tb_common import (
    RESP_OKAY,
    AxiLiteAccess,
    BusMonitor,
)

from pynq_mnist.hardware import regmap as rm

log = logging.getLogger(__name__)

N_IN, N_HID, N_OUT = 784, 128, 10
WORDS = 11
CLK_NS = 10


# ----------------------------------------------------------------------------- models


def window_image(w1: np.ndarray, w2: np.ndarray, nb: int) -> bytes:
    """Weight window bytes from the bank rules: byte w is bank w % NB, bank address w // NB."""
    npl = N_HID // nb
    offs = np.arange((N_IN + N_OUT) * N_HID)
    bank, addr = offs % nb, offs // nb
    out = np.zeros(offs.size, dtype=np.int64)
    is_w1 = addr < N_IN * npl
    j1, i1 = addr[is_w1] // N_IN, addr[is_w1] % N_IN
    out[is_w1] = w1[j1 * nb + bank[is_w1], i1]
    r = addr[~is_w1] - N_IN * npl
    o2, j2 = r // npl, r % npl
    out[~is_w1] = w2[o2, j2 * nb + bank[~is_w1]]
    return out.astype(np.int8).tobytes()


def trained_model() -> tuple[np.ndarray, np.ndarray, int, int, str]:
    """The package's bundled default model (a missing file is an error, not a skip)."""
    from pynq_mnist.model import load_model

    m = load_model()
    return (
        np.asarray(m.w1, np.int64),
        np.asarray(m.w2, np.int64),
        int(m.shift_l1),
        int(m.shift_l2),
        "default",
    )


def mnist_test_images(count: int) -> np.ndarray:
    """The first ``count`` real MNIST test images as uint8 [count, 784]."""
    from pynq_mnist.data import load_mnist

    data_dir = os.environ.get("PYNQ_MNIST_DATA") or str(
        Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
    )
    images, _ = load_mnist("test", data_dir)
    return np.ascontiguousarray(images[:count].reshape(count, N_IN), dtype=np.uint8)


def expected_words(
    w1: np.ndarray,
    w2: np.ndarray,
    s1: int,
    s2: int,
    images: np.ndarray,
    n_total: int | None = None,
    n_good: int | None = None,
) -> list[int]:
    """The result stream the contract demands: good records, then error records."""
    from reference import reference_digits, reference_logits, reference_seed_digits

    n_total = len(images) if n_total is None else n_total
    n_good = n_total if n_good is None else n_good
    words: list[int] = []
    if n_good:
        logits = reference_logits(w1, w2, s1, s2, images[:n_good])
        digits = reference_digits(logits)
        seeds = reference_seed_digits(logits, s2)
    for k in range(n_total):
        if k < n_good:
            words += [int(v) & 0xFFFFFFFF for v in logits[k]]
            words.append(
                (int(digits[k]) << rm.RESULT_DIGIT_SHIFT)
                | (int(seeds[k]) << rm.RESULT_SEED_SHIFT)
                | ((k & 0xFFFF) << rm.RESULT_INDEX_SHIFT)
            )
        else:
            words += [0] * N_OUT
            words.append(
                (1 << rm.RESULT_ERROR_BIT)
                | ((k & 0xFFFF) << rm.RESULT_INDEX_SHIFT)
                | (0xF << rm.RESULT_SEED_SHIFT)
                | (0xF << rm.RESULT_DIGIT_SHIFT)
            )
    return words


def describe_mismatch(got: list[int], want: list[int]) -> str:
    """First differing word as image/word index."""
    if len(got) != len(want):
        return f"{len(got)} words received, {len(want)} expected"
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        if g != w:
            return f"image {k // WORDS} word {k % WORDS}: got {g:#010x}, expected {w:#010x}"
    return "equal"


# ----------------------------------------------------------------------------- testbench


# What the DUT's weight window holds (as 32-bit words), for incremental loads.
DUT_WINDOW: dict[str, np.ndarray | None] = {}


class TB(AxiLiteAccess):
    """Clock, reset, bus models and batch helpers around mnist_top."""

    def __init__(self, dut) -> None:
        self.dut = dut
        self.clock = dut.aclk
        self.reset_n = dut.aresetn
        self.nb = int(os.environ.get("PARAM_NUM_BANKS", "64"))
        self.log = logging.getLogger("cocotb.tb")
        cocotb.start_soon(Clock(dut.aclk, CLK_NS, unit="ns").start())
        self.axil = AxiLiteMaster(
            AxiLiteBus.from_prefix(dut, "s_axi_ctrl"),
            dut.aclk,
            dut.aresetn,
            reset_active_level=False,
        )
        self.source = AxiStreamSource(
            AxiStreamBus.from_prefix(dut, "s_axis"), dut.aclk, dut.aresetn, reset_active_level=False
        )
        self.sink = AxiStreamSink(
            AxiStreamBus.from_prefix(dut, "m_axis"), dut.aclk, dut.aresetn, reset_active_level=False
        )
        for model in (self.axil.write_if, self.axil.read_if, self.source, self.sink):
            model.log.setLevel(logging.WARNING)  # per-transaction INFO logs cost minutes

    def set_idle_generator(self, generator=None) -> None:
        if generator:
            self.source.set_pause_generator(generator())

    def set_backpressure_generator(self, generator=None) -> None:
        if generator:
            self.sink.set_pause_generator(generator())

    def clear_generators(self) -> None:
        for model in (self.source, self.sink):
            model.clear_pause_generator()
            model.pause = False  # the generator may have left it paused

    def reset_stream_models(self, source: bool = True, sink: bool = True) -> None:
        """Abort the frames in flight in the stream models, as a DMA reset would."""
        for model in [m for m, on in ((self.source, source), (self.sink, sink)) if on]:
            model.clear()
            model._handle_reset(True)
            model._handle_reset(False)

    async def load_weights(self, w1: np.ndarray, w2: np.ndarray) -> None:
        """Write the window words that differ from what the DUT holds (all, the first time).

        BRAM keeps its contents across aresetn and SOFT_RESET, and one simulation
        runs all tests of a case, so only changed words travel over AXI4-Lite
        (cocotbext-axi needs ~0.5 ms of Python per word).
        """
        image = np.frombuffer(window_image(w1, w2, self.nb), dtype=np.uint32)
        current = DUT_WINDOW.get("words")
        if current is None:
            runs = [(0, image.size)]
        else:
            changed = np.flatnonzero(image != current)
            runs = []
            for k in changed.tolist():
                if runs and k - runs[-1][1] <= 8:
                    runs[-1] = (runs[-1][0], k + 1)
                else:
                    runs.append((k, k + 1))
        t0 = time.perf_counter()
        for a, b in runs:
            resp = await with_timeout(
                self.axil.write(rm.WEIGHT_WINDOW_OFFSET + 4 * a, image[a:b].tobytes()),
                50_000,
                "us",
            )
            assert int(resp.resp) == RESP_OKAY
        DUT_WINDOW["words"] = image.copy()
        self.log.info(
            "weights: %d words written in %.1f s",
            sum(b - a for a, b in runs),
            time.perf_counter() - t0,
        )

    async def wait_done(self, timeout_us: float = 20_000) -> int:
        """Poll STATUS until IDLE and DONE; return STATUS."""

        async def poll() -> int:
            while True:
                status = await self.read_reg(rm.REG_STATUS)
                if status & rm.STATUS_IDLE and status & rm.STATUS_DONE:
                    return status
                await ClockCycles(self.dut.aclk, 50)

        return await with_timeout(poll(), timeout_us, "us")

    async def wait_idle(self, timeout_us: float = 200) -> int:
        """Poll STATUS until IDLE (a SOFT_RESET drain may take a while); return STATUS."""

        async def poll() -> int:
            while True:
                status = await self.read_reg(rm.REG_STATUS)
                if status & rm.STATUS_IDLE:
                    return status
                await ClockCycles(self.dut.aclk, 20)

        return await with_timeout(poll(), timeout_us, "us")

    def monitor(self) -> BusMonitor:
        """Handshake counter on s_axi_ctrl, stream checker on m_axis, BUSY falling edges."""
        return BusMonitor(
            self.dut.aclk, "s_axi_ctrl", self.dut, "m_axis", levels={"busy": self.dut.busy_reg}
        )

    async def start_batch(self, n_images: int, s1: int, s2: int, irq: bool = False) -> None:
        await self.write_reg(rm.REG_SHIFT_L1, s1)
        await self.write_reg(rm.REG_SHIFT_L2, s2)
        await self.write_reg(rm.REG_N_IMAGES, n_images)
        await self.write_reg(rm.REG_CTRL, rm.CTRL_START | (rm.CTRL_IRQ_EN if irq else 0))

    async def recv_words(self, timeout_us: float) -> list[int]:
        frame = await with_timeout(self.sink.recv(), timeout_us, "us")
        # the sink drops TKEEP=0 bytes, so a bad TKEEP shows up as a short frame
        data = bytes(frame.tdata)
        assert len(data) % 4 == 0
        return np.frombuffer(data, dtype="<u4").astype(np.int64).tolist()

    def batch_timeout_us(self, n_images: int) -> float:
        per_image = 1.5 * (N_IN + N_OUT) * N_HID / self.nb
        return (n_images * per_image * 4 + 20_000) * CLK_NS / 1000

    async def run_batch(
        self,
        images: np.ndarray,
        s1: int,
        s2: int,
        n_images: int | None = None,
        payload: bytes | None = None,
        tkeep: list[int] | None = None,
    ) -> tuple[list[int], int]:
        """Start a batch, stream ``payload`` (default: the images), return (words, STATUS)."""
        n = len(images) if n_images is None else n_images
        await self.start_batch(n, s1, s2)
        data = images.astype(np.uint8).tobytes() if payload is None else payload
        await self.source.send(AxiStreamFrame(tdata=data, tkeep=tkeep))
        words = await self.recv_words(self.batch_timeout_us(n))
        status = await self.wait_done(self.batch_timeout_us(n))
        await with_timeout(self.source.wait(), 1000, "us")
        assert self.sink.empty(), "sink not empty after the batch"
        return words, status


async def setup(dut) -> TB:
    tb = TB(dut)
    await tb.reset()
    return tb


async def check_batch(tb: TB, w1, w2, s1: int, s2: int, images: np.ndarray, what: str) -> int:
    """Run one good batch and assert every word, IMAGES_DONE and clean status."""
    words, status = await tb.run_batch(images, s1, s2)
    want = expected_words(w1, w2, s1, s2, images)
    assert words == want, f"{what}: {describe_mismatch(words, want)}"
    assert not status & rm.STATUS_ERROR, f"{what}: STATUS {status:#x}"
    assert await tb.read_reg(rm.REG_IMAGES_DONE) == len(images)
    assert await tb.read_reg(rm.REG_ERROR_CAUSE) == 0
    return await tb.read_reg(rm.REG_CYCLES)


def default_model() -> tuple[np.ndarray, np.ndarray, int, int]:
    """The model most tests share, so the window is written once per simulation."""
    w1, w2, s1, s2, _ = trained_model()
    return w1, w2, s1, s2


def rand_images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, N_IN), dtype=np.int64).astype(np.uint8)
