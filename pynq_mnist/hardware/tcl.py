"""``overlay/config.tcl``: what the Vivado scripts share with the driver, as Tcl variables.

The Vivado scripts read every name, address, range, DMA parameter and register
they share with the driver and the virtual board from ``config.tcl``; nothing of
that kind is typed into the Tcl by hand. :func:`render` writes it from
``design`` and ``regmap`` (``python -m pynq_mnist.hardware.generate``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import design, regmap

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


def render() -> str:
    """Return the text of overlay/config.tcl."""
    d = design
    scalars: list[tuple[str, Any, str]] = [
        ("VLNV", d.VLNV, "accelerator IP (driver bindto)"),
        ("TOP_MODULE", d.TOP_MODULE, "RTL top packaged as the IP"),
        ("ACCEL_INSTANCE", d.ACCEL_INSTANCE, "block-design cell name"),
        ("ACCEL_BASE", f"0x{d.ACCEL_BASE:08X}", "on M_AXI_GP0"),
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
        ("DMA_BASE", f"0x{d.DMA_BASE:08X}", "on M_AXI_GP0"),
        ("DMA_RANGE", f"0x{d.DMA_RANGE:08X}", "S_AXI_LITE"),
        ("FCLK_MHZ", d.FCLK_MHZ, "FCLK_CLK0 default"),
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
    out.append("    # PG021 CONFIG.* names, in design.py order")
    out.append("    variable DMA_PARAMETERS {")
    for key, value in d.DMA_PARAMETERS.items():
        out.append(f"        {tcl_word(key)} {tcl_word(value)}")
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
