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
        foreach b {{pynq-z1 pynq-z2 kv260 zcu104 ultra96v2}} {{
            puts [dict get [mnist::parse_args [list board $b]] out_dir]
        }}
        """,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # $BOARD on the PYNQ images; board/detect.py looks in OVERLAYS_DIR/$BOARD.
    names = ("Pynq-Z1", "Pynq-Z2", "KV260", "ZCU104", "Ultra96V2")
    assert [Path(p) for p in result.stdout.split()] == [detect.OVERLAYS_DIR / n for n in names]
    assert detect.BITSTREAM_NAME == "mnist.bit"


BAD_ARGUMENTS = [
    (
        {"board": "zc104"},
        "board 'zc104' is not supported (pynq-z1 | pynq-z2 | kv260 | zcu104 | ultra96v2)",
    ),
    ({"num_banks": "16"}, "num_banks '16' must be one of 32 64 128"),
    ({"fclk_mhz": "300"}, "fclk_mhz '300' must be a number in (0, 250] (Zynq-7000)"),
    (
        {"board": "kv260", "fclk_mhz": "400"},
        "fclk_mhz '400' must be a number in (0, 333] (Zynq UltraScale+)",
    ),
    (
        {"fclk_mhz": "150"},
        "fclk_mhz '150': PL clock 150 MHz is not the IO PLL (1000 MHz) divided by two "
        "6-bit divisors",
    ),
    (
        {"board": "zcu104", "fclk_mhz": "149"},
        "fclk_mhz '149': PL clock 149 MHz is not the IOPLL (1499.985 MHz) divided by two "
        "6-bit divisors",
    ),
    ({"hp_width": "128"}, "hp_width '128' must be one of 32 64 (Zynq-7000)"),
    ({"board": "ultra96v2", "hp_width": "256"}, "hp_width '256' must be one of 32 64 128"),
    ({"jobs": "0"}, "jobs '0'"),
    ({"step": "synth"}, "step 'synth'"),
    ({"colour": "red"}, "unknown argument 'colour'"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_ARGUMENTS)
def test_stub_build_rejects_bad_arguments(
    tmp_path: Path, args: dict[str, str], fragment: str
) -> None:
    run = run_build(tmp_path, args, fake_outputs=False)
    assert run.returncode == 1
    assert fragment in run.error
    assert "\n" not in run.error.strip()
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
        "INFO: [mnist] board part used: none (part xc7z020clg400-1, "
        "processing_system7 fallback preset)"
    ]
    part = "tul.com.tw:pynq-z2:part0:1.0"
    run = run_build(tmp_path, {"step": "bd"}, board_parts=(part,))
    assert run.returncode == 0, run.error
    assert _board_part_lines(run) == [
        f"INFO: [mnist] board part used: {part} (processing_system7 from the board preset)"
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
    run = run_build(tmp_path, {"fclk_mhz": "125"}, act_fclk="124.0")
    assert run.returncode == 0, run.error
    assert (
        "CRITICAL_WARNING: [mnist] PL clock requested 125 MHz (IO PLL / 4 / 2 = 125.000000 MHz), "
        "processing_system7 gives 124.0 MHz"
    ) in run.stdout
    exact = run_build(tmp_path / "exact", {"fclk_mhz": "125"}, act_fclk="125.000000")
    assert "CRITICAL_WARNING" not in exact.stdout


def _make_tclargs(*variables: str) -> dict[str, str]:
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    dry = subprocess.run(
        [make, "-s", "-n", "-C", str(OVERLAY), *variables, "bitstream", "VIVADO=vivado"],
        capture_output=True,
        text=True,
        check=True,
    )
    (command,) = [line for line in dry.stdout.splitlines() if "-tclargs" in line]
    tclargs = command.split("-tclargs", 1)[1].split()
    return dict(zip(tclargs[::2], tclargs[1::2], strict=True))


def test_make_fclk_mhz_reaches_the_ps7_clock(tmp_path: Path) -> None:
    """`make -C overlay FCLK_MHZ=125` hands fclk_mhz 125 to build.tcl, which sets FCLK0."""
    args = _make_tclargs("FCLK_MHZ=125")
    assert args["fclk_mhz"] == "125"
    args.pop("build_dir")  # run_build puts the build under tmp_path
    run = run_build(tmp_path, args, act_fclk="125")
    assert run.returncode == 0, run.error
    assert run.props("processing_system7_0")["CONFIG.PCW_FPGA0_PERIPHERAL_FREQMHZ"] == "125"


def test_make_zynqmp_options_reach_the_ps(tmp_path: Path) -> None:
    """BOARD, FCLK_MHZ and HP_WIDTH of make reach zynq_ultra_ps_e's configuration."""
    args = _make_tclargs("BOARD=zcu104", "FCLK_MHZ=187.5", "HP_WIDTH=64")
    assert (args["board"], args["fclk_mhz"], args["hp_width"]) == ("zcu104", "187.5", "64")
    args.pop("build_dir")
    run = run_build(tmp_path, args)
    assert run.returncode == 0, run.error
    ps = run.props("zynq_ultra_ps_e_0")
    assert ps["CONFIG.PSU__CRL_APB__PL0_REF_CTRL__FREQMHZ"] == "187.5"
    assert ps["CONFIG.PSU__SAXIGP2__DATA_WIDTH"] == "64"
    # 1499.985 MHz / 8 = 187.498125 MHz
    assert "PL clock: IOPLL (1499.985 MHz) / 8 / 1 = 187.498125 MHz" in run.stdout


def test_makefile_rejects_an_unknown_board() -> None:
    make = shutil.which("make")
    assert make is not None, "make is not installed"
    result = subprocess.run(
        [make, "-n", "-C", str(OVERLAY), "BOARD=zc104"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert (
        "BOARD=zc104 is not supported; use one of: pynq-z1 pynq-z2 kv260 zcu104 ultra96v2"
        in result.stderr
    )
