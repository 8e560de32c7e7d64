#!/usr/bin/env python3
"""Mutation run of the RTL checks: does each block's own bench or proof catch its own bugs?

Every mutant is one realistic single-point edit of one RTL file (a handshake
term, a counter bound, a clear on START/SOFT_RESET, a reset value, a W1C bit,
a clamp edge ...). The repository is copied once into a scratch directory;
each mutant is applied to that copy only (the real files are never touched),
linted, then run against the checks of its own block: first its proof(s),
then its cocotb bench; only if both pass, against the whole-design tests.
The first failing check kills the mutant (``--all-checks`` runs every check).
Afterwards a markdown table of which check killed which mutant, and the kill
rate per block, is printed and written to ``hw/build/mutate/``.

    python hw/scripts/mutate.py                  # all mutants (or: make -C hw mutate)
    python hw/scripts/mutate.py -k c_ -k s_      # only mutants whose name contains c_ or s_
    python hw/scripts/mutate.py --list           # the mutants, nothing run
    python hw/scripts/mutate.py --readme         # also put the table into hw/README.md

On demand only (it takes tens of minutes), not part of CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OUT_DEFAULT = REPO / "hw" / "build" / "mutate"
OUT = OUT_DEFAULT
CHECK_TIMEOUT_S = 1500
README_BEGIN = "<!-- mutation table: begin (hw/scripts/mutate.py --readme) -->"
README_END = "<!-- mutation table: end -->"

# block -> its own checks (pytest node ids), proofs before benches
_SBY = "tests/hw/test_formal.py::test_proof[{}]"
PROOFS = {
    "ctrl_axil": [_SBY.format("ctrl_axil-prove")],
    "stream_in": [_SBY.format("stream_in-bmc"), _SBY.format("stream_in-prove")],
    "result_out": [_SBY.format("result_out-bmc"), _SBY.format("result_out-prove")],
    "layer2": [_SBY.format("layer2-prove")],
    "top": [_SBY.format(f"top-{t}") for t in ("axil", "read_latency", "status", "m_axis")],
}
BENCHES = {
    "ctrl_axil": ["tests/hw/test_mnist_ctrl_axil.py::test_mnist_ctrl_axil[32]"],
    "stream_in": ["tests/hw/test_mnist_stream_in.py"],
    "result_out": ["tests/hw/test_mnist_result_out.py"],
    "layer2": ["tests/hw/test_mnist_layer2.py"],
    "top": [
        "tests/hw/test_mnist_top_races.py::test_mnist_top_races",
        "tests/hw/test_mnist_top.py::test_mnist_top[32]",
    ],
}
# the whole design, for mutants that survive their own block's checks
STRESS = "tests/hw/test_mnist_stress.py::test_mnist_stress[32]"
WHOLE = [
    STRESS,
    "tests/hw/test_mnist_top_races.py::test_mnist_top_races",
    "tests/hw/test_mnist_top.py::test_mnist_top[32]",
]
# RTL module -> the block whose checks own it (layer 1 and its parts have no
# boundary of their own: mnist_top's bench and proofs are theirs)
BLOCK_OF = {
    "mnist_ctrl_axil.v": "ctrl_axil",
    "mnist_stream_in.v": "stream_in",
    "mnist_result_out.v": "result_out",
    "mnist_layer2.v": "layer2",
    "mnist_top.v": "top",
    "mnist_layer1.v": "top",
    "mnist_mac_lane.v": "top",
    "mnist_weight_bank.v": "top",
}


@dataclass(frozen=True)
class Mutant:
    """One single-point edit: ``find`` must occur exactly once in ``file``."""

    name: str
    file: str
    find: str
    replace: str
    what: str

    @property
    def block(self) -> str:
        """The block whose checks own this mutant."""
        return BLOCK_OF[self.file]


M = Mutant
# fmt: off
MUTANTS: list[Mutant] = [
    # ---- mnist_ctrl_axil: AXI4-Lite handshakes, register semantics
    M("c_awready_no_wvalid", "mnist_ctrl_axil.v",
      "s_axi_awvalid && s_axi_wvalid && (!bvalid_reg", "s_axi_awvalid && (!bvalid_reg",
      "AWREADY/WREADY ignore WVALID"),
    M("c_awready_no_bready", "mnist_ctrl_axil.v",
      "s_axi_wvalid && (!bvalid_reg || s_axi_bready)) begin", "s_axi_wvalid) begin",
      "new write accepted while BVALID waits for BREADY"),
    M("c_arready_no_rready", "mnist_ctrl_axil.v",
      "s_axi_arvalid && (!rvalid_reg || s_axi_rready)) begin", "s_axi_arvalid) begin",
      "new read accepted while RVALID waits for RREADY"),
    M("c_start_while_draining", "mnist_ctrl_axil.v",
      "wd[`MNIST_CTRL_START_BIT] && (busy || draining)", "wd[`MNIST_CTRL_START_BIT] && busy",
      "START accepted while DRAINING"),
    M("c_start_over_soft_reset", "mnist_ctrl_axil.v",
      "if (wd[`MNIST_CTRL_SOFT_RESET_BIT]) begin",
      "if (wd[`MNIST_CTRL_SOFT_RESET_BIT] && !wd[`MNIST_CTRL_START_BIT]) begin",
      "START wins over SOFT_RESET in one write"),
    M("c_w1c_error_by_done", "mnist_ctrl_axil.v",
      "if (wd[`MNIST_STATUS_ERROR_BIT]) error_next", "if (wd[`MNIST_STATUS_DONE_BIT]) error_next",
      "W1C: writing DONE clears ERROR"),
    M("c_w1c_rejected_sticky", "mnist_ctrl_axil.v",
      "if (wd[`MNIST_STATUS_START_REJECTED_BIT]) start_rejected_next = 1'b0;", "",
      "W1C: START_REJECTED cannot be cleared"),
    M("c_soft_reset_keeps_done", "mnist_ctrl_axil.v",
      "if (start_next || start_empty_next || soft_reset_next) begin",
      "if (start_next || start_empty_next) begin",
      "SOFT_RESET does not clear DONE/ERROR/START_REJECTED/ERROR_CAUSE"),
    M("c_start_keeps_done_set", "mnist_ctrl_axil.v",
      "soft_reset_next) begin\n        done_next = 1'b0;",
      "soft_reset_next) begin\n        done_next = done_set;",
      "START in the cycle BUSY falls keeps that batch's DONE"),
    M("c_cause_not_cleared", "mnist_ctrl_axil.v",
      "        cause_next = 4'd0;\n", "",
      "ERROR_CAUSE not cleared by START/SOFT_RESET"),
    M("c_owner_tag_shift_l1", "mnist_ctrl_axil.v",
      "shift_l1_next = wd[SHIFT_WIDTH-1:0];\n                    owner_tag_next = 32'd0;",
      "shift_l1_next = wd[SHIFT_WIDTH-1:0];",
      "OWNER_TAG not cleared by a SHIFT_L1 write"),
    M("c_owner_tag_refused_window", "mnist_ctrl_axil.v",
      "owner_tag_next = 32'd0;\n            if (busy) begin",
      "if (!busy) owner_tag_next = 32'd0;\n            if (busy) begin",
      "OWNER_TAG kept by a window write refused while BUSY"),
    M("c_owner_tag_no_reset", "mnist_ctrl_axil.v",
      "        owner_tag_reg <= 32'd0;\n        interrupt_reg", "        interrupt_reg",
      "aresetn does not clear OWNER_TAG"),
    M("c_irq_en_no_reset", "mnist_ctrl_axil.v",
      "        irq_en_reg <= 1'b0;\n", "",
      "aresetn does not clear CTRL.IRQ_EN"),
    M("c_read_after_start", "mnist_ctrl_axil.v",
      "if (busy || start_next || start_reg) begin", "if (busy || start_next) begin",
      "window read the cycle after START answered (stale) instead of SLVERR"),
    M("c_read_lost_hangs", "mnist_ctrl_axil.v",
      "end else if (eng_reset) begin", "end else if (1'b0) begin",
      "window read lost to the engine reset never answered"),
    # ---- mnist_stream_in: slots, framing, flush
    M("s_tready_ignores_full", "mnist_stream_in.v",
      "(state_next == ST_RECV && full_next != 2'd2)", "(state_next == ST_RECV)",
      "TREADY high with both image slots full"),
    M("s_rem_off_by_one", "mnist_stream_in.v",
      "rem_next = n_images - 32'd1;", "rem_next = n_images;",
      "image count bound: expects N+1 images"),
    M("s_early_tlast_cause", "mnist_stream_in.v",
      "s_axis_tlast && !final_beat;", "s_axis_tlast && !end_of_img;",
      "TLAST at the end of image m < N-1 not flagged EARLY_TLAST"),
    M("s_n_good_broken", "mnist_stream_in.v",
      "n_good_next = img_reg;", "n_good_next = img_reg + 32'd1;",
      "n_good counts the broken image as good"),
    M("s_abort_keeps_err_flag", "mnist_stream_in.v",
      "full_next = 2'd0;\n        err_flag_next = 1'b0;\n    end else if (start_ctl)",
      "full_next = 2'd0;\n    end else if (start_ctl)",
      "err_flag not cleared by SOFT_RESET"),
    M("s_abort_on_tlast_flushes", "mnist_stream_in.v",
      "(state_reg != ST_IDLE && !(beat_fire && s_axis_tlast))", "(state_reg != ST_IDLE)",
      "abort in the cycle of the TLAST beat still flushes (waits for another TLAST)"),
    M("s_flush_idle_511", "mnist_stream_in.v",
      "idle_reg == IDLE_LAST)", "idle_reg == IDLE_LAST - 1'b1)",
      "flush ends after 511 idle cycles, not 512"),
    # ---- mnist_result_out: FIFO room, TLAST, terminator, withdrawal
    M("r_room_limit_plus1", "mnist_result_out.v",
      "ROOM_LIMIT_INT = FIFO_DEPTH - WORDS;", "ROOM_LIMIT_INT = FIFO_DEPTH - WORDS + 1;",
      "FIFO room check one too high"),
    M("r_tlast_every_word", "mnist_result_out.v",
      "tlast_next = ld_w10 && ld_rem_reg == 32'd0;", "tlast_next = ld_rem_reg == 32'd0;",
      "TLAST on every word of the last record"),
    M("r_images_done_on_offer", "mnist_result_out.v",
      "(beat_fire && tw10_reg) ? images_done_inc", "(tvalid_reg && tw10_reg) ? images_done_inc",
      "IMAGES_DONE counts an offered, not an accepted, word 10"),
    M("r_images_done_not_cleared", "mnist_result_out.v",
      "        images_done_next = 32'd0;\n", "",
      "IMAGES_DONE not cleared by START"),
    M("r_term_after_tlast", "mnist_result_out.v",
      "term_reg || (open_reg && !(tvalid_reg && tlast_reg))", "term_reg || open_reg",
      "SOFT_RESET with the TLAST beat on offer still adds a terminator"),
    M("r_abort_drops_beat", "mnist_result_out.v",
      "tvalid_next = tvalid_reg && !m_axis_tready;\n        term_next",
      "tvalid_next = 1'b0;\n        term_next",
      "SOFT_RESET withdraws the beat on offer"),
    M("r_open_on_accept", "mnist_result_out.v",
      "open_next = (open_reg || load)", "open_next = (open_reg || beat_fire)",
      "packet counted open only once a beat is accepted (no terminator after an offered one)"),
    M("r_wait_ignores_beats", "mnist_result_out.v",
      "wait_next = beat_fire ? {WAIT_WIDTH{1'b0}} : wait_reg + 1'b1;",
      "wait_next = wait_reg + 1'b1;",
      "512-cycle withdrawal counts from the abort, not from the last beat taken"),
    M("r_withdraw_live", "mnist_result_out.v",
      "if (aborted_reg && wait_reg == WAIT_LAST) begin", "if (wait_reg == WAIT_LAST) begin",
      "a live batch's beat withdrawn after 512 cycles without TREADY"),
    M("r_use_err_gt", "mnist_result_out.v",
      "use_err_next = err_flag && ld_rec_reg >= n_good;",
      "use_err_next = err_flag && ld_rec_reg > n_good;",
      "first bad image's record taken from the FIFO, not generated"),
    # ---- mnist_layer2: seed clamp, argmax, producer timing, clears
    M("l2_seed_clamp_9", "mnist_layer2.v",
      "(|logit_sh[LOGIT_WIDTH-2:8])", "(|logit_sh[LOGIT_WIDTH-2:9])",
      "seed clamp misses 256..511"),
    M("l2_seed_logical_shift", "mnist_layer2.v",
      "logit_reg >>> shift_l2", "logit_reg >> shift_l2",
      "seed shift is logical: negative logits clamp to 255"),
    M("l2_argmax_last_tie", "mnist_layer2.v",
      "logit_reg > best_reg", "logit_reg >= best_reg",
      "argmax picks the highest index on ties"),
    M("l2_start_ignores_room", "mnist_layer2.v",
      "havail_reg != 2'd0 && res_room;", "havail_reg != 2'd0;",
      "a record starts without res_room"),
    M("l2_pend_early", "mnist_layer2.v",
      "if (w10_out_reg) begin", "if (w10_valid_reg) begin",
      "next record may start one cycle before word 10 is counted by the FIFO"),
    M("l2_index_not_cleared", "mnist_layer2.v",
      "        index_next = 16'd0;\n", "",
      "image index not cleared by START"),
    # ---- mnist_top (+ layer 1, MAC lane, weight bank)
    M("t_draining_no_out", "mnist_top.v",
      "in_flushing || out_flushing;", "in_flushing;",
      "IDLE/START ignore the result stream's terminator still pending"),
    M("t_busy_ignores_in_done", "mnist_top.v",
      "if (out_done && in_done) begin", "if (out_done) begin",
      "BUSY falls before the input is consumed to TLAST"),
    M("t_soft_reset_no_engine_reset", "mnist_top.v",
      "eng_rst_n_reg <= aresetn && !soft_reset;", "eng_rst_n_reg <= aresetn;",
      "SOFT_RESET does not reset layers 1 and 2"),
    M("t_w2_mirror_first_word", "mnist_top.v",
      "win_wr_addr >= W2_WORD_BASE;", "win_wr_addr > W2_WORD_BASE;",
      "first W2 word not mirrored into layer 2"),
    M("l1_h_clamp_9", "mnist_layer1.v",
      "(|rq_sh_reg[ACC_WIDTH-2:8])", "(|rq_sh_reg[ACC_WIDTH-2:9])",
      "layer-1 requantizer clamp misses 256..511"),
    M("l1_ignores_h_slots", "mnist_layer1.v",
      "!release_reg && hcnt_reg != 2'd2;", "!release_reg;",
      "layer 1 starts an image with both h slots held by layer 2"),
    M("mac_no_sign_extend", "mnist_mac_lane.v",
      "{{(ACC_WIDTH-PROD_WIDTH){m_reg[PROD_WIDTH-1]}}, m_reg}",
      "{{(ACC_WIDTH-PROD_WIDTH){1'b0}}, m_reg}",
      "MAC product not sign-extended"),
    M("bank_read_latency_1", "mnist_weight_bank.v",
      "rd_data_reg <= mem_q_reg;", "rd_data_reg <= mem[rd_addr];",
      "weight bank read latency 1 instead of 2"),
]
# fmt: on


@dataclass
class Result:
    """What the checks did to one mutant."""

    name: str
    block: str
    what: str
    status: str = "survived"  # killed / survived / invalid
    killed_by: str = ""
    level: str = ""  # proof / bench / whole
    checks: dict[str, str] = field(default_factory=dict)  # node id -> PASS/FAIL
    seconds: float = 0.0


def _copy_repo(dest: Path) -> None:
    """The working tree without .git and build products."""
    ignore = shutil.ignore_patterns(
        ".git",
        "build",
        "__pycache__",
        "*.egg-info",
        ".ruff_cache",
        "node_modules",
        "*.png",
        "sim_build",
    )
    shutil.copytree(REPO, dest, ignore=ignore, symlinks=True)


def _lint(work: Path) -> tuple[bool, str]:
    """The mutated RTL still elaborates (warnings allowed)."""
    rtl = sorted((work / "hw" / "rtl").glob("mnist_*.v"))
    cmd = [
        os.environ.get("VERILATOR", "verilator"),
        "--lint-only",
        "-Wno-fatal",
        "-Wno-lint",
        "-Wno-style",
        "-I" + str(work / "hw" / "rtl"),
        "--top-module",
        "mnist_top",
        *map(str, rtl),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return proc.returncode == 0, proc.stderr[-2000:]


def _run_check(work: Path, node: str, log: Path) -> bool:
    """Run one pytest node in the copy; True if it passed."""
    cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", node]
    with log.open("a") as fh:
        fh.write(f"\n=== {node}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, cwd=work, stdout=fh, stderr=subprocess.STDOUT, timeout=CHECK_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            fh.write(f"=== timeout after {CHECK_TIMEOUT_S} s: counted as killed\n")
            return False
    return proc.returncode == 0


def _apply(path: Path, mutant: Mutant) -> str:
    """Apply the edit in place; returns the original text."""
    text = path.read_text()
    hits = text.count(mutant.find)
    if hits != 1:
        raise SystemExit(f"{mutant.name}: {mutant.find!r} found {hits} times in {mutant.file}")
    path.write_text(text.replace(mutant.find, mutant.replace))
    return text


def run_mutant(
    work: Path, mutant: Mutant, all_checks: bool, whole: bool, levels: tuple[str, ...]
) -> Result:
    """Apply one mutant to the copy, run its checks, restore the file."""
    res = Result(mutant.name, mutant.block, mutant.what)
    path = work / "hw" / "rtl" / mutant.file
    log = OUT / "logs" / f"{mutant.name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"{mutant.name}: {mutant.what}\n")
    start = time.monotonic()
    original = _apply(path, mutant)
    try:
        ok, lint_log = _lint(work)
        if not ok:
            res.status = "invalid"
            with log.open("a") as fh:
                fh.write(lint_log)
            return res
        stages = [
            ("proof", PROOFS[mutant.block]),
            ("bench", BENCHES[mutant.block]),
            ("stress", [STRESS]),
        ]
        stages = [s for s in stages if s[0] in levels]
        if whole:
            stages.append(("whole", [n for n in WHOLE if n not in BENCHES[mutant.block]]))
        for level, nodes in stages:
            if level == "whole" and res.status == "killed":
                break
            for node in nodes:
                passed = _run_check(work, node, log)
                res.checks[node] = "PASS" if passed else "FAIL"
                if not passed and res.status != "killed":
                    res.status, res.killed_by, res.level = "killed", node, level
                if res.status == "killed" and not all_checks:
                    break
            if res.status == "killed" and not all_checks:
                break
    finally:
        path.write_text(original)
        res.seconds = time.monotonic() - start
    return res


def _short(node: str) -> str:
    """A check's name for the table."""
    name = node.split("::")[-1]
    if "test_proof[" in node:
        return name.replace("test_proof[", "").rstrip("]").replace("-", ".") + ".sby"
    if "::" not in node:
        return Path(node).stem
    return name


