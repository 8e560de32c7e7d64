"""The virtual board's DMA memory: fake physical addresses for host buffers.

On a board, ``pynq.allocate`` takes physically contiguous memory from the
kernel's CMA pool (``pynq/buffer.py``, ``PynqBuffer.physical_address``) and
the AXI DMA reaches it by physical address. Here each buffer is host memory
given a unique, page-aligned address in a CMA-like pool, and
:meth:`BufferPool.lookup` turns a (physical address, size) the DMA model was
given back into host memory; an address in no live buffer has no memory (a
decode error), so the DMA never reads or writes memory it was not given.
The pool lies 256 MiB into the highest DDR block the board's HP port reaches
(:func:`pool_span`): below 512 MiB on the PYNQ-Z1/Z2 (the DMA has 32-bit
addresses there), in DDR_LOW on the ZCU104 and Ultra96-V2, and above 4 GiB in
DDR_HIGH on the KV260 (0x8_1000_0000), so its buffers need the DMA's 64-bit
addresses. A buffer's range is free again once nothing refers to its memory.
"""

from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import AcceleratorError
from ..hardware.boards import Board

__all__ = ["PAGE", "POOL_OFFSET", "POOL_SIZE", "BufferPool", "pool_span"]

POOL_OFFSET = 0x1000_0000
POOL_SIZE = 0x1000_0000
PAGE = 4096


def pool_span(board: Board) -> tuple[int, int]:
    """(base, size) of the buffer pool: 256 MiB into the board's highest DDR block."""
    block = max(board.memory, key=lambda b: b.base)
    return block.base + POOL_OFFSET, min(POOL_SIZE, block.span - POOL_OFFSET)


@dataclass
class _Region:
    phys: int
    size: int
    backing: weakref.ref[np.ndarray]


def _pages(nbytes: int) -> int:
    """``nbytes`` rounded up to whole pages."""
    return -(-nbytes // PAGE) * PAGE


class BufferPool:
    """First-fit allocator of page-aligned physical ranges, each tied to a live host array."""

    def __init__(self, base: int = POOL_OFFSET, size: int = POOL_SIZE) -> None:
        self.base = base
        self.size = size
        self._regions: list[_Region] = []

    def reserve(self, nbytes: int, backing: np.ndarray) -> int:
        """The physical address of a new range of ``nbytes`` backed by ``backing``.

        Raises
        ------
        AcceleratorError
            The pool has no free range that large.
        """
        self._regions = [r for r in self._regions if r.backing() is not None]
        span = _pages(nbytes)
        start = self.base
        for region in self._regions:
            if region.phys - start >= span:
                break
            start = max(start, region.phys + _pages(region.size))
        if start + span > self.base + self.size:
            raise AcceleratorError(
                f"sim: cannot allocate {nbytes} bytes: the {self.size >> 20} MiB "
                f"buffer pool at {self.base:#x} is full"
            )
        region = _Region(phys=start, size=nbytes, backing=weakref.ref(backing))
        bisect.insort(self._regions, region, key=lambda r: r.phys)
        return start

    def lookup(self, phys: int, nbytes: int) -> tuple[np.ndarray, int] | None:
        """(backing array, host pointer) for [phys, phys+nbytes) inside one live buffer, or None."""
        i = bisect.bisect_right([r.phys for r in self._regions], phys) - 1
        if i < 0:
            return None
        region = self._regions[i]
        backing = region.backing()
        if backing is None or phys + nbytes > region.phys + region.size:
            return None
        return backing, backing.ctypes.data + (phys - region.phys)

    def clear(self) -> None:
        """Forget every range (the board is closing)."""
        self._regions.clear()
