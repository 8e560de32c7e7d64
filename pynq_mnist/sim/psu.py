"""The virtual board's Zynq UltraScale+ PS: clock and HP-port-width registers pynq uses.

pynq reads and sets the PL clocks through CRL_APB and CRF_APB
(``pynq/ps.py``, ``_ClocksUltrascale``: ``ZU_CRL_REGISTERS``,
``ZU_CRF_REGISTERS``), and on every download sets the width of the PS's AXI
ports from the design's ``.hwh`` (``pynq/pl_server/embedded_device.py``,
``EmbeddedDevice.set_axi_port_width``: FPD_SLCR/LPD_SLCR ``AXI_FS``
DW_SSn_SEL for the masters, AFIFMn ``RDCTRL``/``WRCTRL`` FABRIC_WIDTH for the
slaves, Xilinx AR 66295). :class:`Psu` holds those registers, block by block
at the addresses of pynq's tables, with the values a PYNQ boot leaves:

- PLLs (CRL_APB IOPLL_CTRL, RPLL_CTRL; CRF_APB APLL/DPLL/VPLL_CTRL, ACPU_CTRL):
  the PSU__ values of the ZCU104 ``base.hwh`` in the pynq 3.0.1 sdist, which
  psu_init programs at boot: 33.333 MHz reference, IOPLL and RPLL x90 / 2 =
  1499.985 MHz, APLL x72 / 2 (CPU 1199.988 MHz), DPLL x64 / 2, VPLL x90 / 2.
  psu_init writes IOPLL_CTRL = 0x0001_5A00 (FBDIV 90, DIV2 1, PRE_SRC 0).
- PLn_REF_CTRL of a PL clock the booted design enables: CLKACT 1, its
  DIVISOR0/DIVISOR1 and SRCSEL (0 IOPLL, 2 RPLL, 3 DPLL, as psu_init's
  field comment and pynq's source table give them). Of one it does not
  enable: 0x0005_2000 (CLKACT 0, DIVISOR1 5, DIVISOR0 32, IOPLL), our belief
  of UG1087's reset value.
- AXI_FS and AFIFMn: 128 bits (DW_SSn_SEL 2, FABRIC_WIDTH 0: pynq's
  ``ZU_FPD_SLCR_VALUE``/``ZU_AXIFM_VALUE``), UG1087's reset values as we
  believe them; the boot leaves them there (the images' PS configuration is
  128-bit; a PL design loaded at boot by anything but pynq does not change
  them), so only a pynq download sets them to a design's widths. The
  reserved FABRIC_WIDTH code 3 is taken as 32 bits (an assumption).

Every other word of a block reads 0 and holds what is written (blocks are 64
KiB, UG1085's address map granule).
"""

from __future__ import annotations

from typing import Any

from .ps import PsRegisters, RegisterBlock, field_value

__all__ = ["BLOCK_SPAN", "Psu", "fabric_width_bits"]

BLOCK_SPAN = 0x1_0000
CRL_APB_BASE = 0xFF5E_0000  # pynq: _ClocksUltrascale.CRL_APB_ADDRESS
CRF_APB_BASE = 0xFD1A_0000  # pynq: _ClocksUltrascale.CRF_APB_ADDRESS
REF_CLK_MHZ = 33.333
# (FBDIV, DIV2) of each PLL after boot: ZCU104 base.hwh PSU__CR*_APB__*PLL_CTRL__*.
_PLLS = {
    ("CRL_APB", "IOPLL_CTRL"): (90, 1),
    ("CRL_APB", "RPLL_CTRL"): (90, 1),
    ("CRF_APB", "APLL_CTRL"): (72, 1),
    ("CRF_APB", "DPLL_CTRL"): (64, 1),
    ("CRF_APB", "VPLL_CTRL"): (90, 1),
}
_ACPU_DIVISOR0 = 1  # PSU__CRF_APB__ACPU_CTRL__DIVISOR0, from APLL (SRCSEL 0)
_PL_CLK_DISABLED = 0x0005_2000
# PLn_REF_CTRL.SRCSEL by the name pynq's parser gives the source (clock_dict src_sel).
_PL_SOURCES = {"IOPLL": 0, "RPLL": 2, "DPLL": 3}
_MASTER_WIDTH_CODE_128 = 2  # pynq ZU_FPD_SLCR_VALUE["128"]


