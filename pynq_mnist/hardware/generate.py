"""The one generator: the Verilog header, ``overlay/config.tcl`` and the reference ``.hwh`` files.

``overlay/reference.hwh`` is the default (Zynq-7000, PYNQ-Z2) design,
``overlay/reference-kv260.hwh`` the same design on the ZynqMP reference board.

::

    python -m pynq_mnist.hardware.generate --write    # regenerate them all
    python -m pynq_mnist.hardware.generate --check    # exit 1 if any is stale

``make -C hw regmap`` and ``make -C overlay config`` run ``--write``; the
overlay build runs ``--check``; ``tests/hardware/test_generate.py`` fails when
a committed file is stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from . import hwh, tcl, vh

__all__ = ["OUTPUTS", "REPO", "main", "render_all", "stale"]

REPO = Path(__file__).resolve().parents[2]

# Repository-relative path -> the function that renders its text.
OUTPUTS: dict[Path, Callable[[], str]] = {
    vh.VH_PATH.relative_to(REPO): vh.render,
    tcl.CONFIG_PATH.relative_to(REPO): tcl.render,
    hwh.REFERENCE_PATH.relative_to(REPO): hwh.render,
    hwh.REFERENCE_ZYNQMP_PATH.relative_to(REPO): hwh.render_zynqmp_reference,
}


def render_all() -> dict[Path, str]:
    """Each generated file's repository-relative path and its text."""
    return {path: render() for path, render in OUTPUTS.items()}


def stale(root: Path = REPO) -> list[Path]:
    """The generated files under ``root`` that are missing or differ from their text."""
    out = []
    for path, text in render_all().items():
        target = root / path
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            out.append(path)
    return out


def write(root: Path = REPO) -> list[Path]:
    """Write every generated file under ``root``; return those that changed."""
    changed = stale(root)
    for path, text in render_all().items():
        if path in changed:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    """Command line: write or check the generated files; 1 if a check finds one stale."""
    parser = argparse.ArgumentParser(
        prog="python -m pynq_mnist.hardware.generate",
        description="Generate " + ", ".join(str(p) for p in OUTPUTS) + ".",
    )
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", action="store_true", help="regenerate the files")
    group.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    parser.add_argument(
        "--root", type=Path, default=REPO, help="repository root (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.write:
        for path in write(args.root):
            sys.stdout.write(f"wrote {path}\n")
        return 0
    paths = stale(args.root)
    for path in paths:
        sys.stderr.write(f"{args.root / path} is stale: run {parser.prog} --write\n")
    return 1 if paths else 0


if __name__ == "__main__":
    raise SystemExit(main())
