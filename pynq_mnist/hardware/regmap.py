"""The one register map, address map and weight-window layout of mnist_accel.

Everything the RTL, the driver, the virtual board and the Vivado scripts must
agree on lives here. ``REGISTERS`` has the dict shape that
``pynq.registers.RegisterMap.create_subclass`` takes. The Verilog header
``hw/rtl/mnist_regmap.vh`` is generated from this module::

    python -m pynq_mnist.regmap --write-vh

and ``tests/test_regmap.py`` fails if the committed header is stale.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DMA_REGISTERS",
    "REGISTERS",
    "RESULT_WORD10_FIELDS",
    "VH_PATH",
    "dma_bit",
    "dma_offset",
    "emit_generated",
    "pack_weights",
    "render_vh",
    "unpack_weights",
]


# --- network shape (fixed by the contract) ---------------------------------
N_IN = 784
N_HID = 128
N_OUT = 10
BEATS_PER_IMAGE = N_IN // 4  # 32-bit beats, four pixels each
SUPPORTED_NUM_BANKS = (32, 64, 128)
DEFAULT_NUM_BANKS = 64
SHIFT_MAX = 31

# --- identification ---------------------------------------------------------
ID_MAGIC = 0x4D4E  # "MN"
VERSION_MAJOR = 1
VERSION_MINOR = 0
ID_VALUE = (ID_MAGIC << 16) | (VERSION_MAJOR << 8) | VERSION_MINOR
LAYER_SIZES_VALUE = N_IN | (N_HID << 12) | (N_OUT << 24)

# --- register offsets (bytes inside the AXI4-Lite window) -------------------
REG_ID = 0x00
REG_NUM_BANKS = 0x04
REG_LAYER_SIZES = 0x08
REG_CTRL = 0x10
REG_STATUS = 0x14
REG_ERROR_CAUSE = 0x18
REG_N_IMAGES = 0x1C
REG_SHIFT_L1 = 0x20
REG_SHIFT_L2 = 0x24
REG_IMAGES_DONE = 0x28
REG_CYCLES = 0x2C
REG_OWNER_TAG = 0x30
REG_SPACE_BYTES = 0x100  # registers occupy 0x000..0x0FF

# --- register bits ----------------------------------------------------------
CTRL_START_BIT = 0
CTRL_SOFT_RESET_BIT = 1
CTRL_IRQ_EN_BIT = 2
CTRL_START = 1 << CTRL_START_BIT
CTRL_SOFT_RESET = 1 << CTRL_SOFT_RESET_BIT
CTRL_IRQ_EN = 1 << CTRL_IRQ_EN_BIT

STATUS_IDLE_BIT = 0
STATUS_BUSY_BIT = 1
STATUS_DONE_BIT = 2
STATUS_ERROR_BIT = 3
STATUS_START_REJECTED_BIT = 4
STATUS_DRAINING_BIT = 5
STATUS_IDLE = 1 << STATUS_IDLE_BIT
STATUS_BUSY = 1 << STATUS_BUSY_BIT
STATUS_DONE = 1 << STATUS_DONE_BIT
STATUS_ERROR = 1 << STATUS_ERROR_BIT
STATUS_START_REJECTED = 1 << STATUS_START_REJECTED_BIT
STATUS_DRAINING = 1 << STATUS_DRAINING_BIT

ERR_EARLY_TLAST_BIT = 0
ERR_MISSING_TLAST_BIT = 1
ERR_BAD_TKEEP_BIT = 2
ERR_ZERO_IMAGES_BIT = 3
ERR_EARLY_TLAST = 1 << ERR_EARLY_TLAST_BIT
ERR_MISSING_TLAST = 1 << ERR_MISSING_TLAST_BIT
ERR_BAD_TKEEP = 1 << ERR_BAD_TKEEP_BIT
ERR_ZERO_IMAGES = 1 << ERR_ZERO_IMAGES_BIT
ERROR_CAUSE_NAMES = {
    ERR_EARLY_TLAST: "EARLY_TLAST",
    ERR_MISSING_TLAST: "MISSING_TLAST",
    ERR_BAD_TKEEP: "BAD_TKEEP",
    ERR_ZERO_IMAGES: "ZERO_IMAGES",
}

SHIFT_WIDTH = 5

# --- result stream ------------------------------------------------------------
RESULT_WORDS_PER_IMAGE = N_OUT + 1
RESULT_DIGIT_SHIFT = 0
RESULT_DIGIT_WIDTH = 4
RESULT_SEED_SHIFT = 4
RESULT_SEED_WIDTH = 4
RESULT_INDEX_SHIFT = 8
RESULT_INDEX_WIDTH = 16
RESULT_ERROR_BIT = 31
RESULT_ERROR_DIGIT = 0xF  # both digit fields of an error image

# --- weight window --------------------------------------------------------------
WEIGHT_WINDOW_OFFSET = 0x20000
WEIGHT_WINDOW_BYTES = (N_IN + N_OUT) * N_HID  # 101,632, independent of NUM_BANKS
WEIGHT_WINDOW_SPAN = 0x20000  # 0x20000..0x3FFFF decoded as the window
BANK_WORDS_PER_NEURON = N_IN + N_OUT  # bank depth = 794 * NPL
AXIL_ADDR_WIDTH = 18
AXIL_DATA_WIDTH = 32

# --- block design / address map -------------------------------------------------
VLNV = "pynq-mnist.dev:user:mnist_accel:1.0"
ACCEL_INSTANCE = "mnist_accel"
ACCEL_BASE = 0x43C00000
ACCEL_RANGE = 0x40000
ACCEL_CTRL_INTERFACE = "s_axi_ctrl"
DMA_VLNV = "xilinx.com:ip:axi_dma:7.1"
DMA_INSTANCE = "axi_dma"
DMA_BASE = 0x40400000
DMA_RANGE = 0x10000
FCLK_MHZ = 100
STREAM_DATA_WIDTH = 32

# Values as strings, the way pynq parses them out of a .hwh.
DMA_PARAMETERS: dict[str, str] = {
    "c_include_sg": "0",
    "c_sg_length_width": "26",
    "c_include_mm2s": "1",
    "c_include_s2mm": "1",
    "c_m_axi_mm2s_data_width": "32",
    "c_m_axis_mm2s_tdata_width": "32",
    "c_m_axi_s2mm_data_width": "32",
    "c_s_axis_s2mm_tdata_width": "32",
    "c_include_mm2s_dre": "0",
    "c_include_s2mm_dre": "0",
    "c_mm2s_burst_size": "16",
    "c_s2mm_burst_size": "16",
    "c_addr_width": "32",
    "c_micro_dma": "0",
}


def _field(offset: int, width: int, access: str, description: str) -> dict[str, Any]:
    return {
        "bit_offset": offset,
        "bit_width": width,
        "access": access,
        "description": description,
    }


def _reg(
    offset: int, access: str, description: str, fields: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "address_offset": offset,
        "access": access,
        "size": 32,
        "description": description,
        "fields": fields,
    }


RO = "read-only"
RW = "read-write"

# pynq RegisterMap.create_subclass shape. STATUS is "read-write" at register
# level because DONE/ERROR are write-1-to-clear.
REGISTERS: dict[str, dict[str, Any]] = {
    "ID": _reg(
        REG_ID,
        RO,
        "Magic 'MN' [31:16], major [15:8], minor [7:0]",
        {
            "MINOR": _field(0, 8, RO, "minor version"),
            "MAJOR": _field(8, 8, RO, "major version"),
            "MAGIC": _field(16, 16, RO, "0x4D4E ('MN')"),
        },
    ),
    "NUM_BANKS": _reg(
        REG_NUM_BANKS,
        RO,
        "NUM_BANKS parameter (= MAC lanes)",
        {
            "NUM_BANKS": _field(0, 32, RO, "weight banks / MAC lanes"),
        },
    ),
    "LAYER_SIZES": _reg(
        REG_LAYER_SIZES,
        RO,
        "N_IN [11:0], N_HID [23:12], N_OUT [31:24]",
        {
            "N_IN": _field(0, 12, RO, "input pixels (784)"),
            "N_HID": _field(12, 12, RO, "hidden neurons (128)"),
            "N_OUT": _field(24, 8, RO, "outputs (10)"),
        },
    ),
    "CTRL": _reg(
        REG_CTRL,
        RW,
        "Control: START, SOFT_RESET (self-clearing), IRQ_EN",
        {
            "START": _field(CTRL_START_BIT, 1, RW, "write 1 to start a batch (self-clearing)"),
            "SOFT_RESET": _field(
                CTRL_SOFT_RESET_BIT,
                1,
                RW,
                "write 1 to abort and return to idle (self-clearing)",
            ),
            "IRQ_EN": _field(CTRL_IRQ_EN_BIT, 1, RW, "interrupt = STATUS.DONE & IRQ_EN"),
        },
    ),
    "STATUS": _reg(
        REG_STATUS,
        RW,
        "Status: IDLE, BUSY, DONE (W1C), ERROR (W1C), START_REJECTED (W1C), DRAINING",
        {
            "IDLE": _field(STATUS_IDLE_BIT, 1, RO, "engine idle (not busy, not draining)"),
            "BUSY": _field(STATUS_BUSY_BIT, 1, RO, "batch in progress"),
            "DONE": _field(STATUS_DONE_BIT, 1, RW, "batch done (W1C, cleared by START)"),
            "ERROR": _field(STATUS_ERROR_BIT, 1, RW, "framing error (W1C, cleared by START)"),
            "START_REJECTED": _field(
                STATUS_START_REJECTED_BIT,
                1,
                RW,
                "a START arrived while busy or draining (W1C; cleared by START and SOFT_RESET)",
            ),
            "DRAINING": _field(
                STATUS_DRAINING_BIT, 1, RO, "SOFT_RESET is draining the input packet to TLAST"
            ),
        },
    ),
    "ERROR_CAUSE": _reg(
        REG_ERROR_CAUSE,
        RO,
        "Framing error causes of the last batch",
        {
            "EARLY_TLAST": _field(ERR_EARLY_TLAST_BIT, 1, RO, "TLAST before the last beat"),
            "MISSING_TLAST": _field(
                ERR_MISSING_TLAST_BIT, 1, RO, "no TLAST on the last beat (extra beats)"
            ),
            "BAD_TKEEP": _field(ERR_BAD_TKEEP_BIT, 1, RO, "TKEEP != 4'hF"),
            "ZERO_IMAGES": _field(ERR_ZERO_IMAGES_BIT, 1, RO, "START with N_IMAGES = 0"),
        },
    ),
    "N_IMAGES": _reg(
        REG_N_IMAGES,
        RW,
        "Images in the next batch",
        {
            "N_IMAGES": _field(0, 32, RW, "image count"),
        },
    ),
    "SHIFT_L1": _reg(
        REG_SHIFT_L1,
        RW,
        "Layer-1 requantization right shift",
        {
            "SHIFT": _field(0, SHIFT_WIDTH, RW, "0..31"),
        },
    ),
    "SHIFT_L2": _reg(
        REG_SHIFT_L2,
        RW,
        "Seed-digit right shift of the logits",
        {
            "SHIFT": _field(0, SHIFT_WIDTH, RW, "0..31"),
        },
    ),
    "IMAGES_DONE": _reg(
        REG_IMAGES_DONE,
        RO,
        "Result records emitted in the current/last batch",
        {
            "IMAGES_DONE": _field(0, 32, RO, "count"),
        },
    ),
    "CYCLES": _reg(
        REG_CYCLES,
        RO,
        "Clock cycles of the last batch: START to last result beat",
        {
            "CYCLES": _field(0, 32, RO, "count"),
        },
    ),
    "OWNER_TAG": _reg(
        REG_OWNER_TAG,
        RW,
        "Owner token; cleared by any weight-window or SHIFT_L1/SHIFT_L2 write",
        {
            "TAG": _field(0, 32, RW, "written by the owner after loading the weights"),
        },
    ),
}

RESULT_WORD10_FIELDS: dict[str, dict[str, Any]] = {
    "DIGIT": _field(RESULT_DIGIT_SHIFT, RESULT_DIGIT_WIDTH, RO, "argmax(logits), lowest index"),
    "SEED_DIGIT": _field(
        RESULT_SEED_SHIFT,
        RESULT_SEED_WIDTH,
        RO,
        "argmax(clamp(logits >> SHIFT_L2)), lowest index",
    ),
    "INDEX": _field(RESULT_INDEX_SHIFT, RESULT_INDEX_WIDTH, RO, "image index in batch mod 2^16"),
    "ERROR": _field(RESULT_ERROR_BIT, 1, RO, "image not (completely) received"),
}


# --- AXI DMA, direct register mode (Xilinx PG021) ----------------------------
# In the shape of the "registers" entry pynq builds from a .hwh. The one place
# these offsets and bits are written down in this project.


def _dma_control(channel: str, offset: int) -> dict[str, Any]:
    return _reg(
        offset,
        RW,
        f"{channel} DMA Control register",
        {
            "RS": _field(0, 1, RW, "Run/Stop"),
            "Reset": _field(2, 1, RW, "Soft reset of both channels (self-clearing)"),
            "Keyhole": _field(3, 1, RW, "Keyhole read/write"),
            "Cyclic_BD_Enable": _field(4, 1, RW, "Cyclic BD mode (SG only)"),
            "IOC_IrqEn": _field(12, 1, RW, "Interrupt on complete enable"),
            "Dly_IrqEn": _field(13, 1, RW, "Delay interrupt enable"),
            "Err_IrqEn": _field(14, 1, RW, "Error interrupt enable"),
            "IRQThreshold": _field(16, 8, RW, "Interrupt threshold (SG only)"),
            "IRQDelay": _field(24, 8, RW, "Interrupt delay (SG only)"),
        },
    )


def _dma_status(channel: str, offset: int) -> dict[str, Any]:
    return _reg(
        offset,
        RW,
        f"{channel} DMA Status register",
        {
            "Halted": _field(0, 1, RO, "Channel halted (RS=0 or error)"),
            "Idle": _field(1, 1, RO, "Transfer complete; 0 before the first transfer"),
            "SGIncld": _field(3, 1, RO, "Scatter gather included"),
            "DMAIntErr": _field(4, 1, RO, "Internal error (length 0, packet > LENGTH)"),
            "DMASlvErr": _field(5, 1, RO, "Slave error on the memory map"),
            "DMADecErr": _field(6, 1, RO, "Decode error (unmapped address)"),
            "IOC_Irq": _field(12, 1, RW, "Interrupt on complete (W1C)"),
            "Dly_Irq": _field(13, 1, RW, "Delay interrupt (W1C)"),
            "Err_Irq": _field(14, 1, RW, "Error interrupt (W1C)"),
        },
    )


DMA_REGISTERS: dict[str, dict[str, Any]] = {
    "MM2S_DMACR": _dma_control("MM2S", 0x00),
    "MM2S_DMASR": _dma_status("MM2S", 0x04),
    "MM2S_SA": _reg(0x18, RW, "MM2S Source Address, lower 32 bits", {}),
    "MM2S_SA_MSB": _reg(0x1C, RW, "MM2S Source Address, upper 32 bits", {}),
    "MM2S_LENGTH": _reg(0x28, RW, "MM2S transfer length in bytes; writing starts it", {}),
    "S2MM_DMACR": _dma_control("S2MM", 0x30),
    "S2MM_DMASR": _dma_status("S2MM", 0x34),
    "S2MM_DA": _reg(0x48, RW, "S2MM Destination Address, lower 32 bits", {}),
    "S2MM_DA_MSB": _reg(0x4C, RW, "S2MM Destination Address, upper 32 bits", {}),
    "S2MM_LENGTH": _reg(
        0x58, RW, "S2MM buffer length in bytes; writing arms; reads back bytes received", {}
    ),
}


def dma_offset(register: str) -> int:
    """Byte offset of a PG021 register, e.g. ``dma_offset("S2MM_DMASR")``."""
    return int(DMA_REGISTERS[register]["address_offset"])


def dma_bit(register: str, field: str) -> int:
    """Mask of a one-bit field, e.g. ``dma_bit("S2MM_DMASR", "Idle")``."""
    return 1 << int(DMA_REGISTERS[register]["fields"][field]["bit_offset"])


def _check_num_banks(num_banks: int) -> int:
    if num_banks <= 0 or N_HID % num_banks != 0:
        raise ValueError(f"num_banks={num_banks} must be a positive divisor of {N_HID}")
    return N_HID // num_banks


def pack_weights(w1: np.ndarray, w2: np.ndarray, num_banks: int) -> np.ndarray:
    """Lay W1 [128,784] and W2 [10,128] out as the 101,632-byte weight window (int8).

    Byte ``bank_address * num_banks + bank`` holds the weight of bank
    ``n % num_banks``; W1[n][i] sits at bank address ``j*784 + i`` and
    W2[o][n] at ``784*NPL + o*NPL + j`` with ``j = n // num_banks``.

    Raises
    ------
    ValueError
        Wrong shape, values outside int8, or num_banks not dividing 128.
    """
    npl = _check_num_banks(num_banks)
    w1 = np.asarray(w1)
    w2 = np.asarray(w2)
    if w1.shape != (N_HID, N_IN):
        raise ValueError(f"w1 shape {w1.shape} != ({N_HID}, {N_IN})")
    if w2.shape != (N_OUT, N_HID):
        raise ValueError(f"w2 shape {w2.shape} != ({N_OUT}, {N_HID})")
    for name, w in (("w1", w1), ("w2", w2)):
        if not np.issubdtype(w.dtype, np.integer):
            raise ValueError(f"{name} dtype {w.dtype} is not an integer type")
        if w.size and (int(w.min()) < -128 or int(w.max()) > 127):
            raise ValueError(f"{name} values {int(w.min())}..{int(w.max())} outside int8 -128..127")
    # n = j*NB + b  ->  W1 as [j, b, i]; window index ((j*784 + i)*NB + b) -> [j, i, b]
    part1 = w1.astype(np.int8).reshape(npl, num_banks, N_IN).transpose(0, 2, 1)
    # W2[o][j*NB + b] -> window index ((784*NPL + o*NPL + j)*NB + b) -> [o, j, b]
    part2 = w2.astype(np.int8).reshape(N_OUT, npl, num_banks)
    window = np.concatenate([part1.ravel(), part2.ravel()])
    return np.ascontiguousarray(window, dtype=np.int8)


def unpack_weights(window: np.ndarray, num_banks: int) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`pack_weights`: window bytes -> (W1 int8 [128,784], W2 int8 [10,128])."""
    npl = _check_num_banks(num_banks)
    flat = np.asarray(window).astype(np.uint8, copy=False).view(np.int8).ravel()
    if flat.size != WEIGHT_WINDOW_BYTES:
        raise ValueError(f"window has {flat.size} bytes, expected {WEIGHT_WINDOW_BYTES}")
    split = N_IN * N_HID
    w1 = flat[:split].reshape(npl, N_IN, num_banks).transpose(0, 2, 1).reshape(N_HID, N_IN)
    w2 = flat[split:].reshape(N_OUT, N_HID)
    return np.ascontiguousarray(w1), np.ascontiguousarray(w2)


