"""Every modelled AXI DMA fault on the virtual board: the driver names the cause, recovers, and
the next batch is bit-exact against the independent CPU backend.

Every test runs on a Zynq-7000 board (PL clock 100 MHz) and a Zynq UltraScale+ one (150
MHz), in both MMIO modes. Recovery time is measured in cycles of the board's PL clock
around the driver's recovery and logged as a table (``-o log_cli=true`` shows it).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pynq
import pytest
from helpers import random_images, random_model
from pynq import MMIO
from sim_hooks import BOARD_KEYS

from pynq_mnist.backends.cpu import CpuBackend
from pynq_mnist.backends.sim import SimBackend
from pynq_mnist.errors import AcceleratorError, AcceleratorTimeout
from pynq_mnist.hardware import regmap

pytestmark = pytest.mark.sim
log = logging.getLogger(__name__)

N_IMAGES = 24
IN_BYTES = regmap.N_IN
OUT_BYTES = 4 * regmap.RESULT_WORDS_PER_IMAGE


@dataclass
class Fault:
    """One injectable fault and what the driver must say about it."""

    name: str
    inject: dict[str, Any]
    error: type[AcceleratorError]
    says: tuple[str, ...]
    extra: list[dict[str, Any]] = field(default_factory=list)


FAULTS = [
    Fault(
        "MM2S DecErr",
        {"fault": "mm2s_error", "kind": "decerr", "at_byte": 10 * IN_BYTES + 64},
        AcceleratorError,
        ("MM2S DMADecErr", "decode error"),
    ),
    Fault(
        "MM2S SlvErr",
        {"fault": "mm2s_error", "kind": "slverr", "at_byte": 3 * IN_BYTES},
        AcceleratorError,
        ("MM2S DMASlvErr", "slave error"),
    ),
    Fault(
        "S2MM DecErr",
        {"fault": "s2mm_error", "kind": "decerr", "at_byte": 5 * OUT_BYTES},
        AcceleratorError,
        ("S2MM DMADecErr", "decode error"),
    ),
    Fault(
        "S2MM SlvErr",
        {"fault": "s2mm_error", "kind": "slverr", "at_byte": 0},
        AcceleratorError,
        ("S2MM DMASlvErr", "slave error"),
    ),
    Fault(
        "short S2MM",
        {"fault": "short_s2mm", "nbytes": 7 * OUT_BYTES},
        AcceleratorError,
        ("S2MM_LENGTH reads", f"{7 * OUT_BYTES} bytes", "short"),
    ),
    Fault(
        "residual beats",
        {"fault": "residual_beats", "beats": 16},
        AcceleratorError,
        ("MISSING_TLAST", "residual beats"),
    ),
    Fault(
        "stall",
        {"fault": "stall"},
        AcceleratorTimeout,
        ("not done within", "BUSY", "S2MM_DMASR"),
    ),
    Fault(
        "long Reset + MM2S DecErr",
        {"fault": "mm2s_error", "kind": "decerr", "at_byte": 2 * IN_BYTES},
        AcceleratorError,
        ("MM2S DMADecErr",),
        extra=[{"fault": "slow_reset", "cycles": 300_000}],
    ),
]

RESULTS: dict[str, tuple[str, int, int]] = {}


@pytest.fixture(
    scope="module",
    params=list(itertools.product(BOARD_KEYS, [False, True])),
    ids=[f"{key}-{mode}" for key in BOARD_KEYS for mode in ("register_rw", "memory_mapped")],
)
def board(request: pytest.FixtureRequest) -> Iterator[SimBackend]:
    """One virtual board per PS family and MMIO mode (a real board is MEMORY_MAPPED)."""
    key, memory_mapped = request.param
    backend = SimBackend(timeout_s=1.0, memory_mapped=memory_mapped, board=key)
    yield backend
    backend.close()
    if RESULTS:
        rows = [f"{'fault':<34} {'detect cycles':>13} {'recovery cycles':>15}  error text"]
        rows += [
            f"{name:<34} {detect:>13} {recover:>15}  {text}"
            for name, (text, detect, recover) in RESULTS.items()
        ]
        log.warning("DMA fault table (cycles of the PL clock):\n%s", "\n".join(rows))


class RecoverySpy:
    """Wraps the driver's recovery to time it in simulated cycles."""

    def __init__(self, backend: SimBackend) -> None:
        self.backend = backend
        self.spans: list[tuple[int, int]] = []
        self._recover = backend.accel._recover
        backend.accel._recover = self

    def __call__(self) -> None:
        start = self.backend.device.cycles
        self._recover()
        self.spans.append((start, self.backend.device.cycles))

    def remove(self) -> None:
        del self.backend.accel._recover


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_is_named_recovered_and_next_batch_exact(
    board: SimBackend, rng: np.random.Generator, fault: Fault
) -> None:
    model = random_model(rng)
    board.load(model)
    cpu = CpuBackend()
    cpu.load(model)
    images = random_images(rng, N_IMAGES)
    np.testing.assert_array_equal(board.infer(images[:3]), cpu.infer(images[:3]))
    dev = board.device
    for extra in fault.extra:
        dev.inject(**extra)
    dev.inject(**fault.inject)
    spy = RecoverySpy(board)
    start = dev.cycles
    try:
        with pytest.raises(fault.error) as info:
            board.infer(images)
    finally:
        spy.remove()
        dev.clear_faults()
    message = str(info.value)
    for part in (*fault.says, "DMA and accelerator reset"):
        assert part in message, message
    assert len(spy.spans) == 1, spy.spans
    recover_start, recover_end = spy.spans[0]
    mode = f" {dev.board.key}" + (" (mmap)" if dev.has_capability("MEMORY_MAPPED") else "")
    RESULTS[fault.name + mode] = (
        message.split(":")[0][:70],
        recover_start - start,
        recover_end - recover_start,
    )
    if fault.inject["fault"] == "mm2s_error":
        # A DMA memory error on MM2S is detected and raised within 10 ms of simulated time.
        ten_ms_cycles = int(board.accel.fclk_mhz * 1e6) // 100
        assert recover_end - start < ten_ms_cycles, (recover_start - start, recover_end - start)
    for extra in fault.extra:
        if extra["fault"] == "slow_reset":
            assert recover_end - recover_start >= extra["cycles"]
    again = random_images(rng, N_IMAGES)
    np.testing.assert_array_equal(board.infer(again), cpu.infer(again))


