"""The virtual board's DMA memory: fake physical addresses for host buffers.

On a board, ``pynq.allocate`` takes physically contiguous memory from the
kernel's CMA pool (``pynq/buffer.py``, ``PynqBuffer.physical_address``) and
the AXI DMA reaches it by physical address. Here each buffer is host memory
given a unique, page-aligned address in a CMA-like pool below 4 GiB (the DMA
is built with ``c_addr_width`` = 32, PG021), and :meth:`BufferPool.lookup`
turns a (physical address, size) the DMA model was given back into host
memory. A buffer's range is free again once nothing refers to its memory.
"""

from __future__ import annotations

import bisect
import weakref
from dataclasses import dataclass

import numpy as np

from ..errors import AcceleratorError

__all__ = ["PAGE", "POOL_BASE", "POOL_SIZE", "BufferPool"]

POOL_BASE = 0x1000_0000
POOL_SIZE = 0x1000_0000
PAGE = 4096


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

    def __init__(self) -> None:
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
        start = POOL_BASE
        for region in self._regions:
            if region.phys - start >= span:
                break
            start = max(start, region.phys + _pages(region.size))
        if start + span > POOL_BASE + POOL_SIZE:
            raise AcceleratorError(
                f"sim: cannot allocate {nbytes} bytes: the {POOL_SIZE >> 20} MiB "
                f"buffer pool at {POOL_BASE:#x} is full"
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