def fabric_width_bits(code: int) -> int:
    """The port width a FABRIC_WIDTH code sets (pynq's ZU_AXIFM_VALUE inverted; 3 -> 32)."""
    from pynq.pl_server.embedded_device import ZU_AXIFM_VALUE

    widths = {value: int(bits) for bits, value in ZU_AXIFM_VALUE.items()}
    return widths.get(code, 32)


def _blocks() -> list[RegisterBlock]:
    """CRL_APB, CRF_APB and every block pynq's port-width tables reach, at boot values."""
    from pynq import ps
    from pynq.pl_server.embedded_device import ZU_AXIFM_REG, ZU_FPD_SLCR_REG

    blocks = {
        "CRL_APB": RegisterBlock("CRL_APB", CRL_APB_BASE, BLOCK_SPAN),
        "CRF_APB": RegisterBlock("CRF_APB", CRF_APB_BASE, BLOCK_SPAN),
    }
    tables = {"CRL_APB": ps.ZU_CRL_REGISTERS, "CRF_APB": ps.ZU_CRF_REGISTERS}
    for (block, name), (fbdiv, div2) in _PLLS.items():
        offset = tables[block][name]["address_offset"]
        blocks[block].words[offset] = field_value(ps.ZU_PLL_FIELDS, "FBDIV", fbdiv) | field_value(
            ps.ZU_PLL_FIELDS, "DIV2", div2
        )
    acpu = ps.ZU_CRF_REGISTERS["ACPU_CTRL"]["address_offset"]
    blocks["CRF_APB"].words[acpu] = field_value(ps.ZU_ARM_FIELDS, "DIVISOR0", _ACPU_DIVISOR0)
    for clk in range(4):
        offset = ps.ZU_CRL_REGISTERS[f"PL{clk}_REF_CTRL"]["address_offset"]
        blocks["CRL_APB"].words[offset] = _PL_CLK_DISABLED
    for table in (ZU_FPD_SLCR_REG, ZU_AXIFM_REG):
        for registers in table.values():
            for name, reg in registers.items():
                block = name.split(".")[0]
                base = reg["addr"] & ~(BLOCK_SPAN - 1)
                blocks.setdefault(block, RegisterBlock(block, base, BLOCK_SPAN))
                blocks[block].words.setdefault(reg["addr"] - base, 0)
    for registers in ZU_FPD_SLCR_REG.values():  # masters: 128 bits at reset
        for name, reg in registers.items():
            block = blocks[name.split(".")[0]]
            low = reg["field"][1]
            block.words[reg["addr"] - block.base] |= _MASTER_WIDTH_CODE_128 << low
    return list(blocks.values())


class Psu(PsRegisters):
    """The Zynq UltraScale+ PS registers pynq's ``Clocks`` and ``set_axi_port_width`` use."""

    clocks_class = "_ClocksUltrascale"

    def __init__(self) -> None:
        super().__init__(_blocks())

    def boot(self, parser: Any) -> None:
        """The PL clocks of the booted design (psu_init programs them; the port widths stay
        at the PS's reset values until pynq downloads a design)."""
        from pynq import ps

        for clk, clock in parser.clock_dict.items():
            if not clock.get("enable"):
                continue
            fields = ps.ZU_CLK_FIELDS
            offset = ps.ZU_CRL_REGISTERS[f"PL{clk}_REF_CTRL"]["address_offset"]
            self.set_word(
                "CRL_APB",
                offset,
                field_value(fields, "CLKACT", 1)
                | field_value(fields, "DIVISOR0", int(clock["divisor0"]))
                | field_value(fields, "DIVISOR1", int(clock["divisor1"]))
                | field_value(fields, "SRCSEL", _PL_SOURCES[clock.get("src_sel") or "IOPLL"]),
            )

    def port_widths(self, width_parameter: str) -> tuple[int, int] | None:
        """(read, write) width in bits the PS takes a slave port's beats at.

        ``width_parameter`` is the port's ``.hwh`` parameter (e.g.
        ``C_SAXIGP2_DATA_WIDTH``); its AFIFM RDCTRL/WRCTRL FABRIC_WIDTH fields
        (pynq's ``ZU_AXIFM_REG``) say the width.
        """
        from pynq.pl_server.embedded_device import ZU_AXIFM_REG

        widths = []
        for name in ("RDCTRL", "WRCTRL"):
            (reg,) = [r for n, r in ZU_AXIFM_REG[width_parameter].items() if f"_{name}." in n]
            high, low = reg["field"]
            word = int.from_bytes(self.read(reg["addr"], 4), "little")
            widths.append(fabric_width_bits((word >> low) & ((1 << (high - low + 1)) - 1)))
        return widths[0], widths[1]
