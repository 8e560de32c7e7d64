"""The PS's HP slave port between the DMA and DDR, and what a wrong port width does.

A Zynq UltraScale+ takes the beats of its AXI slave ports (S_AXI_HPn_FPD =
S_AXI_GPn) at the width its AFIFMn RDCTRL/WRCTRL FABRIC_WIDTH fields say;
the design was built for the width its ``.hwh`` states
(``C_SAXIGPn_DATA_WIDTH``). pynq sets the registers from the ``.hwh`` on
download (``set_axi_port_width``); when they disagree (an overlay opened with
``download=False`` over a boot that left another width, or a register
written since) every transfer through the port is corrupted (pynq's
docstring cites Xilinx AR 66295). Silicon's exact corruption is not
documented, so this model is an assumption, deterministic so tests can
compute it independently:

With the transfer's bytes numbered from its start address, ``b`` = the
built width and ``s`` = the width set, both in bytes, beat ``k`` of the
fabric side (bytes ``k*b .. k*b+b-1``) is taken by the PS as ``s`` bytes at
``k*s``; the byte lanes both widths have (``j < min(b, s)``) carry data:

- read (MM2S): fabric byte ``k*b + j`` = memory byte ``k*s + j`` for
  ``j < min(b, s)``, else 0 (undriven lanes read 0); memory past the buffer
  reads 0;
- write (S2MM): memory byte ``k*s + j`` = fabric byte ``k*b + j`` for
  ``j < min(b, s)``; the other bytes keep what they held (holes), and what
  would land past the buffer is dropped.

A matched port (the case of every download) costs nothing: the transfer
uses the buffer itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["HpPort", "read_through", "write_through"]


def _lanes(beats: int, built: int, width_set: int) -> tuple[np.ndarray, np.ndarray]:
    """(fabric byte index, memory byte index) of every carried byte of ``beats`` beats."""
    lanes = min(built, width_set)
    k = np.arange(beats, dtype=np.int64)[:, None]
    j = np.arange(lanes, dtype=np.int64)[None, :]
    return (k * built + j).ravel(), (k * width_set + j).ravel()


def read_through(memory: np.ndarray, nbytes: int, built: int, width_set: int) -> np.ndarray:
    """The ``nbytes`` the fabric receives reading ``memory`` (uint8, from the start address)."""
    beats = -(-nbytes // built)
    fabric, source = _lanes(beats, built, width_set)
    out = np.zeros(beats * built, np.uint8)
    inside = source < len(memory)
    out[fabric[inside]] = memory[source[inside]]
    return out[:nbytes]


def write_through(memory: np.ndarray, data: np.ndarray, built: int, width_set: int) -> None:
    """Store the fabric's ``data`` (uint8) into ``memory`` (from the start address) via the port."""
    beats = -(-len(data) // built)
    fabric, target = _lanes(beats, built, width_set)
    keep = (fabric < len(data)) & (target < len(memory))
    memory[target[keep]] = data[fabric[keep]]


def _no_register() -> None:
    return None


@dataclass
class HpPort:
    """The DMA's memory port: ``built`` bits (the design's .hwh) and the widths set.

    ``widths`` returns the (read, write) widths in bits the PS takes beats at
    now (the AFIFM registers), or None for a port without a width register
    (Zynq-7000), which is always as built.
    """

    built: int
    widths: Callable[[], tuple[int, int] | None] = _no_register

    def read_width(self) -> int:
        """Bits the PS takes read beats at."""
        widths = self.widths()
        return self.built if widths is None else widths[0]

    def write_width(self) -> int:
        """Bits the PS takes write beats at."""
        widths = self.widths()
        return self.built if widths is None else widths[1]
