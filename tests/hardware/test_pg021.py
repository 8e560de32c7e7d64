"""pynq_mnist.hardware.pg021: the AXI DMA's registers as PG021 documents them."""

from __future__ import annotations

from pynq_mnist.hardware.pg021 import DMA, DMA_REGISTERS, dma_bit, dma_offset


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
    assert {name: dma_offset(name) for name in pg021_offsets} == pg021_offsets
    for channel in ("MM2S", "S2MM"):
        assert dma_bit(f"{channel}_DMACR", "RS") == 0x1
        assert dma_bit(f"{channel}_DMACR", "Reset") == 0x4
        assert dma_bit(f"{channel}_DMACR", "IOC_IrqEn") == 0x1000
        assert dma_bit(f"{channel}_DMACR", "Err_IrqEn") == 0x4000
        assert dma_bit(f"{channel}_DMASR", "Halted") == 0x1
        assert dma_bit(f"{channel}_DMASR", "Idle") == 0x2
        assert dma_bit(f"{channel}_DMASR", "DMAIntErr") == 0x10
        assert dma_bit(f"{channel}_DMASR", "DMASlvErr") == 0x20
        assert dma_bit(f"{channel}_DMASR", "DMADecErr") == 0x40
        assert dma_bit(f"{channel}_DMASR", "IOC_Irq") == 0x1000
        assert dma_bit(f"{channel}_DMASR", "Err_Irq") == 0x4000


def test_dma_registers_are_the_table() -> None:
    assert DMA.pynq() == DMA_REGISTERS
    assert DMA_REGISTERS["S2MM_DMASR"]["fields"]["Idle"]["bit_offset"] == 1
    assert DMA["MM2S_DMACR"]["IRQDelay"].mask == 0xFF00_0000
