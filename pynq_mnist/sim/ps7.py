"""The virtual board's Zynq-7000 PS: the SLCR register window and pynq's clock code on it.

pynq's ``Clocks`` (``pynq/ps.py``, ``_ClocksZynq``) reads the PLL feedback
dividers and the FPGAn_CLK_CTRL divisors from the PS7 system-level control
registers (SLCR, UG585 appendix B, "slcr" module at 0xF800_0000) and writes
the divisors when a design sets a clock. :class:`Slcr` holds those registers
with the reset values of a PYNQ-Z1/Z2 boot, encoded with pynq's own register
tables; :class:`ClockBinding` installs pynq's Zynq-7000 clock code on a
device, as a Zynq-7000 board has it.
"""

from __future__ import annotations

import inspect
from typing import Any

from ..hardware import hwh

__all__ = ["SLCR_BASE", "SLCR_SPAN", "ClockBinding", "Slcr"]

# UG585: the SLCR block and the span pynq's Clocks reaches (up to FPGA3_CLK_CTRL).
SLCR_BASE = 0xF800_0000
SLCR_SPAN = 0x200
# Reset values of the PYNQ-Z1/Z2 boot: 50 MHz crystal, ARM PLL x26 / 2 = 650 MHz
# CPU, IO PLL x20 = 1000 MHz, DDR PLL x21; FPGA1..3_CLK_CTRL at the UG585 reset
# value; FPGA0 as the booted design sets it (Slcr.set_fclks).
_PLL_FBDIV = {"ARM_PLL_CTRL": 26, "DDR_PLL_CTRL": 21, "IO_PLL_CTRL": hwh.IO_PLL_FBDIV}
_ARM_DIVISOR = 2
_FPGA_CLK_RESET = 0x0010_1800


def _field_value(fields: dict[str, dict[str, Any]], name: str, value: int) -> int:
    return value << int(fields[name]["bit_offset"])


class Slcr:
    """The PS7 SLCR registers pynq's ``Clocks`` uses: word offset -> value, plain RW memory.

    Offsets and field positions come from pynq's ``ps.ZYNQ_SLCR_REGISTERS`` and
    ``ZYNQ_*_FIELDS`` tables (UG585 appendix B); other offsets read 0.
    """

    def __init__(self) -> None:
        from pynq import ps

        regs = ps.ZYNQ_SLCR_REGISTERS
        self._words = {
            regs[name]["address_offset"]: _field_value(ps.ZYNQ_PLL_FIELDS, "PLL_FDIV", fbdiv)
            for name, fbdiv in _PLL_FBDIV.items()
        }
        self._words[regs["ARM_CLK_CTRL"]["address_offset"]] = _field_value(
            ps.ZYNQ_ARM_FIELDS, "DIVISOR", _ARM_DIVISOR
        )
        for clk in range(4):
            self._words[regs[f"FPGA{clk}_CLK_CTRL"]["address_offset"]] = _FPGA_CLK_RESET

    def read(self, offset: int, length: int) -> bytes:
        """``length`` bytes (whole words) from ``offset``, little-endian."""
        return b"".join(
            self._words.get(offset + 4 * i, 0).to_bytes(4, "little") for i in range(length // 4)
        )

    def write(self, offset: int, data: bytes) -> None:
        """Store ``data`` (whole little-endian words) from ``offset``."""
        for i in range(0, len(data), 4):
            self._words[offset + i] = int.from_bytes(data[i : i + 4], "little")

    def set_fclks(self, clock_dict: dict[int, dict[str, Any]]) -> None:
        """Program the FPGAn_CLK_CTRL divisors of the enabled clocks (what the boot does).

        ``clock_dict`` is pynq's parsed ``.hwh`` clock table (``enable``,
        ``divisor0``, ``divisor1`` per PL clock).
        """
        from pynq import ps

        for clk, clock in clock_dict.items():
            if not clock.get("enable"):
                continue
            offset = ps.ZYNQ_SLCR_REGISTERS[f"FPGA{clk}_CLK_CTRL"]["address_offset"]
            self._words[offset] = _field_value(
                ps.ZYNQ_CLK_FIELDS, "DIVISOR0", int(clock["divisor0"])
            ) | _field_value(ps.ZYNQ_CLK_FIELDS, "DIVISOR1", int(clock["divisor1"]))


class ClockBinding:
    """Points ``pynq.Clocks`` at pynq's own Zynq-7000 clock code on a device, and back.

    pynq caches one clock implementation per process, chosen by the CPU it
    runs on (3.0.1) or by the device's arch (3.1, 4.0); off-board it has
    none, so :meth:`bind` installs the one a Zynq-7000 board gets and
    :meth:`unbind` restores what was there before the first bind.
    """

    _KEYS = ("_real_instance", "device")

    def __init__(self) -> None:
        self._restore: dict[str, Any] | None = None

    def bind(self, device: Any) -> None:
        """Make ``pynq.Clocks`` read and set the clocks through ``device``'s SLCR window."""
        from pynq import ps

        if self._restore is None:
            self._restore = {
                key: ps.Clocks.__dict__[key] for key in self._KEYS if key in ps.Clocks.__dict__
            }
        if "device" in inspect.signature(ps._ClocksZynq).parameters:
            ps.Clocks.device = device
            ps.Clocks._real_instance = ps._ClocksZynq(device=device)
        else:  # pynq 3.0.1: its MMIO uses the active device, which is this one
            ps.Clocks._real_instance = ps._ClocksZynq()

    def unbind(self) -> None:
        """Restore ``pynq.Clocks`` as it was before the first :meth:`bind` (idempotent)."""
        from pynq import ps

        if self._restore is None:
            return
        for key in self._KEYS:
            if key in self._restore:
                setattr(ps.Clocks, key, self._restore[key])
            elif key in ps.Clocks.__dict__:
                delattr(ps.Clocks, key)
        self._restore = None
