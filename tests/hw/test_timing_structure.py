"""Timing structure of the datapath per FPGA family, checked on the Yosys netlist (no Vivado).

`hw/scripts/timing_check.py` synthesizes mnist_top at NUM_BANKS=64 with `synth_xilinx
-family xc7` and `-family xcup` (the same script as `make -C hw synth`) and checks the
whole design: registered DSP inputs, MREG/PREG (on xcup, where Yosys 0.23 leaves the
DSP48E2 a bare multiplier, as flip-flops right at its pins), registered OPMODE/CE, no
block RAM output straight into a multiplier, no net over 64 loads in any module
(aresetn, a top-level input, is listed but not counted), a logic depth that agrees
with Yosys `ltp` and fits the family's board clock (hw/scripts/fpga_families.py).
Deliberately bad designs show that each check can fail on both families.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BUILD = HERE / "build" / "timing"
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
# "Timing"); on xcup layer 1's 26-bit accumulators are fabric carry chains
DEPTH_LIMIT = {
    "xc7": {"*": 10, "layer1_inst": 6, "layer2_inst": 8},
    "xcup": {"*": 11, "layer1_inst": 9, "layer2_inst": 9},
}
# register-file write decode nets the xcup mapping spreads over MUXF7 selects
# (hw/README.md, "Timing"): open, reported by `make timing`; (name or module, loads)
XCUP_FANOUT_OPEN = [("ctrl_inst", 143), ("ctrl_inst.wr_fire", 133), ("ctrl_inst", 80)]
XCUP_FANOUT_OPEN += [("ctrl_inst", 67), ("ctrl_inst", 67)]

_spec = importlib.util.spec_from_file_location(
    "timing_check", ROOT / "hw" / "scripts" / "timing_check.py"
)
assert _spec is not None and _spec.loader is not None
timing_check = importlib.util.module_from_spec(_spec)
sys.modules["timing_check"] = timing_check  # dataclasses look their module up
_spec.loader.exec_module(timing_check)
FAMILIES = timing_check.FAMILIES


def _require_yosys() -> None:
    assert shutil.which("yosys"), "yosys is not installed (apt-get install yosys)"


@pytest.fixture(scope="module", params=["xc7", "xcup"])
def report(request: pytest.FixtureRequest) -> dict:
    """Checker report of mnist_top at NUM_BANKS=64 for one family, printed for the log."""
    _require_yosys()
    family = request.param
    netlist, ltp = timing_check.synthesize(NUM_BANKS, BUILD / family, family)
    result = timing_check.analyze(netlist, ltp)
    result["netlist_data"] = timing_check.Netlist.load(netlist)
    print(timing_check.format_report(result))
    return result


def test_family_and_clock_of_the_netlist(report: dict) -> None:
    # inferred from the primitives; the clock is the family's board clock (boards.py)
    expected = {"xc7": (100, 16), "xcup": (150, 12)}[report["family"]]
    assert (report["clock_mhz"], report["max_levels"]) == expected


def test_datapath_has_no_violation(report: dict) -> None:
    if report["family"] == "xc7":
        assert report["problems"] == []
    else:
        assert report["dsp"] == [] and report["bram_to_multiplier"] == []
        assert len(report["problems"]) == len(XCUP_FANOUT_OPEN)


def test_every_dsp_is_checked(report: dict) -> None:
    # NUM_BANKS lanes + 4 layer-2 multipliers: the register rules saw all of them
    fam = FAMILIES[report["family"]]
    assert report["cells"][fam.dsp] == NUM_BANKS + 4
    assert report["dsp"] == []
    assert report["bram_to_multiplier"] == []


def test_xcup_dsp48e2_is_a_bare_multiplier(report: dict) -> None:
    """Yosys 0.23 packs no register into a DSP48E2: the fabric rule is what passes them."""
    net = report["netlist_data"]
    dsps = [c for c in net.cells.values() if c["type"] in timing_check.DSP_TYPES]
    regs = ("AREG", "BREG", "MREG", "PREG", "OPMODEREG")
    packed = sum(1 for c in dsps if any(timing_check.param(c, r) for r in regs))
    if report["family"] == "xc7":
        assert packed == NUM_BANKS + 4
    else:
        assert packed == 0
        assert all(timing_check.output_to_ffs(net, c["connections"]["P"]) for c in dsps)


def test_fanout_within_limit(report: dict) -> None:
    assert report["modules"] == "all"
    assert sorted(report["max_fanout"]) == sorted(MODULES)
    over = [
        (n["name"] if not n["name"].startswith("$") else n["module"], n["loads"])
        for n in report["fanout_over_limit"]
    ]
    if report["family"] == "xc7":
        for module in MODULES:
            assert report["max_fanout"][module] <= timing_check.FANOUT_LIMIT
        assert over == []
    else:
        assert over == XCUP_FANOUT_OPEN
    # only aresetn, whose driver is outside the IP, may exceed it uncounted on xc7;
    # on xcup also two AWADDR bits (the same write decode)
    inputs = [(n["name"], n["driver"]) for n in report["inputs"]]
    if report["family"] == "xc7":
        assert [d for _, d in inputs] in ([], ["IBUF"])
    else:
        assert [n for n, _ in inputs] == ["ctrl_inst.rst_n", "ctrl_inst.wa[5]", "ctrl_inst.wa[4]"]


def test_logic_depth(report: dict) -> None:
    limits = DEPTH_LIMIT[report["family"]]
    assert report["ltp"] == report["depth"]
    assert report["depth"] <= limits["*"] <= report["max_levels"]
    for module in ("layer1_inst", "layer2_inst"):
        assert report["depth_per_module"][module] <= limits[module]


def _synth_small(source: Path, family: str, out: Path) -> tuple[Path, Path]:
    """A small test design through synth_xilinx and ltp, as scripts/synth.ys.in does."""
    _require_yosys()
    script = out / f"{family}.ys"
    script.write_text(
        f"read_verilog {source}\n"
        f"synth_xilinx -family {family} -top {source.stem} -flatten\n"
        f"write_json {out}/{family}.json\n"
        "select -set sequential t:FD* t:SRL* t:RAMB* t:DSP48E*\n"
        f"tee -q -o {out}/{family}.ltp ltp -noff @sequential %n\n"
    )
    subprocess.run(["yosys", "-q", "-s", str(script)], check=True, capture_output=True, cwd=out)
    return out / f"{family}.json", out / f"{family}.ltp"


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_checker_flags_a_bad_design(family: str, tmp_path: Path) -> None:
    """BRAM -> multiplier, gated OPMODE (xc7), a wide clock enable, a deep path at 300 MHz."""
    netlist, ltp = _synth_small(HERE / "timing_bad.v", family, tmp_path)
    bad = timing_check.analyze(netlist, ltp)
    assert bad["family"] == family
    mult = "$mul$" + str(HERE / "timing_bad.v") + ":41$11"
    opmode = [f"{mult}: OPMODE not registered (driven by LUT2)"] if family == "xc7" else []
    assert bad["dsp"] == [f"{mult}: multiplier input B not registered", *opmode]
    assert bad["bram_to_multiplier"] == [f"mem.0.0 -> {mult}.B: block RAM output unregistered"]
    # xc7: 100 CE pins and the OPMODE pin; xcup: 100 CE pins, the clear is a fabric mux
    loads = 101 if family == "xc7" else 100
    assert [(n["name"], n["loads"]) for n in bad["fanout_over_limit"]] == [("both", loads)]
    # xcup: the 32-bit accumulator is a fabric carry chain (8 CARRY4 + its input LUT)
    depth = 2 if family == "xc7" else 9
    assert bad["ltp"] == bad["depth"] == depth
    assert timing_check.main([str(netlist)]) == 1
    # at 300 MHz the budget is 4 (xc7) / 5 (xcup) levels: only the xcup path is too deep
    fast = timing_check.analyze(netlist, ltp, family=FAMILIES[family], clock_mhz=300)
    too_deep = {
        "xc7": [],
        "xcup": [
            "logic depth 9 > 5 levels at 300 MHz (0.45 ns per level + 1.0 ns, assumed for xcup)"
        ],
    }[family]
    assert fast["max_levels"] == {"xc7": 4, "xcup": 5}[family]
    assert [p for p in fast["problems"] if p.startswith("logic depth")] == too_deep


@pytest.mark.parametrize("family", ["xc7", "xcup"])
def test_checker_flags_a_product_without_register(family: str, tmp_path: Path) -> None:
    """Multiplier straight into the accumulator adder: no M register (nor, on xcup, P)."""
    netlist, ltp = _synth_small(HERE / "timing_bad_product.v", family, tmp_path)
    bad = timing_check.analyze(netlist, ltp)
    mult = "$mul$" + str(HERE / "timing_bad_product.v") + ":24$2"
    if family == "xc7":
        assert bad["dsp"] == [f"{mult}: MREG=0"]
    else:
        no_ff = "and no flip-flop right at P"
        assert bad["dsp"] == [f"{mult}: MREG=0 {no_ff}", f"{mult}: PREG=0 {no_ff}"]
    assert bad["problems"] == bad["dsp"]
