"""Collect Yosys `stat -json` results into build/resources.json and print a table.

Usage: python scripts/resources.py build/stat_64.json build/stat_128.json
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# xc7z020 capacity (DS190)
CAPACITY = {"DSP48E1": 220, "RAMB18E1": 280, "RAMB36E1": 140, "LUT": 53200, "FF": 106400}
FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
LUT_LIMIT = 10_000


def summarize(stat_file: Path) -> dict[str, int]:
    """Cell counts of the top design from one `stat -json` output."""
    data = json.loads(stat_file.read_text())
    cells: dict[str, int] = data["design"]["num_cells_by_type"]
    return {
        "DSP48E1": cells.get("DSP48E1", 0),
        "RAMB18E1": cells.get("RAMB18E1", 0),
        "RAMB36E1": cells.get("RAMB36E1", 0),
        "LUT": sum(cells.get(f"LUT{k}", 0) for k in range(1, 7)),
        "FF": sum(cells.get(c, 0) for c in FF_CELLS),
        "LUTRAM": sum(n for c, n in cells.items() if re.fullmatch(r"RAM\d+[XSM].*", c)),
        "CARRY4": cells.get("CARRY4", 0),
    }


def check(nb: int, res: dict[str, int]) -> list[str]:
    """Violations of the issue's resource targets."""
    problems = []
    if res["DSP48E1"] > nb + 8:
        problems.append(f"DSP48E1 {res['DSP48E1']} > NUM_BANKS + 8 = {nb + 8}")
    if res["LUT"] > LUT_LIMIT:
        problems.append(f"LUT {res['LUT']} > {LUT_LIMIT}")
    brams = res["RAMB18E1"] + 2 * res["RAMB36E1"]
    if brams < nb:
        problems.append(f"{brams} RAMB18 equivalents < {nb} banks: W1 is not in block RAM")
    if brams > CAPACITY["RAMB18E1"]:
        problems.append(f"{brams} RAMB18 equivalents > xc7z020's {CAPACITY['RAMB18E1']}")
    for key in ("DSP48E1", "LUT", "FF"):
        if res[key] > CAPACITY[key]:
            problems.append(f"{key} {res[key]} > xc7z020's {CAPACITY[key]}")
    return problems


def main(argv: list[str]) -> int:
    results: dict[str, dict[str, int]] = {}
    for arg in argv:
        nb = re.search(r"stat_(\d+)\.json$", arg)
        if not nb:
            sys.stderr.write(f"{arg}: expected build/stat_<NUM_BANKS>.json\n")
            return 2
        results[nb.group(1)] = summarize(Path(arg))
    out = Path(argv[0]).parent / "resources.json"
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    keys = ["DSP48E1", "RAMB18E1", "RAMB36E1", "LUT", "FF", "LUTRAM", "CARRY4"]
    sys.stdout.write("| NUM_BANKS | " + " | ".join(keys) + " |\n")
    sys.stdout.write("|---" * (len(keys) + 1) + "|\n")
    for nb, res in results.items():
        sys.stdout.write(f"| {nb} | " + " | ".join(str(res[k]) for k in keys) + " |\n")
    cap = " | ".join(str(CAPACITY.get(k, "")) for k in keys)
    sys.stdout.write(f"| xc7z020 | {cap} |\n")
    failed = False
    for nb, res in results.items():
        for problem in check(int(nb), res):
            sys.stderr.write(f"NUM_BANKS={nb}: {problem}\n")
            failed = True
    sys.stdout.write(f"wrote {out}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
