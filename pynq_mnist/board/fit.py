"""Does this overlay fit this board? Checks before and after pynq programs the PL.

A bitstream for the other PS family (a PYNQ-Z2 overlay on a KV260) fails deep
inside the FPGA manager; a ``.hwh`` whose HP width or PL clock pynq cannot
set fails inside pynq's download with a ``KeyError``; and on Zynq UltraScale+
an HP port whose width register does not match the width the design was built
for corrupts every DMA transfer without any error (pynq's
``set_axi_port_width`` sets them on download, citing Xilinx AR 66295; a PL
loaded any other way keeps what the boot left). :func:`check_handoff` reads the
``.hwh`` itself (before ``pynq.Overlay`` downloads) and :func:`check_port_widths`
reads the width registers pynq writes, so each of these is one clear error.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from ..errors import ConfigError
from ..hardware.boards import BOARDS, FAMILIES, ZYNQMP, PsFamily

__all__ = ["Handoff", "check_handoff", "check_port_widths", "read_handoff"]

# SYSTEMINFO ARCH of a .hwh and `uname -m` of the board's Linux, per family.
_FAMILY_BY_ARCH = {family.arch: family for family in FAMILIES.values()}
_FAMILY_BY_MACHINE = {family.machine: family for family in FAMILIES.values()}
# MODTYPE of the PS cell (the VLNV's name part) -> family.
_FAMILY_BY_MODTYPE = {family.ps_modtype: family for family in FAMILIES.values()}
_DIVISOR_MAX = 63  # 6-bit PL clock divisors (UG585 FPGA0_CLK_CTRL, UG1085 PL0_REF_CTRL)


@dataclass(frozen=True)
class Handoff:
    """What a ``.hwh`` says about the PS it was built for."""

    path: Path
    arch: str  # SYSTEMINFO ARCH: zynq, zynquplus
    device: str  # SYSTEMINFO DEVICE: 7z020, xck26, ...
    family: PsFamily | None  # None: a PS this package does not know
    ps_parameters: dict[str, str]  # the PS cell's PARAMETERs

    def describe(self) -> str:
        """``a Zynq-7000 design (7z020)``."""
        title = self.family.title if self.family else f"ARCH={self.arch}"
        return f"a {title} design ({self.device})"


def read_handoff(hwh_path: str | Path) -> Handoff:
    """SYSTEMINFO and the PS cell's parameters of the ``.hwh`` at ``hwh_path``.

    Raises
    ------
    ConfigError
        Not a readable .hwh.
    """
    path = Path(hwh_path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ConfigError(f"{path}: cannot read the hardware handoff: {exc}") from exc
    info = root.find("SYSTEMINFO")
    if info is None:
        raise ConfigError(f"{path}: not a Vivado hardware handoff (no SYSTEMINFO)")
    arch = info.get("ARCH", "")
    parameters: dict[str, str] = {}
    ps_family = None
    for module in root.iter("MODULE"):
        ps_family = _FAMILY_BY_MODTYPE.get(module.get("MODTYPE", ""))
        if ps_family is not None:
            parameters = {
                p.get("NAME", ""): p.get("VALUE", "")
                for p in module.iterfind("PARAMETERS/PARAMETER")
            }
            break
    family = ps_family or _FAMILY_BY_ARCH.get(arch)
    return Handoff(path, arch, info.get("DEVICE", ""), family, parameters)


def _machine(device: Any) -> str:
    """The board CPU's `uname -m`: the device's ``arch`` (pynq >= 3.1), else this machine's."""
    return str(getattr(device, "arch", None) or platform.machine())


def _family_boards(family: PsFamily) -> str:
    names = [b.env_name for b in BOARDS.values() if b.family is family]
    return ", ".join(names)


def check_handoff(handoff: Handoff, device: Any) -> None:
    """Fail before download when the design cannot run on ``device``'s PS.

    Raises
    ------
    ConfigError
        The design is for the other PS family, or states an HP port width or
        a PL clock pynq cannot set.
    """
    board_family = _FAMILY_BY_MACHINE.get(_machine(device))
    family = handoff.family
    if family is None:
        raise ConfigError(
            f"{handoff.path}: no Zynq-7000 or Zynq UltraScale+ PS in this design "
            f"(ARCH={handoff.arch or 'none'})"
        )
    if board_family is not None and board_family is not family:
        raise ConfigError(
            f"{handoff.path} is {handoff.describe()}, but this board is a {board_family.title} "
            f"({_machine(device)}): use the overlay built for this board "
            f"({_family_boards(board_family)}; make -C overlay BOARD=...)"
        )
    if family.master_width_parameter is not None:  # Zynq-7000: pynq sets no port widths
        for parameter, _, _, codes in _port_width_registers():
            width = handoff.ps_parameters.get(parameter)
            if width is not None and width not in codes:
                raise ConfigError(
                    f"{handoff.path}: {parameter}={width} is not a width pynq can set "
                    f"on the PS ({'/'.join(codes)} bits)"
                )
    _check_pl_clock(handoff)


