"""pynq_mnist.hardware.regmap: one table, constants derived from it, docs agree."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pynq.registers import RegisterMap

from pynq_mnist.hardware import regmap
from pynq_mnist.hardware.table import RO, RW, Field, Register, RegisterTable

ROOT = Path(__file__).resolve().parents[2]
ARCH_DOC = ROOT / "docs" / "architecture.md"


def _doc_register_table() -> dict[str, int]:
    rows = re.findall(
        r"^\|\s*(0x[0-9A-Fa-f]+)\s*\|\s*([A-Z_0-9]+)\s*\|",
        ARCH_DOC.read_text(),
        re.MULTILINE,
    )
    return {name: int(off, 16) for off, name in rows}


def test_registers_match_architecture_doc() -> None:
    doc = _doc_register_table()
    ours = {name: r["address_offset"] for name, r in regmap.REGISTERS.items()}
    assert doc == ours


def test_constants() -> None:
    assert regmap.ID_VALUE == 0x4D4E0100
    assert regmap.LAYER_SIZES_VALUE == 784 | (128 << 12) | (10 << 24)
    assert regmap.WEIGHT_WINDOW_OFFSET == 0x20000
    assert regmap.WEIGHT_WINDOW_BYTES == 101632
    assert regmap.WEIGHT_WINDOW_OFFSET + regmap.WEIGHT_WINDOW_BYTES <= 1 << regmap.AXIL_ADDR_WIDTH
    assert regmap.ACCEL_RANGE == 1 << regmap.AXIL_ADDR_WIDTH
    assert regmap.RESULT_WORDS_PER_IMAGE == 11
    assert regmap.VLNV == "pynq-mnist.dev:user:mnist_accel:1.0"
    assert (regmap.ACCEL_BASE, regmap.DMA_BASE) == (0x43C00000, 0x40400000)
    assert regmap.DMA_PARAMETERS["c_include_sg"] == "0"
    # every register lies in the register space and no two overlap
    offs = sorted(r["address_offset"] for r in regmap.REGISTERS.values())
    assert len(set(offs)) == len(offs) and offs[-1] < regmap.REG_SPACE_BYTES


def test_pynq_register_map_builds() -> None:
    cls = RegisterMap.create_subclass("mnist_accel", regmap.REGISTERS)
    buf = np.zeros(regmap.REG_SPACE_BYTES // 4, dtype=np.uint32)
    buf[regmap.REG_ID // 4] = regmap.ID_VALUE
    buf[regmap.REG_STATUS // 4] = regmap.STATUS_DONE | regmap.STATUS_IDLE
    rm = cls(buf)
    assert rm.ID.MAGIC == 0x4D4E
    assert rm.STATUS.DONE == 1 and rm.STATUS.BUSY == 0 and rm.STATUS.IDLE == 1


def test_hw_readme_register_table() -> None:
    """hw/README.md documents the same offsets, names and access as regmap.py."""
    text = (ROOT / "hw" / "README.md").read_text()
    rows = re.findall(
        r"^\|\s*(0x[0-9A-Fa-f]+)\s*\|\s*([A-Z_0-9]+)\s*\|\s*(RO|RW|RO/W1C)\s*\|",
        text,
        re.MULTILINE,
    )
    documented = {name: (int(off, 16), acc) for off, name, acc in rows}
    access = {"read-only": "RO", "read-write": "RW"}
    ours = {
        name: (r["address_offset"], "RO/W1C" if name == "STATUS" else access[r["access"]])
        for name, r in regmap.REGISTERS.items()
    }
    assert documented == ours


def test_constants_are_read_from_the_table() -> None:
    status = regmap.ACCEL["STATUS"]
    assert regmap.REG_STATUS == status.offset == 0x14
    assert regmap.STATUS_BUSY == status["BUSY"].mask == 1 << 1
    assert regmap.CTRL_SOFT_RESET == 1 << 1 and regmap.ERR_MISSING_TLAST == 1 << 1
    assert regmap.STATUS_START_REJECTED == 1 << 4 and regmap.ERR_ZERO_IMAGES == 1 << 3
    assert regmap.SHIFT_WIDTH == 5 and regmap.REG_OWNER_TAG == 0x30
    assert (regmap.RESULT_INDEX_SHIFT, regmap.RESULT_INDEX_WIDTH) == (8, 16)
    assert regmap.RESULT_ERROR_BIT == 31 and regmap.RESULT_SEED_SHIFT == 4
    assert regmap.ACCEL.pynq() == regmap.REGISTERS
    assert regmap.REGISTERS["STATUS"]["fields"]["DONE"] == {
        "bit_offset": 2,
        "bit_width": 1,
        "access": RW,
        "description": "batch done (W1C, cleared by START)",
    }
    assert set(regmap.RESULT_WORD10_FIELDS) == {"DIGIT", "SEED_DIGIT", "INDEX", "ERROR"}


def test_every_register_offset_is_declared_once() -> None:
    """No REG_* constant is typed apart from the table: each is one of its offsets."""
    offsets = {name: r.offset for name, r in regmap.ACCEL.items()}
    constants = {k[4:]: v for k, v in vars(regmap).items() if k.startswith("REG_")}
    constants.pop("SPACE_BYTES")
    assert constants == offsets


def test_table_rejects_bad_declarations() -> None:
    with pytest.raises(ValueError, match="overlaps"):
        Register("X", 0, RW, "", (Field("A", 0, 4, RW, ""), Field("B", 3, 1, RW, "")))
    with pytest.raises(ValueError, match="overlaps or overflows"):
        Register("X", 0, RW, "", (Field("A", 30, 4, RW, ""),))
    with pytest.raises(ValueError, match="access"):
        Field("A", 0, 1, "write-only", "")
    with pytest.raises(ValueError, match="unique"):
        RegisterTable(Register("X", 0, RO, ""), Register("Y", 0, RO, ""))
    with pytest.raises(ValueError, match="multiples of 4"):
        RegisterTable(Register("X", 2, RO, ""))
    with pytest.raises(ValueError, match="does not fit"):
        regmap.ACCEL["ID"].value(MINOR=256)
    with pytest.raises(KeyError, match="no field"):
        regmap.ACCEL["ID"]["PATCH"]
