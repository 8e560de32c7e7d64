"""Register tables: each register and field declared once, in pynq's shape on demand.

A :class:`RegisterTable` holds :class:`Register` rows, each with its
:class:`Field` rows. Constants are derived from it (``table["STATUS"].offset``,
``table["STATUS"]["BUSY"].mask``), and :meth:`RegisterTable.pynq` gives the
dict that ``pynq.registers.RegisterMap.create_subclass`` takes (and that pynq
builds from a ``.hwh``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["RO", "RW", "Field", "Register", "RegisterTable"]

RO = "read-only"
RW = "read-write"
_ACCESS = (RO, RW)


@dataclass(frozen=True)
class Field:
    """Bits ``[lsb + width - 1 : lsb]`` of a register."""

    name: str
    lsb: int
    width: int
    access: str
    description: str

    def __post_init__(self) -> None:
        if self.access not in _ACCESS:
            raise ValueError(f"field {self.name}: access {self.access!r} not in {_ACCESS}")
        if self.lsb < 0 or self.width < 1:
            raise ValueError(f"field {self.name}: lsb={self.lsb} width={self.width}")

    @property
    def mask(self) -> int:
        """The field's bits in place, e.g. ``0x4`` for a one-bit field at bit 2."""
        return ((1 << self.width) - 1) << self.lsb

    def pynq(self) -> dict[str, Any]:
        """The field in pynq's register-map shape."""
        return {
            "bit_offset": self.lsb,
            "bit_width": self.width,
            "access": self.access,
            "description": self.description,
        }


@dataclass(frozen=True)
class Register:
    """A register: byte offset, access, description and its fields (LSB first)."""

    name: str
    offset: int
    access: str
    description: str
    fields: tuple[Field, ...] = ()
    size: int = 32

    def __post_init__(self) -> None:
        if self.access not in _ACCESS:
            raise ValueError(f"register {self.name}: access {self.access!r} not in {_ACCESS}")
        used = 0
        for f in self.fields:
            if f.lsb + f.width > self.size or used & f.mask:
                raise ValueError(f"register {self.name}: field {f.name} overlaps or overflows")
            used |= f.mask
        if len({f.name for f in self.fields}) != len(self.fields):
            raise ValueError(f"register {self.name}: duplicate field names")

    def __getitem__(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}")

    def value(self, **fields: int) -> int:
        """The register word holding these field values, e.g. ``ID.value(MAJOR=1, ...)``.

        Raises
        ------
        ValueError
            A value does not fit its field.
        """
        word = 0
        for name, value in fields.items():
            f = self[name]
            if not 0 <= value < 1 << f.width:
                raise ValueError(f"{self.name}.{name}={value} does not fit {f.width} bits")
            word |= value << f.lsb
        return word

    def pynq(self) -> dict[str, Any]:
        """The register in pynq's register-map shape."""
        return {
            "address_offset": self.offset,
            "access": self.access,
            "size": self.size,
            "description": self.description,
            "fields": {f.name: f.pynq() for f in self.fields},
        }


class RegisterTable(Mapping[str, Register]):
    """Registers by name, in declaration order; offsets unique and word-aligned."""

    def __init__(self, *registers: Register) -> None:
        self._registers = {r.name: r for r in registers}
        offsets = [r.offset for r in registers]
        if len(self._registers) != len(registers) or len(set(offsets)) != len(offsets):
            raise ValueError("register names and offsets must be unique")
        if any(offset % 4 for offset in offsets):
            raise ValueError(f"register offsets {offsets} must be multiples of 4")

    def __getitem__(self, name: str) -> Register:
        return self._registers[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._registers)

    def __len__(self) -> int:
        return len(self._registers)

    def pynq(self) -> dict[str, dict[str, Any]]:
        """The dict ``pynq.registers.RegisterMap.create_subclass`` takes."""
        return {name: r.pynq() for name, r in self._registers.items()}
