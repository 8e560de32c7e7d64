"""Every board's generated .hwh, read by pynq's own parsers (pynqmetadata and hwh_parser).

Runs on the system pynq (4.0) and on the pynq 3.0.1/3.1 venvs. Expected
addresses, divisors and widths are written out here from UG585/UG1085 and
PG021, not taken from ``boards.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pynq.pl_server import hwh_parser
from pynqmetadata.frontends import Metadata
from pynqmetadata.views.runtime import RuntimeMetadataParser

from pynq_mnist.hardware import hwh

# board -> (PS MODTYPE, PS instance, accelerator base, DMA base, DMA c_addr_width)
PLATFORMS = {
    "pynq-z1": ("processing_system7", "processing_system7_0", 0x43C0_0000, 0x4040_0000, "32"),
    "pynq-z2": ("processing_system7", "processing_system7_0", 0x43C0_0000, 0x4040_0000, "32"),
    "kv260": ("zynq_ultra_ps_e", "zynq_ultra_ps_e_0", 0xA000_0000, 0xA004_0000, "64"),
    "zcu104": ("zynq_ultra_ps_e", "zynq_ultra_ps_e_0", 0xA000_0000, 0xA004_0000, "64"),
    "ultra96v2": ("zynq_ultra_ps_e", "zynq_ultra_ps_e_0", 0xA000_0000, 0xA004_0000, "64"),
}
# The DDR the DMA reaches: (block, base, span). KV260: 4 GiB, the upper 2 in DDR_HIGH.
DDR = {
    "pynq-z1": {("HP0_DDR_LOWOCM", 0, 0x2000_0000)},
    "pynq-z2": {("HP0_DDR_LOWOCM", 0, 0x2000_0000)},
    "kv260": {("HP0_DDR_LOW", 0, 0x8000_0000), ("HP0_DDR_HIGH", 0x8_0000_0000, 0x8000_0000)},
    "zcu104": {("HP0_DDR_LOW", 0, 0x8000_0000)},
    "ultra96v2": {("HP0_DDR_LOW", 0, 0x8000_0000)},
}
ZYNQMP_BOARDS = ("kv260", "zcu104", "ultra96v2")


def write(tmp_path: Path, design: hwh.BlockDesign) -> Path:
    path = tmp_path / f"{design.board}.hwh"
    path.write_text(hwh.render(design), encoding="utf-8")
    return path


def runtime_parser(path: Path) -> RuntimeMetadataParser:
    """The parser pynq.Overlay uses (as pynq_mnist.sim.device does)."""
    return RuntimeMetadataParser(Metadata(input=path))


def legacy_parser(path: Path, family_ps: str) -> Any:
    """pynq.pl_server.hwh_parser's class for the PS family (what pynq picks by CPU)."""
    cls = hwh_parser._HWHUltrascale if family_ps == "zynq_ultra_ps_e" else hwh_parser._HWHZynq
    return cls(hwh_name=str(path))


@pytest.mark.parametrize("board", sorted(PLATFORMS))
def test_pynq_reads_every_board(tmp_path: Path, board: str) -> None:
    modtype, ps_instance, accel_base, dma_base, addr_width = PLATFORMS[board]
    path = write(tmp_path, hwh.BlockDesign(board=board))
    for parser in (runtime_parser(path), legacy_parser(path, modtype)):
        assert parser.family_ps == modtype
        assert parser.ps_name == ps_instance
        accel, dma = parser.ip_dict["mnist_accel"], parser.ip_dict["axi_dma"]
        assert (accel["phys_addr"], accel["addr_range"]) == (accel_base, 0x40000)
        assert (dma["phys_addr"], dma["addr_range"]) == (dma_base, 0x10000)
        assert accel["type"] == "pynq-mnist.dev:user:mnist_accel:1.0"
        assert dma["type"] == "xilinx.com:ip:axi_dma:7.1"
        assert accel["parameters"]["NUM_BANKS"] == "64"
        assert dma["parameters"]["c_addr_width"] == addr_width
        assert dma["parameters"]["c_include_sg"] == "0"
        assert parser.clock_dict[0]["enable"] == 1
        assert [parser.clock_dict[i]["enable"] for i in (1, 2, 3)] == [0, 0, 0]


@pytest.mark.parametrize("board", ["pynq-z1", "pynq-z2"])
@pytest.mark.parametrize("width", [32, 64])
def test_zynq7000_hp_port_width(tmp_path: Path, board: str, width: int) -> None:
    path = write(tmp_path, hwh.BlockDesign(board=board, hp_data_width=width))
    parameters = runtime_parser(path).ip_dict["processing_system7_0"]["parameters"]
    assert parameters["C_S_AXI_HP0_DATA_WIDTH"] == str(width)
    assert parameters["PCW_S_AXI_HP0_DATA_WIDTH"] == str(width)


