"""The FPGA families `make synth` / `make timing` target: their boards, parts and budgets.

xc7 is the Zynq-7000 fabric (PYNQ-Z1/Z2, xc7z020); xcup the Zynq UltraScale+ one
(KV260 xck26, ZCU104 xczu7ev, Ultra96-V2 xczu3eg). Part sizes and each board's
PL clock come from `pynq_mnist/hardware/boards.py`, the table the overlay build
reads, so the percentages here are of the parts that build targets.

Logic-level budget (assumptions, not data-sheet figures: the data sheets DS187
and DS925 give per-primitive delays, not a delay per routed logic level):
- OVERHEAD_NS = 1.0 ns per cycle for clock-to-out, setup and clock uncertainty;
- xc7 -1: 0.55 ns per level (a LUT and its net), the figure implicit in the
  RTL's original target of 10 levels at 150 MHz on the xc7z020-1;
- xcup -1 (the slowest grade of the three boards, Ultra96-V2): 0.45 ns per
  level, i.e. the 16 nm fabric taken as about 20 % faster per level than the
  28 nm one.
A CARRY4 counts as a full level although it adds four bits of a dedicated
carry chain (UltraScale+ slices have CARRY8, UG574): the count is pessimistic
for adders and compares. Vivado's timing report after a real build decides.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from pynq_mnist.hardware.boards import BOARDS, ZYNQ7000, ZYNQMP, Board, PsFamily

OVERHEAD_NS = 1.0


def device_name(board: Board) -> str:
    """The part without package and grade (``xc7z020``, ``xck26``), as the data sheets name it."""
    return board.part.split("-")[0].removesuffix(board.package)


@dataclass(frozen=True)
class Family:
    """One `synth_xilinx -family` target."""

    name: str  # synth_xilinx -family
    title: str
    ps_family: PsFamily  # the boards of this fabric
    dsp: str  # Yosys' DSP primitive
    bram18: str
    bram36: str
    level_ns: float  # assumed delay of one logic level (module docstring)
    # Yosys 0.23 `xilinx_dsp` packs registers and the post-adder only for xc7
    # (techlibs/xilinx/xilinx_dsp.cc: xcup is mapped to xcu, which gets no
    # xilinx_dsp_pack): the DSP48E2 stays a bare multiplier (AREG = BREG = MREG
    # = PREG = 0) with its pipeline registers and the accumulator in fabric.
    dsp_registers_in_fabric: bool

    @property
    def boards(self) -> list[Board]:
        return [b for b in BOARDS.values() if b.family is self.ps_family]

    @property
    def parts(self) -> dict[str, list[Board]]:
        """Device (``xc7z020``, ``xck26``, ...) -> the boards built on it."""
        parts: dict[str, list[Board]] = {}
        for board in self.boards:
            parts.setdefault(device_name(board), []).append(board)
        return parts

    @property
    def clock_mhz(self) -> float:
        """The fastest PL clock any board of the family builds at."""
        return max(b.fclk_mhz for b in self.boards)

    def max_levels(self, clock_mhz: float) -> int:
        """Logic levels that fit one cycle under the assumed budget."""
        return math.floor((1000.0 / clock_mhz - OVERHEAD_NS) / self.level_ns + 1e-9)


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            name="xc7",
            title="Zynq-7000",
            ps_family=ZYNQ7000,
            dsp="DSP48E1",
            bram18="RAMB18E1",
            bram36="RAMB36E1",
            level_ns=0.55,
            dsp_registers_in_fabric=False,
        ),
        Family(
            name="xcup",
            title="Zynq UltraScale+",
            ps_family=ZYNQMP,
            dsp="DSP48E2",
            bram18="RAMB18E2",
            bram36="RAMB36E2",
            level_ns=0.45,
            dsp_registers_in_fabric=True,
        ),
    )
}


def family(name: str) -> Family:
    """The family ``name`` (xc7, xcup).

    Raises
    ------
    ValueError
        Not a family the scripts know; the message lists them.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"family {name!r} is not one of: {', '.join(FAMILIES)}") from None
