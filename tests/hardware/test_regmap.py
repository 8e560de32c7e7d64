"""pynq_mnist.regmap: generated header fresh, docs agree, weight layout exact."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from pynq.registers import RegisterMap

from pynq_mnist.hardware import regmap

ROOT = Path(__file__).resolve().parents[2]
ARCH_DOC = ROOT / "docs" / "architecture.md"


def test_vh_is_fresh() -> None:
    committed = regmap.VH_PATH.read_text()
    assert committed == regmap.render_vh(), (
        "hw/rtl/mnist_regmap.vh is stale: run python -m pynq_mnist.regmap --write-vh"
    )
    assert "generated" in committed and "do not edit" in committed


def test_check_vh_detects_staleness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "mnist_regmap.vh"
    stale.write_text(regmap.render_vh().replace("4D4E0100", "4D4E0101"))
    monkeypatch.setattr(regmap, "VH_PATH", stale)
    assert regmap.main(["--check-vh"]) == 1
    stale.write_text(regmap.render_vh())
    assert regmap.main(["--check-vh"]) == 0


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


def _loop_layout(w1: np.ndarray, w2: np.ndarray, nb: int) -> np.ndarray:
    """Window built weight by weight from the prose rules in architecture.md."""
    npl = 128 // nb
    out = np.full(101632, 99, dtype=np.int64)
    for n in range(128):
        bank, j = n % nb, n // nb
        for i in range(784):
            out[(j * 784 + i) * nb + bank] = w1[n, i]
        for o in range(10):
            out[(784 * npl + o * npl + j) * nb + bank] = w2[o, n]
    return out


@pytest.mark.parametrize("nb", [1, 2, 32, 64, 128])
def test_pack_weights_matches_loop_layout(nb: int) -> None:
    rng = np.random.default_rng(1234 + nb)
    w1 = rng.integers(-128, 128, size=(128, 784), dtype=np.int64)
    w2 = rng.integers(-128, 128, size=(10, 128), dtype=np.int64)
    packed = regmap.pack_weights(w1, w2, nb)
    assert packed.dtype == np.int8 and packed.shape == (101632,)
    expected = _loop_layout(w1, w2, nb)
    np.testing.assert_array_equal(packed.astype(np.int64), expected)
    # the checker catches one flipped weight
    w1b = w1.copy()
    w1b[77, 500] ^= 1
    assert not np.array_equal(regmap.pack_weights(w1b, w2, nb).astype(np.int64), expected)
    u1, u2 = regmap.unpack_weights(packed.view(np.uint8), nb)
    np.testing.assert_array_equal(u1, w1)
    np.testing.assert_array_equal(u2, w2)


def test_pack_weights_rejects_bad_input() -> None:
    w1 = np.zeros((128, 784), np.int8)
    w2 = np.zeros((10, 128), np.int8)
    with pytest.raises(ValueError, match="num_banks=48"):
        regmap.pack_weights(w1, w2, 48)
    with pytest.raises(ValueError, match="w1 shape"):
        regmap.pack_weights(w1[:, :10], w2, 64)
    with pytest.raises(ValueError, match="outside int8"):
        regmap.pack_weights(w1.astype(np.int16) + 200, w2, 64)
    with pytest.raises(ValueError, match="not an integer"):
        regmap.pack_weights(w1.astype(np.float32), w2, 64)


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


def test_dma_map_matches_pg021() -> None:
    """Offsets and bits copied by hand from Xilinx PG021 (AXI DMA v7.1, direct register mode)."""
    pg021_offsets = {
        "MM2S_DMACR": 0x00,
        "MM2S_DMASR": 0x04,
        "MM2S_SA": 0x18,
        "MM2S_SA_MSB": 0x1C,
        "MM2S_LENGTH": 0x28,
        "S2MM_DMACR": 0x30,
        "S2MM_DMASR": 0x34,
        "S2MM_DA": 0x48,
        "S2MM_DA_MSB": 0x4C,
        "S2MM_LENGTH": 0x58,
    }
    assert {name: regmap.dma_offset(name) for name in pg021_offsets} == pg021_offsets
    for channel in ("MM2S", "S2MM"):
        assert regmap.dma_bit(f"{channel}_DMACR", "RS") == 0x1
        assert regmap.dma_bit(f"{channel}_DMACR", "Reset") == 0x4
        assert regmap.dma_bit(f"{channel}_DMACR", "IOC_IrqEn") == 0x1000
        assert regmap.dma_bit(f"{channel}_DMACR", "Err_IrqEn") == 0x4000
        assert regmap.dma_bit(f"{channel}_DMASR", "Halted") == 0x1
        assert regmap.dma_bit(f"{channel}_DMASR", "Idle") == 0x2
        assert regmap.dma_bit(f"{channel}_DMASR", "DMAIntErr") == 0x10
        assert regmap.dma_bit(f"{channel}_DMASR", "DMASlvErr") == 0x20
        assert regmap.dma_bit(f"{channel}_DMASR", "DMADecErr") == 0x40
        assert regmap.dma_bit(f"{channel}_DMASR", "IOC_Irq") == 0x1000
        assert regmap.dma_bit(f"{channel}_DMASR", "Err_Irq") == 0x4000
