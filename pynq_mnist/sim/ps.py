"""The virtual board's processing system: PS register blocks and pynq's clock code on them.

A real PS has register blocks that pynq reads and writes through ``MMIO``
(``pynq/ps.py`` for the PL clocks, ``pynq/pl_server/embedded_device.py`` for
the HP port widths of a Zynq UltraScale+). :class:`PsRegisters` is the set of
those blocks a PS family has (``ps7.Ps7`` for Zynq-7000, ``psu.Psu`` for Zynq
UltraScale+), each plain read/write memory holding the values a PYNQ boot
leaves; :class:`ClockBinding` installs pynq's own ``Clocks`` implementation
for the family on a device, as a board of that family has it.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import AcceleratorError
from ..hardware.boards import Board, PsFamily
from .hp_port import HpPort

__all__ = ["ClockBinding", "PsRegisters", "RegisterBlock", "field_value"]


def field_value(fields: dict[str, dict[str, Any]], name: str, value: int) -> int:
    """``value`` placed in field ``name`` of one of pynq's register field tables."""
    width = int(fields[name]["bit_width"])
    if not 0 <= value < 1 << width:
        raise ValueError(f"{value} does not fit the {width}-bit field {name}")
    return value << int(fields[name]["bit_offset"])


def field_get(fields: dict[str, dict[str, Any]], name: str, word: int) -> int:
    """Field ``name`` of ``word`` (pynq's field table gives offset and width)."""
    width = int(fields[name]["bit_width"])
    return (word >> int(fields[name]["bit_offset"])) & ((1 << width) - 1)


@dataclass
class RegisterBlock:
    """One PS register block: ``base``, ``span`` bytes, word offset -> value (others read 0)."""

    name: str
    base: int
    span: int
    words: dict[int, int] = field(default_factory=dict)


class PsRegisters:
    """The PS register blocks of one family, addressed by physical address.

    Subclasses fill :attr:`blocks` with the boot values and implement
    :meth:`boot` (what the boot firmware programs from the booted design).
    """

    #: pynq's clock implementation of the family, in ``pynq.ps``.
    clocks_class = ""

    def __init__(self, blocks: Iterable[RegisterBlock]) -> None:
        self.blocks = {block.name: block for block in blocks}

    def windows(self) -> list[tuple[int, int]]:
        """(first, past-last) address of every block."""
        return [(b.base, b.base + b.span) for b in self.blocks.values()]

    def _block(self, address: int, length: int) -> RegisterBlock:
        for block in self.blocks.values():
            if block.base <= address and address + length <= block.base + block.span:
                return block
        raise ValueError(f"sim: {length} bytes at {address:#x} are in no PS register block")

    def read(self, address: int, length: int) -> bytes:
        """``length`` bytes (whole words) from ``address``, little-endian."""
        block = self._block(address, length)
        offset = address - block.base
        return b"".join(
            block.words.get(offset + 4 * i, 0).to_bytes(4, "little") for i in range(length // 4)
        )

    def write(self, address: int, data: bytes) -> None:
        """Store ``data`` (whole little-endian words) at ``address``."""
        block = self._block(address, len(data))
        offset = address - block.base
        for i in range(0, len(data), 4):
            block.words[offset + i] = int.from_bytes(data[i : i + 4], "little")

    def word(self, block: str, offset: int) -> int:
        """The value of the word at ``offset`` of ``block``."""
        return self.blocks[block].words.get(offset, 0)

    def set_word(self, block: str, offset: int, value: int) -> None:
        """Set the word at ``offset`` of ``block``."""
        self.blocks[block].words[offset] = value

    def boot(self, parser: Any) -> None:
        """Program what the boot firmware sets from the booted design (pynq's parser of it)."""
        raise NotImplementedError

    def port_widths(self, width_parameter: str) -> tuple[int, int] | None:
        """(read, write) bits the PS takes the beats of a slave port at; None: no register
        sets them (the port is as built)."""
        return None

    def check_design(self, parser: Any, board: Board) -> None:
        """Refuse a design whose PS is not this family's (pynq's parser of its .hwh).

        Raises
        ------
        AcceleratorError
            The design was built for the other PS family (or has no PS).
        """
        family = board.family
        ps_type = str(parser.ip_dict.get(getattr(parser, "ps_name", ""), {}).get("type", ""))
        if not family.is_ps(ps_type):
            raise AcceleratorError(
                f"sim: the design's PS is {ps_type or 'missing'}; this virtual "
                f"{board.title} has a {family.title} PS ({family.ps_vlnv})"
            )

    def hp_port(self, parser: Any, family: PsFamily) -> HpPort:
        """The DMA's port: the width the design's .hwh states it was built for, and how
        the PS takes it now."""
        parameters = parser.ip_dict[parser.ps_name]["parameters"]
        built = int(parameters.get(family.hp_width_parameter, family.default_hp_width))
        return HpPort(built, functools.partial(self.port_widths, family.hp_width_parameter))


class ClockBinding:
    """Points ``pynq.Clocks`` at pynq's own clock code for a device's PS, and back.

    pynq caches one clock implementation per process, chosen by the CPU it
    runs on (3.0.1) or by the device's ``arch`` (3.1, 4.0). With a device
    argument (3.1, 4.0) :meth:`bind` lets pynq choose by the device's arch;
    on 3.0.1, which would choose by this machine's CPU, it installs the class
    a board of the family gets. :meth:`unbind` restores what was there before
    the first bind.
    """

    _KEYS = ("_real_instance", "device")

    def __init__(self) -> None:
        self._restore: dict[str, Any] | None = None

    def bind(self, device: Any, clocks_class: str) -> None:
        """Make ``pynq.Clocks`` read and set the PL clocks through ``device``'s PS registers.

        ``clocks_class`` is pynq's implementation for the family
        (``_ClocksZynq``, ``_ClocksUltrascale``), used where pynq cannot
        choose by the device.
        """
        from pynq import ps

        if self._restore is None:
            self._restore = {
                key: ps.Clocks.__dict__[key] for key in self._KEYS if key in ps.Clocks.__dict__
            }
        implementation = getattr(ps, clocks_class)
        if "_real_instance" in ps.Clocks.__dict__:
            del ps.Clocks._real_instance
        if "device" in inspect.signature(implementation).parameters:
            ps.Clocks.device = device
            ps.Clocks._instance  # noqa: B018 -- pynq picks the implementation by device.arch
            if type(ps.Clocks._real_instance) is not implementation:
                raise RuntimeError(
                    f"sim: pynq chose {type(ps.Clocks._real_instance).__name__} for arch "
                    f"{device.arch!r}, a board of this family gets {clocks_class}"
                )
        else:  # pynq 3.0.1: its MMIO uses the active device, which is this one
            ps.Clocks._real_instance = implementation()

    def unbind(self) -> None:
        """Restore ``pynq.Clocks`` as it was before the first :meth:`bind` (idempotent)."""
        from pynq import ps

        if self._restore is None:
            return
        for key in self._KEYS:
            if key in self._restore:
                setattr(ps.Clocks, key, self._restore[key])
            elif key in ps.Clocks.__dict__:
                delattr(ps.Clocks, key)
        self._restore = None
