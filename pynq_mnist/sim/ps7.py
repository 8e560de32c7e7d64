"""The virtual board's Zynq-7000 PS: the SLCR registers pynq's clock code uses.

pynq's ``Clocks`` (``pynq/ps.py``, ``_ClocksZynq``) reads the PLL feedback
dividers and the FPGAn_CLK_CTRL divisors from the PS7 system-level control
registers (SLCR, UG585 appendix B, "slcr" module at 0xF800_0000) and writes
the divisors when a design sets a clock. :class:`Ps7` holds those registers
with the values of a PYNQ-Z1/Z2 boot, encoded with pynq's own register tables.
The Zynq-7000 HP ports have no width register pynq programs: their width is
the PS7 configuration's, so a design cannot find them set otherwise.
"""

from __future__ import annotations

from typing import Any

from ..hardware.boards import ZYNQ7000
from .ps import PsRegisters, RegisterBlock, field_value

__all__ = ["SLCR_BASE", "SLCR_SPAN", "Ps7"]

# UG585: the SLCR block and the span pynq's Clocks reaches (up to FPGA3_CLK_CTRL).
SLCR_BASE = 0xF800_0000
SLCR_SPAN = 0x200
# Values of the PYNQ-Z1/Z2 boot: 50 MHz crystal, ARM PLL x26 / 2 = 650 MHz
# CPU, IO PLL x20 = 1000 MHz, DDR PLL x21; FPGA1..3_CLK_CTRL at the UG585 reset
# value; FPGA0 as the booted design sets it (Ps7.boot).
_PLL_FBDIV = {"ARM_PLL_CTRL": 26, "DDR_PLL_CTRL": 21, "IO_PLL_CTRL": ZYNQ7000.pll_fbdiv}
_ARM_DIVISOR = 2
_FPGA_CLK_RESET = 0x0010_1800


class Ps7(PsRegisters):
    """The PS7 SLCR registers pynq's ``Clocks`` uses (offsets and fields: pynq's
    ``ps.ZYNQ_SLCR_REGISTERS`` and ``ZYNQ_*_FIELDS`` tables, UG585 appendix B)."""

    clocks_class = "_ClocksZynq"

    def __init__(self) -> None:
        from pynq import ps

        regs = ps.ZYNQ_SLCR_REGISTERS
        words = {
            regs[name]["address_offset"]: field_value(ps.ZYNQ_PLL_FIELDS, "PLL_FDIV", fbdiv)
            for name, fbdiv in _PLL_FBDIV.items()
        }
        words[regs["ARM_CLK_CTRL"]["address_offset"]] = field_value(
            ps.ZYNQ_ARM_FIELDS, "DIVISOR", _ARM_DIVISOR
        )
        for clk in range(4):
            words[regs[f"FPGA{clk}_CLK_CTRL"]["address_offset"]] = _FPGA_CLK_RESET
        super().__init__([RegisterBlock("SLCR", SLCR_BASE, SLCR_SPAN, words)])

    def boot(self, parser: Any) -> None:
        """Program the FPGAn_CLK_CTRL divisors of the design's enabled clocks (the FSBL's job).

        ``parser.clock_dict`` is pynq's parsed ``.hwh`` clock table
        (``enable``, ``divisor0``, ``divisor1`` per PL clock).
        """
        from pynq import ps

        for clk, clock in parser.clock_dict.items():
            if not clock.get("enable"):
                continue
            offset = ps.ZYNQ_SLCR_REGISTERS[f"FPGA{clk}_CLK_CTRL"]["address_offset"]
            self.set_word(
                "SLCR",
                offset,
                field_value(ps.ZYNQ_CLK_FIELDS, "DIVISOR0", int(clock["divisor0"]))
                | field_value(ps.ZYNQ_CLK_FIELDS, "DIVISOR1", int(clock["divisor1"])),
            )
