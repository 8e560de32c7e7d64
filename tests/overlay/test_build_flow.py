"""overlay/build.tcl's flow under the stubs and overlay/Makefile: arguments, version and
board-file checks, steps, the timing gate, and where the .bit/.hwh pair lands."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tcl_tools import OVERLAY, brace, tclsh
from vivado_stub import TIMING_MET, StubRun, run_build

from pynq_mnist.hardware import regmap


def test_stub_build_default_out_dir_is_what_the_driver_searches(tmp_path: Path) -> None:
    from pynq_mnist.board import detect

    result = tclsh(
        f"""
        set ::mnist_no_main 1
        foreach cmd {{version get_board_parts}} {{ proc $cmd args {{}} }}
        source {brace(OVERLAY / "build.tcl")}
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
