"""The board side: find the packaged bitstream, download it, and run the model on it.

``board_available()`` and ``find_bitstream()`` never import pynq (it takes
about a second), so ``get_backend("auto")`` stays cheap off-board.
``MnistOverlay`` is built on first access, when pynq is imported.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from . import regmap
from .backend import AcceleratorBackend
from .errors import BackendUnavailable, ConfigError

__all__ = ["FabricBackend", "board_available", "find_bitstream"]  # and MnistOverlay, built lazily

log = logging.getLogger(__name__)

BOARD_ENV = "BOARD"
OVERLAYS_DIR = Path(__file__).resolve().parent / "overlays"
BITSTREAM_NAME = "mnist.bit"
# Present on a PYNQ board: the FPGA manager (PYNQ >= 2.6) or the old xlnk allocator.
FPGA_DEVICE_PATHS = (Path("/sys/class/fpga_manager/fpga0"), Path("/dev/xlnk"))


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
        raise BackendUnavailable(
            f"no mnist overlay for board {board}: missing {', '.join(missing)}"
        )
    return bit


def _board_problem() -> str | None:
    """Why this machine cannot run the fabric backend, or None if it can."""
    if not any(p.exists() for p in FPGA_DEVICE_PATHS):
        return "not a PYNQ board: none of " + ", ".join(str(p) for p in FPGA_DEVICE_PATHS)
    try:
        find_bitstream()
    except BackendUnavailable as exc:
        return str(exc)
    if importlib.util.find_spec("pynq") is None:
        return "the pynq package is not installed"
    return None


def board_available() -> bool:
    """True on a PYNQ board with pynq installed and a packaged bitstream for ``$BOARD``."""
    try:
        return _board_problem() is None
    except (OSError, ValueError):
        return False


def _fclk0_mhz() -> float:
    """FCLK_CLK0 as the PS actually runs it (regmap.FCLK_MHZ if it cannot be read)."""
    from pynq.ps import Clocks

    try:
        return float(Clocks.fclk0_mhz)
    except (OSError, RuntimeError, ValueError, AttributeError) as exc:
        log.warning("cannot read FCLK0 (%s): assuming %s MHz", exc, regmap.FCLK_MHZ)
        return float(regmap.FCLK_MHZ)


@functools.cache
def _overlay_class() -> type:
    import pynq

    from .driver import DEFAULT_TIMEOUT_S, MnistAccel

    class MnistOverlay(pynq.Overlay):  # type: ignore[misc]
        """The mnist overlay: ``.accel`` (MnistAccel, bound by VLNV) with ``.dma`` attached.

        Parameters
        ----------
        bitfile : str or Path, optional
            Defaults to the packaged bitstream for ``$BOARD``.
        download : bool
            Program the PL (default True).
        timeout_s : float
            Deadline of every wait on the hardware.
        """

        def __init__(
            self,
            bitfile: str | os.PathLike[str] | None = None,
            download: bool = True,
            timeout_s: float = DEFAULT_TIMEOUT_S,
            **kwargs: Any,
        ) -> None:
            path = find_bitstream() if bitfile is None else Path(bitfile)
            super().__init__(str(path), download=download, **kwargs)
            accel = getattr(self, regmap.ACCEL_INSTANCE)
            if not isinstance(accel, MnistAccel):
                raise ConfigError(
                    f"{path}: instance {regmap.ACCEL_INSTANCE} is {type(accel).__name__}, "
                    f"not MnistAccel: its VLNV differs from {regmap.VLNV}"
                )
            self.accel = accel
            self.dma = getattr(self, regmap.DMA_INSTANCE)
            self.accel.timeout_s = float(timeout_s)
            self.accel.fclk_mhz = _fclk0_mhz()
            self.accel.attach_dma(self.dma)

    return MnistOverlay


def __getattr__(name: str) -> Any:
    if name == "MnistOverlay":
        return _overlay_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class FabricBackend(AcceleratorBackend):
    """Runs the model on the FPGA of a PYNQ board.

    Raises
    ------
    BackendUnavailable
        Off-board, without pynq, or without a packaged bitstream for ``$BOARD``.
    """

    name = "fabric"

    def __init__(
        self, bitfile: str | os.PathLike[str] | None = None, **overlay_kwargs: Any
    ) -> None:
        if bitfile is None:
            problem = _board_problem()
            if problem is not None:
                raise BackendUnavailable(f"fabric backend unavailable: {problem}")
        self.overlay = _overlay_class()(bitfile, **overlay_kwargs)
        self.accel = self.overlay.accel
        self.device = None

    def close(self) -> None:
        """Free the DMA buffers."""
        self.accel.close()
