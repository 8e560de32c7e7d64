"""``overlay/config.tcl``: what the Vivado scripts share with the driver, as Tcl variables.

The Vivado scripts read every name, address, range, DMA parameter, register,
board and PS family they share with the driver and the virtual board from
``config.tcl``; nothing of that kind is typed into the Tcl by hand.
:func:`render` writes it from ``design``, ``boards`` and ``regmap``
(``python -m pynq_mnist.hardware.generate``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import boards, design, regmap

__all__ = ["CONFIG_PATH", "render", "tcl_list", "tcl_word"]

CONFIG_PATH = Path(__file__).resolve().parents[2] / "overlay" / "config.tcl"

_BARE = re.compile(r"^[A-Za-z0-9_.:/+\-]+$")


def tcl_word(value: Any) -> str:
    """Quote one value as a Tcl list element that is never substituted."""
    text = str(value)
    if _BARE.match(text):
        return text
    depth = 0
    balanced = True
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            balanced = False
            break
    if balanced and depth == 0 and "\\" not in text and "\n" not in text:
        return "{" + text + "}"
    return "".join("\\" + ch if ch in ' \t\n;"$[]{}\\' else ch for ch in text)


def tcl_list(items: list[Any]) -> str:
    """Render a flat Tcl list."""
    return " ".join(tcl_word(i) for i in items)


def _registers_tcl() -> list[str]:
    lines = []
    for name, reg in regmap.REGISTERS.items():
        fields = [
            "{"
            + tcl_list([fname, f["bit_offset"], f["bit_width"], f["access"], f["description"]])
            + "}"
            for fname, f in reg["fields"].items()
        ]
        head = tcl_list(
            [name, f"0x{reg['address_offset']:02X}", reg["size"], reg["access"], reg["description"]]
        )
        lines.append(f"        {{{head} {{{' '.join(fields)}}}}}")
    return lines


def _hex(value: int) -> str:
    return f"0x{value:08X}"


def _number(value: float) -> str:
    """A float as the shortest text that reads back equal (Tcl and Python parse it alike)."""
    text = repr(float(value))
    return text.removesuffix(".0")


def _family_dma_parameters(family: boards.PsFamily) -> dict[str, str]:
    """design.dma_config of the family's boards (one DMA build per family).

    Raises
    ------
    ValueError
        Two boards of the family would build different DMAs.
    """
    configs = {
        tuple(design.BlockDesign(board=key).dma_config.items())
        for key, b in boards.BOARDS.items()
        if b.family is family
    }
    if len(configs) != 1:
        raise ValueError(f"boards of {family.title} disagree on the AXI DMA build")
    return dict(configs.pop())


def _families_tcl() -> list[str]:
    lines = []
    for name, f in boards.FAMILIES.items():
        values: list[tuple[str, Any]] = [
            ("title", f.title),
            ("arch", f.arch),
            ("ps_instance", f.ps_instance),
            ("ps_vlnv", f.ps_vlnv),
            ("reset_instance", f.reset_instance),
            ("ctrl_master", f.ctrl_master),
            ("mem_slave", f.mem_slave),
            ("mem_slave_port", f.mem_slave_port),
            ("ctrl_master_clock", f.ctrl_master_clock),
            ("mem_slave_clock", f.mem_slave_clock),
            ("pl_clock", f.pl_clock),
            ("pl_reset", f.pl_reset),
            ("accel_base", _hex(f.accel_base)),
            ("dma_base", _hex(f.dma_base)),
            ("ref_clk_mhz", _number(f.ref_clk_mhz)),
            ("pll_name", f.pll_name),
            ("pll_mhz", _number(f.pll_mhz)),
            ("pl_divisor1_is_one", int(f.pl_divisor1_is_one)),
            ("max_fclk_mhz", _number(f.max_fclk_mhz)),
            ("default_hp_width", f.default_hp_width),
            ("hp_widths", list(f.hp_widths)),
        ]
        lines.append(f"        {name} {{")
        for key, value in values:
            word = "{" + tcl_list(value) + "}" if isinstance(value, list) else tcl_word(value)
            lines.append(f"            {key} {word}")
        lines.append("            dma_parameters {")
        for key, value in _family_dma_parameters(f).items():
            lines.append(f"                {tcl_word(key)} {tcl_word(value)}")
        lines.append("            }")
        lines.append("        }")
    return lines


def _boards_tcl() -> list[str]:
    lines = []
    for key, b in boards.BOARDS.items():
        memory = " ".join(
            "{" + tcl_list([m.name, _hex(m.base), _hex(m.span)]) + "}" for m in b.memory
        )
        fields = tcl_list(
            [
                "title", b.title,
                "env_name", b.env_name,
                "family", b.family.name,
                "part", b.part,
                "board_part", b.board_part,
                "fclk_mhz", _number(b.fclk_mhz),
            ]
        )  # fmt: skip
        lines.append(f"        {tcl_word(key)} {{{fields} memory {{{memory}}}}}")
    return lines


def render() -> str:
    """Return the text of overlay/config.tcl."""
    d = design
    scalars: list[tuple[str, Any, str]] = [
        ("VLNV", d.VLNV, "accelerator IP (driver bindto)"),
        ("TOP_MODULE", d.TOP_MODULE, "RTL top packaged as the IP"),
        ("ACCEL_INSTANCE", d.ACCEL_INSTANCE, "block-design cell name"),
        ("ACCEL_RANGE", f"0x{d.ACCEL_RANGE:08X}", "registers + weight window"),
        ("ACCEL_CTRL_INTERFACE", d.ACCEL_CTRL_INTERFACE, "AXI4-Lite bus interface"),
        (
            "ACCEL_ADDRESS_BLOCK",
            d.ACCEL_ADDRESS_BLOCK,
            "the single address block of that interface",
        ),
        ("AXIL_ADDR_WIDTH", regmap.AXIL_ADDR_WIDTH, "s_axi_ctrl address bits"),
        ("AXIL_DATA_WIDTH", regmap.AXIL_DATA_WIDTH, "s_axi_ctrl data bits"),
        ("STREAM_DATA_WIDTH", d.STREAM_DATA_WIDTH, "s_axis/m_axis TDATA bits"),
        ("WEIGHT_WINDOW_OFFSET", f"0x{regmap.WEIGHT_WINDOW_OFFSET:05X}", "inside the window"),
        ("NUM_BANKS_DEFAULT", d.DEFAULT_NUM_BANKS, "IP parameter default"),
        ("DMA_VLNV", d.DMA_VLNV, "AXI DMA (PG021)"),
        ("DMA_INSTANCE", d.DMA_INSTANCE, "block-design cell name"),
        ("DMA_RANGE", f"0x{d.DMA_RANGE:08X}", "S_AXI_LITE"),
        ("BOARD_DEFAULT", boards.DEFAULT_BOARD, "make -C overlay without BOARD="),
    ]
    out = [
        "# overlay/config.tcl: generated from pynq_mnist/hardware, do not edit.",
        "# Regenerate with: python -m pynq_mnist.hardware.generate --write",
        "# (tests/hardware/test_generate.py fails when this file is stale.)",
        "",
        "namespace eval mnist {",
    ]
    width = max(len(n) for n, _, _ in scalars)
    for name, value, comment in scalars:
        out.append(f"    variable {name:<{width}} {tcl_word(value)}  ;# {comment}")
    out.append(
        "    variable NUM_BANKS_SUPPORTED " + "{" + tcl_list(list(d.SUPPORTED_NUM_BANKS)) + "}"
    )
    out.append("    # make -C overlay BOARD=<one of these> (overlay/Makefile reads this line)")
    out.append("    variable BOARD_KEYS {" + tcl_list(list(boards.BOARDS)) + "}")
    out.append("    # boards.BOARDS; memory: {{hwh address block, base, span} ...} for the DMA")
    out.append("    variable BOARDS {")
    out.extend(_boards_tcl())
    out.append("    }")
    out.append("    # boards.FAMILIES; dma_parameters: PG021 CONFIG.* names, design.py order")
    out.append("    variable FAMILIES {")
    out.extend(_families_tcl())
    out.append("    }")
    out.append(
        "    # {name offset size access description {{field lsb width access description} ...}}"
    )
    out.append("    variable REGISTERS {")
    out.extend(_registers_tcl())
    out.append("    }")
    out.append("}")
    out.append("")
    return "\n".join(out)
