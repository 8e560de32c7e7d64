"""The block design of ``overlay/bd.tcl``: cells, VLNVs, addresses, DMA build, FCLK0.

Everything the Vivado scripts (through ``overlay/config.tcl``), the ``.hwh``
generator, the driver and the virtual board must agree on about the design
around the accelerator IP. :class:`BlockDesign` is what varies between builds.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import boards
from .boards import DEFAULT_BOARD, ZYNQ7000, PsFamily

__all__ = [
    "ACCEL_ADDRESS_BLOCK",
    "ACCEL_BASE",
    "ACCEL_CTRL_INTERFACE",
    "ACCEL_INSTANCE",
    "ACCEL_RANGE",
    "DEFAULT_NUM_BANKS",
    "DMA_ADDRESS_BLOCK",
    "DMA_BASE",
    "DMA_INSTANCE",
    "DMA_PARAMETERS",
    "DMA_RANGE",
    "DMA_REGISTER_BYTES",
    "DMA_VLNV",
    "FCLK_MHZ",
    "PLATFORM",
    "RESET_VLNV",
    "STREAM_DATA_WIDTH",
    "SUPPORTED_NUM_BANKS",
    "TOP_MODULE",
    "VIVADO_VERSION",
    "VLNV",
    "BlockDesign",
    "fclk_divisors",
]

VIVADO_VERSION = "2024.1"

# --- the accelerator IP ----------------------------------------------------------
VLNV = "pynq-mnist.dev:user:mnist_accel:1.0"
TOP_MODULE = "mnist_top"  # RTL top packaged as the IP
ACCEL_INSTANCE = "mnist_accel"
ACCEL_BASE = 0x43C00000
ACCEL_RANGE = 0x40000  # registers + weight window: the IP decodes all of it
ACCEL_CTRL_INTERFACE = "s_axi_ctrl"
ACCEL_ADDRESS_BLOCK = "reg0"  # the single address block of that interface
SUPPORTED_NUM_BANKS = (32, 64, 128)
DEFAULT_NUM_BANKS = 64
STREAM_DATA_WIDTH = 32  # s_axis/m_axis TDATA bits, on both sides of the DMA

# --- the AXI DMA (PG021) -----------------------------------------------------------
DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"
DMA_INSTANCE = "axi_dma"
DMA_BASE = 0x40400000
DMA_RANGE = 0x10000
DMA_ADDRESS_BLOCK = "Reg"
DMA_REGISTER_BYTES = 4096  # the S_AXI_LITE register block inside DMA_RANGE
# Values as strings, the way pynq parses them out of a .hwh.
DMA_PARAMETERS: dict[str, str] = {
    "c_include_sg": "0",
    "c_sg_length_width": "26",
    "c_include_mm2s": "1",
    "c_include_s2mm": "1",
    "c_m_axi_mm2s_data_width": "32",
    "c_m_axis_mm2s_tdata_width": str(STREAM_DATA_WIDTH),
    "c_m_axi_s2mm_data_width": "32",
    "c_s_axis_s2mm_tdata_width": str(STREAM_DATA_WIDTH),
    "c_include_mm2s_dre": "0",
    "c_include_s2mm_dre": "0",
    "c_mm2s_burst_size": "16",
    "c_s2mm_burst_size": "16",
    "c_addr_width": "32",
    "c_micro_dma": "0",
}

# --- the platform: reset, interconnects ----------------------------------------------
# Platform cells of overlay/bd.tcl the two PS families share (the overlay tests check
# they agree); the PS and its reset cell's name are the family's (boards.PsFamily).
RESET_VLNV = "xilinx.com:ip:proc_sys_reset:5.0"
PLATFORM = {
    "ctrl_ic": ("ps7_axi_periph", "xilinx.com:ip:axi_interconnect:2.1"),
    "mem_ic": ("axi_mem_smc", "xilinx.com:ip:smartconnect:1.0"),
}
FCLK_MHZ = boards.BOARDS[DEFAULT_BOARD].fclk_mhz  # the default board's PL clock


def fclk_divisors(mhz: float, family: PsFamily = ZYNQ7000) -> tuple[int, int]:
    """(DIVISOR0, DIVISOR1) of the PL clock's PLL for ``mhz`` (as the PS wizards pick them).

    Exact on Zynq-7000 (IO PLL 1000 MHz); within 0.01 % on Zynq UltraScale+,
    whose IOPLL runs at 33.333 MHz x 90 / 2 = 1499.985 MHz (150 MHz asked:
    149.9985 MHz, as Vivado's ``ACT_FREQMHZ``).

    Raises
    ------
    ValueError
        No pair of 6-bit divisors gives ``mhz``.
    """
    pll = family.pll_mhz
    pairs = [
        (d0, d1)
        for d0 in range(1, 64)
        for d1 in range(1, 64)
        if abs(pll / (d0 * d1) - mhz) <= 1e-4 * mhz
    ]
    if not pairs:
        raise ValueError(
            f"PL clock {mhz} MHz is not the {family.pll_name} ({pll:g} MHz) "
            "divided by two 6-bit divisors"
        )
    if family.pl_divisor1_is_one:  # the ZynqMP wizard: DIVISOR0 alone where it can
        return min(pairs, key=lambda p: (abs(pll / (p[0] * p[1]) - mhz), p[1], p[0]))
    return min(pairs, key=lambda p: (abs(pll / (p[0] * p[1]) - mhz), max(p), -p[0]))


@dataclass(frozen=True)
class BlockDesign:
    """What varies between builds of the design: instance paths, NUM_BANKS, FCLK0, DMA build.

    ``accel``/``dma`` are block-design paths such as ``mnist_accel`` or
    ``accel/mnist_accel_0`` (a cell inside hierarchy ``accel``).
    """

    accel: str = ACCEL_INSTANCE
    dma: str = DMA_INSTANCE
    num_banks: int = DEFAULT_NUM_BANKS
    fclk_mhz: float | None = None  # None: the board's
    name: str = "mnist"
    vivado_version: str = VIVADO_VERSION
    dma_parameters: tuple[tuple[str, str], ...] = ()  # overrides of DMA_PARAMETERS
    board: str = DEFAULT_BOARD
    hp_data_width: int | None = None  # the DMA's HP port; None: the family's

    def __post_init__(self) -> None:
        platform = boards.board(self.board)
        if self.fclk_mhz is None:
            object.__setattr__(self, "fclk_mhz", platform.fclk_mhz)
        if self.hp_data_width is None:
            object.__setattr__(self, "hp_data_width", platform.family.default_hp_width)
        if self.hp_data_width not in platform.family.hp_widths:
            raise ValueError(
                f"hp_data_width={self.hp_data_width}: {platform.family.title} HP ports are "
                f"{'/'.join(map(str, platform.family.hp_widths))} bits"
            )
        if not 0 < self.fclk_mhz <= platform.family.max_fclk_mhz:
            raise ValueError(
                f"PL clock {self.fclk_mhz} MHz: {platform.family.title} allows "
                f"up to {platform.family.max_fclk_mhz:g} MHz"
            )
        unknown = {key for key, _ in self.dma_parameters} - set(DMA_PARAMETERS)
        if unknown:
            raise ValueError(f"unknown AXI DMA parameters {sorted(unknown)}")
        if self.num_banks not in SUPPORTED_NUM_BANKS:
            raise ValueError(f"num_banks={self.num_banks}: not one of {SUPPORTED_NUM_BANKS}")
        for path in (self.accel, self.dma):
            if not path or path.startswith("/") or path.endswith("/") or "//" in path:
                raise ValueError(f"instance path {path!r} is not of the form [hier/]cell")
        if self.accel == self.dma:
            raise ValueError(f"accelerator and DMA cannot both be {self.accel!r}")
        fclk_divisors(self.fclk_mhz, platform.family)

    @property
    def platform(self) -> boards.Board:
        """The board this design is built for."""
        return boards.board(self.board)

    @property
    def family(self) -> boards.PsFamily:
        """The board's PS family."""
        return self.platform.family

    @property
    def fclk(self) -> float:
        """The PL clock in MHz (``fclk_mhz`` resolved)."""
        assert self.fclk_mhz is not None
        return float(self.fclk_mhz)

    @property
    def dma_config(self) -> dict[str, str]:
        """DMA_PARAMETERS for the board's family (address width), with this design's overrides."""
        family = {"c_addr_width": str(self.family.dma_addr_width)}
        return {**DMA_PARAMETERS, **family, **dict(self.dma_parameters)}
