"""Pieces every cocotb testbench here shares: pause generators, AXI4-Lite access, bus monitor."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from typing import Any

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge, with_timeout

RESP_OKAY, RESP_SLVERR = 0, 2
BUS_TIMEOUT_US = 100


def cycle_pause() -> Iterator[int]:
    """1,1,1,0 forever."""
    return itertools.cycle([1, 1, 1, 0])


def stall_pause(cycles: int) -> Iterator[int]:
    """``cycles`` paused cycles, then one free, forever (a slow channel)."""
    return itertools.cycle([1] * cycles + [0])


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


class BusMonitor:
    """Cycle-numbered handshakes on an AXI4-Lite slave and an AXI4-Stream master output.

    Samples in the ReadOnly phase after every rising edge, so ``cycle`` k is the
    cycle after the k-th edge and a handshake seen there completes at edge k+1.
    Counts AR/R/AW/W/B handshakes (the one-response-per-request scoreboard),
    keeps the cycle of each handshake, and records every cycle in which the
    stream output broke the AXI4-Stream rule that TVALID and the payload stay
    put until TREADY. ``levels`` names single-bit signals whose falling edges
    (first cycle at 0) are kept in ``falls``.
    """

    def __init__(
        self,
        clock,
        axil_prefix: str,
        dut,
        axis_prefix: str | None = None,
        levels: dict[str, Any] | None = None,
    ) -> None:
        self.clock = clock
        self.levels = levels or {}
        self.falls: dict[str, list[int]] = {name: [] for name in self.levels}
        self.axil = {
            ch: (getattr(dut, f"{axil_prefix}_{ch}valid"), getattr(dut, f"{axil_prefix}_{ch}ready"))
            for ch in ("ar", "r", "aw", "w", "b")
        }
        self.axis = None
        if axis_prefix:
            self.axis = tuple(
                getattr(dut, f"{axis_prefix}_{s}") for s in ("tvalid", "tready", "tdata", "tlast")
            )
        self.cycle = 0
        self.count = {ch: 0 for ch in self.axil}
        self.cycles: dict[str, list[int]] = {ch: [] for ch in self.axil}
        self.beats: list[tuple[int, int, int]] = []  # (cycle, tdata, tlast)
        self.stream_violations: list[str] = []
        cocotb.start_soon(self._run())

    async def _run(self) -> None:
        held = None  # (tdata, tlast) offered without TREADY in the previous cycle
        last_level = {name: 0 for name in self.levels}
        while True:
            await RisingEdge(self.clock)
            await ReadOnly()
            self.cycle += 1
            for name, signal in self.levels.items():
                level = int(signal.value)
                if last_level[name] and not level:
                    self.falls[name].append(self.cycle)
                last_level[name] = level
            for ch, (valid, ready) in self.axil.items():
                if valid.value == 1 and ready.value == 1:
                    self.count[ch] += 1
                    self.cycles[ch].append(self.cycle)
            if self.axis is None:
                continue
            tvalid, tready, tdata, tlast = (int(s.value) for s in self.axis)
            if held is not None and (not tvalid or (tdata, tlast) != held):
                self.stream_violations.append(
                    f"cycle {self.cycle}: TVALID/payload changed before TREADY "
                    f"(held {held}, now valid={tvalid} data={tdata:#x} last={tlast})"
                )
            if tvalid and tready:
                self.beats.append((self.cycle, tdata, tlast))
            held = (tdata, tlast) if tvalid and not tready else None

    def outstanding(self) -> dict[str, int]:
        """Requests still without a response: reads (AR - R) and writes (AW - B, W - B)."""
        c = self.count
        return {"read": c["ar"] - c["r"], "write_aw": c["aw"] - c["b"], "write_w": c["w"] - c["b"]}
