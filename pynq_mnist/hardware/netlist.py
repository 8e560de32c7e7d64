"""The cells, bus interfaces and nets of ``overlay/bd.tcl``, as Vivado names them.

:func:`cells` builds every cell of a :class:`~.design.BlockDesign` with its
ports, bus interfaces and parameters, connected the way Vivado connects and
names them (signal ``<driver instance>_<pin>``, bus ``<master instance>_<interface>``).
``hwh`` writes them out as XML.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import regmap
from .boards import ZYNQ7000, PsFamily
from .design import (
    ACCEL_CTRL_INTERFACE,
    DMA_RANGE,
    DMA_VLNV,
    PLATFORM,
    RESET_VLNV,
    STREAM_DATA_WIDTH,
    VLNV,
    BlockDesign,
)
from .ps_parameters import ps7_parameters, zynqmp_ps_parameters

__all__ = ["Cell", "cells", "interface_nets", "master_drives", "scalar_nets"]

# --- bus interfaces ------------------------------------------------------------


def _signals(names: str) -> list[str]:
    return names.split()


_AXI3 = _signals(
    "ARADDR ARBURST ARCACHE ARID ARLEN ARLOCK ARPROT ARQOS ARREADY ARSIZE ARVALID "
    "AWADDR AWBURST AWCACHE AWID AWLEN AWLOCK AWPROT AWQOS AWREADY AWSIZE AWVALID "
    "BID BREADY BRESP BVALID RDATA RID RLAST RREADY RRESP RVALID "
    "WDATA WID WLAST WREADY WSTRB WVALID"
)
# AXI4 of the ZynqMP PS ports (UG1085): no WID, a USER signal per address channel.
_AXI4_PS = [s for s in _AXI3 if s != "WID"] + ["ARUSER", "AWUSER"]
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


def master_drives(logical: str) -> bool:
    """Direction of an AXI signal: True if the master (initiator) drives it."""
    if logical.startswith("T"):
        return logical != "TREADY"
    request = logical.startswith(("AW", "AR", "W"))
    return request != logical.endswith("READY")


def _signal_width(
    logical: str, addr: int, data: int, id_width: int, axi3: bool, user: int = 1
) -> int:
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
        "USER": user,
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
class Cell:
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
        user: int = 1,
    ) -> None:
        """Add an interface whose physical ports are ``physical.format(logical)``."""
        master = kind in ("MASTER", "INITIATOR")
        stream = signals[0].startswith("T")
        portmap = []
        for logical in signals:
            phys = physical.format(lo=logical.lower(), up=logical.upper(), name=logical)
            out = master_drives(logical) == master
            width = _signal_width(logical, addr, data, id_width, axi3, user)
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


def _dma_parameters(design: BlockDesign) -> dict[str, str]:
    p = design.dma_config
    upper = {key.upper(): value for key, value in p.items()}
    base = design.family.dma_base
    return {
        "C_S_AXI_LITE_ADDR_WIDTH": "10",
        "C_S_AXI_LITE_DATA_WIDTH": "32",
        **upper,
        "C_M_AXI_MM2S_ADDR_WIDTH": p["c_addr_width"],
        "C_M_AXI_S2MM_ADDR_WIDTH": p["c_addr_width"],
        "C_FAMILY": design.family.arch,
        "Component_Name": f"{design.name}_{design.dma.replace('/', '_')}_0",
        **p,
        "EDK_IPTYPE": "PERIPHERAL",
        "C_BASEADDR": f"0x{base:08X}",
        "C_HIGHADDR": f"0x{base + DMA_RANGE - 1:08X}",
    }


def _ps7(design: BlockDesign) -> Cell:
    family = design.family
    ps = Cell(family.ps_instance, family.ps_vlnv, parameters=ps7_parameters(design), is_pl=False)
    ps.bus("M_AXI_GP0", "MASTER", _AXI3, "M_AXI_GP0_{up}", id_width=12, axi3=True)
    ps.bus("S_AXI_HP0", "SLAVE", _AXI3, "S_AXI_HP0_{up}", data=design.hp_data_width,
           id_width=6, axi3=True)  # fmt: skip
    ps.scalar("FCLK_CLK0", "O", sigis="clk")
    ps.scalar("FCLK_RESET0_N", "O", sigis="rst")
    ps.scalar("M_AXI_GP0_ACLK", "I", sigis="clk")
    ps.scalar("S_AXI_HP0_ACLK", "I", sigis="clk")
    return ps


# Port widths of the ZynqMP PS (PG201): HPM0_FPD 40-bit addresses and 16-bit IDs,
# HP0_FPD (S_AXI_GP2) 49-bit addresses and 6-bit IDs.
_HPM0_FPD = {"addr": 40, "id_width": 16, "protocol": "AXI4", "user": 16}
_HP0_FPD = {"addr": 49, "id_width": 6, "protocol": "AXI4", "user": 1}


def _zynq_ultra_ps_e(design: BlockDesign) -> Cell:
    family = design.family
    ps = Cell(family.ps_instance, family.ps_vlnv, parameters=zynqmp_ps_parameters(design),
              is_pl=False)  # fmt: skip
    ps.bus(family.ctrl_master, "MASTER", _AXI4_PS, "maxigp0_{lo}",
           data=family.ctrl_master_width, **_HPM0_FPD)  # fmt: skip
    ps.bus(family.mem_slave, "SLAVE", _AXI4_PS, "saxigp2_{lo}", data=design.hp_data_width,
           **_HP0_FPD)  # fmt: skip
    ps.scalar(family.pl_clock, "O", sigis="clk")
    ps.scalar(family.pl_reset, "O", sigis="rst", POLARITY="ACTIVE_LOW")
    ps.scalar(family.ctrl_master_clock, "I", sigis="clk")
    ps.scalar(family.mem_slave_clock, "I", sigis="clk")
    return ps


def _unconnected(design: BlockDesign) -> dict[str, Cell]:
    """Every cell of overlay/bd.tcl with its ports and bus interfaces, keyed by role."""
    dp = design.dma_config
    family = design.family
    zynq7000 = family is ZYNQ7000
    ps = _ps7(design) if zynq7000 else _zynq_ultra_ps_e(design)
    reset = Cell(family.reset_instance, RESET_VLNV,
                 parameters={"C_FAMILY": family.arch, "C_EXT_RST_WIDTH": "4"})  # fmt: skip
    reset.scalar("slowest_sync_clk", "I", sigis="clk")
    reset.scalar("ext_reset_in", "I", sigis="rst", POLARITY="ACTIVE_LOW")
    reset.scalar("interconnect_aresetn", "O", sigis="rst", POLARITY="ACTIVE_LOW")
    reset.scalar("peripheral_aresetn", "O", sigis="rst", POLARITY="ACTIVE_LOW")

    ctrl = Cell(*PLATFORM["ctrl_ic"], parameters={"NUM_SI": "1", "NUM_MI": "2"})
    if zynq7000:
        ctrl.bus("S00_AXI", "SLAVE", _AXI3, "S00_AXI_{lo}", id_width=12, axi3=True)
    else:
        ctrl.bus("S00_AXI", "SLAVE", _AXI4_PS, "S00_AXI_{lo}", data=family.ctrl_master_width,
                 **_HPM0_FPD)  # fmt: skip
    ctrl.bus("M00_AXI", "MASTER", _LITE, "M00_AXI_{lo}", protocol="AXI4LITE")
    ctrl.bus("M01_AXI", "MASTER", _LITE, "M01_AXI_{lo}", protocol="AXI4LITE")
    for pin in ("ACLK", "S00_ACLK", "M00_ACLK", "M01_ACLK"):
        ctrl.scalar(pin, "I", sigis="clk")
    for pin in ("ARESETN", "S00_ARESETN", "M00_ARESETN", "M01_ARESETN"):
        ctrl.scalar(pin, "I", sigis="rst")

    mem = Cell(*PLATFORM["mem_ic"], parameters={"NUM_SI": "2", "NUM_MI": "1"})
    mem.bus("S00_AXI", "SLAVE", _READ, "S00_AXI_{lo}", protocol="AXI4")
    mem.bus("S01_AXI", "SLAVE", _WRITE, "S01_AXI_{lo}", protocol="AXI4")
    if zynq7000:
        mem.bus("M00_AXI", "MASTER", _AXI3, "M00_AXI_{lo}", data=design.hp_data_width,
                id_width=6, axi3=True)  # fmt: skip
    else:
        mem.bus("M00_AXI", "MASTER", _AXI4_PS, "M00_AXI_{lo}", data=design.hp_data_width,
                **_HP0_FPD)  # fmt: skip
    mem.scalar("aclk", "I", sigis="clk")
    mem.scalar("aresetn", "I", sigis="rst")

    dma = Cell(design.dma, DMA_VLNV, parameters=_dma_parameters(design))
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

    accel = Cell(
        design.accel,
        VLNV,
        parameters={
            "NUM_BANKS": str(design.num_banks),
            "Component_Name": f"{design.name}_{design.accel.replace('/', '_')}_0",
            "EDK_IPTYPE": "PERIPHERAL",
        },
    )
    accel.bus(
        ACCEL_CTRL_INTERFACE,
        "SLAVE",
        _LITE,
        ACCEL_CTRL_INTERFACE + "_{lo}",
        addr=regmap.AXIL_ADDR_WIDTH,
        data=regmap.AXIL_DATA_WIDTH,
        protocol="AXI4LITE",
    )
    accel.bus("s_axis", "SLAVE", _AXIS, "s_axis_{lo}", data=STREAM_DATA_WIDTH)
    accel.bus("m_axis", "MASTER", _AXIS, "m_axis_{lo}", data=STREAM_DATA_WIDTH)
    accel.scalar("aclk", "I", sigis="clk")
    accel.scalar("aresetn", "I", sigis="rst", POLARITY="ACTIVE_LOW")
    accel.scalar("interrupt", "O", sigis="INTERRUPT", SENSITIVITY="LEVEL_HIGH")

    return {"ps7": ps, "reset": reset, "ctrl_ic": ctrl, "mem_ic": mem, "dma": dma, "accel": accel}


def interface_nets(family: PsFamily = ZYNQ7000) -> list[tuple[str, str, str, str]]:
    """(master role, interface, slave role, interface) of every AXI connection (bd.tcl order)."""
    return [
        ("ps7", family.ctrl_master, "ctrl_ic", "S00_AXI"),
        ("ctrl_ic", "M00_AXI", "accel", ACCEL_CTRL_INTERFACE),
        ("ctrl_ic", "M01_AXI", "dma", "S_AXI_LITE"),
        ("dma", "M_AXI_MM2S", "mem_ic", "S00_AXI"),
        ("dma", "M_AXI_S2MM", "mem_ic", "S01_AXI"),
        ("mem_ic", "M00_AXI", "ps7", family.mem_slave),
        ("dma", "M_AXIS_MM2S", "accel", "s_axis"),
        ("accel", "m_axis", "dma", "S_AXIS_S2MM"),
    ]


def scalar_nets(
    family: PsFamily = ZYNQ7000,
) -> list[tuple[tuple[str, str], list[tuple[str, str]]]]:
    """(driver, sinks) of every clock and reset net, as (role, pin); interrupts stay open."""
    clocks = [
        ("ps7", family.ctrl_master_clock),
        ("ps7", family.mem_slave_clock),
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
        (("ps7", family.pl_clock), clocks),
        (("ps7", family.pl_reset), [("reset", "ext_reset_in")]),
        (("reset", "interconnect_aresetn"), [("ctrl_ic", "ARESETN")]),
        (("reset", "peripheral_aresetn"), peripheral_resets),
    ]


def _connect(cells: dict[str, Cell], family: PsFamily) -> None:
    """Fill in peers, signal and bus names the way Vivado names them (driver_pin)."""
    for master_role, master_if, slave_role, slave_if in interface_nets(family):
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
            if not master_drives(logical):
                driver, sink = sink, driver
            _link(driver, sink, f"{driver[0].instance}_{driver[1]}")
    for (drole, dpin), sinks in scalar_nets(family):
        driver = cells[drole]
        signame = f"{driver.instance}_{dpin}"
        for srole, spin in sinks:
            _link((driver, dpin), (cells[srole], spin), signame)


def _link(driver: tuple[Cell, str], sink: tuple[Cell, str], signame: str) -> None:
    dcell, dpin = driver
    scell, spin = sink
    dport, sport = dcell.ports[dpin], scell.ports[spin]
    dport.peers.append((scell.instance, spin))
    sport.peers.append((dcell.instance, dpin))
    dport.signame = sport.signame = signame


def cells(design: BlockDesign) -> dict[str, Cell]:
    """Every cell of ``design``, keyed by role (ps7, reset, ctrl_ic, mem_ic, dma, accel), wired.

    The role ``ps7`` is the PS of either family (``zynq_ultra_ps_e_0`` on ZynqMP).
    """
    built = _unconnected(design)
    _connect(built, design.family)
    return built
