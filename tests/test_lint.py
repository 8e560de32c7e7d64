"""The tree stays lint-clean: ruff on Python, Verilator -Wall and Icarus on the RTL."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff(command: list[str]) -> None:
    done = _run([sys.executable, "-m", "ruff", *command, "."])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.sim
def test_rtl_lint() -> None:
    assert shutil.which("make"), "make is not installed (scripts/setup-dev.sh installs it)"
    done = _run(["make", "-C", "hw", "lint"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "%Warning" not in done.stdout + done.stderr
