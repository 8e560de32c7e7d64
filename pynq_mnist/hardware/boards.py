"""The boards the overlay is built for, and how their processing systems differ.

One table: the Vivado scripts (through ``overlay/config.tcl``), the ``.hwh``
generator, the virtual board and the driver read it. A :class:`PsFamily` is
what a Zynq-7000 PS7 and a Zynq UltraScale+ PS (``zynq_ultra_ps_e``) differ in
for this design; a :class:`Board` is one PYNQ board: part, board files, the
name its image gives ``$BOARD``, memory, the PL clock its build targets.

Sources: UG585 (Zynq-7000 TRM: SLCR, FCLK from the IO PLL, M_AXI_GP0 at
0x4000_0000, S_AXI_HP0), UG1085 (Zynq UltraScale+ TRM: CRL_APB PL0_REF_CTRL,
M_AXI_HPM0_FPD at 0xA000_0000, S_AXI_HP0_FPD = S_AXI_GP2, DDR_LOW/DDR_HIGH),
pynq's ``ps.py`` and ``pl_server/embedded_device.py`` (the registers it
programs), and the ZCU104 ``base.hwh`` of the pynq 3.0.1 sdist (parameter
names and values Vivado writes for a ``zynq_ultra_ps_e``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "BOARDS",
    "DEFAULT_BOARD",
    "FAMILIES",
    "ZYNQ7000",
    "ZYNQMP",
    "Board",
    "MemoryBlock",
    "PsFamily",
    "board",
    "board_for_env",
]


@dataclass(frozen=True)
class MemoryBlock:
    """A PS memory region the DMA reaches through the design's HP port."""

    name: str  # the .hwh ADDRESSBLOCK name, e.g. HP0_DDR_LOW
    base: int
    span: int


@dataclass(frozen=True)
class PsFamily:
    """What the design around the accelerator depends on in one PS family."""

    name: str  # "zynq" | "zynqmp"
    title: str  # for messages and docs
    arch: str  # SYSTEMINFO ARCH of the .hwh
    machine: str  # `uname -m` of the board's Linux
    ps_instance: str  # block-design cell of the PS
    ps_vlnv: str
    reset_instance: str  # proc_sys_reset on the PL clock
    ctrl_master: str  # PS master interface: accelerator and DMA registers
    mem_slave: str  # PS slave interface the DMA's memory side uses
    mem_slave_port: str  # that port's name in the PS's address blocks (hwh INTERFACE)
    hp_width_parameter: str  # PS parameter (.hwh) stating mem_slave's data width (pynq reads it)
    master_width_parameter: str | None  # the same for ctrl_master (ZynqMP only)
    ctrl_master_width: int  # ctrl_master's data width in the build
    ctrl_master_clock: str  # PS clock input of ctrl_master
    mem_slave_clock: str  # PS clock input of mem_slave
    pl_clock: str  # PS pin of the PL clock
    pl_reset: str  # PS pin of the PL reset
    accel_base: int
    dma_base: int
    ref_clk_mhz: float  # the PS reference clock (crystal)
    pll_fbdiv: int  # the PLL the PL clock is divided from: feedback divider
    pll_div2: bool  # ... and its output divide-by-2 (ZynqMP)
    pll_name: str  # IO PLL (Zynq-7000) / IOPLL (ZynqMP)
    pl_divisor1_is_one: bool  # the wizard divides by DIVISOR0 alone where it can (ZynqMP)
    max_fclk_mhz: float  # PL clock limit of the family's data sheet
    dma_addr_width: int  # AXI DMA c_addr_width
    default_hp_width: int  # mem_slave's data width at power-on and in the build

    @property
    def ps_modtype(self) -> str:
        """The PS cell's MODTYPE, its VLNV's name: ``processing_system7``, ``zynq_ultra_ps_e``."""
        return self.ps_vlnv.split(":")[2]

    def is_ps(self, vlnv: str) -> bool:
        """Whether ``vlnv`` (an ip_dict ``type``) is this family's PS, at any version."""
        return vlnv.rsplit(":", 1)[0] == self.ps_vlnv.rsplit(":", 1)[0]

    @property
    def hp_widths(self) -> tuple[int, ...]:
        """The widths its HP ports can be built for: up to the power-on width (UG585: 32/64,
        UG1085: 32/64/128)."""
        return tuple(w for w in (32, 64, 128) if w <= self.default_hp_width)

    @property
    def pll_mhz(self) -> float:
        """The PL clock's source PLL output, as pynq's clock code computes it."""
        return self.ref_clk_mhz * self.pll_fbdiv / (2 if self.pll_div2 else 1)


