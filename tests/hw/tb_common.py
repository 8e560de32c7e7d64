"""Pieces every cocotb testbench here shares: pause generators and AXI4-Lite access."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

from cocotb.triggers import ClockCycles, with_timeout

RESP_OKAY, RESP_SLVERR = 0, 2
BUS_TIMEOUT_US = 100


def cycle_pause() -> Iterator[int]:
    """1,1,1,0 forever."""
    return itertools.cycle([1, 1, 1, 0])


def random_pause(seed: int) -> Iterator[bool]:
    """Seeded random pauses, about a third of the cycles."""
    r = random.Random(seed)
    while True:
        yield r.random() < 0.35


class AxiLiteAccess:
    """Reset pulse and AXI4-Lite reads/writes with deadlines, for a TB class.

    The TB sets ``axil`` (an AxiLiteMaster), ``clock`` and ``reset_n`` (DUT handles).
    """

    axil: Any
    clock: Any
    reset_n: Any

    async def reset(self) -> None:
        """Hold the active-low reset for four cycles."""
        self.reset_n.value = 1
        await ClockCycles(self.clock, 2)
        self.reset_n.value = 0
        await ClockCycles(self.clock, 4)
        self.reset_n.value = 1
        await ClockCycles(self.clock, 2)

    async def read(self, offset: int) -> tuple[int, int]:
        """(value, RRESP) of one 32-bit read."""
        resp = await with_timeout(self.axil.read(offset, 4), BUS_TIMEOUT_US, "us")
        return int.from_bytes(resp.data, "little"), int(resp.resp)

    async def read_reg(self, offset: int) -> int:
        """A read that must answer OKAY."""
        value, resp = await self.read(offset)
        assert resp == RESP_OKAY, f"read {offset:#x}: resp {resp}"
        return value

    async def write(self, offset: int, value: int) -> int:
        """BRESP of one 32-bit write."""
        data = value.to_bytes(4, "little")
        resp = await with_timeout(self.axil.write(offset, data), BUS_TIMEOUT_US, "us")
        return int(resp.resp)

    async def write_reg(self, offset: int, value: int) -> None:
        """A write that must answer OKAY."""
        resp = await self.write(offset, value)
        assert resp == RESP_OKAY, f"write {offset:#x}: resp {resp}"
