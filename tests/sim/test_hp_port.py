"""The HP-port width model (``sim.hp_port``) against a byte-by-byte reading of its rule,
and the buffer pool's place in each board's DDR."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sim_board import fabric_reads, memory_after_write

from pynq_mnist.hardware.boards import BOARDS
from pynq_mnist.sim.hp_port import read_through, write_through
from pynq_mnist.sim.memory import pool_span

pytestmark = pytest.mark.sim
WIDTHS = (4, 8, 16)  # bytes: the 32/64/128-bit settings of FABRIC_WIDTH


@pytest.mark.parametrize(("built", "width_set"), list(itertools.product(WIDTHS, WIDTHS)))
def test_reads_and_writes_follow_the_documented_rule(
    rng: np.random.Generator, built: int, width_set: int
) -> None:
    memory = rng.integers(0, 256, 1000, dtype=np.uint8)
    for nbytes in (1000, 997, 40):
        got = read_through(memory, nbytes, built, width_set).tobytes()
        assert got == fabric_reads(memory.tobytes(), nbytes, built, width_set)
        data = rng.integers(0, 256, nbytes, dtype=np.uint8)
        target = memory.copy()
        write_through(target, data, built, width_set)
        assert target.tobytes() == memory_after_write(
            memory.tobytes(), data.tobytes(), built, width_set
        )
    if built == width_set:  # a matched port moves the bytes unchanged
        assert read_through(memory, 1000, built, width_set).tobytes() == memory.tobytes()


def test_a_narrower_setting_really_scrambles() -> None:
    """Not vacuous: 128 bits built, 64 set: every second 8 bytes read 0, the rest shifts."""
    memory = np.arange(64, dtype=np.uint8)
    got = read_through(memory, 32, 16, 8)
    assert got.tolist() == [*range(8), *[0] * 8, *range(8, 16), *[0] * 8]
    target = np.full(64, 0xEE, np.uint8)
    write_through(target, np.arange(32, dtype=np.uint8), 8, 16)  # 64 built, 128 set: holes
    assert target[:32].tolist() == [*range(8), *[0xEE] * 8, *range(8, 16), *[0xEE] * 8]


def test_buffer_pool_lies_in_each_boards_ddr() -> None:
    spans = {key: pool_span(board) for key, board in BOARDS.items()}
    assert spans == {
        "pynq-z1": (0x1000_0000, 0x1000_0000),
        "pynq-z2": (0x1000_0000, 0x1000_0000),
        "kv260": (0x8_1000_0000, 0x1000_0000),  # DDR_HIGH: 64-bit DMA addresses
        "zcu104": (0x1000_0000, 0x1000_0000),
        "ultra96v2": (0x1000_0000, 0x1000_0000),
    }
