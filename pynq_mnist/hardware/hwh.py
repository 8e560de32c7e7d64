"""The hardware handoff (.hwh) of the mnist block design, in Vivado's XML schema.

Vivado writes ``<design>.hwh`` next to the bitstream; pynq parses it to find
every IP (by VLNV), its address, parameters and register map, the PS clock
divisors and the wiring. :func:`render` writes the same document, in the XML
schema of Vivado 2022.1/2024.1 (``EDKSYSTEM EDWVERSION="1.2"``), for the block
design of ``overlay/bd.tcl`` (cells and nets from ``netlist``), from the same
source as ``overlay/config.tcl``, so the virtual board and the Vivado build
cannot disagree. ``overlay/reference.hwh`` is the committed output for the
default design, ``overlay/reference-kv260.hwh`` for the same design on the
KV260 (``python -m pynq_mnist.hardware.generate``).

Every board of ``boards.BOARDS`` renders: a Zynq-7000 board gets the
``processing_system7`` cell, a Zynq UltraScale+ board the ``zynq_ultra_ps_e``
cell with the parameter names and value formats of Vivado's own ZCU104
``base.hwh`` (``tests/hardware/test_hwh_vivado.py`` compares them), its
accelerator and DMA on M_AXI_HPM0_FPD and the DMA's memory side on
S_AXI_HP0_FPD (address blocks HP0_DDR_LOW, HP0_DDR_HIGH where the board has
it, HP0_QSPI, HP0_LPS_OCM).

Instance names and hierarchy are parameters (``BlockDesign``), so the tests
can build what the Vivado GUI would name ``mnist_accel_0``/``axi_dma_0`` or
put inside a hierarchy. The virtual board's stand-in bitstream around a
``.hwh`` is ``pynq_mnist.sim.bitstream``.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

from . import netlist, pg021, ps_parameters, regmap
from .boards import ZYNQ7000, MemoryBlock
from .design import (
    ACCEL_ADDRESS_BLOCK,
    ACCEL_CTRL_INTERFACE,
    ACCEL_RANGE,
    DMA_ADDRESS_BLOCK,
    DMA_RANGE,
    DMA_REGISTER_BYTES,
    BlockDesign,
    fclk_divisors,
)
from .netlist import Cell, interface_nets

__all__ = [
    "REFERENCE_PATH",
    "REFERENCE_ZYNQMP_BOARD",
    "REFERENCE_ZYNQMP_PATH",
    "BlockDesign",
    "fclk_divisors",
    "interface_nets",
    "mem_slave_blocks",
    "render",
    "render_zynqmp_reference",
]

REFERENCE_PATH = Path(__file__).resolve().parents[2] / "overlay" / "reference.hwh"
# The committed ZynqMP output: the KV260, the one board with DDR above 4 GiB
# (HP0_DDR_HIGH), so it shows every address block a ZynqMP design has.
REFERENCE_ZYNQMP_BOARD = "kv260"
REFERENCE_ZYNQMP_PATH = REFERENCE_PATH.with_name(f"reference-{REFERENCE_ZYNQMP_BOARD}.hwh")

# What else Vivado maps for a DMA on S_AXI_HP0_FPD besides DDR (the ZCU104
# base.hwh; UG1085 system address map): the QSPI linear window and the
# low-power domain's OCM and registers.
_ZYNQMP_HP0_EXTRA = (
    MemoryBlock("HP0_QSPI", 0xC000_0000, 0x2000_0000),
    MemoryBlock("HP0_LPS_OCM", 0xFF00_0000, 0x0100_0000),
)
_REGISTER_BLOCKS = {"HP0_LPS_OCM"}  # USAGE/MEMTYPE register, as Vivado writes it

# --- XML -------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, **attrs: str) -> ET.Element:
    return ET.SubElement(parent, tag, {k: str(v) for k, v in sorted(attrs.items())})


def _property(parent: ET.Element, name: str, value: object) -> None:
    ET.SubElement(parent, "PROPERTY", {"NAME": name, "VALUE": str(value)})


def _registers_xml(parent: ET.Element, registers: dict[str, dict]) -> None:
    regs = _sub(parent, "REGISTERS")
    for name, reg in registers.items():
        r = _sub(regs, "REGISTER", NAME=name)
        _property(r, "DESCRIPTION", reg["description"])
        _property(r, "ADDRESS_OFFSET", f"0x{reg['address_offset']:X}")
        _property(r, "SIZE", reg["size"])
        _property(r, "ACCESS", reg["access"])
        _property(r, "IS_ENABLED", "true")
        fields = _sub(r, "FIELDS")
        for fname, f in reg["fields"].items():
            fe = _sub(fields, "FIELD", NAME=fname)
            _property(fe, "DESCRIPTION", f["description"])
            _property(fe, "ADDRESS_OFFSET", f["bit_offset"])
            _property(fe, "ACCESS", f["access"])
            _property(fe, "MODIFIED_READ_VALUES", "")
            _property(fe, "WRITE_CONSTRAINT", "0")
            _property(fe, "READ_ACTION", "")
            _property(fe, "BIT_OFFSET", f["bit_offset"])
            _property(fe, "BIT_WIDTH", f["bit_width"])


def _memrange(parent: ET.Element, target: Cell, block: str, base: int, span: int,
              master_if: str, slave_if: str, memtype: str) -> None:  # fmt: skip
    _sub(
        parent,
        "MEMRANGE",
        ADDRESSBLOCK=block,
        BASENAME="C_BASEADDR",
        BASEVALUE=f"0x{base:08X}",
        HIGHNAME="C_HIGHADDR",
        HIGHVALUE=f"0x{base + span - 1:08X}",
        INSTANCE=target.instance,
        IS_DATA="TRUE",
        IS_INSTRUCTION="TRUE",
        MASTERBUSINTERFACE=master_if,
        MEMTYPE=memtype,
        SLAVEBUSINTERFACE=slave_if,
    )


def _module_xml(parent: ET.Element, cell: Cell) -> ET.Element:
    _, _, modtype, version = cell.vlnv.split(":")
    attrs = {
        "FULLNAME": "/" + cell.path,
        "HWVERSION": version,
        "INSTANCE": cell.instance,
        "IPTYPE": "PERIPHERAL",
        "IS_ENABLE": "1",
        "MODTYPE": modtype,
        "VLNV": cell.vlnv,
    }
    if cell.is_pl:
        attrs["MODCLASS"] = "PERIPHERAL"
    else:
        attrs["IS_PL"] = "FALSE"
    module = _sub(parent, "MODULE", **attrs)
    _sub(module, "DOCUMENTS")
    return module


def _ports_xml(module: ET.Element, cell: Cell, clk_hz: int) -> None:
    ports = _sub(module, "PORTS")
    for port in cell.ports.values():
        attrs = {"DIR": port.direction, "NAME": port.name, "SIGIS": port.sigis, **port.attrs}
        if port.width > 1:
            attrs.update(LEFT=str(port.width - 1), RIGHT="0")
        if port.sigis == "clk":
            attrs["CLKFREQUENCY"] = str(clk_hz)
        if port.signame:
            attrs["SIGNAME"] = port.signame
        element = _sub(ports, "PORT", **attrs)
        if port.peers:
            connections = _sub(element, "CONNECTIONS")
            for instance, pin in port.peers:
                _sub(connections, "CONNECTION", INSTANCE=instance, PORT=pin)


def _interfaces_xml(module: ET.Element, cell: Cell, clk_hz: int) -> None:
    interfaces = _sub(module, "BUSINTERFACES")
    for bif in cell.interfaces.values():
        attrs = {"BUSNAME": bif.busname, "NAME": bif.name, "TYPE": bif.kind, "VLNV": bif.vlnv}
        if bif.datawidth is not None:
            attrs["DATAWIDTH"] = str(bif.datawidth)
        element = _sub(interfaces, "BUSINTERFACE", **attrs)
        for name, value in bif.parameters.items():
            value = str(clk_hz) if name == "FREQ_HZ" else value
            ET.SubElement(element, "PARAMETER", {"NAME": name, "VALUE": value})
        portmaps = _sub(element, "PORTMAPS")
        for logical, physical in bif.portmap:
            _sub(portmaps, "PORTMAP", LOGICAL=logical, PHYSICAL=physical)


def mem_slave_blocks(design: BlockDesign) -> tuple[MemoryBlock, ...]:
    """The PS address blocks the DMA reaches through the HP port, by base address."""
    blocks = design.platform.memory
    if design.family is not ZYNQ7000:
        blocks += _ZYNQMP_HP0_EXTRA
    return tuple(sorted(blocks, key=lambda b: b.base))


def _range_text(design: BlockDesign, span: int) -> str:
    # Vivado writes the PS7's ranges in decimal, the zynq_ultra_ps_e's in hex.
    return str(span) if design.family is ZYNQ7000 else f"0x{span:X}"


def render(design: BlockDesign | None = None) -> str:
    """The .hwh text of ``design`` (default: ``design.py``'s names, NUM_BANKS and FCLK)."""
    design = design or BlockDesign()
    family = design.family
    cells = netlist.cells(design)
    clk_hz = ps_parameters.pl_clock_hz(design)
    device, package, speed = design.platform.systeminfo
    root = ET.Element(
        "EDKSYSTEM",
        {
            "EDWVERSION": "1.2",
            "TIMESTAMP": "generated by pynq_mnist.hardware.hwh",
            "VIVADOVERSION": design.vivado_version,
        },
    )
    _sub(root, "SYSTEMINFO", ARCH=family.arch, DEVICE=device, NAME=design.name, PACKAGE=package,
         SPEEDGRADE=speed)  # fmt: skip
    _sub(root, "EXTERNALPORTS")
    _sub(root, "EXTERNALINTERFACES")
    modules = _sub(root, "MODULES")
    accel, dma, ps = cells["accel"], cells["dma"], cells["ps7"]
    for cell in sorted(cells.values(), key=lambda c: c.instance):
        module = _module_xml(modules, cell)
        if cell is accel:
            block = _sub(module, "ADDRESSBLOCKS")
            ab = _sub(block, "ADDRESSBLOCK", ACCESS="read-write",
                      INTERFACE=ACCEL_CTRL_INTERFACE, NAME=ACCEL_ADDRESS_BLOCK,
                      RANGE=str(ACCEL_RANGE), USAGE="register")  # fmt: skip
            _registers_xml(ab, regmap.REGISTERS)
        elif cell is dma:
            block = _sub(module, "ADDRESSBLOCKS")
            ab = _sub(block, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE="S_AXI_LITE",
                      NAME=DMA_ADDRESS_BLOCK, RANGE=str(DMA_REGISTER_BYTES),
                      USAGE="register")  # fmt: skip
            _registers_xml(ab, pg021.DMA_REGISTERS)
        elif cell is ps:
            for mem in sorted(mem_slave_blocks(design), key=lambda b: b.name):
                usage = "register" if mem.name in _REGISTER_BLOCKS else "memory"
                block = _sub(module, "ADDRESSBLOCKS")
                _sub(block, "ADDRESSBLOCK", ACCESS="", INTERFACE=family.mem_slave_port,
                     NAME=mem.name, RANGE=_range_text(design, mem.span), USAGE=usage)  # fmt: skip
        params = _sub(module, "PARAMETERS")
        for name, value in cell.parameters.items():
            ET.SubElement(params, "PARAMETER", {"NAME": name, "VALUE": value})
        _ports_xml(module, cell, clk_hz)
        _interfaces_xml(module, cell, clk_hz)
        if cell is ps:
            memmap = _sub(module, "MEMORYMAP")
            _memrange(memmap, accel, ACCEL_ADDRESS_BLOCK, family.accel_base, ACCEL_RANGE,
                      family.ctrl_master, ACCEL_CTRL_INTERFACE, "REGISTER")  # fmt: skip
            _memrange(memmap, dma, DMA_ADDRESS_BLOCK, family.dma_base, DMA_RANGE,
                      family.ctrl_master, "S_AXI_LITE", "REGISTER")  # fmt: skip
            peripherals = _sub(module, "PERIPHERALS")
            for target in (accel, dma):
                _sub(peripherals, "PERIPHERAL", INSTANCE=target.instance)
        elif cell is dma:
            memmap = _sub(module, "MEMORYMAP")
            for mem in mem_slave_blocks(design):
                memtype = "REGISTER" if mem.name in _REGISTER_BLOCKS else "MEMORY"
                for master_if in ("M_AXI_MM2S", "M_AXI_S2MM"):
                    _memrange(memmap, ps, mem.name, mem.base, mem.span, master_if,
                              family.mem_slave, memtype)  # fmt: skip
            peripherals = _sub(module, "PERIPHERALS")
            _sub(peripherals, "PERIPHERAL", INSTANCE=ps.instance)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
        "<!-- Generated from pynq_mnist/hardware by python -m pynq_mnist.hardware.generate;"
        " do not edit. -->\n"
        f"{body}\n"
    )


def render_zynqmp_reference() -> str:
    """The .hwh of the default design on the ZynqMP reference board (``REFERENCE_ZYNQMP_PATH``)."""
    return render(BlockDesign(board=REFERENCE_ZYNQMP_BOARD))
