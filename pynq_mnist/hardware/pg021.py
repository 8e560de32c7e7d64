"""The AXI DMA's registers in direct register mode (Xilinx PG021, AXI DMA v7.1).

The one place these offsets and bits are written down in this project; the
driver and the virtual board's DMA model both read them from here. The
channels share one layout: MM2S at 0x00, S2MM at 0x30.
"""

from __future__ import annotations

from typing import Any

from .table import RO, RW, Field, Register, RegisterTable

__all__ = ["DMA", "DMA_REGISTERS", "dma_bit", "dma_offset"]

_CONTROL_FIELDS = (
    Field("RS", 0, 1, RW, "Run/Stop"),
    Field("Reset", 2, 1, RW, "Soft reset of both channels (self-clearing)"),
    Field("Keyhole", 3, 1, RW, "Keyhole read/write"),
    Field("Cyclic_BD_Enable", 4, 1, RW, "Cyclic BD mode (SG only)"),
    Field("IOC_IrqEn", 12, 1, RW, "Interrupt on complete enable"),
    Field("Dly_IrqEn", 13, 1, RW, "Delay interrupt enable"),
    Field("Err_IrqEn", 14, 1, RW, "Error interrupt enable"),
    Field("IRQThreshold", 16, 8, RW, "Interrupt threshold (SG only)"),
    Field("IRQDelay", 24, 8, RW, "Interrupt delay (SG only)"),
)
_STATUS_FIELDS = (
    Field("Halted", 0, 1, RO, "Channel halted (RS=0 or error)"),
    Field("Idle", 1, 1, RO, "Transfer complete; 0 before the first transfer"),
    Field("SGIncld", 3, 1, RO, "Scatter gather included"),
    Field("DMAIntErr", 4, 1, RO, "Internal error (length 0, packet > LENGTH)"),
    Field("DMASlvErr", 5, 1, RO, "Slave error on the memory map"),
    Field("DMADecErr", 6, 1, RO, "Decode error (unmapped address)"),
    Field("IOC_Irq", 12, 1, RW, "Interrupt on complete (W1C)"),
    Field("Dly_Irq", 13, 1, RW, "Delay interrupt (W1C)"),
    Field("Err_Irq", 14, 1, RW, "Error interrupt (W1C)"),
)

DMA = RegisterTable(
    Register("MM2S_DMACR", 0x00, RW, "MM2S DMA Control register", _CONTROL_FIELDS),
    Register("MM2S_DMASR", 0x04, RW, "MM2S DMA Status register", _STATUS_FIELDS),
    Register("MM2S_SA", 0x18, RW, "MM2S Source Address, lower 32 bits"),
    Register("MM2S_SA_MSB", 0x1C, RW, "MM2S Source Address, upper 32 bits"),
    Register("MM2S_LENGTH", 0x28, RW, "MM2S transfer length in bytes; writing starts it"),
    Register("S2MM_DMACR", 0x30, RW, "S2MM DMA Control register", _CONTROL_FIELDS),
    Register("S2MM_DMASR", 0x34, RW, "S2MM DMA Status register", _STATUS_FIELDS),
    Register("S2MM_DA", 0x48, RW, "S2MM Destination Address, lower 32 bits"),
    Register("S2MM_DA_MSB", 0x4C, RW, "S2MM Destination Address, upper 32 bits"),
    Register(
        "S2MM_LENGTH",
        0x58,
        RW,
        "S2MM buffer length in bytes; writing arms; reads back bytes received",
    ),
)

# In the shape of the "registers" entry pynq builds from a .hwh.
DMA_REGISTERS: dict[str, dict[str, Any]] = DMA.pynq()


def dma_offset(register: str) -> int:
    """Byte offset of a PG021 register, e.g. ``dma_offset("S2MM_DMASR")``."""
    return DMA[register].offset


def dma_bit(register: str, field: str) -> int:
    """Mask of a field, e.g. ``dma_bit("S2MM_DMASR", "Idle")``."""
    return DMA[register][field].mask
