"""Counted register access over ``pynq.MMIO``, deadlines, and register values as text.

Every register access of the driver goes through one :class:`CountingMmio`, so
``MnistAccel.register_accesses`` (and the benchmark's accesses per batch) is
the sum over the accelerator's and the DMA's windows by construction.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..errors import AcceleratorTimeout

__all__ = [
    "POLL_FIRST_S",
    "WORD_BYTES",
    "AccessCount",
    "CountingMmio",
    "Deadline",
    "describe_bits",
]

WORD_BYTES = 4
# Pause between two reads of a register being polled. Short: the waits it
# serves (a reset, a status bit) end within microseconds on a healthy board.
POLL_FIRST_S = 10e-6


def describe_bits(value: int, fields: dict[str, dict[str, Any]]) -> str:
    """``0x00000005 (IDLE|DONE)``: the value and the names of its set 1-bit fields."""
    names = [
        name
        for name, f in fields.items()
        if int(f["bit_width"]) == 1 and value >> int(f["bit_offset"]) & 1
    ]
    return f"0x{value:08X} ({'|'.join(names) or '-'})"


class Deadline:
    """The instant ``seconds`` after creation, on ``time.monotonic()``."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def passed(self) -> bool:
        """True once the deadline is behind us."""
        return time.monotonic() > self.at


class AccessCount:
    """Register accesses made through the :class:`CountingMmio` objects that share it."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class CountingMmio:
    """A ``pynq.MMIO`` that counts each register access (a block counts one per 32-bit word).

    Parameters
    ----------
    mmio : pynq.MMIO
        The window to access; pynq chose when it was built whether that is
        ``mmap`` (``MEMORY_MAPPED``) or ``read_registers``/``write_registers``.
    count : AccessCount, optional
        A count shared with other windows of the same driver; a new one by default.
    """

    def __init__(self, mmio: Any, count: AccessCount | None = None) -> None:
        self.mmio = mmio
        self.count = AccessCount() if count is None else count
        # pynq's MMIO.read takes 1, 2, 4 or 8 bytes (3.0.1 and 4.0 alike) and
        # its REGISTER_RW ``array`` reads one word per element, so a block read
        # through MMIO alone costs a device call per word. The same test MMIO
        # made keeps it one mmap slice or one read_registers call.
        self._mapped = bool(mmio.device.has_capability("MEMORY_MAPPED"))

    @property
    def accesses(self) -> int:
        """Accesses counted so far (by every window sharing the count)."""
        return self.count.value

    def read(self, offset: int) -> int:
        """One 32-bit register read."""
        self.count.value += 1
        return int(self.mmio.read(offset))

    def write(self, offset: int, value: int) -> None:
        """One 32-bit register write."""
        self.count.value += 1
        self.mmio.write(offset, int(value))

    def write_block(self, offset: int, data: np.ndarray) -> None:
        """Write ``data`` (whole words) from ``offset`` as pynq's MMIO writes bytes."""
        self.count.value += data.nbytes // WORD_BYTES
        self.mmio.write(offset, data.tobytes())

    def read_block(self, offset: int, nbytes: int) -> np.ndarray:
        """``nbytes`` from ``offset`` as uint32 words, in one go."""
        words = nbytes // WORD_BYTES
        self.count.value += words
        if self._mapped:
            first = offset // WORD_BYTES
            return np.array(self.mmio.array[first : first + words], dtype=np.uint32)
        raw = self.mmio.device.read_registers(self.mmio.base_addr + offset, nbytes)
        return np.frombuffer(bytes(raw), dtype="<u4").astype(np.uint32)

    def wait_bits(self, offset: int, mask: int, want: int, deadline: Deadline, what: str) -> int:
        """Read ``offset`` until ``value & mask == want``; return that value.

        Raises
        ------
        AcceleratorTimeout
            Not so by ``deadline``: ``recovery failed: <what> (reads 0x...)``.
        """
        while True:
            value = self.read(offset)
            if value & mask == want:
                return value
            if deadline.passed():
                raise AcceleratorTimeout(
                    f"recovery failed: {what} (reads 0x{value:08X}); reload the overlay"
                )
            time.sleep(POLL_FIRST_S)
