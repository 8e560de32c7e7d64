"""Collect Yosys `stat -json` results into build/resources.json and print one table.

Usage: python scripts/resources.py build/xc7/stat_64.json build/xcup/stat_128.json ...

The table has a row per family, NUM_BANKS and part of that family's boards
(boards.py): the cell counts, their percentage of the part and whether the
configuration fits it. Exit 1 if a resource target is missed or a
configuration does not fit a part of its family.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fpga_families import FAMILIES, Family

FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")
# the issue's LUT target; it holds for xc7 only: on xcup Yosys keeps each lane's
# pipeline registers and 26-bit accumulator in fabric (fpga_families.py), which
# Vivado puts into the DSP48E2 as into the DSP48E1
LUT_LIMIT = 10_000
STAT_RE = re.compile(r"(?:^|/)(xc7|xcup)/stat_(\d+)\.json$")


def summarize(stat_file: Path, fam: Family) -> dict[str, int]:
    """Cell counts of the top design from one `stat -json` output."""
    data = json.loads(stat_file.read_text())
    cells: dict[str, int] = data["design"]["num_cells_by_type"]
    return {
        "DSP": cells.get(fam.dsp, 0),
        "RAMB18": cells.get(fam.bram18, 0),
        "RAMB36": cells.get(fam.bram36, 0),
        "LUT": sum(cells.get(f"LUT{k}", 0) for k in range(1, 7)),
        "FF": sum(cells.get(c, 0) for c in FF_CELLS),
        "LUTRAM": sum(n for c, n in cells.items() if re.fullmatch(r"RAM\d+[XSM].*", c)),
        "CARRY4": cells.get("CARRY4", 0),
    }


def bram36(res: dict[str, int]) -> float:
    """Block RAM in 36 Kb units (a RAMB18 is half a RAMB36 site)."""
    return res["RAMB36"] + res["RAMB18"] / 2


def usage(res: dict[str, int], fam: Family) -> dict[str, dict]:
    """Per part of the family: percentage of LUT, FF, DSP, BRAM36 and what does not fit."""
    result = {}
    for device, boards in fam.parts.items():
        part = boards[0]
        used = {"LUT": res["LUT"], "FF": res["FF"], "DSP": res["DSP"], "BRAM36": bram36(res)}
        size = {"LUT": part.luts, "FF": part.ffs, "DSP": part.dsp, "BRAM36": part.bram36}
        result[device] = {
            "boards": [b.title for b in boards],
            "percent": {k: round(100 * used[k] / size[k], 1) for k in used},
            "over": [f"{k} {used[k]:g} > {size[k]}" for k in used if used[k] > size[k]],
        }
    return result


def check(nb: int, res: dict[str, int], fam: Family) -> list[str]:
    """Violations of the issue's resource targets."""
    problems = []
    if res["DSP"] > nb + 8:
        problems.append(f"{fam.dsp} {res['DSP']} > NUM_BANKS + 8 = {nb + 8}")
    if fam.name == "xc7" and res["LUT"] > LUT_LIMIT:
        problems.append(f"LUT {res['LUT']} > {LUT_LIMIT}")
    if res["RAMB18"] + 2 * res["RAMB36"] < nb:
        problems.append(f"{bram36(res):g} RAMB36 equivalents < {nb} banks / 2: W1 not in BRAM")
    return problems


def table(results: dict[str, dict[str, dict]]) -> list[str]:
    """Markdown rows: family, NUM_BANKS, part, counts, percentages, fit."""
    head = "| family | NUM_BANKS | part (boards) | LUT | FF | DSP | RAMB18 | RAMB36 |"
    head += " LUT % | FF % | DSP % | BRAM36 % | fits |"
    lines = [head, "|---" * 13 + "|"]
    for name, per_nb in results.items():
        fam = FAMILIES[name]
        for nb, entry in per_nb.items():
            res = entry["cells"]
            for device, use in entry["parts"].items():
                pct = use["percent"]
                fits = "yes" if not use["over"] else "**NO**: " + ", ".join(use["over"])
                lines.append(
                    f"| {name} | {nb} | {device} ({', '.join(use['boards'])}) "
                    f"| {res['LUT']:,} | {res['FF']:,} | {res['DSP']} {fam.dsp} "
                    f"| {res['RAMB18']} {fam.bram18} | {res['RAMB36']} {fam.bram36} "
                    f"| {pct['LUT']} | {pct['FF']} | {pct['DSP']} | {pct['BRAM36']} | {fits} |"
                )
    return lines


def main(argv: list[str]) -> int:
    results: dict[str, dict[str, dict]] = {}
    for arg in argv:
        found = STAT_RE.search(arg)
        if not found:
            sys.stderr.write(f"{arg}: expected build/<xc7|xcup>/stat_<NUM_BANKS>.json\n")
            return 2
        name, nb = found.groups()
        fam = FAMILIES[name]
        try:
            cells = summarize(Path(arg), fam)
        except (OSError, ValueError, KeyError) as exc:
            sys.stderr.write(f"{arg}: cannot read the Yosys statistics: {exc!r}\n")
            return 2
        entry = {"cells": cells, "parts": usage(cells, fam), "problems": check(int(nb), cells, fam)}
        results.setdefault(name, {})[nb] = entry
    if not results:
        sys.stderr.write("no stat files given\n")
        return 2
    out = Path(argv[0]).parent.parent / "resources.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    sys.stdout.write("\n".join(table(results)) + "\n")
    failed = False
    for name, per_nb in results.items():
        for nb, entry in per_nb.items():
            over = [f"{d}: {', '.join(u['over'])}" for d, u in entry["parts"].items() if u["over"]]
            for problem in entry["problems"] + [f"does not fit {o}" for o in over]:
                sys.stderr.write(f"{name} NUM_BANKS={nb}: {problem}\n")
                failed = True
    sys.stdout.write(f"wrote {out}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
