"""Run overlay/ Tcl in tclsh: paths, quoting, and the packaging port maps of package_ip.tcl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "overlay"
RTL = ROOT / "hw" / "rtl"
TCLSH = shutil.which("tclsh")
YOSYS = shutil.which("yosys")


def tclsh(script: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in tclsh and return the finished process."""
    assert TCLSH is not None, "tclsh is not installed (apt-get install tcl)"
    return subprocess.run(
        [TCLSH], input=script, capture_output=True, text=True, cwd=cwd, timeout=60
    )


def brace(value: object) -> str:
    """Quote ``value`` as one braced Tcl word (no braces or backslashes inside)."""
    text = str(value)
    assert "{" not in text and "}" not in text and "\\" not in text, text
    return "{" + text + "}"


def port_maps() -> list[tuple[str, str, str, str, str]]:
    """(interface, mode, bus vlnv, logical, physical) from package_ip.tcl via tclsh."""
    result = tclsh(
        f"""
        source {brace(OVERLAY / "config.tcl")}
        source {brace(OVERLAY / "package_ip.tcl")}
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
