"""Static checks of the Vivado scripts in overlay/ (no Vivado needed).

Three layers:

- ``overlay/config.tcl`` is generated from ``pynq_mnist/regmap.py`` and must
  not be stale; read back through ``tclsh`` it must equal regmap.
- the bus-interface port maps of ``overlay/package_ip.tcl`` must match the
  ports of ``mnist_top`` (parsed by Yosys), in name, direction and width.
- ``overlay/build.tcl`` is executed in ``tclsh`` against stub Vivado commands
  that record every call; the recorded IP packaging, block design, addresses,
  DMA parameters, clock and interrupts are compared with regmap, with the
  driver's ``bindto`` and with the virtual board's ``description()``, and with
  the port/pin names of the Xilinx IP as documented (PG021, PG082, PG059,
  PG247, PG164, xlconcat).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pynq_mnist.hardware import regmap

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "overlay"
RTL = ROOT / "hw" / "rtl"
TCLSH = shutil.which("tclsh")
YOSYS = shutil.which("yosys")


from pynq_mnist.hardware import tcl as gen_config  # noqa: E402


def _tclsh(script: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert TCLSH is not None, "tclsh is not installed (apt-get install tcl)"
    return subprocess.run(
        [TCLSH], input=script, capture_output=True, text=True, cwd=cwd, timeout=60
    )


def _brace(value: object) -> str:
    text = str(value)
    assert "{" not in text and "}" not in text and "\\" not in text, text
    return "{" + text + "}"


# --- config.tcl: generated, fresh, equal to regmap ---------------------------------


SCALARS = (
    "VLNV",
    "TOP_MODULE",
    "ACCEL_INSTANCE",
    "ACCEL_BASE",
    "ACCEL_RANGE",
    "ACCEL_CTRL_INTERFACE",
    "AXIL_ADDR_WIDTH",
    "AXIL_DATA_WIDTH",
    "STREAM_DATA_WIDTH",
    "WEIGHT_WINDOW_OFFSET",
    "NUM_BANKS_DEFAULT",
    "DMA_VLNV",
    "DMA_INSTANCE",
    "DMA_BASE",
    "DMA_RANGE",
    "FCLK_MHZ",
)


def _config_from_tcl(path: Path) -> dict[str, Any]:
    """Source config.tcl in tclsh and return its variables as plain Python values.

    Tcl prints records of \\x1f-separated fields, one per \\x1e.
    """
    script = f"""
        source {_brace(path)}
        proc out {{args}} {{ puts -nonewline "[join $args \\x1f]\\x1e" }}
        foreach name {{{" ".join(SCALARS)}}} {{ out S $name [set mnist::$name] }}
        out L NUM_BANKS_SUPPORTED {{*}}$mnist::NUM_BANKS_SUPPORTED
        foreach {{k v}} $mnist::DMA_PARAMETERS {{ out D $k $v }}
        foreach r $mnist::REGISTERS {{
            lassign $r name offset size access description fields
            out R $name [expr {{$offset}}] $size $access $description
            foreach f $fields {{ out F $name {{*}}$f }}
        }}
    """
    result = _tclsh(script)
    assert result.returncode == 0, result.stderr
    cfg: dict[str, Any] = {"DMA_PARAMETERS": {}, "REGISTERS": {}}
    for record in filter(None, result.stdout.split("\x1e")):
        kind, *rest = record.split("\x1f")
        if kind == "S":
            cfg[rest[0]] = rest[1]
        elif kind == "L":
            cfg[rest[0]] = rest[1:]
        elif kind == "D":
            cfg["DMA_PARAMETERS"][rest[0]] = rest[1]
        elif kind == "R":
            name, offset, size, access, description = rest
            cfg["REGISTERS"][name] = {
                "address_offset": int(offset),
                "access": access,
                "size": int(size),
                "description": description,
                "fields": {},
            }
        else:
            reg, fname, lsb, width, access, description = rest
            cfg["REGISTERS"][reg]["fields"][fname] = {
                "bit_offset": int(lsb),
                "bit_width": int(width),
                "access": access,
                "description": description,
            }
    return cfg


def test_config_tcl_values_equal_regmap() -> None:
    cfg = _config_from_tcl(OVERLAY / "config.tcl")
    assert cfg["VLNV"] == regmap.VLNV
    assert cfg["ACCEL_INSTANCE"] == regmap.ACCEL_INSTANCE
    assert int(cfg["ACCEL_BASE"], 16) == regmap.ACCEL_BASE
    assert int(cfg["ACCEL_RANGE"], 16) == regmap.ACCEL_RANGE
    assert cfg["ACCEL_CTRL_INTERFACE"] == regmap.ACCEL_CTRL_INTERFACE
    assert int(cfg["AXIL_ADDR_WIDTH"]) == regmap.AXIL_ADDR_WIDTH
    assert int(cfg["AXIL_DATA_WIDTH"]) == regmap.AXIL_DATA_WIDTH
    assert int(cfg["STREAM_DATA_WIDTH"]) == regmap.STREAM_DATA_WIDTH
    assert int(cfg["WEIGHT_WINDOW_OFFSET"], 16) == regmap.WEIGHT_WINDOW_OFFSET
    assert int(cfg["NUM_BANKS_DEFAULT"]) == regmap.DEFAULT_NUM_BANKS
    assert tuple(int(n) for n in cfg["NUM_BANKS_SUPPORTED"]) == tuple(regmap.SUPPORTED_NUM_BANKS)
    assert cfg["DMA_VLNV"] == regmap.DMA_VLNV
    assert cfg["DMA_INSTANCE"] == regmap.DMA_INSTANCE
    assert int(cfg["DMA_BASE"], 16) == regmap.DMA_BASE
    assert int(cfg["DMA_RANGE"], 16) == regmap.DMA_RANGE
    assert float(cfg["FCLK_MHZ"]) == regmap.FCLK_MHZ
    assert cfg["DMA_PARAMETERS"] == regmap.DMA_PARAMETERS
    assert list(cfg["DMA_PARAMETERS"]) == list(regmap.DMA_PARAMETERS)
    assert cfg["REGISTERS"] == regmap.REGISTERS


def test_contract_consistency() -> None:
    """The address window the Tcl packages is exactly what the AXI4-Lite port decodes."""
    assert regmap.ACCEL_RANGE == 1 << regmap.AXIL_ADDR_WIDTH
    assert regmap.WEIGHT_WINDOW_OFFSET + regmap.WEIGHT_WINDOW_SPAN == regmap.ACCEL_RANGE
    assert regmap.ACCEL_BASE % regmap.ACCEL_RANGE == 0
    assert regmap.DMA_BASE % regmap.DMA_RANGE == 0
    accel = range(regmap.ACCEL_BASE, regmap.ACCEL_BASE + regmap.ACCEL_RANGE)
    dma = range(regmap.DMA_BASE, regmap.DMA_BASE + regmap.DMA_RANGE)
    assert not set(range(accel.start, accel.stop, 0x1000)) & set(range(dma.start, dma.stop, 0x1000))
    # M_AXI_GP0 decodes 0x4000_0000..0x7FFF_FFFF on Zynq-7000 (UG585).
    for window in (accel, dma):
        assert window.start >= 0x4000_0000 and window.stop - 1 <= 0x7FFF_FFFF
    # A 10k-image batch in one simple-mode transfer (PG021: length < 2**width).
    length_max = (1 << int(regmap.DMA_PARAMETERS["c_sg_length_width"])) - 1
    assert length_max >= 10_000 * regmap.N_IN
    assert length_max >= 10_000 * regmap.RESULT_WORDS_PER_IMAGE * 4


# --- Tcl syntax ---------------------------------------------------------------


def _tcl_files() -> list[Path]:
    files = sorted(OVERLAY.glob("*.tcl"))
    assert {p.name for p in files} >= {"build.tcl", "bd.tcl", "package_ip.tcl", "config.tcl"}
    return files


def _complete(text: str) -> bool:
    proc = subprocess.run(
        [TCLSH or "tclsh"],
        input=f"puts [info complete {_brace_script(text)}]",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip() == "1"


def _brace_script(text: str) -> str:
    """Quote text as one Tcl word without brace counting (backslash-escape everything)."""
    return '"' + "".join("\\" + c if c in '\\"$[]{}' else c for c in text) + '"'


@pytest.mark.parametrize("path", _tcl_files(), ids=lambda p: p.name)
def test_tcl_file_is_complete(path: Path) -> None:
    text = path.read_text()
    assert _complete(text), f"{path}: unbalanced braces/brackets/quotes"
    # Every proc body is complete on its own, too.
    result = _tclsh(
        f"""
        set ::mnist_no_main 1
        foreach cmd {{version get_board_parts}} {{ proc $cmd args {{}} }}
        namespace eval mnist {{}}
        if {{[file tail {_brace(path)}] ne "config.tcl"}} {{
            source {_brace(OVERLAY / "config.tcl")}
        }}
        source {_brace(path)}
        foreach p [info procs ::mnist::*] {{
            if {{![info complete [info body $p]]}} {{ puts "incomplete $p" }}
        }}
        """,
        cwd=OVERLAY,
    )
    assert result.returncode == 0, result.stderr
    assert "incomplete" not in result.stdout


def test_completeness_check_can_fail() -> None:
    text = (OVERLAY / "bd.tcl").read_text()
    assert _complete(text)
    assert not _complete(text[: text.rindex("}")])


# --- Tcl 8.5: Vivado 2022.1, which build.tcl accepts, runs Tcl 8.5 --------------------

# Commands and ensemble subcommands that Tcl 8.5 lacks (8.6; lpop: 8.7).
TCL86_COMMANDS = {"lmap", "try", "throw", "tailcall", "lpop", "coroutine", "yield"}
TCL86_SUBCOMMANDS = {("string", "cat"), ("dict", "map")}


@dataclass
class TclWord:
    """One word of a Tcl command: its text (braces stripped) and its [command] substitutions."""

    text: str
    braced: bool
    substitutions: list[list[TclWord]]


class TclSyntaxError(ValueError):
    """Unbalanced braces, brackets or quotes."""


def _tcl_parse(text: str, i: int = 0, close: str = "") -> tuple[list[list[TclWord]], int]:
    """Split a Tcl script into commands of words (Tcl's dodekalogue rules, simplified).

    Comments are dropped; a [substitution] is parsed as a script of its own. Returns
    the commands and the index after ``close`` (``"]"`` inside a substitution).
    """
    commands: list[list[TclWord]] = []
    words: list[TclWord] = []
    while True:
        while i < len(text) and (text[i] in " \t" or text.startswith("\\\n", i)):
            i += 2 if text[i] == "\\" else 1
        if i >= len(text) or text[i] in "\n;" or (close and text[i] == close):
            if words:
                commands.append(words)
                words = []
            if i >= len(text):
                if close:
                    raise TclSyntaxError(f"missing {close!r}")
                return commands, i
            if text[i] == close:
                return commands, i + 1
            i += 1
            continue
        if not words and text[i] == "#":
            while i < len(text) and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
            continue
        if text.startswith("{*}", i) and i + 3 < len(text) and text[i + 3] not in " \t\n;":
            i += 3  # argument expansion: the word that follows is an ordinary word
        word, i = _tcl_word(text, i, close)
        words.append(word)


def _tcl_word(text: str, i: int, close: str) -> tuple[TclWord, int]:
    if text[i] == "{":
        depth, start = 1, i + 1
        i += 1
        while depth:
            if i >= len(text):
                raise TclSyntaxError("missing '}'")
            if text[i] == "\\":
                i += 1
            elif text[i] in "{}":
                depth += 1 if text[i] == "{" else -1
            i += 1
        return TclWord(text[start : i - 1], True, []), i
    quoted = text[i] == '"'
    start = i + quoted
    i = start
    substitutions = []
    while True:
        if i >= len(text):
            if quoted:
                raise TclSyntaxError("missing '\"'")
            break
        char = text[i]
        if quoted and char == '"':
            return TclWord(text[start:i], False, substitutions), i + 1
        if not quoted and (char in " \t\n;" or (close and char == close)):
            break
        if char == "\\":
            i += 2
        elif char == "[":
            script, i = _tcl_parse(text, i + 1, "]")
            substitutions.extend(script)
        else:
            i += 1
    return TclWord(text[start:i], False, substitutions), i


def _tcl_walk(commands: list[list[TclWord]]) -> Iterator[list[TclWord]]:
    """Every command, also those in substitutions and in braced words (bodies, or data:
    a braced list is read as a script too, which can only err towards rejecting)."""
    for words in commands:
        yield words
        for word in words:
            yield from _tcl_walk(word.substitutions)
            if word.braced:
                try:
                    nested, _ = _tcl_parse(word.text)
                except TclSyntaxError:
                    continue  # data with unbalanced quotes, not a script
                yield from _tcl_walk(nested)


def _tcl86_uses(script: str) -> list[str]:
    found = []
    for words in _tcl_walk(_tcl_parse(script)[0]):
        names = [w.text for w in words[:2]]
        if names[0] in TCL86_COMMANDS:
            found.append(names[0])
        elif tuple(names) in TCL86_SUBCOMMANDS:
            found.append(" ".join(names))
    return found


@pytest.mark.parametrize("path", _tcl_files(), ids=lambda p: p.name)
def test_tcl_runs_on_tcl_8_5(path: Path) -> None:
    assert _tcl86_uses(path.read_text()) == [], f"{path.name} needs Tcl 8.6 (Vivado 2022.1: 8.5)"


def test_tcl_8_5_check_can_fail() -> None:
    assert _tcl86_uses("connect_bd_net $a {*}[lmap p $pins {get_bd_pins $p}]") == ["lmap"]
    assert _tcl86_uses("proc f {} {\n  if {1} { try { g } on error m { h } }\n}") == ["try"]
    assert _tcl86_uses('puts "[string cat a b]"') == ["string cat"]
    assert _tcl86_uses("namespace eval n { proc g {} { tailcall h } }") == ["tailcall"]
    assert _tcl86_uses("set x [lpop stack]; dict map {k v} $d {set v}") == ["lpop", "dict map"]
    # Words in comments and strings are not commands.
    assert _tcl86_uses('# try lmap\nerror "re-run to try anyway"; puts lmap') == []
    with pytest.raises(TclSyntaxError):
        _tcl86_uses("puts [lmap x {1 2} {set x}")


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


def _port_maps() -> list[tuple[str, str, str, str, str]]:
    """(interface, mode, bus vlnv, logical, physical) from package_ip.tcl via tclsh."""
    result = _tclsh(
        f"""
        source {_brace(OVERLAY / "config.tcl")}
        source {_brace(OVERLAY / "package_ip.tcl")}
        foreach entry $mnist::BUS_INTERFACES {{
            lassign $entry name mode vlnv spec params
            foreach {{logical physical}} [mnist::port_map_of $spec] {{
                puts "$name $mode $vlnv $logical $physical"
            }}
        }}
        """
    )
    assert result.returncode == 0, result.stderr
    return [tuple(line.split()) for line in result.stdout.splitlines()]  # type: ignore[misc]


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
    maps = _port_maps()
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
    maps = _port_maps()
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


# --- build.tcl against stub Vivado commands -----------------------------------------

# Interface/pin/address-space names of the Xilinx IP the block design wires,
# per the product guides (PG021 AXI DMA simple mode, PG082 processing_system7,
# PG164 proc_sys_reset, PG059 axi_interconnect, PG247 smartconnect); xlconcat
# InN/dout. The accelerator's come from the stubbed packaging itself.
XILINX_PINS: dict[str, set[str]] = {
    "xilinx.com:ip:processing_system7:5.5": {
        "M_AXI_GP0",
        "S_AXI_HP0",
        "DDR",
        "FIXED_IO",
        "FCLK_CLK0",
        "FCLK_RESET0_N",
        "M_AXI_GP0_ACLK",
        "S_AXI_HP0_ACLK",
        "IRQ_F2P",
        "Data",
    },
    "xilinx.com:ip:axi_dma:7.1": {
        "S_AXI_LITE",
        "M_AXI_MM2S",
        "M_AXI_S2MM",
        "M_AXIS_MM2S",
        "S_AXIS_S2MM",
        "s_axi_lite_aclk",
        "m_axi_mm2s_aclk",
        "m_axi_s2mm_aclk",
        "axi_resetn",
        "mm2s_introut",
        "s2mm_introut",
        "Data_MM2S",
        "Data_S2MM",
    },
    "xilinx.com:ip:proc_sys_reset:5.0": {
        "slowest_sync_clk",
        "ext_reset_in",
        "interconnect_aresetn",
        "peripheral_aresetn",
    },
    "xilinx.com:ip:axi_interconnect:2.1": {
        "ACLK",
        "ARESETN",
        "S00_AXI",
        "S00_ACLK",
        "S00_ARESETN",
        "M00_AXI",
        "M00_ACLK",
        "M00_ARESETN",
        "M01_AXI",
        "M01_ACLK",
        "M01_ARESETN",
    },
    "xilinx.com:ip:smartconnect:1.0": {"aclk", "aresetn", "S00_AXI", "S01_AXI", "M00_AXI"},
    "xilinx.com:ip:xlconcat:2.1": {"dout", "In0", "In1", "In2", "In3"},
}
# Slave address segments (interface/block) of the Xilinx IP, as the Address Editor names them.
XILINX_SEGMENTS: dict[str, set[str]] = {
    "xilinx.com:ip:processing_system7:5.5": {"S_AXI_HP0/HP0_DDR_LOWOCM"},
    "xilinx.com:ip:axi_dma:7.1": {"S_AXI_LITE/Reg"},
}

STUB_TCL = r"""
# Stub Vivado commands: each records a normalized entry in ::stub_log.
set ::stub_log {}
set ::stub_cells {}
set ::stub_assign {}
set ::stub_bifs {}
set ::stub_fclk ""
proc rec {args} { lappend ::stub_log $args }
proc opt {argsvar name {default ""}} {
    upvar $argsvar a
    set i [lsearch -exact $a $name]
    if {$i < 0} { return $default }
    set v [lindex $a [expr {$i + 1}]]
    set a [lreplace $a $i [expr {$i + 1}]]
    return $v
}
proc flags {argsvar names} {
    upvar $argsvar a
    foreach n $names { set a [lsearch -all -inline -not -exact $a $n] }
}
proc version {args} { return $::stub_version }
proc set_param {name value} { rec set_param $name $value; set ::stub_params($name) $value }
proc get_param {name} {
    if {[info exists ::stub_params($name)]} { return $::stub_params($name) }
    return ""
}
proc get_board_parts {args} {
    flags args {-quiet}
    rec get_board_parts {*}$args
    set out {}
    foreach p $::stub_board_parts { if {[string match [lindex $args 0] $p]} { lappend out $p } }
    return $out
}
proc create_project {args} { rec create_project {*}$args; return [lindex $args end-1] }
proc close_project {args} { rec close_project }
proc current_project {args} { return project }
proc current_fileset {args} { return sources_1 }
proc update_ip_catalog {args} { rec update_ip_catalog }
proc update_compile_order {args} {}
proc add_files {args} { rec add_files {*}$args }
proc get_files {args} {
    flags args {-quiet -all}
    if {[string match *.bd [lindex $args 0]]} { return [lindex $args 0] }
    return ""
}
proc set_property {args} {
    set d [opt args -dict]
    if {$d ne ""} {
        foreach {k v} $d { rec set_property [lindex $args 0] $k $v }
        if {[dict exists $d CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ]} {
            set ::stub_fclk [dict get $d CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ]
        }
        return
    }
    lassign $args k v obj
    rec set_property $obj $k $v
}
proc list_property {obj} { return $::stub_properties }
proc get_property {name obj} {
    switch -glob -- $name {
        NAME { if {[string match *:* $obj]} { return [lindex [split $obj :] end] }
               return [file tail $obj] }
        PROGRESS { return 100% }
        STATUS { return $::stub_run_status }
        SLACK { return $::stub_slack }
        DIRECTORY { return $::stub_run_dir }
        CONFIG.PCW_ACT_FPGA0_PERIPHERAL_FREQMHZ {
            if {$::stub_act_fclk ne ""} { return $::stub_act_fclk }
            return $::stub_fclk
        }
        OFFSET { return [lindex [dict get $::stub_assign $obj] 1] }
        RANGE { return [expr {[lindex [dict get $::stub_assign $obj] 2] / 1024}]K }
        default { error "stub get_property: unexpected $name of $obj" }
    }
}
# --- ipx ---
proc ipx::package_project {args} { rec ipx::package_project {*}$args }
proc ipx::current_core {} { return core }
proc ipx::get_bus_interfaces {args} {
    flags args {-quiet}
    set of [opt args -of_objects]
    if {[llength $args] == 0} { return $::stub_inferred }
    return bif:[lindex $args 0]
}
proc ipx::remove_bus_interface {name core} {
    rec ipx::remove_bus_interface $name
    set ::stub_inferred [lsearch -all -inline -not -exact $::stub_inferred bif:$name]
}
proc ipx::add_bus_interface {name core} {
    rec ipx::add_bus_interface $name
    dict lappend ::stub_pins $::mnist::VLNV $name
    return bif:$name
}
proc ipx::get_ports {args} {
    flags args {-quiet}
    set of [opt args -of_objects]
    set p [lindex $args 0]
    if {$::stub_rtl_ports eq "*" || $p in $::stub_rtl_ports} { return port:$p }
    return ""
}
proc ipx::add_port_map {logical bif} {
    rec ipx::add_port_map $bif $logical
    return pm:$bif:$logical
}
proc ipx::add_bus_parameter {name bif} { return bp:$bif:$name }
proc ipx::associate_bus_interfaces {args} {
    set busif [opt args -busif]
    set clock [opt args -clock]
    set reset [opt args -reset]
    rec ipx::associate_bus_interfaces $busif $clock $reset
}
proc ipx::get_memory_maps {args} { return $::stub_inferred_mm }
proc ipx::remove_memory_map {name core} {
    rec ipx::remove_memory_map $name
    set ::stub_inferred_mm {}
}
proc ipx::add_memory_map {name core} { rec ipx::add_memory_map $name; return mm:$name }
proc ipx::add_address_block {name mm} {
    rec ipx::add_address_block $mm $name
    dict lappend ::stub_segs $::mnist::VLNV [string range $mm 3 end]/$name
    return ab:$name
}
proc ipx::add_register {name block} { rec ipx::add_register $block $name; return reg:$name }
proc ipx::add_field {name reg} { rec ipx::add_field $reg $name; return field:$reg/$name }
proc ipx::get_user_parameters {args} {
    flags args {-quiet}
    set of [opt args -of_objects]
    if {[lindex $args 0] eq "NUM_BANKS" && $::stub_has_num_banks} {
        return user_parameter:NUM_BANKS
    }
    return ""
}
proc ipx::get_hdl_parameters {args} { return hdl_parameter:[lindex $args 0] }
foreach c {create_xgui_files update_checksums check_integrity save_core} {
    proc ipx::$c {args} [list rec ipx::$c]
}
# --- block design ---
proc create_bd_design {name} { rec create_bd_design $name }
proc create_bd_cell {args} {
    set vlnv [opt args -vlnv]
    set type [opt args -type]
    set name [lindex $args 0]
    dict set ::stub_cells $name $vlnv
    rec create_bd_cell $name $vlnv
    return $name
}
proc check_pin {path} {
    lassign [split $path /] cell pin
    if {![dict exists $::stub_cells $cell]} { error "stub: no cell '$cell' for pin $path" }
    set vlnv [dict get $::stub_cells $cell]
    if {[dict exists $::stub_pins $vlnv] && $pin ni [dict get $::stub_pins $vlnv]} {
        error "stub: $vlnv has no pin '$pin' ($path)"
    }
    return $path
}
proc get_bd_pins {path} { return [check_pin $path] }
proc get_bd_intf_pins {path} { return [check_pin $path] }
proc get_bd_cells {path} { return $path }
proc apply_bd_automation {args} {
    set rule [opt args -rule]
    set config [opt args -config]
    foreach {k v} $config { rec apply_bd_automation $rule [lindex $args 0] $k $v }
}
proc connect_bd_intf_net {a b} { rec connect_bd_intf_net $a $b }
proc connect_bd_net {args} { rec connect_bd_net {*}$args }
proc get_bd_addr_spaces {path} { check_pin $path; return $path }
proc get_bd_addr_segs {args} {
    set of [opt args -of_objects]
    if {$of eq ""} {
        set path [lindex $args 0]
        set cell [lindex [split $path /] 0]
        if {![dict exists $::stub_cells $cell]} { error "stub: no cell '$cell'" }
        set vlnv [dict get $::stub_cells $cell]
        set seg [join [lrange [split $path /] 1 end] /]
        if {![dict exists $::stub_segs $vlnv] || $seg ni [dict get $::stub_segs $vlnv]} {
            error "stub: $vlnv has no address segment '$seg' ($path)"
        }
        return $path
    }
    if {[dict exists $::stub_assign $of]} { return /[lindex [dict get $::stub_assign $of] 0] }
    set out {}
    dict for {seg v} $::stub_assign { if {[string match $of/* $seg]} { lappend out $seg } }
    return $out
}
proc assign_bd_address {args} {
    set offset [opt args -offset]
    set range [opt args -range]
    set space [opt args -target_address_space]
    flags args {-force}
    set slave [lindex $args 0]
    lassign [split $slave /] cell intf block
    set seg $space/SEG_${cell}_$block
    dict set ::stub_assign $seg [list $slave [format 0x%08X $offset] [expr {$range}]]
    rec assign_bd_address $space $slave $offset $range
}
proc validate_bd_design {args} { rec validate_bd_design }
proc save_bd_design {args} { rec save_bd_design }
proc generate_target {args} { rec generate_target {*}$args }
proc make_wrapper {args} {
    rec make_wrapper {*}$args
    return $::stub_proj_dir/mnist.gen/sources_1/bd/mnist/hdl/mnist_wrapper.v
}
proc get_runs {name} { return $name }
proc launch_runs {args} { rec launch_runs {*}$args }
proc wait_on_run {args} { rec wait_on_run {*}$args }
proc open_run {args} { rec open_run {*}$args }
proc report_timing_summary {args} {
    set file [opt args -file]
    rec report_timing_summary $file
    set f [open $file w]
    puts $f $::stub_timing_summary
    close $f
}
proc report_utilization {args} { rec report_utilization }
proc get_timing_paths {args} { return $::stub_paths }
"""


# Vivado 2022.1's Tcl 8.5: the stub runs go without the commands 8.6 added.
TCL_8_5 = r"""
foreach cmd {lmap try throw tailcall coroutine yield} { rename $cmd {} }
foreach ensemble {string dict} sub {cat map} {
    set map [namespace ensemble configure $ensemble -map]
    dict unset map $sub
    namespace ensemble configure $ensemble -map $map
}
"""
# The register/field properties Vivado offers (ACCESS first, dropped by has_access=False).
REGISTER_PROPERTIES = ("ACCESS", "ADDRESS_OFFSET", "SIZE", "DESCRIPTION", "BIT_OFFSET", "BIT_WIDTH")
# The last lines of report_timing_summary's "Design Timing Summary", met and not met.
TIMING_MET = "Design Timing Summary\n\nAll user specified timing constraints are met."
TIMING_NOT_MET = "Design Timing Summary\n\nTiming constraints are not met."


@dataclass
class StubRun:
    """Outcome of mnist::main under the stubs."""

    returncode: int
    error: str
    calls: list[list[str]]
    stdout: str
    out_dir: Path
    tcl_error: str = ""

    def of(self, cmd: str) -> list[list[str]]:
        return [c[1:] for c in self.calls if c[0] == cmd]

    def props(self, obj: str) -> dict[str, str]:
        return {k: v for o, k, v in self.of("set_property") if o == obj}


def run_build(
    tmp_path: Path,
    args: dict[str, str] | None = None,
    *,
    version: str = "2024.1",
    board_parts: tuple[str, ...] = (),
    rtl_ports: str | list[str] = "*",
    has_num_banks: bool = True,
    has_access: bool = True,
    slack: str = "0.412",
    timing_met: bool = True,
    paths: str = "path",
    act_fclk: str = "",
    run_status: str = "write_bitstream Complete!",
    config: Path | None = None,
    patch: tuple[str, str, str] | None = None,
    fake_outputs: bool = True,
) -> StubRun:
    """Execute overlay/build.tcl's mnist::main in tclsh with recording stubs."""
    build = tmp_path / "build"
    out = tmp_path / "out"
    proj = build / "vivado"
    run_dir = proj / "mnist.runs" / "impl_1"
    if fake_outputs:
        hwh = proj / "mnist.gen" / "sources_1" / "bd" / "mnist" / "hw_handoff"
        hwh.mkdir(parents=True)
        (hwh / "mnist.hwh").write_text("<fake hwh/>")
        run_dir.mkdir(parents=True)
        (run_dir / "mnist_wrapper.bit").write_bytes(b"fake bit")
    argv = {"board": "pynq-z2", "build_dir": str(build), "out_dir": str(out)}
    argv.update(args or {})
    ports = rtl_ports if isinstance(rtl_ports, str) else " ".join(rtl_ports)
    pins = " ".join(f"{_brace(k)} {{{' '.join(sorted(v))}}}" for k, v in XILINX_PINS.items())
    segs = " ".join(f"{_brace(k)} {{{' '.join(sorted(v))}}}" for k, v in XILINX_SEGMENTS.items())
    overlay = tmp_path / "overlay"
    shutil.copytree(OVERLAY, overlay, ignore=shutil.ignore_patterns("build", "__pycache__"))
    if config is not None:
        shutil.copy(config, overlay / "config.tcl")
    if patch is not None:
        name, old, new = patch
        text = (overlay / name).read_text()
        assert old in text, f"{old!r} not in {name}"
        (overlay / name).write_text(text.replace(old, new))
    log = tmp_path / "calls.txt"
    tcl_argv = " ".join(f"{_brace(k)} {_brace(v)}" for k, v in argv.items())
    script = f"""
        set ::mnist_no_main 1
        set ::stub_version {_brace(version)}
        set ::stub_board_parts {{{" ".join(board_parts)}}}
        set ::stub_rtl_ports {{{ports}}}
        set ::stub_has_num_banks {int(has_num_banks)}
        set ::stub_slack {_brace(slack)}
        set ::stub_timing_summary {_brace(TIMING_MET if timing_met else TIMING_NOT_MET)}
        set ::stub_properties {{{" ".join(REGISTER_PROPERTIES[not has_access :])}}}
        set ::stub_paths {_brace(paths)}
        set ::stub_act_fclk {_brace(act_fclk)}
        set ::stub_run_status {_brace(run_status)}
        set ::stub_run_dir {_brace(run_dir)}
        set ::stub_proj_dir {_brace(proj)}
        set ::stub_inferred {{bif:S_AXI_CTRL bif:aclk}}
        set ::stub_inferred_mm {{mm:S_AXI_CTRL}}
        set ::stub_pins [dict create {pins}]
        set ::stub_segs [dict create {segs}]
        namespace eval ipx {{}}
        {TCL_8_5}
        {STUB_TCL}
        source {_brace(overlay / "build.tcl")}
        # build.tcl locates hw/rtl relative to itself; point it at the real tree.
        set mnist::REPO_ROOT {_brace(ROOT)}
        set rc [catch {{mnist::main [list {tcl_argv}]}} msg]
        set f [open {_brace(log)} w]
        fconfigure $f -encoding utf-8
        foreach c $::stub_log {{ puts -nonewline $f "[join $c \\x1f]\\x1e" }}
        close $f
        puts "STUB_RC=$rc"
        puts "STUB_MSG=[string map [list \\n {{ }}] $msg]"
    """
    result = _tclsh(script, cwd=tmp_path)
    rc_line = re.search(r"^STUB_RC=(\d+)$", result.stdout, re.M)
    msg_line = re.search(r"^STUB_MSG=(.*)$", result.stdout, re.M)
    text = log.read_text(encoding="utf-8") if log.exists() else ""
    calls = [entry.split("\x1f") for entry in text.split("\x1e") if entry]
    return StubRun(
        returncode=int(rc_line.group(1)) if rc_line else -1,
        error=msg_line.group(1) if msg_line else "",
        calls=calls,
        stdout=result.stdout,
        out_dir=out,
        tcl_error=result.stderr,
    )


@pytest.fixture(scope="module")
def z2_build(tmp_path_factory: pytest.TempPathFactory) -> StubRun:
    run = run_build(tmp_path_factory.mktemp("z2"))
    assert run.returncode == 0, run.error + run.tcl_error
    return run


def _hex(value: str) -> int:
    return int(value, 0)


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
    assert physical == {m[4] for m in _port_maps()}
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
    assert _hex(ab["BASE_ADDRESS"]) == 0
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
            "address_offset": _hex(p["ADDRESS_OFFSET"]),
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
    ports = [m[4] for m in _port_maps() if m[4] != "s_axis_tkeep"]
    run = run_build(tmp_path, {"step": "ip"}, rtl_ports=ports)
    assert run.returncode == 1
    assert "s_axis_tkeep" in run.error


def test_stub_build_dma_parameters(z2_build: StubRun) -> None:
    cells = dict((name, vlnv) for name, vlnv in z2_build.of("create_bd_cell"))
    assert cells[regmap.DMA_INSTANCE] == regmap.DMA_VLNV
    config = {
        k.removeprefix("CONFIG."): v
        for k, v in z2_build.props(regmap.DMA_INSTANCE).items()
        if k.startswith("CONFIG.")
    }
    assert config == regmap.DMA_PARAMETERS
    # c_include_sg=0 is set before (not after) the widths that depend on it.
    order = [k for o, k, _v in z2_build.of("set_property") if o == regmap.DMA_INSTANCE]
    assert order.index("CONFIG.c_include_sg") < order.index("CONFIG.c_sg_length_width")


@pytest.fixture(scope="module")
def virtual_device() -> Iterator[Any]:
    from pynq_mnist.sim.device import VirtualDevice

    dev = VirtualDevice(activate=False)
    try:
        yield dev
    finally:
        dev.close()


@pytest.mark.sim
def test_stub_build_matches_virtual_board(z2_build: StubRun, virtual_device: Any) -> None:
    ps_data = "processing_system7_0/Data"
    assigned = {
        slave: (_hex(offset), _hex(rng))
        for space, slave, offset, rng in z2_build.of("assign_bd_address")
        if space == ps_data
    }
    cells = dict((name, vlnv) for name, vlnv in z2_build.of("create_bd_cell"))
    for name, ctrl in (
        (regmap.ACCEL_INSTANCE, f"{regmap.ACCEL_CTRL_INTERFACE}/reg0"),
        (regmap.DMA_INSTANCE, "S_AXI_LITE/Reg"),
    ):
        desc = virtual_device.description(name)
        assert desc["type"] == cells[name]
        assert assigned[f"{name}/{ctrl}"] == (desc["phys_addr"], desc["addr_range"])
        # hwh MEMRANGE: SLAVEBUSINTERFACE and MEMTYPE (address block usage "register")
        assert desc["mem_id"] == ctrl.split("/")[0]
        assert desc["memtype"] == "REGISTER"
    dma = virtual_device.description(regmap.DMA_INSTANCE)
    config = {
        k.removeprefix("CONFIG."): v
        for k, v in z2_build.props(regmap.DMA_INSTANCE).items()
        if k.startswith("CONFIG.")
    }
    assert {k: dma["parameters"][k] for k in config} == config
    # The .hwh names the accelerator's parameter after the IP user parameter.
    accel = virtual_device.description(regmap.ACCEL_INSTANCE)
    assert accel["parameters"].get("NUM_BANKS") == str(virtual_device.num_banks), (
        f"virtual board parameters {accel['parameters']} lack NUM_BANKS, the name the "
        "packaged IP (and so the .hwh) uses and the driver reads"
    )


def test_stub_build_addresses(z2_build: StubRun) -> None:
    ps_data = "processing_system7_0/Data"
    assigned = {
        (space, slave): (_hex(offset), _hex(rng))
        for space, slave, offset, rng in z2_build.of("assign_bd_address")
    }
    assert assigned == {
        (ps_data, f"{regmap.ACCEL_INSTANCE}/{regmap.ACCEL_CTRL_INTERFACE}/reg0"): (
            regmap.ACCEL_BASE,
            regmap.ACCEL_RANGE,
        ),
        (ps_data, f"{regmap.DMA_INSTANCE}/S_AXI_LITE/Reg"): (regmap.DMA_BASE, regmap.DMA_RANGE),
        (f"{regmap.DMA_INSTANCE}/Data_MM2S", "processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM"): (
            0,
            512 << 20,
        ),
        (f"{regmap.DMA_INSTANCE}/Data_S2MM", "processing_system7_0/S_AXI_HP0/HP0_DDR_LOWOCM"): (
            0,
            512 << 20,
        ),
    }


def _nets(run: StubRun) -> list[set[str]]:
    return [set(c) for c in run.of("connect_bd_net")]


def test_stub_build_wiring(z2_build: StubRun) -> None:
    ps = "processing_system7_0"
    dma = regmap.DMA_INSTANCE
    acc = regmap.ACCEL_INSTANCE
    intf = {tuple(c) for c in z2_build.of("connect_bd_intf_net")}
    assert (f"{dma}/M_AXIS_MM2S", f"{acc}/s_axis") in intf
    assert (f"{acc}/m_axis", f"{dma}/S_AXIS_S2MM") in intf
    assert (f"{ps}/M_AXI_GP0", "ps7_axi_periph/S00_AXI") in intf
    assert ("axi_mem_smc/M00_AXI", f"{ps}/S_AXI_HP0") in intf
    ctrl = {b for a, b in intf if a.startswith("ps7_axi_periph/M")}
    assert ctrl == {f"{acc}/{regmap.ACCEL_CTRL_INTERFACE}", f"{dma}/S_AXI_LITE"}
    # One clock domain: every clock pin on FCLK_CLK0.
    (clock,) = [n for n in _nets(z2_build) if f"{ps}/FCLK_CLK0" in n]
    assert {
        f"{acc}/aclk",
        f"{dma}/s_axi_lite_aclk",
        f"{dma}/m_axi_mm2s_aclk",
        f"{dma}/m_axi_s2mm_aclk",
        f"{ps}/M_AXI_GP0_ACLK",
        f"{ps}/S_AXI_HP0_ACLK",
    } <= clock
    (reset,) = [n for n in _nets(z2_build) if "rst_ps7_fclk0/peripheral_aresetn" in n]
    assert {f"{acc}/aresetn", f"{dma}/axi_resetn"} <= reset
    # No interrupt is wired: pynq 3.x creates Interrupt objects only behind an axi_intc,
    # which the design does not have (overlay/README.md, "Interrupts").
    interrupt_pins = {f"{acc}/interrupt", f"{dma}/mm2s_introut", f"{dma}/s2mm_introut"}
    wired = set().union(*_nets(z2_build))
    assert not wired & (interrupt_pins | {f"{ps}/IRQ_F2P"})
    cells = dict((name, vlnv) for name, vlnv in z2_build.of("create_bd_cell"))
    assert set(cells) == {ps, "rst_ps7_fclk0", "ps7_axi_periph", "axi_mem_smc", dma, acc}
    assert all(v.split(":")[2] not in ("xlconcat", "axi_intc") for v in cells.values())


def test_stub_build_ps7(z2_build: StubRun) -> None:
    ps = z2_build.props("processing_system7_0")
    assert float(ps["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]) == regmap.FCLK_MHZ
    for key in ("PCW_USE_M_AXI_GP0", "PCW_USE_S_AXI_HP0", "PCW_FPGA_FCLK0_ENABLE"):
        assert ps[f"CONFIG.{key}"] == "1", key
    assert "CONFIG.PCW_USE_FABRIC_INTERRUPT" not in ps  # no IRQ_F2P port: nothing to wire
    # No board files given: fallback preset, board preset not applied.
    assert ps["CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ"] == "50"
    auto = {k: v for _rule, _cell, k, v in z2_build.of("apply_bd_automation")}
    assert auto["apply_board_preset"] == "0"
    assert "BOARD_PART" not in z2_build.props("project")
    assert z2_build.props("project")["IP_REPO_PATHS"].endswith("ip_repo")


def test_stub_build_with_board_files(tmp_path: Path) -> None:
    part = "tul.com.tw:pynq-z2:part0:1.0"
    run = run_build(tmp_path, board_parts=("www.digilentinc.com:pynq-z1:part0:1.0", part))
    assert run.returncode == 0, run.error
    assert run.props("project")["BOARD_PART"] == part
    auto = {k: v for _rule, _cell, k, v in run.of("apply_bd_automation")}
    assert auto["apply_board_preset"] == "1"
    assert "CONFIG.PCW_CRYSTAL_PERIPHERAL_FREQMHZ" not in run.props("processing_system7_0")
    # The FCLK/port overrides come after the preset, which would reset them.
    order = [c[0] for c in run.calls]
    last_auto = max(i for i, c in enumerate(order) if c == "apply_bd_automation")
    fclk = [
        i
        for i, c in enumerate(run.calls)
        if c[:3] == ["set_property", "processing_system7_0", "CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"]
    ]
    assert fclk and min(fclk) > last_auto


def test_stub_build_outputs_side_by_side(z2_build: StubRun) -> None:
    assert (z2_build.out_dir / "mnist.bit").read_bytes() == b"fake bit"
    assert (z2_build.out_dir / "mnist.hwh").read_text() == "<fake hwh/>"
    order = [c[0] for c in z2_build.calls]
    assert order.index("validate_bd_design") < order.index("generate_target")
    launches = z2_build.of("launch_runs")
    assert launches[-1][:3] == ["impl_1", "-to_step", "write_bitstream"]
    assert launches[-1][launches[-1].index("-jobs") + 1] == "2"


def test_stub_build_default_out_dir_is_what_the_driver_searches(tmp_path: Path) -> None:
    from pynq_mnist.board import detect

    result = _tclsh(
        f"""
        set ::mnist_no_main 1
        foreach cmd {{version get_board_parts}} {{ proc $cmd args {{}} }}
        source {_brace(OVERLAY / "build.tcl")}
        foreach b {{pynq-z1 pynq-z2}} {{
            puts [dict get [mnist::parse_args [list board $b]] out_dir]
        }}
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    z1, z2 = (Path(p) for p in result.stdout.split())
    # $BOARD on PYNQ images is Pynq-Z1 / Pynq-Z2; board/detect.py looks in OVERLAYS_DIR/$BOARD.
    assert z1 == detect.OVERLAYS_DIR / "Pynq-Z1"
    assert z2 == detect.OVERLAYS_DIR / "Pynq-Z2"
    assert detect.BITSTREAM_NAME == "mnist.bit"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ({"board": "zcu104"}, "board 'zcu104' is not supported"),
        ({"num_banks": "16"}, "num_banks '16' must be one of 32 64 128"),
        ({"fclk_mhz": "300"}, "fclk_mhz '300'"),
        ({"jobs": "0"}, "jobs '0'"),
        ({"step": "synth"}, "step 'synth'"),
        ({"colour": "red"}, "unknown argument 'colour'"),
    ],
)
def test_stub_build_rejects_bad_arguments(
    tmp_path: Path, args: dict[str, str], fragment: str
) -> None:
    run = run_build(tmp_path, args, fake_outputs=False)
    assert run.returncode == 1
    assert fragment in run.error
    assert not run.of("create_project")


@pytest.mark.parametrize(
    ("version", "allow", "ok"),
    [
        ("2024.1", "0", True),
        ("2024.1.2", "0", True),
        ("2022.1", "0", True),
        ("2023.2", "0", False),
        ("2023.2", "1", True),
    ],
)
def test_stub_build_vivado_version_check(
    tmp_path: Path, version: str, allow: str, ok: bool
) -> None:
    run = run_build(tmp_path, {"step": "ip", "allow_version_mismatch": allow}, version=version)
    assert (run.returncode == 0) == ok, run.error
    if not ok:
        assert "Vivado 2023.2 is not a supported version" in run.error
        assert not run.of("create_project"), "version is checked before any work"


def test_stub_build_options_reach_the_design(tmp_path: Path) -> None:
    run = run_build(
        tmp_path, {"board": "pynq-z1", "fclk_mhz": "125", "num_banks": "32", "jobs": "4"}
    )
    assert run.returncode == 0, run.error
    assert run.props("processing_system7_0")["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "125"
    assert (
        # as in PYNQ's own Pynq-Z1 designs
        run.props("processing_system7_0")["CONFIG.PCW_UIPARAM_DDR_PARTNO"] == "MT41J256M16 RE-125"
    )
    assert run.props(regmap.ACCEL_INSTANCE)["CONFIG.NUM_BANKS"] == "32"
    assert all(c[c.index("-jobs") + 1] == "4" for c in run.of("launch_runs"))


def test_stub_build_steps(tmp_path: Path) -> None:
    ip = run_build(tmp_path / "ip", {"step": "ip"})
    assert ip.returncode == 0, ip.error
    assert ip.of("ipx::save_core") and not ip.of("create_bd_design")
    bd = run_build(tmp_path / "bd", {"step": "bd"})
    assert bd.returncode == 0, bd.error
    assert bd.of("validate_bd_design") and not bd.of("launch_runs")
    assert (tmp_path / "bd" / "build" / "mnist.hwh").read_text() == "<fake hwh/>"
    assert not bd.out_dir.exists(), "bd step must not touch the .bit/.hwh pair in out_dir"


def test_stub_runs_have_only_tcl_8_5(tmp_path: Path) -> None:
    lmap = "{*}[lmap p $clock_pins {get_bd_pins $p}]"
    run = run_build(tmp_path, {"step": "bd"}, patch=("bd.tcl", "{*}[bd_pins $clock_pins]", lmap))
    assert run.returncode == 1
    assert 'invalid command name "lmap"' in run.error


def test_stub_build_timing_gate_passes(z2_build: StubRun) -> None:
    (report,) = z2_build.of("report_timing_summary")
    assert Path(report[0]).read_text().strip() == TIMING_MET
    assert "worst setup slack 0.412 ns, worst hold slack 0.412 ns" in z2_build.stdout
    order = [c[0] for c in z2_build.calls]
    assert order.index("report_timing_summary") > order.index("open_run")


def test_stub_build_fails_on_timing_violation(tmp_path: Path) -> None:
    run = run_build(tmp_path / "fail", slack="-0.250", timing_met=False)
    assert run.returncode == 1
    assert "timing not met" in run.error and "WNS -0.250 ns" in run.error
    assert not (run.out_dir / "mnist.bit").exists()
    allowed = run_build(
        tmp_path / "allow", {"allow_timing_failure": "1"}, slack="-0.250", timing_met=False
    )
    assert allowed.returncode == 0, allowed.error
    assert "CRITICAL_WARNING" in allowed.stdout
    assert (allowed.out_dir / "mnist.bit").exists()


def test_stub_build_fails_on_any_unmet_constraint(tmp_path: Path) -> None:
    """Positive WNS/WHS, but the summary says not met (a pulse-width violation, say)."""
    run = run_build(tmp_path, slack="0.412", timing_met=False)
    assert run.returncode == 1
    assert "lacks 'All user specified timing constraints are met.'" in run.error
    assert not (run.out_dir / "mnist.bit").exists()


@pytest.mark.parametrize("allow", ["0", "1"])
def test_stub_build_fails_without_timing_paths(tmp_path: Path, allow: str) -> None:
    run = run_build(tmp_path, {"allow_timing_failure": allow}, paths="")
    assert run.returncode == 1
    assert "no timing paths" in run.error
    assert not (run.out_dir / "mnist.bit").exists()


def test_stub_build_fails_without_register_access(tmp_path: Path) -> None:
    run = run_build(tmp_path, {"step": "ip"}, has_access=False)
    assert run.returncode == 1
    assert "no ACCESS property" in run.error and "pynq" in run.error
    assert not run.of("ipx::save_core")


def _board_part_lines(run: StubRun) -> list[str]:
    return re.findall(r"^INFO: \[mnist\] board part used: .*$", run.stdout, re.M)


def test_stub_build_logs_the_board_part_used(tmp_path: Path, z2_build: StubRun) -> None:
    assert _board_part_lines(z2_build) == [
        "INFO: [mnist] board part used: none (part xc7z020clg400-1, PS7 fallback preset)"
    ]
    part = "tul.com.tw:pynq-z2:part0:1.0"
    run = run_build(tmp_path, {"step": "bd"}, board_parts=(part,))
    assert run.returncode == 0, run.error
    assert _board_part_lines(run) == [
        f"INFO: [mnist] board part used: {part} (PS7 from the board preset)"
    ]


def test_stub_build_require_board_files(tmp_path: Path) -> None:
    run = run_build(tmp_path / "missing", {"require_board_files": "1"})
    assert run.returncode == 1
    assert "no board files for pynq-z2 (tul.com.tw:pynq-z2:part0:*)" in run.error
    assert "REQUIRE_BOARD_FILES" in run.error
    assert not run.of("ipx::package_project"), "checked before any work"
    part = "tul.com.tw:pynq-z2:part0:1.0"
    found = run_build(tmp_path / "found", {"require_board_files": "1"}, board_parts=(part,))
    assert found.returncode == 0, found.error
    assert found.props("project")["BOARD_PART"] == part


def test_stub_build_board_repo(tmp_path: Path) -> None:
    repo = tmp_path / "board_files"
    repo.mkdir()
    run = run_build(tmp_path / "run", {"board_repo": str(repo), "step": "bd"})
    assert run.returncode == 0, run.error
    assert run.of("set_param") == [["board.repoPaths", str(repo)]]
    order = [c[0] for c in run.calls]
    assert order.index("set_param") < order.index("get_board_parts")
    # The fallback warning names the repository that was searched.
    assert f"board.repoPaths: '{repo}'" in run.stdout
    assert not run_build(tmp_path / "default").of("set_param")
    bad = run_build(tmp_path / "bad", {"board_repo": str(tmp_path / "nowhere")})
    assert bad.returncode == 1
    assert "is not a directory" in bad.error


def test_makefile_passes_board_options() -> None:
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    dry_run = [make, "-n", "-C", str(OVERLAY), "bitstream", "PYTHON=true"]
    result = subprocess.run(
        [*dry_run, "BOARD_REPO=boards", "REQUIRE_BOARD_FILES=1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"board_repo {OVERLAY / 'boards'} " in result.stdout + " "
    assert "require_board_files 1" in result.stdout
    default = subprocess.run(dry_run, capture_output=True, text=True, timeout=60)
    assert "board_repo" not in default.stdout and "require_board_files 0" in default.stdout


def test_stub_build_fails_on_failed_run(tmp_path: Path) -> None:
    run = run_build(tmp_path, run_status="synth_design ERROR")
    assert run.returncode == 1
    assert "did not complete" in run.error


def test_stub_build_warns_on_fclk_rounding(tmp_path: Path) -> None:
    run = run_build(tmp_path, {"fclk_mhz": "150"}, act_fclk="142.857132")
    assert run.returncode == 0, run.error
    assert "FCLK_CLK0 requested 150 MHz" in run.stdout


def test_stub_checks_can_fail(tmp_path: Path) -> None:
    """A config.tcl that drifts from regmap yields a design the checks reject."""
    drifted = tmp_path / "config.tcl"
    drifted.write_text(
        gen_config.render()
        .replace(f"0x{regmap.DMA_BASE:08X}", "0x40410000")
        .replace("c_sg_length_width 26", "c_sg_length_width 23")
    )
    run = run_build(tmp_path / "run", config=drifted)
    assert run.returncode == 0, run.error
    with pytest.raises(AssertionError):
        test_stub_build_addresses(run)
    with pytest.raises(AssertionError):
        test_stub_build_dma_parameters(run)
    # A misspelt Xilinx pin is caught by the stub pin catalog.
    typo = run_build(tmp_path / "typo", patch=("bd.tcl", "m_axi_s2mm_aclk", "m_axi_s2m_aclk"))
    assert typo.returncode == 1
    assert "has no pin 'm_axi_s2m_aclk'" in typo.error


def _kib(n: int) -> str:
    return f"{n // 1024} KiB"


def _grouped_hex(n: int) -> str:
    return f"0x{n >> 16:04X}_{n & 0xFFFF:04X}"


def test_readme_address_map_matches_regmap() -> None:
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(
            r"^\| `(\w+)` \| [^|]+\| [^|]+\| `(0x[0-9A-F_]+)` \| ([^|]+?) \|",
            (OVERLAY / "README.md").read_text(),
            re.M,
        )
    }
    assert rows[regmap.ACCEL_INSTANCE] == (
        _grouped_hex(regmap.ACCEL_BASE),
        _kib(regmap.ACCEL_RANGE),
    )
    assert rows[regmap.DMA_INSTANCE] == (_grouped_hex(regmap.DMA_BASE), _kib(regmap.DMA_RANGE))


def test_make_fclk_mhz_reaches_the_ps7_clock(tmp_path: Path) -> None:
    """`make -C overlay FCLK_MHZ=150` hands fclk_mhz 150 to build.tcl, which sets FCLK0."""
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    dry = subprocess.run(
        [make, "-s", "-n", "-C", str(OVERLAY), "FCLK_MHZ=150", "bitstream", "VIVADO=vivado"],
        capture_output=True,
        text=True,
        check=True,
    )
    (command,) = [line for line in dry.stdout.splitlines() if "-tclargs" in line]
    tclargs = command.split("-tclargs", 1)[1].split()
    args = dict(zip(tclargs[::2], tclargs[1::2], strict=True))
    assert args["fclk_mhz"] == "150"
    args.pop("build_dir")  # run_build puts the build under tmp_path
    run = run_build(tmp_path, args, act_fclk="150")
    assert run.returncode == 0, run.error
    assert run.props("processing_system7_0")["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "150"
