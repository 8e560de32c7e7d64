"""The flattened Yosys `synth_xilinx` netlist (`write_json`) as the timing checks read it.

Cell types of both families (xc7: DSP48E1, RAMB*E1; xcup: DSP48E2, RAMB*E2, MUXF9,
RAM32M16/RAM64M8), which pins are control pins, and per bit the driver and the loads.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

FF_TYPES = ("FDRE", "FDSE", "FDCE", "FDPE")
SRL_TYPES = ("SRL16E", "SRLC32E")
BRAM_TYPES = ("RAMB18E1", "RAMB36E1", "RAMB18E2", "RAMB36E2")
DSP_TYPES = ("DSP48E1", "DSP48E2")
LUTRAM_RE = re.compile(r"RAM\d+(M\d*|X\d+[SD])$")  # RAM32M, RAM32M16 (xcup), RAM64X1D
LUTRAM_READ_RE = re.compile(r"(ADDR|DPRA|A\d)")  # pins on the asynchronous read path
CLOCK_PINS = {"C", "CLK", "WCLK", "CLKARDCLK", "CLKBWRCLK"}
DSP_CONTROL = {
    "OPMODE": "OPMODEREG",
    "ALUMODE": "ALUMODEREG",
    "INMODE": "INMODEREG",
    "CARRYINSEL": "CARRYINSELREG",
}
MODULE_RE = re.compile(r"(ctrl_inst|stream_in_inst|layer1_inst|layer2_inst|result_out_inst)\.")

Bit = int


def is_sequential(cell_type: str) -> bool:
    """Cells whose outputs start a path (and whose inputs end one) in the depth analysis."""
    return cell_type in FF_TYPES + SRL_TYPES + BRAM_TYPES + DSP_TYPES


def is_control_pin(cell_type: str, port: str) -> bool:
    """Pins whose net is a control net: enables, resets, selects, addresses."""
    if cell_type in FF_TYPES:
        return port in ("CE", "R", "S", "CLR", "PRE")
    if cell_type in SRL_TYPES:
        return port == "CE" or port.startswith("A")
    if cell_type in DSP_TYPES:
        return port in DSP_CONTROL or port.startswith(("CE", "RST"))
    if cell_type in BRAM_TYPES:
        return port.startswith(("ADDR", "EN", "WE", "RST", "REGCE"))
    if LUTRAM_RE.match(cell_type):
        return port == "WE" or bool(LUTRAM_READ_RE.match(port))
    if cell_type in ("MUXF7", "MUXF8", "MUXF9"):
        return port == "S"
    return False


def param(cell: dict, name: str) -> int:
    """Integer value of a cell parameter as written by `write_json` (binary string)."""
    value = cell["parameters"].get(name, "0")
    if isinstance(value, int):
        return value
    return int(value, 2) if re.fullmatch(r"[01]+", value) else 0


@dataclass
class Netlist:
    """The top module of a flattened netlist with driver and sink maps per bit."""

    cells: dict[str, dict]
    driver: dict[Bit, tuple[str, str]] = field(default_factory=dict)  # bit -> (cell, port)
    sinks: dict[Bit, list[tuple[str, str]]] = field(default_factory=lambda: defaultdict(list))
    names: dict[Bit, str] = field(default_factory=dict)
    inputs: set[Bit] = field(default_factory=set)
    outputs: set[Bit] = field(default_factory=set)

    @classmethod
    def load(cls, path: Path) -> Netlist:
        data = json.loads(path.read_text())
        tops = [m for m in data["modules"].values() if m["attributes"].get("top")]
        if len(tops) != 1:
            raise ValueError(f"{path}: expected one top module, found {len(tops)}")
        top = tops[0]
        net = cls(cells=top["cells"])
        for port in top["ports"].values():
            bits = {b for b in port["bits"] if isinstance(b, int)}
            (net.inputs if port["direction"] == "input" else net.outputs).update(bits)
        for name, cell in net.cells.items():
            for port, bits in cell["connections"].items():
                direction = cell["port_directions"][port]
                for bit in bits:
                    if not isinstance(bit, int):
                        continue
                    if direction == "output":
                        net.driver[bit] = (name, port)
                    else:
                        net.sinks[bit].append((name, port))
        # readable names: public before generated, then the shortest
        ranked = sorted(top["netnames"].items(), key=lambda kv: (kv[1]["hide_name"], len(kv[0])))
        for name, info in ranked:
            for index, bit in enumerate(info["bits"]):
                if isinstance(bit, int) and bit not in net.names:
                    width = len(info["bits"])
                    net.names[bit] = name if width == 1 else f"{name}[{index}]"
        return net

    def type_of(self, cell: str) -> str:
        return self.cells[cell]["type"]

    def module_of_bit(self, bit: Bit) -> str:
        """Module that owns a net, from its hierarchical name (flattening keeps the path)."""
        found = MODULE_RE.search(self.names.get(bit, ""))
        return found.group(1) if found else "mnist_top"

    def owner(self, bit: Bit, memo: dict[Bit, str] | None = None) -> str:
        """Module that owns a net: its hierarchical name, or for a net Yosys named itself
        (LUT outputs) the one module its combinational input cone starts in."""
        memo = {} if memo is None else memo
        if bit in memo:
            return memo[bit]
        name = self.names.get(bit, "")
        src = self.driver.get(bit)
        if not name.startswith("$") or src is None:
            result = self.module_of_bit(bit)
        elif is_sequential(self.type_of(src[0])):
            result = self.module_of_cell(src[0])
        else:
            memo[bit] = "mnist_top"  # cut (impossible) loops
            found = {self.owner(b, memo) for b in self.comb_inputs(src[0])}
            result = found.pop() if len(found) == 1 else "mnist_top"
        memo[bit] = result
        return result

    def module_of_cell(self, cell: str) -> str:
        found = MODULE_RE.search(cell)
        if found:
            return found.group(1)
        for port in ("Q", "O", "P"):
            bits = self.cells[cell]["connections"].get(port, [])
            if bits and isinstance(bits[0], int):
                return self.module_of_bit(bits[0])
        return "mnist_top"

    def comb_inputs(self, cell: str) -> list[Bit]:
        """Input bits of a combinational cell that propagate to its outputs."""
        info = self.cells[cell]
        lutram = LUTRAM_RE.match(info["type"])
        return [
            bit
            for port, bits in info["connections"].items()
            if info["port_directions"][port] == "input"
            and (not lutram or LUTRAM_READ_RE.match(port))
            for bit in bits
            if isinstance(bit, int)
        ]