# Zynq-7000 (UG585): FCLK0 = IO PLL (50 MHz x 20) / DIVISOR0 / DIVISOR1; the
# PYNQ-Z1/Z2 block designs put their IP on M_AXI_GP0 (0x4000_0000..0x7FFF_FFFF)
# and their DMAs on S_AXI_HP0 (64 bits). DS187: FCLK up to 250 MHz.
ZYNQ7000 = PsFamily(
    name="zynq",
    title="Zynq-7000",
    arch="zynq",
    machine="armv7l",
    ps_instance="processing_system7_0",
    ps_vlnv="xilinx.com:ip:processing_system7:5.5",
    reset_instance="rst_ps7_fclk0",
    ctrl_master="M_AXI_GP0",
    mem_slave="S_AXI_HP0",
    mem_slave_port="S_AXI_HP0",
    hp_width_parameter="C_S_AXI_HP0_DATA_WIDTH",
    master_width_parameter=None,
    ctrl_master_width=32,
    ctrl_master_clock="M_AXI_GP0_ACLK",
    mem_slave_clock="S_AXI_HP0_ACLK",
    pl_clock="FCLK_CLK0",
    pl_reset="FCLK_RESET0_N",
    accel_base=0x43C0_0000,
    dma_base=0x4040_0000,
    ref_clk_mhz=50.0,
    pll_fbdiv=20,
    pll_div2=False,
    pll_name="IO PLL",
    pl_divisor1_is_one=False,
    max_fclk_mhz=250.0,
    dma_addr_width=32,
    default_hp_width=64,
)

# Zynq UltraScale+ (UG1085): PL0 = IOPLL (33.333 MHz x 90 / 2) / DIVISOR0 /
# DIVISOR1 through CRL_APB.PL0_REF_CTRL; M_AXI_HPM0_FPD decodes 0xA000_0000..
# 0xAFFF_FFFF; S_AXI_HP0_FPD is the PS's S_AXI_GP2, 128 bits wide at power-on,
# its width set by pynq on download from C_SAXIGP2_DATA_WIDTH; DDR above 2 GiB
# sits at 0x8_0000_0000 (DDR_HIGH), so the DMA gets 64-bit addresses.
# DS925: PL clocks from the PS up to 333 MHz.
ZYNQMP = PsFamily(
    name="zynqmp",
    title="Zynq UltraScale+",
    arch="zynquplus",
    machine="aarch64",
    ps_instance="zynq_ultra_ps_e_0",
    ps_vlnv="xilinx.com:ip:zynq_ultra_ps_e:3.5",
    reset_instance="rst_ps8_pl0",
    ctrl_master="M_AXI_HPM0_FPD",
    mem_slave="S_AXI_HP0_FPD",
    mem_slave_port="SAXIGP2",
    hp_width_parameter="C_SAXIGP2_DATA_WIDTH",
    master_width_parameter="C_MAXIGP0_DATA_WIDTH",
    ctrl_master_width=128,  # the PS wizard's default, as in the ZCU104 base.hwh
    ctrl_master_clock="maxihpm0_fpd_aclk",
    mem_slave_clock="saxihp0_fpd_aclk",
    pl_clock="pl_clk0",
    pl_reset="pl_resetn0",
    accel_base=0xA000_0000,
    dma_base=0xA004_0000,
    ref_clk_mhz=33.333,
    pll_fbdiv=90,
    pll_div2=True,
    pll_name="IOPLL",
    pl_divisor1_is_one=True,  # ZCU104 base.hwh: PL0 100 MHz = 15 x 1
    max_fclk_mhz=333.0,
    dma_addr_width=64,
    default_hp_width=128,
)

FAMILIES = {family.name: family for family in (ZYNQ7000, ZYNQMP)}

_DDR_LOW_7000 = MemoryBlock("HP0_DDR_LOWOCM", 0x0000_0000, 0x2000_0000)
_DDR_LOW_MP = MemoryBlock("HP0_DDR_LOW", 0x0000_0000, 0x8000_0000)
_DDR_HIGH_MP = MemoryBlock("HP0_DDR_HIGH", 0x8_0000_0000, 0x8000_0000)


