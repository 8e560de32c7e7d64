"""150 MHz structure of the datapath, checked on the Yosys netlist (no Vivado here).

`hw/scripts/timing_check.py` synthesizes mnist_top at NUM_BANKS=64 with `synth_xilinx`
(the same script as `make -C hw synth`) and checks the whole design: registered DSP48E1
inputs, MREG/PREG, registered OPMODE/CE, no block RAM output straight into a multiplier,
no net over 64 loads in any module (the batch start, abort and the stream ends'
enables are replicated; aresetn, a top-level input, is listed but not counted), and a
logic depth that agrees with Yosys `ltp`. A
deliberately bad design shows that each check can fail.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(__file__).resolve().parent / "build" / "timing"
NUM_BANKS = 64
MODULES = (
    "mnist_top",
    "ctrl_inst",
    "stream_in_inst",
    "layer1_inst",
    "layer2_inst",
    "result_out_inst",
)
# longest combinational chain ending in each block and overall (hw/README.md,
# "Timing (150 MHz)")
DEPTH_LIMIT = {"layer1_inst": 6, "layer2_inst": 8}
DEPTH_WHOLE_DESIGN = 10

_spec = importlib.util.spec_from_file_location(
    "timing_check", ROOT / "hw" / "scripts" / "timing_check.py"
)
assert _spec is not None and _spec.loader is not None
timing_check = importlib.util.module_from_spec(_spec)
sys.modules["timing_check"] = timing_check  # dataclasses look their module up
_spec.loader.exec_module(timing_check)


def _require_yosys() -> None:
    assert shutil.which("yosys"), "yosys is not installed (apt-get install yosys)"


@pytest.fixture(scope="module")
def report() -> dict:
    """Checker report of mnist_top at NUM_BANKS=64, printed for the log."""
    _require_yosys()
    netlist, ltp = timing_check.synthesize(NUM_BANKS, BUILD / f"nb{NUM_BANKS}")
    result = timing_check.analyze(netlist, ltp)
    print(timing_check.format_report(result))
    return result


def test_datapath_has_no_violation(report: dict) -> None:
    assert report["problems"] == []


def test_every_dsp_is_checked(report: dict) -> None:
    # NUM_BANKS lanes + 4 layer-2 multipliers: the register rules saw all of them
    assert report["cells"]["DSP48E1"] == NUM_BANKS + 4
    assert report["dsp"] == []
    assert report["bram_to_multiplier"] == []


def test_fanout_within_limit(report: dict) -> None:
    assert report["modules"] == "all"
    assert sorted(report["max_fanout"]) == sorted(MODULES)
    for module in MODULES:
        assert report["max_fanout"][module] <= timing_check.FANOUT_LIMIT
    assert report["fanout_over_limit"] == []
    # only aresetn, whose driver is outside the IP, may exceed it uncounted
    assert [n["driver"] for n in report["inputs"]] in ([], ["IBUF"])


def test_logic_depth(report: dict) -> None:
    assert report["ltp"] == report["depth"]
    assert report["depth"] <= DEPTH_WHOLE_DESIGN
    for module, limit in DEPTH_LIMIT.items():
        assert report["depth_per_module"][module] <= limit


def test_checker_flags_a_bad_design(tmp_path: Path) -> None:
    """BRAM -> multiplier, gated OPMODE and a 101-load clock enable are all reported."""
    _require_yosys()
    source = Path(__file__).resolve().parent / "timing_bad.v"
    script = tmp_path / "bad.ys"
    script.write_text(
        f"read_verilog {source}\n"
        "synth_xilinx -family xc7 -top timing_bad -flatten\n"
        f"write_json {tmp_path}/netlist.json\n"
        "select -set sequential t:FD* t:SRL* t:RAMB* t:DSP48E1\n"
        f"tee -q -o {tmp_path}/ltp.txt ltp -noff @sequential %n\n"
    )
    subprocess.run(
        ["yosys", "-q", "-s", str(script)], check=True, capture_output=True, cwd=tmp_path
    )
    bad = timing_check.analyze(tmp_path / "netlist.json", tmp_path / "ltp.txt")
    assert any("multiplier input" in p for p in bad["dsp"])
    assert any("OPMODE not registered" in p for p in bad["dsp"])
    assert len(bad["bram_to_multiplier"]) == 1
    assert [(n["name"], n["loads"]) for n in bad["fanout_over_limit"]] == [("both", 101)]
    assert bad["ltp"] == bad["depth"]
    assert timing_check.main([str(tmp_path / "netlist.json")]) == 1