def table(results: list[Result]) -> str:
    """Markdown: one row per mutant, then the kill rate per block."""
    rows = ["| mutant | block | bug | killed by | level |", "|---|---|---|---|---|"]
    for r in results:
        killer = _short(r.killed_by) if r.killed_by else f"**{r.status}**"
        rows.append(f"| `{r.name}` | {r.block} | {r.what} | {killer} | {r.level or '-'} |")
    rows += [
        "",
        "| block | mutants | killed by its own proof | by its own bench | by whole design | "
        "survived | own-block kill rate |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    blocks = sorted({r.block for r in results}, key=list(PROOFS).index)
    for b in [*blocks, "all"]:
        rs = [r for r in results if b in ("all", r.block) and r.status != "invalid"]
        n = len(rs)
        by = {lv: sum(r.level == lv for r in rs) for lv in ("proof", "bench", "whole", "stress")}
        own = by["proof"] + by["bench"]
        rate = f"{100 * own / n:.0f} %" if n else "-"
        rows.append(
            f"| {b} | {n} | {by['proof']} | {by['bench']} | {by['whole']} | "
            f"{n - sum(by.values())} | {rate} |"
        )
    return "\n".join(rows)


def _write_readme(text: str) -> None:
    """Replace the table between the markers in hw/README.md."""
    readme = REPO / "hw" / "README.md"
    body = readme.read_text()
    if README_BEGIN not in body or README_END not in body:
        raise SystemExit(f"{readme}: markers {README_BEGIN!r} ... {README_END!r} missing")
    head, rest = body.split(README_BEGIN, 1)
    _, tail = rest.split(README_END, 1)
    readme.write_text(f"{head}{README_BEGIN}\n{text}\n{README_END}{tail}")


def main(argv: list[str] | None = None) -> int:
    """Command line: run the selected mutants and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", action="append", default=[], help="run mutants whose name contains this")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--all-checks", action="store_true", help="do not stop at the first kill")
    ap.add_argument("--no-whole", action="store_true", help="skip the whole-design stage")
    ap.add_argument(
        "--only",
        choices=("proof", "bench", "stress"),
        help="run only this level of checks (what it catches alone); stress: the stress test",
    )
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT, help="results directory")
    ap.add_argument(
        "--merge",
        action="store_true",
        help="update the rows of the last results.json instead of replacing it",
    )
    ap.add_argument("--readme", action="store_true", help="write the table into hw/README.md")
    args = ap.parse_args(argv)

    names = [m.name for m in MUTANTS]
    if len(set(names)) != len(names):
        raise SystemExit("duplicate mutant names")
    chosen = [m for m in MUTANTS if not args.k or any(k in m.name for k in args.k)]
    if args.list:
        for m in chosen:
            print(f"{m.name:30} {m.block:10} {m.what}")
        print(f"{len(chosen)} mutants")
        return 0

    global OUT
    OUT = args.out.resolve()
    OUT.mkdir(parents=True, exist_ok=True)
    levels = (args.only,) if args.only else ("proof", "bench")
    if args.only == "stress":
        args.no_whole = True
    results_path = OUT / "results.json"
    previous: dict[str, Result] = {}
    if args.merge and results_path.exists():
        previous = {d["name"]: Result(**d) for d in json.loads(results_path.read_text())["results"]}
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mnist-mutate-") as tmp:
        work = Path(tmp) / "repo"
        _copy_repo(work)
        for i, m in enumerate(chosen, 1):
            r = run_mutant(work, m, args.all_checks, not args.no_whole, levels)
            previous[m.name] = r
            print(
                f"[{i}/{len(chosen)}] {m.name:30} {r.status:8} {_short(r.killed_by) or '-':28} "
                f"{r.seconds:6.0f} s",
                flush=True,
            )
    elapsed = time.monotonic() - start
    order = {n: i for i, n in enumerate(names)}
    results = sorted((r for n, r in previous.items() if n in order), key=lambda r: order[r.name])
    text = table(results)
    results_path.write_text(
        json.dumps(
            {
                "seconds": elapsed,
                "command": " ".join(sys.argv),
                "results": [asdict(r) for r in results],
            },
            indent=1,
        )
    )
    (OUT / "table.md").write_text(text + "\n")
    print(text)
    print(f"\n{len(chosen)} mutants run in {elapsed / 60:.1f} min; results in {OUT}")
    if args.readme:
        cmd = " ".join(["python", "hw/scripts/mutate.py", *sys.argv[1:]])
        _write_readme(
            f"{text}\n\nThis run: {len(chosen)} mutants in {elapsed / 60:.1f} min (`{cmd}`)."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