# --- Verilog header generation ------------------------------------------------

VH_PATH = Path(__file__).resolve().parents[2] / "hw" / "rtl" / "mnist_regmap.vh"


def _vh_constants() -> list[tuple[str, int, int, str]]:
    """(macro name, width, value, comment) in header order."""
    a = AXIL_ADDR_WIDTH
    out: list[tuple[str, int, int, str]] = [
        ("MNIST_ID_VALUE", 32, ID_VALUE, "ID register: 'MN', major, minor"),
        (
            "MNIST_LAYER_SIZES_VALUE",
            32,
            LAYER_SIZES_VALUE,
            "N_IN | N_HID<<12 | N_OUT<<24",
        ),
        ("MNIST_N_IN", 32, N_IN, "input pixels"),
        ("MNIST_N_HID", 32, N_HID, "hidden neurons"),
        ("MNIST_N_OUT", 32, N_OUT, "outputs"),
        ("MNIST_AXIL_ADDR_WIDTH", 32, AXIL_ADDR_WIDTH, "AXI4-Lite address bits"),
        ("MNIST_AXIL_DATA_WIDTH", 32, AXIL_DATA_WIDTH, "AXI4-Lite data bits"),
        ("MNIST_AXIS_DATA_WIDTH", 32, STREAM_DATA_WIDTH, "image/result stream bits"),
    ]
    for name, reg in REGISTERS.items():
        out.append((f"MNIST_REG_{name}", a, reg["address_offset"], reg["description"]))
    out.append(("MNIST_REG_SPACE_BYTES", a, REG_SPACE_BYTES, "registers below this offset"))
    for reg_name in ("CTRL", "STATUS", "ERROR_CAUSE"):
        prefix = {"CTRL": "CTRL", "STATUS": "STATUS", "ERROR_CAUSE": "ERR"}[reg_name]
        for fname, f in REGISTERS[reg_name]["fields"].items():
            out.append((f"MNIST_{prefix}_{fname}_BIT", 32, f["bit_offset"], f["description"]))
    out += [
        ("MNIST_SHIFT_WIDTH", 32, SHIFT_WIDTH, "SHIFT_L1/SHIFT_L2 field width"),
        ("MNIST_WEIGHT_WINDOW_OFFSET", a, WEIGHT_WINDOW_OFFSET, "weight window base"),
        ("MNIST_WEIGHT_WINDOW_BYTES", 32, WEIGHT_WINDOW_BYTES, "(784 + 10) * 128"),
        (
            "MNIST_WIN_WORD_WIDTH",
            32,
            (WEIGHT_WINDOW_BYTES // 4 - 1).bit_length(),
            "bits of a window word index",
        ),
        ("MNIST_W2_WORD_BASE", 32, N_IN * N_HID // 4, "window word index of W2[0][0]"),
        (
            "MNIST_RESULT_WORDS_PER_IMAGE",
            32,
            RESULT_WORDS_PER_IMAGE,
            "10 logits + digit word",
        ),
    ]
    for fname, f in RESULT_WORD10_FIELDS.items():
        out.append((f"MNIST_RESULT_{fname}_LSB", 32, f["bit_offset"], f["description"]))
        out.append((f"MNIST_RESULT_{fname}_WIDTH", 32, f["bit_width"], ""))
    return out


def render_vh() -> str:
    """Return the text of hw/rtl/mnist_regmap.vh."""
    lines = [
        "// mnist_regmap.vh: generated from pynq_mnist/regmap.py, do not edit.",
        "// Regenerate with: python -m pynq_mnist.regmap --write-vh",
        "`ifndef MNIST_REGMAP_VH",
        "`define MNIST_REGMAP_VH",
        "",
    ]
    for name, width, value, comment in _vh_constants():
        digits = (width + 3) // 4
        text = f"`define {name:<32} {width}'h{value:0{digits}X}"
        lines.append(f"{text}  // {comment}" if comment else text)
    lines += ["", "`endif  // MNIST_REGMAP_VH", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: print or write the generated Verilog header."""
    parser = argparse.ArgumentParser(prog="python -m pynq_mnist.regmap")
    parser.add_argument("--write-vh", action="store_true", help=f"write {VH_PATH}")
    parser.add_argument("--check-vh", action="store_true", help="exit 1 if the .vh is stale")
    args = parser.parse_args(argv)
    mode = "write" if args.write_vh else "check" if args.check_vh else "print"
    return emit_generated(render_vh(), VH_PATH, mode, "python -m pynq_mnist.regmap --write-vh")


def emit_generated(text: str, path: Path, mode: str, regenerate: str) -> int:
    """Print, write or check a file generated from this module; 1 if a check finds it stale.

    ``regenerate`` is the command named in the stale message.
    """
    if mode == "write":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return 0
    if mode == "check":
        current = path.read_text() if path.exists() else ""
        if current != text:
            sys.stderr.write(f"{path} is stale: run {regenerate}\n")
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
