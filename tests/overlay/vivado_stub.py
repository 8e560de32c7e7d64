"""Vivado stubbed in tclsh: run overlay/build.tcl's ``mnist::main`` against Tcl procs that
record every Vivado call (``vivado_stub.tcl``) and know the pins of the Xilinx IP it wires."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tcl_tools import OVERLAY, ROOT, brace, tclsh

# Interface/pin/address-space names of the Xilinx IP the block design wires,
# per the product guides (PG021 AXI DMA simple mode, PG082 processing_system7,
# PG164 proc_sys_reset, PG059 axi_interconnect, PG247 smartconnect, PG201
# zynq_ultra_ps_e); xlconcat InN/dout. The accelerator's come from the stubbed
# packaging itself.
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
    "xilinx.com:ip:zynq_ultra_ps_e:3.5": {
        "M_AXI_HPM0_FPD",
        "M_AXI_HPM1_FPD",
        "M_AXI_HPM0_LPD",
        "S_AXI_HP0_FPD",
        "S_AXI_HP1_FPD",
        "maxihpm0_fpd_aclk",
        "maxihpm1_fpd_aclk",
        "maxihpm0_lpd_aclk",
        "saxihp0_fpd_aclk",
        "saxihp1_fpd_aclk",
        "pl_clk0",
        "pl_clk1",
        "pl_resetn0",
        "pl_ps_irq0",
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
    "xilinx.com:ip:zynq_ultra_ps_e:3.5": {
        "SAXIGP2/HP0_DDR_LOW",
        "SAXIGP2/HP0_DDR_HIGH",
        "SAXIGP2/HP0_LPS_OCM",
        "SAXIGP2/HP0_QSPI",
    },
    "xilinx.com:ip:axi_dma:7.1": {"S_AXI_LITE/Reg"},
}

# make -C overlay BOARD=...: the five boards, written out.
BOARD_KEYS = ("pynq-z1", "pynq-z2", "kv260", "zcu104", "ultra96v2")

STUB_TCL = (Path(__file__).with_name("vivado_stub.tcl")).read_text()


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
    missing_segments: tuple[str, ...] = (),
    missing_ipdefs: tuple[str, ...] = (),
    other_ipdefs: tuple[str, ...] = (),
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
    pins = " ".join(f"{brace(k)} {{{' '.join(sorted(v))}}}" for k, v in XILINX_PINS.items())
    segments = {k: sorted(v - set(missing_segments)) for k, v in XILINX_SEGMENTS.items()}
    segs = " ".join(f"{brace(k)} {{{' '.join(v)}}}" for k, v in segments.items())
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
    tcl_argv = " ".join(f"{brace(k)} {brace(v)}" for k, v in argv.items())
    script = f"""
        set ::mnist_no_main 1
        set ::stub_version {brace(version)}
        set ::stub_board_parts {{{" ".join(board_parts)}}}
        set ::stub_rtl_ports {{{ports}}}
        set ::stub_has_num_banks {int(has_num_banks)}
        set ::stub_slack {brace(slack)}
        set ::stub_timing_summary {brace(TIMING_MET if timing_met else TIMING_NOT_MET)}
        set ::stub_properties {{{" ".join(REGISTER_PROPERTIES[not has_access :])}}}
        set ::stub_paths {brace(paths)}
        set ::stub_act_fclk {brace(act_fclk)}
        set ::stub_run_status {brace(run_status)}
        set ::stub_run_dir {brace(run_dir)}
        set ::stub_proj_dir {brace(proj)}
        set ::stub_inferred {{bif:S_AXI_CTRL bif:aclk}}
        set ::stub_inferred_mm {{mm:S_AXI_CTRL}}
        set ::stub_pins [dict create {pins}]
        set ::stub_segs [dict create {segs}]
        set ::stub_missing_ipdefs {{{" ".join(missing_ipdefs)}}}
        set ::stub_other_ipdefs {{{" ".join(other_ipdefs)}}}
        namespace eval ipx {{}}
        {TCL_8_5}
        {STUB_TCL}
        source {brace(overlay / "build.tcl")}
        # build.tcl locates hw/rtl relative to itself; point it at the real tree.
        set mnist::REPO_ROOT {brace(ROOT)}
        set rc [catch {{mnist::main [list {tcl_argv}]}} msg]
        set f [open {brace(log)} w]
        fconfigure $f -encoding utf-8
        foreach c $::stub_log {{ puts -nonewline $f "[join $c \\x1f]\\x1e" }}
        close $f
        puts "STUB_RC=$rc"
        puts "STUB_MSG=[string map [list \\n {{ }}] $msg]"
    """
    result = tclsh(script, cwd=tmp_path)
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


def hex_int(value: str) -> int:
    """An address or range as Vivado prints it (0x... or decimal)."""
    return int(value, 0)
