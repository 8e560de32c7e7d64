"""Virtual board: the RTL under Verilator behind a ``pynq.Device``.

``VirtualDevice`` (needs pynq) lives in :mod:`pynq_mnist.sim.device`; the
Verilator build and the ctypes model in :mod:`pynq_mnist.sim.verilator`.
Both are imported lazily so that importing this package stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SimModel", "VirtualDevice", "build_library"]


def __getattr__(name: str) -> Any:
    if name == "VirtualDevice":
        from .device import VirtualDevice

        return VirtualDevice
    if name in ("SimModel", "build_library"):
        from . import verilator

        return getattr(verilator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
