"""The ``sim`` backend: ``MnistOverlay`` on the virtual board, the fabric backend's code path.

``SimBackend`` writes the block design's ``.hwh`` and a stand-in ``.bit``
(``pynq_mnist.sim.bitstream``), and opens them with the unmodified ``MnistOverlay``
(``pynq.Overlay``) on a ``VirtualDevice`` (Verilated RTL + behavioural AXI
DMA): pynq parses the ``.hwh``, downloads, sets FCLK0 and binds ``MnistAccel``
and ``pynq.lib.dma.DMA`` by VLNV, exactly as on a board.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..board.overlay import MnistOverlay
from ..errors import BackendUnavailable
from ..hardware import boards, hwh
from ..sim.bitstream import standin_bitstream
from ..sim.device import VirtualDevice
from .base import AcceleratorBackend, Inference

__all__ = ["SIM_BOARD_ENV", "SIM_TIMEOUT_S", "SimBackend"]

SIM_BOARD_ENV = "PYNQ_MNIST_SIM_BOARD"

# The Verilated RTL runs ~30x slower than the 100 MHz fabric: a 10k-image
# transfer takes seconds of wall time, so the sim's deadline is longer.
SIM_TIMEOUT_S = 60.0


def _board_from_env() -> str:
    """The virtual board's board: ``$PYNQ_MNIST_SIM_BOARD``, else the default.

    Raises
    ------
    BackendUnavailable
        Not a supported board.
    """
    key = os.environ.get(SIM_BOARD_ENV, "").strip().lower() or boards.DEFAULT_BOARD
    if key not in boards.BOARDS:
        raise BackendUnavailable(
            f"${SIM_BOARD_ENV}={key!r} is not a board: choose one of {', '.join(boards.BOARDS)}"
        )
    return key


class SimBackend(AcceleratorBackend):
    """Runs the model on the Verilated RTL through pynq.Overlay and the real pynq stack.

    Parameters
    ----------
    timeout_s : float
        Deadline of every wait in the driver.
    device : VirtualDevice, optional
        Use this device instead of a new one.
    dma_parameters : dict, optional
        Build the design with other AXI DMA parameters, e.g.
        ``{"c_sg_length_width": "12"}`` for a shorter maximum transfer.
    design : hwh.BlockDesign, optional
        The block design to download (instance names, hierarchy, ...); its
        NUM_BANKS and board must be the device's. Default: regmap's names on
        the device's board.
    **device_kwargs
        Passed to ``VirtualDevice`` when ``device`` is None; its ``board``
        defaults to ``$PYNQ_MNIST_SIM_BOARD`` (``kv260``, ...), else a PYNQ-Z2.
    """

    name = "sim"

    def __init__(
        self,
        timeout_s: float = SIM_TIMEOUT_S,
        device: VirtualDevice | None = None,
        dma_parameters: dict[str, str] | None = None,
        design: hwh.BlockDesign | None = None,
        **device_kwargs: Any,
    ) -> None:
        if device is None:
            device_kwargs.setdefault("board", _board_from_env())
            device = VirtualDevice(**device_kwargs)
        self.device = device
        self.device.make_active()
        try:
            if design is None:
                design = hwh.BlockDesign(
                    board=self.device.board.key,
                    num_banks=self.device.num_banks,
                    dma_parameters=tuple(sorted((dma_parameters or {}).items())),
                )
            self.overlay = MnistOverlay(
                standin_bitstream(design), device=self.device, timeout_s=timeout_s
            )
            self.accel = self.overlay.accel
            self.dma = self.overlay.dma
        except BaseException:
            self.device.close()
            raise
        self._closed = False

    def run(self, images: np.ndarray) -> Inference:
        """As on a board, plus ``device_register_accesses``: what the virtual board served."""
        before = sum(self.device.register_accesses.values())
        inference = super().run(images)
        stats = dict(inference.stats or {})
        stats["device_register_accesses"] = sum(self.device.register_accesses.values()) - before
        return Inference(inference.logits, inference.digits, stats)

    def close(self) -> None:
        """Free buffers, stop the simulator and restore pynq's previous active device."""
        if self._closed:
            return
        self._closed = True
        self.accel.close()
        self.device.close()
