"""IP packaging: the bus-interface port maps of overlay/package_ip.tcl match the ports of
``mnist_top`` (parsed by Yosys) in name, direction and width, and the stubbed build
packages the IP with regmap's VLNV, interfaces, memory map and registers."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tcl_tools import RTL, YOSYS, port_maps
from vivado_stub import StubRun, hex_int, run_build

from pynq_mnist.hardware import regmap

# --- RTL top ports vs the packaging port maps ---------------------------------------


@dataclass(frozen=True)
class Port:
    direction: str  # "input" | "output"
    width: int


def _rtl_ports(tmp_path: Path) -> dict[str, Port]:
    assert YOSYS is not None, "yosys is not installed"
    top = RTL / "mnist_top.v"
    assert top.is_file(), f"{top} missing: the RTL top the overlay packages"
    out = tmp_path / "top.json"
    # -lib: read the module interface only (ports at default parameters).
    result = subprocess.run(
        [YOSYS, "-q", "-p", f"read_verilog -lib -I{RTL} {top}; write_json {out}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr + result.stdout
    module = json.loads(out.read_text())["modules"]["mnist_top"]
    return {name: Port(p["direction"], len(p["bits"])) for name, p in module["ports"].items()}


# logical AXI signal -> direction seen from a slave (PG059/ARM IHI0022, IHI0051)
_SLAVE_IN = {
    "AWADDR",
    "AWPROT",
    "AWVALID",
    "WDATA",
    "WSTRB",
    "WVALID",
    "BREADY",
    "ARADDR",
    "ARPROT",
    "ARVALID",
    "RREADY",
    "TDATA",
    "TKEEP",
    "TLAST",
    "TVALID",
}
_SLAVE_OUT = {
    "AWREADY",
    "WREADY",
    "BRESP",
    "BVALID",
    "ARREADY",
    "RDATA",
    "RRESP",
    "RVALID",
    "TREADY",
}


def _expected_width(logical: str) -> int:
    widths = {
        "AWADDR": regmap.AXIL_ADDR_WIDTH,
        "ARADDR": regmap.AXIL_ADDR_WIDTH,
        "AWPROT": 3,
        "ARPROT": 3,
        "WDATA": regmap.AXIL_DATA_WIDTH,
        "RDATA": regmap.AXIL_DATA_WIDTH,
        "WSTRB": regmap.AXIL_DATA_WIDTH // 8,
        "BRESP": 2,
        "RRESP": 2,
        "TDATA": regmap.STREAM_DATA_WIDTH,
        "TKEEP": regmap.STREAM_DATA_WIDTH // 8,
    }
    return widths.get(logical, 1)


def _port_mismatches(
    maps: list[tuple[str, str, str, str, str]], ports: dict[str, Port]
) -> list[str]:
    problems = []
    mapped = set()
    for name, mode, _vlnv, logical, physical in maps:
        mapped.add(physical)
        port = ports.get(physical)
        if port is None:
            problems.append(f"{name}.{logical} -> {physical}: no such port on mnist_top")
            continue
        if logical in _SLAVE_IN | _SLAVE_OUT:
            into_slave = logical in _SLAVE_IN
            want = "input" if into_slave == (mode == "slave") else "output"
        else:
            want = "output" if logical == "INTERRUPT" else "input"
        if port.direction != want:
            problems.append(f"{physical}: {port.direction}, {name}.{logical} needs {want}")
        if port.width != _expected_width(logical):
            problems.append(
                f"{physical}: {port.width} bits, {name}.{logical} needs {_expected_width(logical)}"
            )
    problems += [f"{p}: port of mnist_top in no bus interface" for p in set(ports) - mapped]
    return problems


def test_package_port_maps_match_rtl_top(tmp_path: Path) -> None:
    maps = port_maps()
    assert {m[0] for m in maps} == {
        regmap.ACCEL_CTRL_INTERFACE,
        "s_axis",
        "m_axis",
        "aclk",
        "aresetn",
        "interrupt",
    }
    problems = _port_mismatches(maps, _rtl_ports(tmp_path))
    assert not problems, "\n".join(problems)


def test_port_check_catches_drift() -> None:
    maps = port_maps()
    good = {
        physical: Port(
            ("input" if (logical in _SLAVE_IN) == (mode == "slave") else "output")
            if logical in _SLAVE_IN | _SLAVE_OUT
            else ("output" if logical == "INTERRUPT" else "input"),
            _expected_width(logical),
        )
        for _name, mode, _vlnv, logical, physical in maps
    }
    assert _port_mismatches(maps, good) == []
    renamed = dict(good)
    renamed["s_axis_tuser"] = renamed.pop("s_axis_tkeep")
    assert len(_port_mismatches(maps, renamed)) == 2
    narrow = dict(good)
    narrow["s_axi_ctrl_awaddr"] = Port("input", 16)
    assert _port_mismatches(maps, narrow) == [
        f"s_axi_ctrl_awaddr: 16 bits, {regmap.ACCEL_CTRL_INTERFACE}.AWADDR needs 18"
    ]
    flipped = dict(good)
    flipped["m_axis_tready"] = Port("output", 1)
    assert _port_mismatches(maps, flipped) == ["m_axis_tready: output, m_axis.TREADY needs input"]


def test_rtl_files_include_the_header_they_use() -> None:
    """UG1118: packaged IP has no global includes; each file must include what it uses."""
    sources = sorted(RTL.glob("*.v"))
    assert sources
    for path in sources:
        text = path.read_text()
        if "`MNIST_" in text:
            assert '`include "mnist_regmap.vh"' in text, f"{path.name} uses `MNIST_* macros"
    assert sorted(p.name for p in RTL.glob("*.vh")) == ["mnist_regmap.vh"]


# --- the IP that build.tcl packages under the stubs ----------------------------------


def test_stub_build_packages_ip_with_regmap_vlnv(z2_build: StubRun) -> None:
    (pkg,) = z2_build.of("ipx::package_project")
    vendor = pkg[pkg.index("-vendor") + 1]
    library = pkg[pkg.index("-library") + 1]
    core = z2_build.props("core")
    assert f"{vendor}:{library}:{core['NAME']}:{core['VERSION']}" == regmap.VLNV
    assert (core["VENDOR"], core["LIBRARY"]) == (vendor, library)
    # The driver binds to exactly this VLNV.
    from pynq_mnist.board.accel import MnistAccel

    assert regmap.VLNV in MnistAccel.bindto
    assert list(MnistAccel.bindto) == [regmap.VLNV]
    # The accelerator cell instantiates the packaged VLNV.
    cells = dict((name, vlnv) for name, vlnv in z2_build.of("create_bd_cell"))
    assert cells[regmap.ACCEL_INSTANCE] == regmap.VLNV


def test_stub_build_ip_supports_every_family(z2_build: StubRun) -> None:
    """Zynq-7000 and Zynq UltraScale+ (the .hwh SYSTEMINFO ARCH of each board's part)."""
    assert z2_build.props("core")["SUPPORTED_FAMILIES"] == "zynq Production zynquplus Production"


def test_stub_build_declares_every_interface(z2_build: StubRun) -> None:
    removed = [c[0] for c in z2_build.of("ipx::remove_bus_interface")]
    assert removed == ["S_AXI_CTRL", "aclk"], "auto-inferred interfaces must be replaced"
    added = [c[0] for c in z2_build.of("ipx::add_bus_interface")]
    assert added == [
        regmap.ACCEL_CTRL_INTERFACE,
        "s_axis",
        "m_axis",
        "aclk",
        "aresetn",
        "interrupt",
    ]
    kinds = {
        name: (
            z2_build.props(f"bif:{name}")["BUS_TYPE_VLNV"],
            z2_build.props(f"bif:{name}")["ABSTRACTION_TYPE_VLNV"],
            z2_build.props(f"bif:{name}")["INTERFACE_MODE"],
        )
        for name in added
    }
    assert kinds == {
        regmap.ACCEL_CTRL_INTERFACE: (
            "xilinx.com:interface:aximm:1.0",
            "xilinx.com:interface:aximm_rtl:1.0",
            "slave",
        ),
        "s_axis": ("xilinx.com:interface:axis:1.0", "xilinx.com:interface:axis_rtl:1.0", "slave"),
        "m_axis": ("xilinx.com:interface:axis:1.0", "xilinx.com:interface:axis_rtl:1.0", "master"),
        "aclk": ("xilinx.com:signal:clock:1.0", "xilinx.com:signal:clock_rtl:1.0", "slave"),
        "aresetn": ("xilinx.com:signal:reset:1.0", "xilinx.com:signal:reset_rtl:1.0", "slave"),
        "interrupt": (
            "xilinx.com:signal:interrupt:1.0",
            "xilinx.com:signal:interrupt_rtl:1.0",
            "master",
        ),
    }
    assert z2_build.props("bp:bif:aresetn:POLARITY") == {"VALUE": "ACTIVE_LOW"}
    assert z2_build.props("bp:bif:interrupt:SENSITIVITY") == {"VALUE": "LEVEL_HIGH"}
    assoc = z2_build.of("ipx::associate_bus_interfaces")
    assert sorted(assoc) == sorted(
        [
            [regmap.ACCEL_CTRL_INTERFACE, "aclk", ""],
            ["s_axis", "aclk", ""],
            ["m_axis", "aclk", ""],
            ["", "aclk", "aresetn"],
        ]
    )
    physical = {
        z2_build.props(f"pm:{bif}:{logical}")["PHYSICAL_NAME"]
        for bif, logical in z2_build.of("ipx::add_port_map")
    }
    assert physical == {m[4] for m in port_maps()}
    assert len(z2_build.of("ipx::add_port_map")) == 19 + 5 + 5 + 3


def test_stub_build_memory_map_and_registers(z2_build: StubRun) -> None:
    assert z2_build.of("ipx::remove_memory_map") == [["S_AXI_CTRL"]]
    assert z2_build.of("ipx::add_memory_map") == [[regmap.ACCEL_CTRL_INTERFACE]]
    assert (
        z2_build.props(f"bif:{regmap.ACCEL_CTRL_INTERFACE}")["SLAVE_MEMORY_MAP_REF"]
        == regmap.ACCEL_CTRL_INTERFACE
    )
    (block,) = z2_build.of("ipx::add_address_block")
    assert block == [f"mm:{regmap.ACCEL_CTRL_INTERFACE}", "reg0"]
    ab = z2_build.props("ab:reg0")
    assert hex_int(ab["BASE_ADDRESS"]) == 0
    assert int(ab["RANGE"]) == regmap.ACCEL_RANGE
    assert int(ab["WIDTH"]) == regmap.AXIL_DATA_WIDTH
    assert ab["USAGE"] == "register"
    registers = {}
    for _block, name in z2_build.of("ipx::add_register"):
        p = z2_build.props(f"reg:{name}")
        fields = {}
        for reg, fname in z2_build.of("ipx::add_field"):
            if reg == f"reg:{name}":
                f = z2_build.props(f"field:reg:{name}/{fname}")
                fields[fname] = {
                    "bit_offset": int(f["BIT_OFFSET"]),
                    "bit_width": int(f["BIT_WIDTH"]),
                    "access": f["ACCESS"],
                    "description": f["DESCRIPTION"],
                }
        registers[name] = {
            "address_offset": hex_int(p["ADDRESS_OFFSET"]),
            "size": int(p["SIZE"]),
            "access": p["ACCESS"],
            "description": p["DESCRIPTION"],
            "fields": fields,
        }
    assert registers == regmap.REGISTERS
    # Every register sits below the weight window, inside the address block.
    assert all(r["address_offset"] < regmap.REG_SPACE_BYTES for r in registers.values())


def test_stub_build_num_banks_parameter(z2_build: StubRun) -> None:
    p = z2_build.props("user_parameter:NUM_BANKS")
    assert p["VALUE_VALIDATION_TYPE"] == "list"
    assert tuple(int(x) for x in p["VALUE_VALIDATION_LIST"].split()) == tuple(
        regmap.SUPPORTED_NUM_BANKS
    )
    assert int(p["VALUE"]) == regmap.DEFAULT_NUM_BANKS
    assert (
        int(z2_build.props(regmap.ACCEL_INSTANCE)["CONFIG.NUM_BANKS"]) == regmap.DEFAULT_NUM_BANKS
    )


def test_stub_build_rejects_rtl_without_num_banks(tmp_path: Path) -> None:
    run = run_build(tmp_path, {"step": "ip"}, has_num_banks=False)
    assert run.returncode == 1
    assert "NUM_BANKS" in run.error


def test_stub_build_rejects_missing_rtl_port(tmp_path: Path) -> None:
    ports = [m[4] for m in port_maps() if m[4] != "s_axis_tkeep"]
    run = run_build(tmp_path, {"step": "ip"}, rtl_ports=ports)
    assert run.returncode == 1
    assert "s_axis_tkeep" in run.error
