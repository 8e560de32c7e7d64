"""Virtual board: the RTL under Verilator behind a ``pynq.Device``.

``VirtualDevice`` (needs pynq) lives in :mod:`pynq_mnist.sim.device`, over
the PS register blocks and pynq's clock code on them (``ps``; per family:
``ps7`` the Zynq-7000 SLCR, ``psu`` the Zynq UltraScale+ CRL_APB, CRF_APB,
AXI_FS and AFIFM), the HP port and its width model (``hp_port``), the DMA
buffer pool (``memory``), the MEMORY_MAPPED window (``window``), the PG021 AXI
DMA model (``dma``) and the fault injection (``faults``). The Verilator build and cache are in
:mod:`pynq_mnist.sim.build`, the ctypes model in :mod:`pynq_mnist.sim.verilator`.
They are imported lazily so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimModel", "VirtualDevice", "build_library"]


def __getattr__(name: str) -> Any:
    if name == "VirtualDevice":
        from .device import VirtualDevice

        return VirtualDevice
    if name == "SimModel":
        from .verilator import SimModel

        return SimModel
    if name == "build_library":
        from .build import build_library

        return build_library
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