@pytest.mark.parametrize("board", ZYNQMP_BOARDS)
@pytest.mark.parametrize("width", [32, 64, 128])
def test_hp_port_width_is_what_pynq_programs(tmp_path: Path, board: str, width: int) -> None:
    """pynq writes C_SAXIGP2_DATA_WIDTH into the AFIFM2 registers on download."""
    path = write(tmp_path, hwh.BlockDesign(board=board, hp_data_width=width))
    for parser in (runtime_parser(path), legacy_parser(path, "zynq_ultra_ps_e")):
        parameters = parser.ip_dict[parser.ps_name]["parameters"]
        assert parameters["C_SAXIGP2_DATA_WIDTH"] == str(width)
        assert parameters["PSU__SAXIGP2__DATA_WIDTH"] == str(width)
        assert parameters["C_MAXIGP0_DATA_WIDTH"] == "128"


# PL clock -> (DIVISOR0, DIVISOR1, ACT_FREQMHZ): IOPLL = 33.333 MHz x 90 / 2 = 1499.985 MHz,
# the achieved rate in Vivado's single-precision format (ZCU104 base.hwh: 150 -> 149.998505).
ZYNQMP_CLOCKS = {150: (10, 1, 149.998505), 100: (15, 1, 99.999001), 300: (5, 1, 299.997009)}


@pytest.mark.parametrize("mhz", sorted(ZYNQMP_CLOCKS))
def test_zynqmp_pl_clock(tmp_path: Path, mhz: int) -> None:
    div0, div1, actual = ZYNQMP_CLOCKS[mhz]
    path = write(tmp_path, hwh.BlockDesign(board="kv260", fclk_mhz=mhz))
    runtime = runtime_parser(path)
    assert runtime.clock_dict[0] == {
        "enable": 1,
        "frequency": actual,
        "divisor0": div0,
        "divisor1": div1,
        "src_sel": "IOPLL",
    }
    legacy = legacy_parser(path, "zynq_ultra_ps_e")
    assert (legacy.clock_dict[0]["divisor0"], legacy.clock_dict[0]["divisor1"]) == (div0, div1)
    text = path.read_text()
    assert f'CLKFREQUENCY="{round(actual * 1e6)}" DIR="O" NAME="pl_clk0"' in text


def test_zynq7000_pl_clock(tmp_path: Path) -> None:
    parser = runtime_parser(write(tmp_path, hwh.BlockDesign(board="pynq-z1")))
    assert (parser.clock_dict[0]["divisor0"], parser.clock_dict[0]["divisor1"]) == (5, 2)
    assert parser.clock_dict[0]["src_sel"] == "IO PLL"


@pytest.mark.parametrize("board", sorted(PLATFORMS))
def test_dma_reaches_the_boards_ddr(tmp_path: Path, board: str) -> None:
    """The DMA's two masters see the PS's DDR blocks (pynq's mem_dict lists PS masters only)."""
    ps_instance = PLATFORMS[board][1]
    parser = runtime_parser(write(tmp_path, hwh.BlockDesign(board=board)))
    dma = parser.systemgraph.blocks["axi_dma"]
    for master in ("M_AXI_MM2S", "M_AXI_S2MM"):
        memory = {
            (entry["block"], entry["baseaddr"], entry["addr_range"])
            for entry in dma.ports[master].addrmap.values()
            if entry["memtype"] == "memory" and "DDR" in entry["block"]
        }
        assert memory == DDR[board]
        targets = {entry["subord_port"] for entry in dma.ports[master].addrmap.values()}
        assert {t.split("[block]")[0].split(":")[-1] for t in targets} == {ps_instance}


def test_num_banks_and_names_reach_pynq_on_zynqmp(tmp_path: Path) -> None:
    design = hwh.BlockDesign(board="zcu104", num_banks=32, accel="accel/mnist_accel_0")
    parser = runtime_parser(write(tmp_path, design))
    assert parser.ip_dict["accel/mnist_accel_0"]["parameters"]["NUM_BANKS"] == "32"
    assert parser.ip_dict["accel/mnist_accel_0"]["phys_addr"] == 0xA000_0000


# SYSTEMINFO (DS891/DS987 part names, split the way Vivado's .hwh splits them).
SYSTEMINFO = {
    "pynq-z1": ("zynq", "7z020", "clg400", "-1"),
    "pynq-z2": ("zynq", "7z020", "clg400", "-1"),
    "kv260": ("zynquplus", "xck26", "sfvc784", "-2LV"),
    "zcu104": ("zynquplus", "xczu7ev", "ffvc1156", "-2"),
    "ultra96v2": ("zynquplus", "xczu3eg", "sbva484", "-1"),
}


@pytest.mark.parametrize("board", sorted(SYSTEMINFO))
def test_systeminfo_names_the_boards_part(board: str) -> None:
    text = hwh.render(hwh.BlockDesign(board=board))
    arch, device, package, speed = SYSTEMINFO[board]
    assert (
        f'<SYSTEMINFO ARCH="{arch}" DEVICE="{device}" NAME="mnist" PACKAGE="{package}" '
        f'SPEEDGRADE="{speed}" />'
    ) in text
