"""Is this a PYNQ board that can run the overlay, and which bitstream? (never imports pynq)

``board_available()`` and ``find_bitstream()`` stay cheap off-board, so
``get_backend("auto")`` costs nothing where there is no board.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path

from ..errors import BackendUnavailable
from ..hardware.boards import BOARDS, board_for_env

__all__ = ["NEEDS_ROOT", "board_available", "board_problem", "find_bitstream"]

log = logging.getLogger(__name__)

BOARD_ENV = "BOARD"
OVERLAYS_DIR = Path(__file__).resolve().parent.parent / "overlays"
BITSTREAM_NAME = "mnist.bit"
# Present on a PYNQ board: the FPGA manager (PYNQ >= 2.6) or the old xlnk allocator.
FPGA_DEVICE_PATHS = (Path("/sys/class/fpga_manager/fpga0"), Path("/dev/xlnk"))
NEEDS_ROOT = (
    "PYNQ needs root (it maps /dev/mem and programs the FPGA): run as root, "
    "e.g. sudo -i, or the board's Jupyter"
)


def find_bitstream(board: str | None = None) -> Path:
    """Return ``overlays/<board>/mnist.bit`` (board: ``$BOARD``) if it and its .hwh exist.

    Raises
    ------
    BackendUnavailable
        No board name, or the .bit/.hwh pair is missing; the message lists where it looked.
    """
    board = board or os.environ.get(BOARD_ENV)
    if not board:
        available = sorted(p.name for p in OVERLAYS_DIR.glob("*") if p.is_dir())
        raise BackendUnavailable(
            f"${BOARD_ENV} is not set (PYNQ images set it, e.g. Pynq-Z2); "
            f"bitstreams are packaged for: {', '.join(available) or 'none'} in {OVERLAYS_DIR}"
        )
    bit = OVERLAYS_DIR / board / BITSTREAM_NAME
    hwh = bit.with_suffix(".hwh")
    missing = [str(p) for p in (bit, hwh) if not p.is_file()]
    if missing:
        known = board_for_env(board)
        remedy = (
            f"build it with make -C overlay BOARD={known.key} (overlay/README.md)"
            if known is not None
            else "overlays are built for " + ", ".join(b.env_name for b in BOARDS.values())
        )
        raise BackendUnavailable(
            f"no mnist overlay for board {board}: missing {', '.join(missing)}; {remedy}"
        )
    return bit


def board_problem() -> str | None:
    """Why this machine cannot run the fabric backend, or None if it can."""
    if not any(p.exists() for p in FPGA_DEVICE_PATHS):
        return "not a PYNQ board: none of " + ", ".join(str(p) for p in FPGA_DEVICE_PATHS)
    if os.geteuid() != 0:
        return NEEDS_ROOT
    try:
        find_bitstream()
    except BackendUnavailable as exc:
        return str(exc)
    if importlib.util.find_spec("pynq") is None:
        return "the pynq package is not installed"
    return None


def board_available() -> bool:
    """True on a PYNQ board with pynq installed and a packaged bitstream for ``$BOARD``.

    On a PYNQ board that cannot run the fabric backend (not root, no
    bitstream, no pynq), the reason is logged once per process.
    """
    try:
        problem = board_problem()
    except (OSError, ValueError) as exc:
        problem = str(exc)
    if problem is not None and any(p.exists() for p in FPGA_DEVICE_PATHS):
        _log_board_problem(problem)
    return problem is None


@functools.cache
def _log_board_problem(problem: str) -> None:
    log.warning("fabric backend unavailable on this PYNQ board: %s", problem)