@dataclass(frozen=True)
class Board:
    """One PYNQ board: what its build and its image are."""

    key: str  # make -C overlay BOARD=<key>
    env_name: str  # $BOARD on its PYNQ image: the overlays/<env_name>/ directory
    title: str
    family: PsFamily
    part: str  # Vivado part
    board_part: str  # board-files pattern (get_board_parts)
    fclk_mhz: float  # the PL clock its build targets
    memory: tuple[MemoryBlock, ...]  # DDR the DMA reaches, low to high
    dsp: int  # DSP slices of the part (DSP48E1 / DSP48E2)
    bram36: int  # 36 Kb block RAMs of the part
    luts: int  # CLB LUTs of the part
    ffs: int  # CLB flip-flops of the part
    ram_bytes: int  # the board's PS memory
    systeminfo: tuple[str, str, str]  # part as the .hwh SYSTEMINFO splits it

    @property
    def device(self) -> str:
        """The part's device as Vivado's SYSTEMINFO names it: ``7z020``, ``xck26``."""
        return self.systeminfo[0]

    @property
    def package(self) -> str:
        """The part's package, e.g. ``clg400`` (SYSTEMINFO PACKAGE)."""
        return self.systeminfo[1]

    @property
    def speed_grade(self) -> str:
        """The part's speed grade, e.g. ``-1``, ``-2LV`` (SYSTEMINFO SPEEDGRADE)."""
        return self.systeminfo[2]


# Parts, DSP, BRAM, LUT and FF counts: DS190 (Zynq-7000), DS891 (Zynq UltraScale+),
# DS987 (Kria K26). Board-file names as Vivado's board store lists them.
# FCLK: 100 MHz on the Z1/Z2 (the PYNQ base overlays' FCLK0); 150 MHz on the
# UltraScale+ boards (IOPLL / 10 = 149.9985 MHz): the RTL's timing target
# (hw/README.md), inside the logic-depth budget of `make -C hw timing` on
# that family (its fan-out rule is open there: hw/README.md).
BOARDS: dict[str, Board] = {
    b.key: b
    for b in (
        Board(
            key="pynq-z1",
            env_name="Pynq-Z1",
            title="PYNQ-Z1",
            family=ZYNQ7000,
            part="xc7z020clg400-1",
            board_part="www.digilentinc.com:pynq-z1:part0:*",
            fclk_mhz=100,
            memory=(_DDR_LOW_7000,),
            dsp=220,
            bram36=140,
            luts=53_200,
            ffs=106_400,
            ram_bytes=512 << 20,
            systeminfo=("7z020", "clg400", "-1"),
        ),
        Board(
            key="pynq-z2",
            env_name="Pynq-Z2",
            title="PYNQ-Z2",
            family=ZYNQ7000,
            part="xc7z020clg400-1",
            board_part="tul.com.tw:pynq-z2:part0:*",
            fclk_mhz=100,
            memory=(_DDR_LOW_7000,),
            dsp=220,
            bram36=140,
            luts=53_200,
            ffs=106_400,
            ram_bytes=512 << 20,
            systeminfo=("7z020", "clg400", "-1"),
        ),
        Board(
            key="kv260",
            env_name="KV260",
            title="Kria KV260",
            family=ZYNQMP,
            part="xck26-sfvc784-2LV-c",
            board_part="xilinx.com:kv260_som:part0:*",
            fclk_mhz=150,
            memory=(_DDR_LOW_MP, _DDR_HIGH_MP),
            dsp=1248,
            bram36=144,
            luts=117_120,
            ffs=234_240,
            ram_bytes=4 << 30,
            systeminfo=("xck26", "sfvc784", "-2LV"),
        ),
        Board(
            key="zcu104",
            env_name="ZCU104",
            title="ZCU104",
            family=ZYNQMP,
            part="xczu7ev-ffvc1156-2-e",
            board_part="xilinx.com:zcu104:part0:*",
            fclk_mhz=150,
            memory=(_DDR_LOW_MP,),
            dsp=1728,
            bram36=312,
            luts=230_400,
            ffs=460_800,
            ram_bytes=2 << 30,
            systeminfo=("xczu7ev", "ffvc1156", "-2"),
        ),
        Board(
            key="ultra96v2",
            env_name="Ultra96V2",
            title="Ultra96-V2",
            family=ZYNQMP,
            part="xczu3eg-sbva484-1-e",
            board_part="avnet.com:ultra96v2:part0:*",
            fclk_mhz=150,
            memory=(_DDR_LOW_MP,),
            dsp=360,
            bram36=216,
            luts=70_560,
            ffs=141_120,
            ram_bytes=2 << 30,
            systeminfo=("xczu3eg", "sbva484", "-1"),
        ),
    )
}
DEFAULT_BOARD = "pynq-z2"


def board(key: str) -> Board:
    """The board ``key`` (``pynq-z2``, ``kv260``, ...).

    Raises
    ------
    ValueError
        Not a supported board; the message lists them.
    """
    try:
        return BOARDS[key]
    except KeyError:
        raise ValueError(f"board {key!r} is not supported (one of: {', '.join(BOARDS)})") from None


def board_for_env(env_name: str) -> Board | None:
    """The board whose PYNQ image sets ``$BOARD`` to ``env_name``, or None."""
    for candidate in BOARDS.values():
        if candidate.env_name.lower() == env_name.lower():
            return candidate
    return None
