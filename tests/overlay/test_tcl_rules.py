"""Every Tcl file in overlay/ is complete, and runs on Tcl 8.5 (Vivado 2022.1)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tcl85 import TclSyntaxError, tcl86_uses
from tcl_tools import OVERLAY, TCLSH, brace, tclsh
from vivado_stub import run_build

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
    result = tclsh(
        f"""
        set ::mnist_no_main 1
        foreach cmd {{version get_board_parts}} {{ proc $cmd args {{}} }}
        namespace eval mnist {{}}
        if {{[file tail {brace(path)}] ne "config.tcl"}} {{
            source {brace(OVERLAY / "config.tcl")}
        }}
        source {brace(path)}
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


@pytest.mark.parametrize("path", _tcl_files(), ids=lambda p: p.name)
def test_tcl_runs_on_tcl_8_5(path: Path) -> None:
    assert tcl86_uses(path.read_text()) == [], f"{path.name} needs Tcl 8.6 (Vivado 2022.1: 8.5)"


def test_tcl_8_5_check_can_fail() -> None:
    assert tcl86_uses("connect_bd_net $a {*}[lmap p $pins {get_bd_pins $p}]") == ["lmap"]
    assert tcl86_uses("proc f {} {\n  if {1} { try { g } on error m { h } }\n}") == ["try"]
    assert tcl86_uses('puts "[string cat a b]"') == ["string cat"]
    assert tcl86_uses("namespace eval n { proc g {} { tailcall h } }") == ["tailcall"]
    assert tcl86_uses("set x [lpop stack]; dict map {k v} $d {set v}") == ["lpop", "dict map"]
    # Words in comments and strings are not commands.
    assert tcl86_uses('# try lmap\nerror "re-run to try anyway"; puts lmap') == []
    with pytest.raises(TclSyntaxError):
        tcl86_uses("puts [lmap x {1 2} {set x}")


def test_stub_runs_have_only_tcl_8_5(tmp_path: Path) -> None:
    lmap = "{*}[lmap p $clock_pins {get_bd_pins $p}]"
    run = run_build(tmp_path, {"step": "bd"}, patch=("bd.tcl", "{*}[bd_pins $clock_pins]", lmap))
    assert run.returncode == 1
    assert 'invalid command name "lmap"' in run.error
