"""The hardware handoff (.hwh) of the mnist block design, generated from regmap.py.

Vivado writes ``<design>.hwh`` next to the bitstream; pynq parses it to find
every IP (by VLNV), its address, parameters and register map, the PS clock
divisors and the wiring. This module writes the same document, in the XML
schema of Vivado 2022.1/2024.1 (``EDKSYSTEM EDWVERSION="1.2"``), for the block
design of ``overlay/bd.tcl``, from the same source as ``overlay/config.tcl``
(``regmap.py``), so the virtual board and the Vivado build cannot disagree.

``overlay/reference.hwh`` is the committed output for the default design;
``tests/test_overlay_path.py`` fails when it is stale::

    python -m pynq_mnist.hwh --write    # regenerate
    python -m pynq_mnist.hwh --check    # exit 1 if stale

Instance names and hierarchy are parameters (``BlockDesign``), so the tests
can build what the Vivado GUI would name ``mnist_accel_0``/``axi_dma_0`` or
put inside a hierarchy. :func:`standin_bitstream` writes a ``.hwh`` with a
placeholder ``.bit`` (a valid Xilinx bit header around a payload naming the
.hwh's digest) into the user cache, for the virtual board to "download".
"""

from __future__ import annotations

import argparse
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree as ET

from . import regmap

__all__ = [
    "PLATFORM",
    "REFERENCE_PATH",
    "STANDIN_MAGIC",
    "BlockDesign",
    "fclk_divisors",
    "interface_nets",
    "render",
    "standin_bitstream",
    "standin_digest",
]

VIVADO_VERSION = "2024.1"
PART = ("7z020", "clg400", "-1")
REFERENCE_PATH = Path(__file__).resolve().parent.parent / "overlay" / "reference.hwh"

# Platform cells of overlay/bd.tcl (tests/test_overlay_path.py checks they agree).
PLATFORM = {
    "ps7": ("processing_system7_0", "xilinx.com:ip:processing_system7:5.5"),
    "reset": ("rst_ps7_fclk0", "xilinx.com:ip:proc_sys_reset:5.0"),
    "ctrl_ic": ("ps7_axi_periph", "xilinx.com:ip:axi_interconnect:2.1"),
    "mem_ic": ("axi_mem_smc", "xilinx.com:ip:smartconnect:1.0"),
}
# PS7 clocking of the PYNQ-Z1/Z2 images: 50 MHz crystal, IO PLL x20 = 1000 MHz.
CRYSTAL_MHZ = 50
IO_PLL_FBDIV = 20
DDR_ADDRESS_BLOCK = ("S_AXI_HP0", "HP0_DDR_LOWOCM", 0x0000_0000, 0x2000_0000)

STANDIN_MAGIC = b"PYNQ-MNIST VIRTUAL BOARD STAND-IN BITSTREAM, NOT FOR AN FPGA\n"


