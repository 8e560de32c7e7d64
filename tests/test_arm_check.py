"""scripts/arm-check.sh refuses bad arguments with one line before it touches anything."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "arm-check.sh"
USAGE = "usage: arm-check.sh --arch armhf|arm64"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), f"arm-check: --arch is required; {USAGE}"),
        (("--arch",), "arm-check: --arch needs a value (armhf or arm64)"),
        (("--arch", "sparc"), "arm-check: unknown architecture 'sparc' (armhf or arm64)"),
        (("--arch=i386",), "arm-check: unknown architecture 'i386' (armhf or arm64)"),
        (("--arch", "arm64", "--fast"), f"arm-check: unknown argument '--fast'; {USAGE}"),
    ],
    ids=["no-arch", "no-value", "unknown-arch", "unknown-arch-equals", "unknown-argument"],
)
def test_bad_arguments_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    done = _run(*args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


def test_help_prints_usage() -> None:
    done = _run("--help")
    assert (done.returncode, done.stdout, done.stderr) == (0, USAGE + "\n", "")
