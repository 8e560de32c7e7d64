"""Generate overlay/config.tcl from pynq_mnist/regmap.py (the single source of truth).

The Vivado scripts read every name, address, range and DMA parameter they
share with the driver and the virtual board from ``config.tcl``; nothing of
that kind is typed into the Tcl by hand. ``tests/test_overlay.py`` fails if the
committed file is stale. ``--write``/``--check`` also cover
``overlay/reference.hwh``, the .hwh the design is expected to give
(``pynq_mnist/hwh.py``, checked by ``tests/test_overlay_path.py``)::

    python overlay/gen_config.py --write    # regenerate
    python overlay/gen_config.py --check    # exit 1 if stale
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from . import hwh, regmap

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
    r = regmap
    scalars: list[tuple[str, Any, str]] = [
        ("VLNV", r.VLNV, "accelerator IP (driver bindto)"),
        ("TOP_MODULE", "mnist_top", "RTL top packaged as the IP"),
        ("ACCEL_INSTANCE", r.ACCEL_INSTANCE, "block-design cell name"),
        ("ACCEL_BASE", f"0x{r.ACCEL_BASE:08X}", "on M_AXI_GP0"),
        ("ACCEL_RANGE", f"0x{r.ACCEL_RANGE:08X}", "registers + weight window"),
        ("ACCEL_CTRL_INTERFACE", r.ACCEL_CTRL_INTERFACE, "AXI4-Lite bus interface"),
        ("ACCEL_ADDRESS_BLOCK", "reg0", "the single address block of that interface"),
        ("AXIL_ADDR_WIDTH", r.AXIL_ADDR_WIDTH, "s_axi_ctrl address bits"),
        ("AXIL_DATA_WIDTH", r.AXIL_DATA_WIDTH, "s_axi_ctrl data bits"),
        ("STREAM_DATA_WIDTH", r.STREAM_DATA_WIDTH, "s_axis/m_axis TDATA bits"),
        ("WEIGHT_WINDOW_OFFSET", f"0x{r.WEIGHT_WINDOW_OFFSET:05X}", "inside the window"),
        ("NUM_BANKS_DEFAULT", r.DEFAULT_NUM_BANKS, "IP parameter default"),
        ("DMA_VLNV", r.DMA_VLNV, "AXI DMA (PG021)"),
        ("DMA_INSTANCE", r.DMA_INSTANCE, "block-design cell name"),
        ("DMA_BASE", f"0x{r.DMA_BASE:08X}", "on M_AXI_GP0"),
        ("DMA_RANGE", f"0x{r.DMA_RANGE:08X}", "S_AXI_LITE"),
        ("FCLK_MHZ", r.FCLK_MHZ, "FCLK_CLK0 default"),
    ]
    out = [
        "# overlay/config.tcl: generated from pynq_mnist/regmap.py, do not edit.",
        "# Regenerate with: python overlay/gen_config.py --write",
        "# (tests/test_overlay.py fails when this file is stale.)",
        "",
        "namespace eval mnist {",
    ]
    width = max(len(n) for n, _, _ in scalars)
    for name, value, comment in scalars:
        out.append(f"    variable {name:<{width}} {tcl_word(value)}  ;# {comment}")
    out.append(
        "    variable NUM_BANKS_SUPPORTED " + "{" + tcl_list(list(r.SUPPORTED_NUM_BANKS)) + "}"
    )
    out.append("    # PG021 CONFIG.* names, in regmap order")
    out.append("    variable DMA_PARAMETERS {")
    for key, value in r.DMA_PARAMETERS.items():
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


def main(argv: list[str] | None = None) -> int:
    """Command line: print, write or check overlay/config.tcl."""
    parser = argparse.ArgumentParser(prog="python overlay/gen_config.py")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {CONFIG_PATH}")
    group.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    parser.add_argument("--path", type=Path, default=CONFIG_PATH, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    mode = "write" if args.write else "check" if args.check else "print"
    regenerate = "python overlay/gen_config.py --write"
    status = regmap.emit_generated(render(), args.path, mode, regenerate)
    if mode != "print" and args.path == CONFIG_PATH:
        status |= hwh.main([f"--{mode}"])
    return status


if __name__ == "__main__":
    raise SystemExit(main())
