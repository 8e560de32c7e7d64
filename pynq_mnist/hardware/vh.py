"""The Verilog header ``hw/rtl/mnist_regmap.vh``, rendered from ``regmap``.

Counts, widths and bit positions are written in decimal (``32'd784``);
offsets, masks and magic words in hex (``18'h00014``).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from . import regmap, weights

__all__ = ["VH_PATH", "render"]

VH_PATH = Path(__file__).resolve().parents[2] / "hw" / "rtl" / "mnist_regmap.vh"

# Registers whose fields become MNIST_<prefix>_<field>_BIT macros.
_BIT_PREFIXES = {"CTRL": "CTRL", "STATUS": "STATUS", "ERROR_CAUSE": "ERR"}


class _Define(NamedTuple):
    name: str
    width: int
    value: int
    comment: str
    radix: str  # "d" for counts, "h" for offsets and bit patterns

    def line(self) -> str:
        if self.radix == "d":
            literal = f"{self.width}'d{self.value}"
        else:
            literal = f"{self.width}'h{self.value:0{(self.width + 3) // 4}X}"
        text = f"`define {self.name:<32} {literal}"
        return f"{text}  // {self.comment}" if self.comment else text


def _count(name: str, value: int, comment: str = "") -> _Define:
    return _Define(f"MNIST_{name}", 32, value, comment, "d")


def _offset(name: str, value: int, comment: str) -> _Define:
    return _Define(f"MNIST_{name}", regmap.AXIL_ADDR_WIDTH, value, comment, "h")


def _defines() -> list[_Define]:
    """The header's macros, in order."""
    r = regmap
    out = [
        _Define("MNIST_ID_VALUE", 32, r.ID_VALUE, "ID register: 'MN', major, minor", "h"),
        _Define(
            "MNIST_LAYER_SIZES_VALUE", 32, r.LAYER_SIZES_VALUE, "N_IN | N_HID<<12 | N_OUT<<24", "h"
        ),
        _count("N_IN", r.N_IN, "input pixels"),
        _count("N_HID", r.N_HID, "hidden neurons"),
        _count("N_OUT", r.N_OUT, "outputs"),
        _count("AXIL_ADDR_WIDTH", r.AXIL_ADDR_WIDTH, "AXI4-Lite address bits"),
        _count("AXIL_DATA_WIDTH", r.AXIL_DATA_WIDTH, "AXI4-Lite data bits"),
        _count("AXIS_DATA_WIDTH", r.STREAM_DATA_WIDTH, "image/result stream bits"),
    ]
    out += [_offset(f"REG_{name}", reg.offset, reg.description) for name, reg in r.ACCEL.items()]
    out.append(_offset("REG_SPACE_BYTES", r.REG_SPACE_BYTES, "registers below this offset"))
    for reg_name, prefix in _BIT_PREFIXES.items():
        for f in r.ACCEL[reg_name].fields:
            out.append(_count(f"{prefix}_{f.name}_BIT", f.lsb, f.description))
    out += [
        _count("SHIFT_WIDTH", r.SHIFT_WIDTH, "SHIFT_L1/SHIFT_L2 field width"),
        _offset("WEIGHT_WINDOW_OFFSET", r.WEIGHT_WINDOW_OFFSET, "weight window base"),
        _count("WEIGHT_WINDOW_BYTES", weights.WEIGHT_WINDOW_BYTES, "(784 + 10) * 128"),
        _count(
            "WIN_WORD_WIDTH",
            (weights.WEIGHT_WINDOW_BYTES // 4 - 1).bit_length(),
            "bits of a window word index",
        ),
        _count("W2_WORD_BASE", weights.W2_BYTE_OFFSET // 4, "window word index of W2[0][0]"),
        _count("RESULT_WORDS_PER_IMAGE", r.RESULT_WORDS_PER_IMAGE, "10 logits + digit word"),
    ]
    for f in r.RESULT_WORD10.fields:
        out.append(_count(f"RESULT_{f.name}_LSB", f.lsb, f.description))
        out.append(_count(f"RESULT_{f.name}_WIDTH", f.width))
    return out


def render() -> str:
    """The text of hw/rtl/mnist_regmap.vh."""
    lines = [
        "// mnist_regmap.vh: generated from pynq_mnist/hardware/regmap.py, do not edit.",
        "// Regenerate with: python -m pynq_mnist.hardware.generate --write",
        "`ifndef MNIST_REGMAP_VH",
        "`define MNIST_REGMAP_VH",
        "",
        *(define.line() for define in _defines()),
        "",
        "`endif  // MNIST_REGMAP_VH",
        "",
    ]
    return "\n".join(lines)