def test_injected_fault_is_not_vacuous(board: SimBackend, rng: np.random.Generator) -> None:
    """Without the recovery, the residual beats shift the next batch's pixels (wrong logits)."""
    model = random_model(rng)
    board.load(model)
    cpu = CpuBackend()
    cpu.load(model)
    images = random_images(rng, 4)
    board.device.inject("residual_beats", beats=8)
    board.accel._recover = lambda: None  # a driver that trusts the stream
    try:
        with pytest.raises(AcceleratorError, match="MISSING_TLAST"):
            board.infer(images)
    finally:
        del board.accel._recover
    # the engine computed on data shifted by 8 beats: the logits it wrote are wrong
    records = np.array(board.accel._out_buf[:4])
    logits = records[:, : regmap.N_OUT].view(np.int32)
    assert not np.array_equal(logits, cpu.infer(images))
    board.accel._recover()
    np.testing.assert_array_equal(board.infer(images), cpu.infer(images))


def test_beats_left_by_a_halted_transfer_are_drained_by_load(
    board: SimBackend, rng: np.random.Generator
) -> None:
    """A previous owner halted MM2S while the engine was idle: its beats sit on s_axis with
    TREADY low, so the DMA Reset cannot end the packet until the driver gives it a taker."""
    dev = board.device
    assert dev.model is not None
    dma = dev.description(regmap.DMA_INSTANCE)
    mmio = MMIO(dma["phys_addr"], dma["addr_range"], device=dev)
    leftover = pynq.allocate((2, regmap.N_IN), np.uint8)
    mmio.write(regmap.dma_offset("MM2S_SA"), leftover.physical_address & 0xFFFF_FFFF)
    mmio.write(regmap.dma_offset("MM2S_SA_MSB"), leftover.physical_address >> 32)
    mmio.write(regmap.dma_offset("MM2S_LENGTH"), leftover.nbytes)
    assert not mmio.read(regmap.dma_offset("MM2S_DMASR")) & regmap.dma_bit("MM2S_DMASR", "Idle")
    mmio.write(regmap.dma_offset("MM2S_DMACR"), 0)  # halted: the fetched beats stay
    assert dev.model.mm2s_residual == 16
    model = random_model(rng)
    cpu = CpuBackend()
    cpu.load(model)
    spy = RecoverySpy(board)
    try:
        board.load(model)  # takes the fabric: SOFT_RESET + DMA Reset + drain batch
    finally:
        spy.remove()
    assert dev.model.mm2s_residual == 0
    ((start, end),) = spy.spans
    mode = f" {dev.board.key}" + (" (mmap)" if dev.has_capability("MEMORY_MAPPED") else "")
    RESULTS["halted MM2S, engine idle" + mode] = ("(load_weights: drain batch)", 0, end - start)
    images = random_images(rng, N_IMAGES)
    np.testing.assert_array_equal(board.infer(images), cpu.infer(images))