@dataclass(frozen=True)
class BlockDesign:
    """What varies between builds of the design: instance paths, NUM_BANKS, FCLK0, DMA build.

    ``accel``/``dma`` are block-design paths such as ``mnist_accel`` or
    ``accel/mnist_accel_0`` (a cell inside hierarchy ``accel``).
    """

    accel: str = regmap.ACCEL_INSTANCE
    dma: str = regmap.DMA_INSTANCE
    num_banks: int = regmap.DEFAULT_NUM_BANKS
    fclk_mhz: float = regmap.FCLK_MHZ
    name: str = "mnist"
    vivado_version: str = VIVADO_VERSION
    dma_parameters: tuple[tuple[str, str], ...] = ()  # overrides of regmap.DMA_PARAMETERS

    def __post_init__(self) -> None:
        unknown = {key for key, _ in self.dma_parameters} - set(regmap.DMA_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown AXI DMA parameters {sorted(unknown)}")
        if self.num_banks not in regmap.SUPPORTED_NUM_BANKS:
            raise ValueError(f"num_banks={self.num_banks}: not one of {regmap.SUPPORTED_NUM_BANKS}")
        for path in (self.accel, self.dma):
            if not path or path.startswith("/") or path.endswith("/") or "//" in path:
                raise ValueError(f"instance path {path!r} is not of the form [hier/]cell")
        if self.accel == self.dma:
            raise ValueError(f"accelerator and DMA cannot both be {self.accel!r}")
        fclk_divisors(self.fclk_mhz)


def fclk_divisors(mhz: float) -> tuple[int, int]:
    """(DIVISOR0, DIVISOR1) of the IO PLL for an exact ``mhz`` (as the PS7 wizard picks them).

    Raises
    ------
    ValueError
        No pair of 6-bit divisors gives exactly ``mhz``.
    """
    pll = CRYSTAL_MHZ * IO_PLL_FBDIV
    pairs = [
        (d0, d1) for d0 in range(1, 64) for d1 in range(1, 64) if abs(pll / (d0 * d1) - mhz) < 1e-9
    ]
    if not pairs:
        raise ValueError(f"FCLK0 {mhz} MHz is not {pll} MHz divided by two 6-bit divisors")
    return min(pairs, key=lambda p: (max(p), -p[0]))


# --- bus interfaces ------------------------------------------------------------


def _signals(names: str) -> list[str]:
    return names.split()


_AXI3 = _signals(
    "ARADDR ARBURST ARCACHE ARID ARLEN ARLOCK ARPROT ARQOS ARREADY ARSIZE ARVALID "
    "AWADDR AWBURST AWCACHE AWID AWLEN AWLOCK AWPROT AWQOS AWREADY AWSIZE AWVALID "
    "BID BREADY BRESP BVALID RDATA RID RLAST RREADY RRESP RVALID "
    "WDATA WID WLAST WREADY WSTRB WVALID"
)
_LITE = _signals(
    "AWADDR AWPROT AWVALID AWREADY WDATA WSTRB WVALID WREADY BRESP BVALID BREADY "
    "ARADDR ARPROT ARVALID ARREADY RDATA RRESP RVALID RREADY"
)
# PG021: the DMA's AXI4-Lite port has no PROT/STRB; MM2S only reads, S2MM only writes.
_DMA_LITE = [s for s in _LITE if s not in ("AWPROT", "ARPROT", "WSTRB")]
_READ = _signals(
    "ARADDR ARLEN ARSIZE ARBURST ARPROT ARCACHE ARVALID ARREADY RDATA RRESP RLAST RVALID RREADY"
)
_WRITE = _signals(
    "AWADDR AWLEN AWSIZE AWBURST AWPROT AWCACHE AWVALID AWREADY WDATA WSTRB WLAST WVALID WREADY "
    "BRESP BVALID BREADY"
)
_AXIS = _signals("TDATA TKEEP TLAST TREADY TVALID")


def _master_drives(logical: str) -> bool:
    """Direction of an AXI signal: True if the master (initiator) drives it."""
    if logical.startswith("T"):
        return logical != "TREADY"
    request = logical.startswith(("AW", "AR", "W"))
    return request != logical.endswith("READY")


def _signal_width(logical: str, addr: int, data: int, id_width: int, axi3: bool) -> int:
    suffix = logical[2:] if logical.startswith(("AW", "AR")) else logical[1:]
    return {
        "ADDR": addr,
        "DATA": data,
        "STRB": data // 8,
        "KEEP": data // 8,
        "PROT": 3,
        "RESP": 2,
        "LEN": 4 if axi3 else 8,
        "SIZE": 3,
        "BURST": 2,
        "CACHE": 4,
        "LOCK": 2 if axi3 else 1,
        "QOS": 4,
        "ID": id_width,
    }.get(suffix, 1)


@dataclass
class _Port:
    name: str
    direction: str
    width: int = 1
    sigis: str = "undef"
    attrs: dict[str, str] = field(default_factory=dict)
    peers: list[tuple[str, str]] = field(default_factory=list)
    signame: str = ""


@dataclass
class _BusInterface:
    name: str
    kind: str  # MASTER, SLAVE, INITIATOR, TARGET
    vlnv: str
    portmap: list[tuple[str, str]]
    parameters: dict[str, str]
    datawidth: int | None = None
    busname: str = "__NOC__"


@dataclass
class _Cell:
    path: str
    vlnv: str
    parameters: dict[str, str] = field(default_factory=dict)
    ports: dict[str, _Port] = field(default_factory=dict)
    interfaces: dict[str, _BusInterface] = field(default_factory=dict)
    is_pl: bool = True

    @property
    def instance(self) -> str:
        """Vivado's flattened instance name: the path with '/' -> '_'."""
        return self.path.replace("/", "_")

    def scalar(
        self, name: str, direction: str, width: int = 1, sigis: str = "undef", **attrs: str
    ) -> None:
        """Add a port outside any bus interface (clock, reset, interrupt)."""
        self.ports[name] = _Port(name, direction, width, sigis, dict(attrs))

    def bus(
        self,
        name: str,
        kind: str,
        signals: list[str],
        physical: str,
        *,
        addr: int = 32,
        data: int = 32,
        id_width: int = 0,
        axi3: bool = False,
        protocol: str | None = None,
    ) -> None:
        """Add an interface whose physical ports are ``physical.format(logical)``."""
        master = kind in ("MASTER", "INITIATOR")
        stream = signals[0].startswith("T")
        portmap = []
        for logical in signals:
            phys = physical.format(lo=logical.lower(), up=logical.upper(), name=logical)
            out = _master_drives(logical) == master
            width = _signal_width(logical, addr, data, id_width, axi3)
            self.ports[phys] = _Port(phys, "O" if out else "I", width)
            portmap.append((logical, phys))
        if stream:
            params = {
                "TDATA_NUM_BYTES": str(data // 8),
                "TDEST_WIDTH": "0",
                "TID_WIDTH": "0",
                "TUSER_WIDTH": "0",
                "HAS_TREADY": "1",
                "HAS_TSTRB": "0",
                "HAS_TKEEP": "1",
                "HAS_TLAST": "1",
                "FREQ_HZ": "",
            }
            vlnv, width_attr = "xilinx.com:interface:axis:1.0", None
        else:
            params = {
                "DATA_WIDTH": str(data),
                "PROTOCOL": protocol or ("AXI3" if axi3 else "AXI4LITE"),
                "FREQ_HZ": "",
                "ID_WIDTH": str(id_width),
                "ADDR_WIDTH": str(addr),
                "HAS_BURST": "0" if protocol == "AXI4LITE" else "1",
                "READ_WRITE_MODE": _read_write_mode(signals),
            }
            vlnv, width_attr = "xilinx.com:interface:aximm:1.0", data
        self.interfaces[name] = _BusInterface(name, kind, vlnv, portmap, params, width_attr)


def _read_write_mode(signals: list[str]) -> str:
    reads = any(s.startswith("AR") for s in signals)
    writes = any(s.startswith("AW") for s in signals)
    return "READ_WRITE" if reads and writes else "READ_ONLY" if reads else "WRITE_ONLY"


# --- the design ----------------------------------------------------------------


def _ps7_parameters(design: BlockDesign) -> dict[str, str]:
    div0, div1 = fclk_divisors(design.fclk_mhz)
    pll = CRYSTAL_MHZ * IO_PLL_FBDIV
    params = {
        "PCW_CRYSTAL_PERIPHERAL_FREQMHZ": str(CRYSTAL_MHZ),
        "PCW_IOPLL_CTRL_FBDIV": str(IO_PLL_FBDIV),
        "PCW_IO_IO_PLL_FREQMHZ": f"{pll:.3f}",
        "PCW_USE_M_AXI_GP0": "1",
        "PCW_USE_S_AXI_HP0": "1",
        "PCW_S_AXI_HP0_DATA_WIDTH": "64",
        "PCW_USE_FABRIC_INTERRUPT": "0",  # no interrupt is wired (overlay/README.md)
    }
    for clk in range(4):
        enabled = clk == 0
        d0, d1 = (div0, div1) if enabled else (1, 1)
        params.update(
            {
                f"PCW_FPGA_FCLK{clk}_ENABLE": "1" if enabled else "0",
                f"PCW_EN_CLK{clk}_PORT": "1" if enabled else "0",
                f"PCW_FPGA{clk}_PERIPHERAL_FREQMHZ": f"{design.fclk_mhz:g}" if enabled else "50",
                f"PCW_ACT_FPGA{clk}_PERIPHERAL_FREQMHZ": f"{pll / (d0 * d1):.6f}"
                if enabled
                else "10.000000",
                f"PCW_FCLK{clk}_PERIPHERAL_CLKSRC": "IO PLL",
                f"PCW_FCLK{clk}_PERIPHERAL_DIVISOR0": str(d0),
                f"PCW_FCLK{clk}_PERIPHERAL_DIVISOR1": str(d1),
            }
        )
    return params


def _dma_config(design: BlockDesign) -> dict[str, str]:
    """regmap.DMA_PARAMETERS with the design's overrides."""
    return {**regmap.DMA_PARAMETERS, **dict(design.dma_parameters)}


def _dma_parameters(design: BlockDesign) -> dict[str, str]:
    p = _dma_config(design)
    upper = {key.upper(): value for key, value in p.items()}
    base = regmap.DMA_BASE
    return {
        "C_S_AXI_LITE_ADDR_WIDTH": "10",
        "C_S_AXI_LITE_DATA_WIDTH": "32",
        **upper,
        "C_M_AXI_MM2S_ADDR_WIDTH": p["c_addr_width"],
        "C_M_AXI_S2MM_ADDR_WIDTH": p["c_addr_width"],
        "C_FAMILY": "zynq",
        "Component_Name": f"{design.name}_{design.dma.replace('/', '_')}_0",
        **p,
        "EDK_IPTYPE": "PERIPHERAL",
        "C_BASEADDR": f"0x{base:08X}",
        "C_HIGHADDR": f"0x{base + regmap.DMA_RANGE - 1:08X}",
    }


def _cells(design: BlockDesign) -> dict[str, _Cell]:
    """Every cell of overlay/bd.tcl with its ports and bus interfaces, keyed by role."""
    dp = _dma_config(design)
    ps = _Cell(*PLATFORM["ps7"], parameters=_ps7_parameters(design), is_pl=False)
    ps.bus("M_AXI_GP0", "MASTER", _AXI3, "M_AXI_GP0_{up}", id_width=12, axi3=True)
    ps.bus("S_AXI_HP0", "SLAVE", _AXI3, "S_AXI_HP0_{up}", data=64, id_width=6, axi3=True)
    ps.scalar("FCLK_CLK0", "O", sigis="clk", CLKFREQUENCY=str(int(design.fclk_mhz * 1e6)))
    ps.scalar("FCLK_RESET0_N", "O", sigis="rst")
    ps.scalar("M_AXI_GP0_ACLK", "I", sigis="clk")
    ps.scalar("S_AXI_HP0_ACLK", "I", sigis="clk")

    reset = _Cell(*PLATFORM["reset"], parameters={"C_FAMILY": "zynq", "C_EXT_RST_WIDTH": "4"})
    reset.scalar("slowest_sync_clk", "I", sigis="clk")
    reset.scalar("ext_reset_in", "I", sigis="rst", POLARITY="ACTIVE_LOW")
    reset.scalar("interconnect_aresetn", "O", sigis="rst", POLARITY="ACTIVE_LOW")
    reset.scalar("peripheral_aresetn", "O", sigis="rst", POLARITY="ACTIVE_LOW")

    ctrl = _Cell(*PLATFORM["ctrl_ic"], parameters={"NUM_SI": "1", "NUM_MI": "2"})
    ctrl.bus("S00_AXI", "SLAVE", _AXI3, "S00_AXI_{lo}", id_width=12, axi3=True)
    ctrl.bus("M00_AXI", "MASTER", _LITE, "M00_AXI_{lo}", protocol="AXI4LITE")
    ctrl.bus("M01_AXI", "MASTER", _LITE, "M01_AXI_{lo}", protocol="AXI4LITE")
    for pin in ("ACLK", "S00_ACLK", "M00_ACLK", "M01_ACLK"):
        ctrl.scalar(pin, "I", sigis="clk")
    for pin in ("ARESETN", "S00_ARESETN", "M00_ARESETN", "M01_ARESETN"):
        ctrl.scalar(pin, "I", sigis="rst")

    mem = _Cell(*PLATFORM["mem_ic"], parameters={"NUM_SI": "2", "NUM_MI": "1"})
    mem.bus("S00_AXI", "SLAVE", _READ, "S00_AXI_{lo}", protocol="AXI4")
    mem.bus("S01_AXI", "SLAVE", _WRITE, "S01_AXI_{lo}", protocol="AXI4")
    mem.bus("M00_AXI", "MASTER", _AXI3, "M00_AXI_{lo}", data=64, id_width=6, axi3=True)
    mem.scalar("aclk", "I", sigis="clk")
    mem.scalar("aresetn", "I", sigis="rst")

    dma = _Cell(design.dma, regmap.DMA_VLNV, parameters=_dma_parameters(design))
    mm2s_w = int(dp["c_m_axi_mm2s_data_width"])
    s2mm_w = int(dp["c_m_axi_s2mm_data_width"])
    addr_w = int(dp["c_addr_width"])
    dma.bus("S_AXI_LITE", "SLAVE", _DMA_LITE, "s_axi_lite_{lo}", addr=10, protocol="AXI4LITE")
    dma.bus("M_AXI_MM2S", "MASTER", _READ, "m_axi_mm2s_{lo}", addr=addr_w, data=mm2s_w)
    dma.bus("M_AXI_S2MM", "MASTER", _WRITE, "m_axi_s2mm_{lo}", addr=addr_w, data=s2mm_w)
    dma.bus(
        "M_AXIS_MM2S",
        "INITIATOR",
        _AXIS,
        "m_axis_mm2s_{lo}",
        data=int(dp["c_m_axis_mm2s_tdata_width"]),
    )
    dma.bus(
        "S_AXIS_S2MM",
        "TARGET",
        _AXIS,
        "s_axis_s2mm_{lo}",
        data=int(dp["c_s_axis_s2mm_tdata_width"]),
    )
    for pin in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk"):
        dma.scalar(pin, "I", sigis="clk")
    dma.scalar("axi_resetn", "I", sigis="rst", POLARITY="ACTIVE_LOW")
    for pin in ("mm2s_prmry_reset_out_n", "s2mm_prmry_reset_out_n"):
        dma.scalar(pin, "O", sigis="rst", POLARITY="ACTIVE_LOW")
    for pin in ("mm2s_introut", "s2mm_introut"):
        dma.scalar(pin, "O", sigis="INTERRUPT", SENSITIVITY="LEVEL_HIGH")

    accel = _Cell(
        design.accel,
        regmap.VLNV,
        parameters={
            "NUM_BANKS": str(design.num_banks),
            "Component_Name": f"{design.name}_{design.accel.replace('/', '_')}_0",
            "EDK_IPTYPE": "PERIPHERAL",
        },
    )
    accel.bus(
        regmap.ACCEL_CTRL_INTERFACE,
        "SLAVE",
        _LITE,
        regmap.ACCEL_CTRL_INTERFACE + "_{lo}",
        addr=regmap.AXIL_ADDR_WIDTH,
        data=regmap.AXIL_DATA_WIDTH,
        protocol="AXI4LITE",
    )
    accel.bus("s_axis", "SLAVE", _AXIS, "s_axis_{lo}", data=regmap.STREAM_DATA_WIDTH)
    accel.bus("m_axis", "MASTER", _AXIS, "m_axis_{lo}", data=regmap.STREAM_DATA_WIDTH)
    accel.scalar("aclk", "I", sigis="clk")
    accel.scalar("aresetn", "I", sigis="rst", POLARITY="ACTIVE_LOW")
    accel.scalar("interrupt", "O", sigis="INTERRUPT", SENSITIVITY="LEVEL_HIGH")

    return {"ps7": ps, "reset": reset, "ctrl_ic": ctrl, "mem_ic": mem, "dma": dma, "accel": accel}


def interface_nets() -> list[tuple[str, str, str, str]]:
    """(master role, interface, slave role, interface) of every AXI connection (bd.tcl order)."""
    return [
        ("ps7", "M_AXI_GP0", "ctrl_ic", "S00_AXI"),
        ("ctrl_ic", "M00_AXI", "accel", regmap.ACCEL_CTRL_INTERFACE),
        ("ctrl_ic", "M01_AXI", "dma", "S_AXI_LITE"),
        ("dma", "M_AXI_MM2S", "mem_ic", "S00_AXI"),
        ("dma", "M_AXI_S2MM", "mem_ic", "S01_AXI"),
        ("mem_ic", "M00_AXI", "ps7", "S_AXI_HP0"),
        ("dma", "M_AXIS_MM2S", "accel", "s_axis"),
        ("accel", "m_axis", "dma", "S_AXIS_S2MM"),
    ]


def _scalar_nets() -> list[tuple[tuple[str, str], list[tuple[str, str]]]]:
    """(driver, sinks) of every clock and reset net, as (role, pin); interrupts stay open."""
    clocks = [
        ("ps7", "M_AXI_GP0_ACLK"),
        ("ps7", "S_AXI_HP0_ACLK"),
        ("reset", "slowest_sync_clk"),
        *[("ctrl_ic", p) for p in ("ACLK", "S00_ACLK", "M00_ACLK", "M01_ACLK")],
        ("mem_ic", "aclk"),
        *[("dma", p) for p in ("s_axi_lite_aclk", "m_axi_mm2s_aclk", "m_axi_s2mm_aclk")],
        ("accel", "aclk"),
    ]
    peripheral_resets = [
        *[("ctrl_ic", p) for p in ("S00_ARESETN", "M00_ARESETN", "M01_ARESETN")],
        ("mem_ic", "aresetn"),
        ("dma", "axi_resetn"),
        ("accel", "aresetn"),
    ]
    return [
        (("ps7", "FCLK_CLK0"), clocks),
        (("ps7", "FCLK_RESET0_N"), [("reset", "ext_reset_in")]),
        (("reset", "interconnect_aresetn"), [("ctrl_ic", "ARESETN")]),
        (("reset", "peripheral_aresetn"), peripheral_resets),
    ]


def _connect(cells: dict[str, _Cell]) -> None:
    """Fill in peers, signal and bus names the way Vivado names them (driver_pin)."""
    for master_role, master_if, slave_role, slave_if in interface_nets():
        master, slave = cells[master_role], cells[slave_role]
        mif, sif = master.interfaces[master_if], slave.interfaces[slave_if]
        busname = f"{master.instance}_{master_if}"
        mif.busname = sif.busname = busname
        slave_map = dict(sif.portmap)
        for logical, mphys in mif.portmap:
            if logical not in slave_map:
                continue
            sphys = slave_map[logical]
            driver, sink = (master, mphys), (slave, sphys)
            if not _master_drives(logical):
                driver, sink = sink, driver
            _link(driver, sink, f"{driver[0].instance}_{driver[1]}")
    for (drole, dpin), sinks in _scalar_nets():
        driver = cells[drole]
        signame = f"{driver.instance}_{dpin}"
        for srole, spin in sinks:
            _link((driver, dpin), (cells[srole], spin), signame)


def _link(driver: tuple[_Cell, str], sink: tuple[_Cell, str], signame: str) -> None:
    dcell, dpin = driver
    scell, spin = sink
    dport, sport = dcell.ports[dpin], scell.ports[spin]
    dport.peers.append((scell.instance, spin))
    sport.peers.append((dcell.instance, dpin))
    dport.signame = sport.signame = signame


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


def _memrange(parent: ET.Element, target: _Cell, block: str, base: int, span: int,
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


def _module_xml(parent: ET.Element, cell: _Cell) -> ET.Element:
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


def _ports_xml(module: ET.Element, cell: _Cell, clk_hz: int) -> None:
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


def _interfaces_xml(module: ET.Element, cell: _Cell, clk_hz: int) -> None:
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


def render(design: BlockDesign | None = None) -> str:
    """The .hwh text of ``design`` (default: regmap's names, NUM_BANKS and FCLK)."""
    design = design or BlockDesign()
    cells = _cells(design)
    _connect(cells)
    clk_hz = round(design.fclk_mhz * 1e6)
    device, package, speed = PART
    root = ET.Element(
        "EDKSYSTEM",
        {
            "EDWVERSION": "1.2",
            "TIMESTAMP": "generated by pynq_mnist.hwh",
            "VIVADOVERSION": design.vivado_version,
        },
    )
    _sub(root, "SYSTEMINFO", ARCH="zynq", DEVICE=device, NAME=design.name, PACKAGE=package,
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
                      INTERFACE=regmap.ACCEL_CTRL_INTERFACE, NAME="reg0",
                      RANGE=str(regmap.ACCEL_RANGE), USAGE="register")  # fmt: skip
            _registers_xml(ab, regmap.REGISTERS)
        elif cell is dma:
            block = _sub(module, "ADDRESSBLOCKS")
            ab = _sub(block, "ADDRESSBLOCK", ACCESS="read-write", INTERFACE="S_AXI_LITE",
                      NAME="Reg", RANGE="4096", USAGE="register")  # fmt: skip
            _registers_xml(ab, regmap.DMA_REGISTERS)
        elif cell is ps:
            interface, name, _, span = DDR_ADDRESS_BLOCK
            block = _sub(module, "ADDRESSBLOCKS")
            _sub(block, "ADDRESSBLOCK", ACCESS="", INTERFACE=interface, NAME=name,
                 RANGE=str(span), USAGE="memory")  # fmt: skip
        params = _sub(module, "PARAMETERS")
        for name, value in cell.parameters.items():
            ET.SubElement(params, "PARAMETER", {"NAME": name, "VALUE": value})
        _ports_xml(module, cell, clk_hz)
        _interfaces_xml(module, cell, clk_hz)
        if cell is ps:
            memmap = _sub(module, "MEMORYMAP")
            _memrange(memmap, accel, "reg0", regmap.ACCEL_BASE, regmap.ACCEL_RANGE,
                      "M_AXI_GP0", regmap.ACCEL_CTRL_INTERFACE, "REGISTER")  # fmt: skip
            _memrange(memmap, dma, "Reg", regmap.DMA_BASE, regmap.DMA_RANGE,
                      "M_AXI_GP0", "S_AXI_LITE", "REGISTER")  # fmt: skip
            peripherals = _sub(module, "PERIPHERALS")
            for target in (accel, dma):
                _sub(peripherals, "PERIPHERAL", INSTANCE=target.instance)
        elif cell is dma:
            interface, name, base, span = DDR_ADDRESS_BLOCK
            memmap = _sub(module, "MEMORYMAP")
            for master_if in ("M_AXI_MM2S", "M_AXI_S2MM"):
                _memrange(memmap, ps, name, base, span, master_if, interface, "MEMORY")
            peripherals = _sub(module, "PERIPHERALS")
            _sub(peripherals, "PERIPHERAL", INSTANCE=ps.instance)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="no" ?>\n'
        "<!-- Generated from pynq_mnist/regmap.py by python -m pynq_mnist.hwh; do not edit. -->\n"
        f"{body}\n"
    )


# --- stand-in bitstream ----------------------------------------------------------


def standin_digest(hwh_text: str) -> str:
    """The digest a stand-in .bit carries of the .hwh it was written with."""
    return hashlib.sha256(hwh_text.encode("utf-8")).hexdigest()


def _bit_field(key: bytes, text: str) -> bytes:
    data = text.encode("ascii") + b"\0"
    return key + struct.pack(">H", len(data)) + data


def standin_bit(design: BlockDesign, hwh_text: str) -> bytes:
    """A .bit file: Xilinx header fields a-e around a payload naming the .hwh's digest."""
    payload = STANDIN_MAGIC + standin_digest(hwh_text).encode("ascii") + b"\n"
    payload += b"\0" * (-len(payload) % 4)
    device, package, _ = PART
    header = struct.pack(">H", 9) + bytes.fromhex("0ff00ff00ff00ff000") + struct.pack(">H", 1)
    header += _bit_field(b"a", f"{design.name};UserID=0XFFFFFFFF;Version={design.vivado_version}")
    header += _bit_field(b"b", f"{device}{package}")
    header += _bit_field(b"c", "1970/01/01")
    header += _bit_field(b"d", "00:00:00")
    return header + b"e" + struct.pack(">I", len(payload)) + payload


def overlay_cache_root() -> Path:
    """``overlays/`` in the package's one cache directory (:func:`pynq_mnist.cache.cache_root`)."""
    from .cache import cache_root

    return cache_root() / "overlays"


def standin_bitstream(design: BlockDesign | None = None) -> Path:
    """Write (once) ``<cache>/overlays/<digest>/<name>.{hwh,bit}``; return the .bit path.

    The directory is named by the .hwh's digest, so concurrent processes and
    repeated calls share one pair and never see a half-written file.
    """
    design = design or BlockDesign()
    text = render(design)
    directory = overlay_cache_root() / standin_digest(text)[:20]
    bit = directory / f"{design.name}.bit"
    if bit.is_file():
        return bit
    directory.mkdir(parents=True, exist_ok=True)
    for path, data in (
        (bit.with_suffix(".hwh"), text.encode("utf-8")),
        (bit, standin_bit(design, text)),
    ):
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    return bit


def main(argv: list[str] | None = None) -> int:
    """Command line: print, write or check overlay/reference.hwh."""
    parser = argparse.ArgumentParser(prog="python -m pynq_mnist.hwh")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {REFERENCE_PATH}")
    group.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    mode = "write" if args.write else "check" if args.check else "print"
    return regmap.emit_generated(render(), REFERENCE_PATH, mode, "python -m pynq_mnist.hwh --write")


if __name__ == "__main__":
    raise SystemExit(main())
