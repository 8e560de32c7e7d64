"""The ``sim`` backend: the unmodified pynq DMA driver and MnistAccel on the virtual board.

``SimBackend`` makes a ``VirtualDevice`` (Verilated RTL + behavioural AXI DMA)
pynq's active device, then builds ``pynq.lib.dma.DMA`` and ``MnistAccel`` from
the device's hwh-equivalent descriptions: exactly the code path of the
``fabric`` backend, on a different ``pynq.Device``.
"""

from __future__ import annotations

from typing import Any

from pynq.lib.dma import DMA

from .. import regmap
from ..backend import AcceleratorBackend
from ..driver import MnistAccel
from .device import VirtualDevice

__all__ = ["SIM_TIMEOUT_S", "SimBackend"]

# The Verilated RTL runs ~30x slower than the 100 MHz fabric: a 10k-image
# transfer takes seconds of wall time, so the sim's deadline is longer.
SIM_TIMEOUT_S = 60.0


class SimBackend(AcceleratorBackend):
    """Runs the model on the Verilated RTL through the real pynq stack.

    Parameters
    ----------
    timeout_s : float
        Deadline of every wait in the driver.
    device : VirtualDevice, optional
        Use this device instead of a new one.
    dma_parameters : dict, optional
        Override AXI DMA description parameters, e.g. ``{"c_sg_length_width": "12"}``
        for a build with a shorter maximum transfer.
    **device_kwargs
        Passed to ``VirtualDevice`` when ``device`` is None.
    """

    name = "sim"

    def __init__(
        self,
        timeout_s: float = SIM_TIMEOUT_S,
        device: VirtualDevice | None = None,
        dma_parameters: dict[str, str] | None = None,
        **device_kwargs: Any,
    ) -> None:
        self.device = device if device is not None else VirtualDevice(**device_kwargs)
        self.device.make_active()
        try:
            dma_description = self.device.description(regmap.DMA_INSTANCE)
            dma_description["parameters"].update(dma_parameters or {})
            self.dma = DMA(dma_description)
            self.accel = MnistAccel(self.device.description(regmap.ACCEL_INSTANCE), timeout_s)
            self.accel.attach_dma(self.dma)
        except BaseException:
            self.device.close()
            raise
        self._closed = False

    def close(self) -> None:
        """Free buffers, stop the simulator and restore pynq's previous active device."""
        if self._closed:
            return
        self._closed = True
        self.accel.close()
        self.device.close()
