"""Structural timing checks on a Yosys `synth_xilinx -flatten` netlist (no Vivado here).

Usage:
  python scripts/timing_check.py build/xc7/netlist_64.json [--ltp build/xc7/ltp_64.txt]
  python scripts/timing_check.py --synth 64 --family xcup [--out-dir build/xcup]  # Yosys first
  ... --clock-mhz 150 (default: the family's fastest board clock) --json OUT
  ... --modules layer1_inst,layer2_inst                             # fan-out rule scope

What it reports and checks (exit 1 on a violation):
- logic depth: the longest chain of combinational cells (LUT, MUXF7/8/9, CARRY4, LUTRAM
  read, I/O buffers) between sequential cells, overall and per module; with --ltp the
  figure of Yosys `ltp -noff` on the same netlist (flip-flops, SRLs, block RAMs and DSPs
  deselected, so they cut paths) must agree with it; and it must fit the clock
  (fpga_families.py: the assumed delay per level of the family);
- every DSP multiplier input (A, B) has a register in front (AREG/BREG >= 1 or driven
  directly by a fabric flip-flop), MREG = 1 and PREG = 1; on xcup, where Yosys leaves the
  DSP48E2 unregistered, MREG/PREG may instead be a fabric flip-flop on every used P bit
  (P drives flip-flop D pins only, no logic in between);
- every non-constant DSP control input (OPMODE, ALUMODE, INMODE, CARRYINSEL, CE*, RST*)
  is registered: its *REG parameter is 1 or a fabric flip-flop drives the pin directly;
- no block RAM output (without its DO*_REG) reaches a multiplier input unregistered;
- no net of the checked modules (--modules; default all: the whole design) has more
  than FANOUT_LIMIT loads; control nets (those reaching a clock enable, set/reset, MUXF
  select, DSP control or RAM address/enable pin) over the limit elsewhere are listed as
  "outside". Nets driven straight by a top-level input (aresetn) are listed as "inputs"
  and not counted: their driver sits outside the IP (proc_sys_reset's flip-flop in the
  block design), and a copy inside would delay the port by a cycle.

FANOUT_LIMIT = 64: one copy then serves 8 slices' worth of CE/SR pins (8 FFs share one
CE/SR per slice), the address pins of 8 banks, or half of a 16:1 requantizer mux group;
such a net stays within about a clock region and its routing (~1.5 ns on a -1 xc7z020)
leaves room in a 6.67 ns cycle for the clock-to-out, a LUT level and the DSP/BRAM setup.
The nets this replaced had 65 to 1,673 loads.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

HW = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HW / "scripts"))

from fpga_families import FAMILIES, OVERHEAD_NS, Family  # noqa: E402
from xilinx_netlist import (  # noqa: E402
    BRAM_TYPES,
    CLOCK_PINS,
    DSP_CONTROL,
    DSP_TYPES,
    FF_TYPES,
    Bit,
    Netlist,
    is_control_pin,
    is_sequential,
    param,
)

FANOUT_LIMIT = 64


def logic_depth(net: Netlist) -> tuple[int, dict[str, int], dict[str, list[str]]]:
    """Longest combinational cell chain overall, and per module the longest chain ending
    at a register input of that module; with their paths ("*" is the overall one)."""
    level: dict[Bit, int] = {}
    via: dict[Bit, Bit | None] = {}

    def depth(bit: Bit) -> int:
        stack = [bit]
        while stack:
            top = stack[-1]
            if top in level:
                stack.pop()
                continue
            src = net.driver.get(top)
            if src is None or is_sequential(net.type_of(src[0])):
                level[top], via[top] = 0, None
                stack.pop()
                continue
            ins = net.comb_inputs(src[0])
            pending = [b for b in ins if b not in level]
            if pending:
                stack.extend(pending)
                continue
            best = max(ins, key=lambda b: level[b], default=None)
            level[top] = 1 + (level[best] if best is not None else 0)
            via[top] = best
            stack.pop()
        return level[bit]

    per_module: dict[str, int] = {}
    worst_of: dict[str, Bit] = {}
    worst, worst_bit = -1, None
    endpoints: list[tuple[Bit, str]] = [(b, "mnist_top") for b in net.outputs]
    for name, cell in net.cells.items():
        if not is_sequential(cell["type"]):
            continue
        module = net.module_of_cell(name)
        for port, bits in cell["connections"].items():
            if cell["port_directions"][port] != "input" or port in CLOCK_PINS:
                continue
            endpoints.extend((b, module) for b in bits if isinstance(b, int))
    for bit, module in endpoints:
        if depth(bit) > per_module.get(module, -1):
            per_module[module], worst_of[module] = depth(bit), bit
    # overall, like `ltp`: every net counts (also the clock's IBUF -> BUFG)
    for bit in net.driver:
        if depth(bit) > worst:
            worst, worst_bit = depth(bit), bit

    def path(bit: Bit | None) -> list[str]:
        steps = []
        while bit is not None:
            src = net.driver.get(bit)
            label = net.names.get(bit, str(bit))
            steps.append(f"{label} ({net.type_of(src[0])})" if src else label)
            bit = via.get(bit)
        return steps[::-1]

    paths = {module: path(bit) for module, bit in worst_of.items()}
    paths["*"] = path(worst_bit)
    return worst, per_module, paths


def registered_by_ff(net: Netlist, bit: Bit) -> bool:
    """True if the bit is driven directly by a fabric flip-flop."""
    src = net.driver.get(bit)
    return src is not None and net.type_of(src[0]) in FF_TYPES


def output_to_ffs(net: Netlist, bits: list) -> bool:
    """True if the used bits drive only flip-flop D pins (a register right at the pins)."""
    loads = [s for b in bits if isinstance(b, int) for s in net.sinks.get(b, [])]
    return bool(loads) and all(net.type_of(c) in FF_TYPES and p == "D" for c, p in loads)


def dsp_problems(net: Netlist, fam: Family) -> list[str]:
    """Violations of the DSP register rules (fabric registers count on xcup, see above)."""
    problems = []
    for name, cell in net.cells.items():
        if cell["type"] not in DSP_TYPES:
            continue
        conn = cell["connections"]
        fabric = fam.dsp_registers_in_fabric and output_to_ffs(net, conn["P"])
        no_ff = " and no flip-flop right at P" if fam.dsp_registers_in_fabric else ""
        if cell["parameters"].get("USE_MULT", "MULTIPLY") != "NONE":
            for port, reg in (("A", "AREG"), ("B", "BREG")):
                live = [b for b in conn[port] if isinstance(b, int)]
                if param(cell, reg) == 0 and not all(registered_by_ff(net, b) for b in live):
                    problems.append(f"{name}: multiplier input {port} not registered")
            if param(cell, "MREG") != 1 and not fabric:
                problems.append(f"{name}: MREG=0{no_ff}")
        if param(cell, "PREG") != 1 and not fabric:
            problems.append(f"{name}: PREG=0{no_ff}")
        for port, bits in conn.items():
            if port in DSP_CONTROL:
                reg = param(cell, DSP_CONTROL[port])
            elif port.startswith(("CE", "RST")):
                reg = 0
            else:
                continue
            live = [b for b in bits if isinstance(b, int)]
            if reg == 0 and not all(registered_by_ff(net, b) for b in live):
                drivers = sorted({net.type_of(net.driver[b][0]) for b in live if b in net.driver})
                problems.append(f"{name}: {port} not registered (driven by {', '.join(drivers)})")
    return problems


def bram_to_multiplier(net: Netlist) -> list[str]:
    """Block RAM outputs without DO*_REG reaching a DSP multiplier input with no register."""
    problems = []
    for name, cell in net.cells.items():
        if cell["type"] not in DSP_TYPES:
            continue
        for port, reg in (("A", "AREG"), ("B", "BREG")):
            if param(cell, reg) != 0:
                continue
            seen: set[Bit] = set()
            todo = [b for b in cell["connections"][port] if isinstance(b, int)]
            while todo:
                bit = todo.pop()
                if bit in seen or bit not in net.driver:
                    continue
                seen.add(bit)
                src, src_port = net.driver[bit]
                src_type = net.type_of(src)
                if src_type in BRAM_TYPES:
                    port_a = src_port.startswith(("DOA", "DOPA", "DOUTA", "DOUTPA"))
                    out_reg = "DOA_REG" if port_a else "DOB_REG"
                    if param(net.cells[src], out_reg) == 0:
                        problems.append(f"{src} -> {name}.{port}: block RAM output unregistered")
                        break
                elif not is_sequential(src_type):
                    todo.extend(net.comb_inputs(src))
    return problems


@dataclass
class FanoutNet:
    name: str
    module: str
    loads: int
    driver: str


def fanout(net: Netlist, control_only: bool) -> list[FanoutNet]:
    """Nets (all, or only control nets) with their loads, largest fanout first."""
    result = []
    memo: dict[Bit, str] = {}
    for bit, sinks in net.sinks.items():
        loads = [(c, p) for c, p in sinks if p not in CLOCK_PINS]
        if control_only and not any(is_control_pin(net.type_of(c), p) for c, p in loads):
            continue
        src = net.driver.get(bit)
        driver = net.type_of(src[0]) if src else "input port"
        if driver == "BUFG" or not loads:
            continue
        count = len(loads) + (1 if bit in net.outputs else 0)
        result.append(FanoutNet(net.names.get(bit, str(bit)), net.owner(bit, memo), count, driver))
    return sorted(result, key=lambda n: -n.loads)


def parse_ltp(text: str) -> int:
    """Length reported by Yosys `ltp`."""
    found = re.search(r"Longest topological path in \S+ \(length=(\d+)\)", text)
    if not found:
        raise ValueError("no 'Longest topological path' line in the ltp report")
    return int(found.group(1))


def infer_family(net: Netlist) -> Family:
    """xcup if the netlist holds an UltraScale primitive (DSP48E2, RAMB*E2, MUXF9), else xc7."""
    types = {c["type"] for c in net.cells.values()}
    ultrascale = {"DSP48E2", "RAMB18E2", "RAMB36E2", "MUXF9"}
    return FAMILIES["xcup" if types & ultrascale else "xc7"]


def analyze(
    netlist: Path,
    ltp_report: Path | None = None,
    limit: int = FANOUT_LIMIT,
    modules: tuple[str, ...] | None = None,
    family: Family | None = None,
    clock_mhz: float | None = None,
) -> dict:
    """All figures of one netlist and the violations in `modules` (None: everywhere).

    Fan-out: in the checked modules every net (control or data) must stay within
    the limit; control nets over it elsewhere are listed under "outside". The
    family defaults to the one of the netlist's primitives, the clock to the
    fastest PL clock of that family's boards.
    """
    net = Netlist.load(netlist)
    fam = family or infer_family(net)
    clock = clock_mhz or fam.clock_mhz
    depth, per_module, paths = logic_depth(net)
    control = fanout(net, control_only=True)
    every = fanout(net, control_only=False)
    internal = [n for n in every if n.driver != "IBUF"]

    def checked(module: str) -> bool:
        return modules is None or module in modules

    report: dict = {
        "netlist": str(netlist),
        "fanout_limit": limit,
        "modules": list(modules) if modules else "all",
        "family": fam.name,
        "clock_mhz": clock,
        "max_levels": fam.max_levels(clock),
        "cells": dict(Counter(c["type"] for c in net.cells.values())),
        "depth": depth,
        "depth_per_module": per_module,
        "depth_paths": paths,
        "dsp": dsp_problems(net, fam),
        "bram_to_multiplier": bram_to_multiplier(net),
        "fanout_over_limit": [vars(n) for n in internal if n.loads > limit and checked(n.module)],
        "outside": [vars(n) for n in control if n.loads > limit and not checked(n.module)],
        "inputs": [vars(n) for n in every if n.driver == "IBUF" and n.loads > limit],
        "control_top": [vars(n) for n in control[:12]],
        "max_control_fanout": {},
        "max_fanout": {},
    }
    for n in control:
        report["max_control_fanout"].setdefault(n.module, n.loads)
    for n in internal:
        report["max_fanout"].setdefault(n.module, n.loads)
    if ltp_report is not None:
        report["ltp"] = parse_ltp(ltp_report.read_text())
    report["problems"] = (
        report["dsp"]
        + report["bram_to_multiplier"]
        + [
            f"{n['name']} ({n['driver']}, {n['module']}): {n['loads']} loads > {limit}"
            for n in report["fanout_over_limit"]
        ]
    )
    if "ltp" in report and report["ltp"] != depth:
        report["problems"].append(f"Yosys ltp {report['ltp']} != computed depth {depth}")
    if depth > report["max_levels"]:
        report["problems"].append(
            f"logic depth {depth} > {report['max_levels']} levels at {clock:g} MHz "
            f"({fam.level_ns} ns per level + {OVERHEAD_NS} ns, assumed for {fam.name})"
        )
    return report


def synthesize(num_banks: int, out_dir: Path, family: str = "xc7") -> tuple[Path, Path]:
    """Run Yosys (scripts/synth.ys.in) for NUM_BANKS; returns (netlist, ltp report)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    script = (HW / "scripts" / "synth.ys.in").read_text()
    script = script.replace("@NUM_BANKS@", str(num_banks)).replace("@OUT@", str(out_dir))
    script = script.replace("@FAMILY@", family)
    ys = out_dir / f"synth_{num_banks}.ys"
    ys.write_text(script)
    log = out_dir / f"synth_{num_banks}.log"
    done = subprocess.run(
        ["yosys", "-q", "-l", str(log), "-s", str(ys)],
        cwd=HW,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        raise RuntimeError(f"yosys failed (exit {done.returncode}), see {log}")
    return out_dir / f"netlist_{num_banks}.json", out_dir / f"ltp_{num_banks}.txt"


def format_report(report: dict) -> str:
    """Human-readable summary."""
    lines = [f"{report['netlist']}:"]
    ltp = f" (Yosys ltp -noff: {report['ltp']})" if "ltp" in report else ""
    lines.append(f"  logic depth {report['depth']}{ltp}")
    lines.append(
        f"  {report['family']} at {report['clock_mhz']:g} MHz: "
        f"{report['max_levels']} levels fit (assumed budget, fpga_families.py)"
    )
    mods = ", ".join(f"{m} {d}" for m, d in sorted(report["depth_per_module"].items()))
    lines.append(f"  depth per module: {mods}")
    lines.append("  longest path: " + " -> ".join(report["depth_paths"]["*"]))
    checked = report["modules"] if report["modules"] != "all" else []
    for module in checked:
        steps = report["depth_paths"].get(module, [])
        lines.append(f"  longest path into {module}: " + " -> ".join(steps))
    for key, label in (("max_control_fanout", "control nets"), ("max_fanout", "all nets")):
        fan = ", ".join(f"{m} {d}" for m, d in sorted(report[key].items()))
        lines.append(f"  max fanout per module, {label}: {fan}")
    lines.append("  largest control nets:")
    for n in report["control_top"]:
        lines.append(f"    {n['loads']:5d}  {n['name']}  ({n['driver']}, {n['module']})")
    dsp = FAMILIES[report["family"]].dsp
    dsps = report["cells"].get(dsp, 0)
    lines.append(f"  {dsp} register violations: {len(report['dsp'])} (of {dsps} DSPs)")
    lines.append(f"  block RAM -> multiplier unregistered: {len(report['bram_to_multiplier'])}")
    scope = "all modules" if report["modules"] == "all" else ", ".join(report["modules"])
    lines.append(
        f"  nets over {report['fanout_limit']} loads in {scope}: {len(report['fanout_over_limit'])}"
    )
    for n in report["outside"]:
        lines.append(f"  outside the checked modules: {n['name']} ({n['module']}): {n['loads']}")
    for n in report["inputs"]:
        lines.append(f"  top-level input (not counted): {n['name']}: {n['loads']}")
    for problem in report["problems"]:
        lines.append(f"  VIOLATION {problem}")
    lines.append("  PASS" if not report["problems"] else "  FAIL")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("netlist", nargs="?", type=Path, help="write_json netlist")
    parser.add_argument("--ltp", type=Path, help="Yosys ltp report of the same netlist")
    parser.add_argument("--synth", type=int, metavar="NUM_BANKS", help="synthesize first")
    parser.add_argument("--family", choices=sorted(FAMILIES), help="default: from the netlist")
    parser.add_argument("--clock-mhz", type=float, help="default: the family's board clock")
    parser.add_argument("--out-dir", type=Path, help="default: build/<family>")
    parser.add_argument("--limit", type=int, default=FANOUT_LIMIT, help="control net fanout")
    parser.add_argument("--modules", help="comma-separated instances to check (default: all)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    args = parser.parse_args(argv)
    if args.clock_mhz is not None and args.clock_mhz <= 0:
        parser.error(f"--clock-mhz {args.clock_mhz:g}: must be positive")
    if args.synth is not None:
        name = args.family or "xc7"
        out_dir = args.out_dir or HW / "build" / name
        try:
            args.netlist, args.ltp = synthesize(args.synth, out_dir, name)
        except RuntimeError as exc:
            parser.exit(2, f"{exc}\n")
    if args.netlist is None:
        parser.error("give a netlist or --synth NUM_BANKS")
    if not args.netlist.is_file():
        parser.error(f"{args.netlist}: no such netlist")
    modules = tuple(args.modules.split(",")) if args.modules else None
    try:
        fam = FAMILIES[args.family] if args.family else None
        report = analyze(args.netlist, args.ltp, args.limit, modules, fam, args.clock_mhz)
    except (OSError, ValueError, KeyError) as exc:  # JSONDecodeError is a ValueError
        parser.exit(2, f"cannot read the netlist or the ltp report: {exc!r}\n")
    sys.stdout.write(format_report(report) + "\n")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 1 if report["problems"] else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
