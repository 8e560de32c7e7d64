"""scripts/arm-check.sh refuses bad arguments with one line before it touches anything."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "arm-check.sh"
USAGE = "usage: arm-check.sh --arch armhf|arm64"


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A root and a data directory of its own, without MNIST: should the parser let a bad
    # argument through, the script stops at the data check instead of recopying a real root.
    env = {**os.environ, "ARM_ROOT": str(tmp_path / "root"), "PYNQ_MNIST_DATA": str(tmp_path)}
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=env,
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
def test_bad_arguments_exit_2_with_one_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    done = _run(tmp_path, *args)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message + "\n")


def test_help_prints_usage(tmp_path: Path) -> None:
    done = _run(tmp_path, "--help")
    assert (done.returncode, done.stdout, done.stderr) == (0, USAGE + "\n", "")
