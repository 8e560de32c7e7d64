"""The PS cell's parameters in the .hwh: the clock and port-width settings pynq reads.

Names and value formats are Vivado's: ``PCW_*`` of ``processing_system7``
(the PYNQ-Z2 ``base.hwh``), ``C_*``/``PSU__*`` of ``zynq_ultra_ps_e`` (the
ZCU104 ``base.hwh``). pynq sets the PL clocks from the divisors and, on
ZynqMP, the AXI port widths from ``C_MAXIGP0_DATA_WIDTH``/``C_SAXIGP2_DATA_WIDTH``.
"""

from __future__ import annotations

import struct

from .boards import ZYNQ7000
from .design import BlockDesign, fclk_divisors

__all__ = ["pl_clock_hz", "ps7_parameters", "vivado_mhz", "zynqmp_ps_parameters"]


def ps7_parameters(design: BlockDesign) -> dict[str, str]:
    """The processing_system7 parameters pynq reads, as Vivado names them (PYNQ-Z2 base.hwh)."""
    family = design.family
    div0, div1 = fclk_divisors(design.fclk, family)
    pll = family.pll_mhz
    params = {
        # The HP port's width under the name boards.ZYNQ7000.hp_width_parameter gives
        # (Vivado writes it beside PCW_S_AXI_HP0_DATA_WIDTH).
        "C_S_AXI_HP0_DATA_WIDTH": str(design.hp_data_width),
        "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": f"{family.ref_clk_mhz:g}",
        "PCW_IOPLL_CTRL_FBDIV": str(family.pll_fbdiv),
        "PCW_IO_IO_PLL_FREQMHZ": f"{pll:.3f}",
        "PCW_USE_M_AXI_GP0": "1",
        "PCW_USE_S_AXI_HP0": "1",
        "PCW_S_AXI_HP0_DATA_WIDTH": str(design.hp_data_width),
        "PCW_USE_FABRIC_INTERRUPT": "0",  # no interrupt is wired (overlay/README.md)
    }
    for clk in range(4):
        enabled = clk == 0
        d0, d1 = (div0, div1) if enabled else (1, 1)
        params.update(
            {
                f"PCW_FPGA_FCLK{clk}_ENABLE": "1" if enabled else "0",
                f"PCW_EN_CLK{clk}_PORT": "1" if enabled else "0",
                f"PCW_FPGA{clk}_PERIPHERAL_FREQMHZ": f"{design.fclk:g}" if enabled else "50",
                f"PCW_ACT_FPGA{clk}_PERIPHERAL_FREQMHZ": f"{pll / (d0 * d1):.6f}"
                if enabled
                else "10.000000",
                f"PCW_FCLK{clk}_PERIPHERAL_CLKSRC": "IO PLL",
                f"PCW_FCLK{clk}_PERIPHERAL_DIVISOR0": str(d0),
                f"PCW_FCLK{clk}_PERIPHERAL_DIVISOR1": str(d1),
            }
        )
    return params


def vivado_mhz(mhz: float) -> float:
    """``mhz`` as the ZynqMP wizard computes it: in single precision (149.9985 -> 149.998505)."""
    return struct.unpack("f", struct.pack("f", mhz))[0]


def pl_clock_hz(design: BlockDesign) -> int:
    """The PL clock's CLKFREQUENCY/FREQ_HZ in the .hwh: the achieved rate on ZynqMP."""
    if design.family is ZYNQ7000:
        return round(design.fclk * 1e6)
    div0, div1 = fclk_divisors(design.fclk, design.family)
    return round(vivado_mhz(design.family.pll_mhz / (div0 * div1)) * 1e6)


# The ZynqMP wizard's request for a PL clock it leaves disabled (100 MHz).
_DISABLED_PL_MHZ = 100.0


def zynqmp_ps_parameters(design: BlockDesign) -> dict[str, str]:
    """The PS parameters pynq reads, named and formatted as in the ZCU104 base.hwh (UG1085)."""
    family = design.family
    ctrl_width = str(family.ctrl_master_width)
    hp_width = str(design.hp_data_width)
    high = any(block.base >= 1 << 32 for block in design.platform.memory)
    params = {
        "C_MAXIGP0_DATA_WIDTH": ctrl_width,
        "C_SAXIGP2_DATA_WIDTH": hp_width,
        "PSU__PSS_REF_CLK__FREQMHZ": f"{family.ref_clk_mhz:g}",
        **{f"PSU__FPGA_PL{clk}_ENABLE": "1" if clk == 0 else "0" for clk in range(4)},
        "PSU__USE__M_AXI_GP0": "1",
        "PSU__MAXIGP0__DATA_WIDTH": ctrl_width,
        "PSU__USE__S_AXI_GP2": "1",
        "PSU__SAXIGP2__DATA_WIDTH": hp_width,
        "PSU__USE__FABRIC__RST": "1",
        "PSU__HIGH_ADDRESS__ENABLE": "1" if high else "0",
        "PSU__DDR_HIGH_ADDRESS_GUI_ENABLE": "1" if high else "0",
        "PSU__CRL_APB__IOPLL_CTRL__DIV2": "1" if family.pll_div2 else "0",
        "PSU__CRL_APB__IOPLL_CTRL__FBDIV": str(family.pll_fbdiv),
        "PSU__CRL_APB__IOPLL_CTRL__SRCSEL": "PSS_REF_CLK",
    }
    for clk in range(4):
        mhz = design.fclk if clk == 0 else _DISABLED_PL_MHZ
        div0, div1 = fclk_divisors(mhz, family)
        ref_ctrl = f"PSU__CRL_APB__PL{clk}_REF_CTRL__"
        params.update(
            {
                ref_ctrl + "SRCSEL": "IOPLL",
                ref_ctrl + "DIVISOR0": str(div0),
                ref_ctrl + "DIVISOR1": str(div1),
                ref_ctrl + "FREQMHZ": f"{mhz:g}",
                ref_ctrl + "ACT_FREQMHZ": f"{vivado_mhz(family.pll_mhz / (div0 * div1)):.6f}",
            }
        )
    params["PSU__NUM_FABRIC_RESETS"] = "1"
    return params
