"""The MEMORY_MAPPED capability of the virtual board: what ``mmap`` returns on a board.

pynq's ``MMIO`` (``pynq/mmio.py``) uses ``device.mmap(base, length)`` when the
device has the ``MEMORY_MAPPED`` capability, and reads and writes the uint32
array it returns (``MMIO.array``); ``EmbeddedDevice.mmap`` maps ``/dev/mem``,
so every element load/store is a bus transaction. :class:`MappedWindow` is
that array for the virtual board: every element access is one register
transaction of the device it was mapped from.
"""

from __future__ import annotations

import operator
from typing import Any, Protocol

import numpy as np

__all__ = ["MappedWindow", "RegisterBus"]


class RegisterBus(Protocol):
    """What a mapped window needs of its device: pynq's ``REGISTER_RW`` calls."""

    def read_registers(self, address: int, length: int) -> bytes: ...

    def write_registers(self, address: int, data: bytes) -> None: ...


class MappedWindow:
    """A MEMORY_MAPPED register window: what ``mmap`` is on a board, for the virtual one.

    On a board, ``EmbeddedDevice.mmap`` returns a uint32 ndarray over
    ``/dev/mem``, and every element load/store is a bus transaction. Here every
    element read/write goes to the device as a register transaction (AXI4-Lite
    on the RTL, the DMA model, or the SLCR). It supports what pynq's MMIO,
    Register and RegisterMap and the driver do with ``MMIO.array``: integer
    indexing, contiguous slices (views), ``view("u4")``, ``len`` and
    conversion with ``np.array`` / ``np.asarray`` (one block read).
    """

    dtype = np.dtype(np.uint32)
    ndim = 1

    def __init__(self, device: RegisterBus, base_addr: int, words: int) -> None:
        self._device = device
        self._base = base_addr
        self._words = max(words, 0)

    @property
    def shape(self) -> tuple[int]:
        return (self._words,)

    @property
    def size(self) -> int:
        return self._words

    def __len__(self) -> int:
        return self._words

    def __repr__(self) -> str:
        return f"MappedWindow({self._base:#x}, {self._words} words)"

    def _address(self, index: Any) -> int:
        i = operator.index(index)
        if i < 0:
            i += self._words
        if not 0 <= i < self._words:
            raise IndexError(f"index {index} out of a {self._words}-word window")
        return self._base + 4 * i

    def _span(self, index: slice) -> tuple[int, int]:
        start, stop, step = index.indices(self._words)
        if step != 1:
            raise IndexError("a mapped register window has no strided views")
        return self._base + 4 * start, max(stop - start, 0)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            base, words = self._span(index)
            return MappedWindow(self._device, base, words)
        data = self._device.read_registers(self._address(index), 4)
        return np.uint32(int.from_bytes(data, "little"))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            base, words = self._span(index)
            values = np.broadcast_to(np.asarray(value, dtype=np.uint32), (words,))
            if words:
                self._device.write_registers(base, values.astype("<u4").tobytes())
            return
        word = int(value) & 0xFFFF_FFFF
        self._device.write_registers(self._address(index), word.to_bytes(4, "little"))

    def view(self, dtype: Any = None) -> MappedWindow:
        """This window (only the uint32 view pynq takes exists)."""
        if dtype is not None and np.dtype(dtype) != self.dtype:
            raise TypeError(f"a mapped register window is uint32, not {np.dtype(dtype)}")
        return self

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = np.zeros(0, np.uint32)
        if self._words:
            raw = self._device.read_registers(self._base, 4 * self._words)
            data = np.frombuffer(bytes(raw), dtype="<u4").astype(np.uint32)
        return data if dtype is None else data.astype(dtype)
