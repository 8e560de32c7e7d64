"""The ``fabric`` backend: the model on the FPGA of a PYNQ board, through :class:`MnistOverlay`."""

from __future__ import annotations

import os
from typing import Any

from ..board.detect import board_problem
from ..errors import BackendUnavailable
from .base import AcceleratorBackend

__all__ = ["FabricBackend"]


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
            problem = board_problem()
            if problem is not None:
                raise BackendUnavailable(f"fabric backend unavailable: {problem}")
        from ..board.overlay import MnistOverlay  # imports pynq: only once a board is there

        self.overlay = MnistOverlay(bitfile, **overlay_kwargs)
        self.accel = self.overlay.accel
        self.device = None

    def close(self) -> None:
        """Free the DMA buffers."""
        self.accel.close()