def _check_pl_clock(handoff: Handoff) -> None:
    family, params = handoff.family, handoff.ps_parameters
    assert family is not None
    if family.name == "zynqmp":
        enable = params.get("PSU__FPGA_PL0_ENABLE")
        prefix, mhz_key = "PSU__CRL_APB__PL0_REF_CTRL__", "PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"
    else:
        enable = params.get("PCW_FPGA_FCLK0_ENABLE")
        prefix, mhz_key = "PCW_FCLK0_PERIPHERAL_", "PCW_FPGA0_PERIPHERAL_FREQMHZ"
    if enable is None:
        return  # not stated: pynq leaves the clock as the boot set it
    if enable != "1":
        raise ConfigError(f"{handoff.path}: PL clock 0 is not enabled: the design has no clock")
    for divisor in ("DIVISOR0", "DIVISOR1"):
        text = params.get(prefix + divisor)
        if text is None:
            continue
        if not text.isdigit() or not 1 <= int(text) <= _DIVISOR_MAX:
            raise ConfigError(
                f"{handoff.path}: {prefix + divisor}={text}: the PS cannot set this PL clock "
                f"(divisors are 1..{_DIVISOR_MAX})"
            )
    mhz = params.get(mhz_key)
    try:
        too_fast = mhz is not None and float(mhz) > family.max_fclk_mhz
    except ValueError:
        raise ConfigError(f"{handoff.path}: {mhz_key}={mhz} is not a frequency") from None
    if too_fast:
        raise ConfigError(
            f"{handoff.path}: PL clock 0 at {mhz} MHz: {family.title} PL clocks go up to "
            f"{family.max_fclk_mhz:g} MHz"
        )


def _port_width_registers() -> list[tuple[str, int, tuple[int, int], dict[str, int]]]:
    """(PS parameter, register address, (msb, lsb), width -> code) of every width pynq sets
    (``pl_server/embedded_device.py``: ``ZU_FPD_SLCR_REG``/``ZU_AXIFM_REG`` and their codes)."""
    from pynq.pl_server import embedded_device as ed

    rows = []
    for table, codes in (
        (ed.ZU_FPD_SLCR_REG, ed.ZU_FPD_SLCR_VALUE),
        (ed.ZU_AXIFM_REG, ed.ZU_AXIFM_VALUE),
    ):
        for parameter, registers in table.items():
            for register in registers.values():
                msb, lsb = register["field"]
                rows.append((parameter, register["addr"], (msb, lsb), codes))
    return rows


def check_port_widths(ip_dict: dict[str, Any], device: Any, source: str) -> None:
    """On Zynq UltraScale+, the PS port-width registers must say what the design was built for.

    Reads, through ``device``, each register pynq's ``set_axi_port_width``
    writes for a width the PS cell states (AFIFMn RDCTRL/WRCTRL FABRIC_WIDTH,
    FPD/LPD_SLCR AXI_FS DW_SSn_SEL). Zynq-7000: nothing to check.

    Raises
    ------
    ConfigError
        A register holds another width: every transfer through that port
        would be corrupted.
    """
    from pynq import MMIO

    ps = [d for d in ip_dict.values() if ZYNQMP.is_ps(str(d.get("type", "")))]
    if not ps:
        return
    params = ps[0].get("parameters", {})
    for parameter, address, (msb, lsb), codes in _port_width_registers():
        width = params.get(parameter)
        if width not in codes:
            continue
        word = int(MMIO(address & ~0xFFF, 0x1000, device=device).read(address & 0xFFF))
        code = (word >> lsb) & ((1 << (msb - lsb + 1)) - 1)
        if code != codes[width]:
            actual = {v: k for k, v in codes.items()}.get(code, f"code {code}")
            raise ConfigError(
                f"{source}: the PS port of {parameter} is set to {actual} bits (register "
                f"{address:#x} bits {msb}:{lsb} = {code}) but the design was built for {width}: "
                "every transfer through it would be corrupted. The PL was loaded without pynq "
                "setting the port widths (download=False or another tool): load the overlay "
                "with download=True"
            )
