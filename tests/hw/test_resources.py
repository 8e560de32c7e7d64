"""`hw/scripts/resources.py`: the per-family resource table of `make -C hw synth`.

Fed hand-made Yosys `stat -json` files (no synthesis: fast), checked against the
part sizes of the data sheets (DS190 xc7z020; DS891 xczu7ev, xczu3eg; DS987 xck26)
and percentages worked out by hand.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location(
    "resources", ROOT / "hw" / "scripts" / "resources.py"
)
assert _spec is not None and _spec.loader is not None
resources = importlib.util.module_from_spec(_spec)
sys.modules["resources"] = resources
_spec.loader.exec_module(resources)


def _stat(root: Path, family: str, nb: int, cells: dict[str, int]) -> Path:
    path = root / family / f"stat_{nb}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"design": {"num_cells_by_type": cells}}))
    return path


XCUP_128 = {
    "DSP48E2": 132,
    "RAMB18E2": 130,
    "LUT2": 7_000,
    "LUT6": 2_400,
    "FDRE": 14_000,
    "FDSE": 595,
    "RAM32M16": 3,
    "CARRY4": 1_000,
}


def test_xcup_row_per_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stat = _stat(tmp_path, "xcup", 128, XCUP_128)
    assert resources.main([str(stat)]) == 0
    rows = capsys.readouterr().out.splitlines()
    counts = "| 9,400 | 14,595 | 132 DSP48E2 | 130 RAMB18E2 | 0 RAMB36E2 "
    # LUT, FF, DSP, BRAM36 (65 = 130 RAMB18 / 2) over the part, one decimal
    assert rows[2:5] == [
        "| xcup | 128 | xck26 (Kria KV260) " + counts + "| 8.0 | 6.2 | 10.6 | 45.1 | yes |",
        "| xcup | 128 | xczu7ev (ZCU104) " + counts + "| 4.1 | 3.2 | 7.6 | 20.8 | yes |",
        "| xcup | 128 | xczu3eg (Ultra96-V2) " + counts + "| 13.3 | 10.3 | 36.7 | 30.1 | yes |",
    ]
    saved = json.loads((tmp_path / "resources.json").read_text())
    assert saved["xcup"]["128"]["cells"] == {
        "DSP": 132,
        "RAMB18": 130,
        "RAMB36": 0,
        "LUT": 9_400,
        "FF": 14_595,
        "LUTRAM": 3,
        "CARRY4": 1_000,
    }


def test_a_part_too_small_is_said_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 392 banks: 400 DSP48E2 > xczu3eg's 360, 196 BRAM36 > xck26's 144
    cells = {"DSP48E2": 400, "RAMB18E2": 392, "LUT6": 20_000, "FDRE": 40_000}
    stat = _stat(tmp_path, "xcup", 392, cells)
    assert resources.main([str(stat)]) == 1
    out, err = capsys.readouterr()
    fits = [row.rsplit("|", 2)[1].strip() for row in out.splitlines()[2:5]]
    assert fits == ["**NO**: BRAM36 196 > 144", "yes", "**NO**: DSP 400 > 360"]
    assert err.splitlines() == [
        "xcup NUM_BANKS=392: does not fit xck26: BRAM36 196 > 144",
        "xcup NUM_BANKS=392: does not fit xczu3eg: DSP 400 > 360",
    ]


def test_targets_per_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # the LUT target applies to xc7 only (xcup keeps the MAC registers in fabric)
    cells = {"LUT6": 10_001, "FDRE": 5_000}
    xc7 = _stat(tmp_path, "xc7", 64, {**cells, "DSP48E1": 73, "RAMB18E1": 66})
    xcup = _stat(tmp_path, "xcup", 64, {**cells, "DSP48E2": 72, "RAMB18E2": 62})
    assert resources.main([str(xc7), str(xcup)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[2].startswith("| xc7 | 64 | xc7z020 (PYNQ-Z1, PYNQ-Z2) | 10,001 |")
    assert err.splitlines() == [
        "xc7 NUM_BANKS=64: DSP48E1 73 > NUM_BANKS + 8 = 72",
        "xc7 NUM_BANKS=64: LUT 10001 > 10000",
        "xcup NUM_BANKS=64: 31 RAMB36 equivalents < 64 banks / 2: W1 not in BRAM",
    ]


@pytest.mark.parametrize("name", ["build/stat_64.json", "build/xc9/stat_64.json"])
def test_unknown_path_is_one_line(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert resources.main([name]) == 2
    assert capsys.readouterr().err == f"{name}: expected build/<xc7|xcup>/stat_<NUM_BANKS>.json\n"


def test_unreadable_stat_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stat = tmp_path / "xc7" / "stat_64.json"
    stat.parent.mkdir()
    stat.write_text("{")
    assert resources.main([str(stat)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{stat}: cannot read the Yosys statistics: JSONDecodeError(")
    assert err.count("\n") == 1


def test_level_budget() -> None:
    """floor((1000 / MHz - 1.0 ns) / ns per level), the assumptions of fpga_families.py."""
    families = resources.FAMILIES
    assert [families["xc7"].max_levels(mhz) for mhz in (100, 142.857, 150)] == [16, 10, 10]
    assert [families["xcup"].max_levels(mhz) for mhz in (100, 150, 200, 300)] == [20, 12, 8, 5]
    assert (families["xc7"].clock_mhz, families["xcup"].clock_mhz) == (100, 150)
