"""The board runtime: is this a board (:mod:`.detect`, no pynq), the overlay
(:class:`MnistOverlay`), the accelerator driver (:class:`MnistAccel`) and its AXI DMA.

``MnistOverlay`` and ``MnistAccel`` import pynq, so they are loaded on first
use: ``from pynq_mnist.board import MnistOverlay`` works wherever pynq is
installed, and ``import pynq_mnist`` never imports pynq.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .accel import MnistAccel
    from .overlay import MnistOverlay

__all__ = ["MnistAccel", "MnistOverlay"]


def __getattr__(name: str) -> Any:
    if name == "MnistOverlay":
        from .overlay import MnistOverlay

        return MnistOverlay
    if name == "MnistAccel":
        from .accel import MnistAccel

        return MnistAccel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
