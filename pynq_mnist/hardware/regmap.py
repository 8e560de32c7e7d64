"""The register map of mnist_accel, as one table, and every constant derived from it.

``ACCEL`` declares each register and field once; ``REGISTERS`` is its dict in
the shape ``pynq.registers.RegisterMap.create_subclass`` takes, and the
constants below (``REG_STATUS``, ``STATUS_BUSY``, ``ERR_MISSING_TLAST``,
``RESULT_INDEX_SHIFT``, ...) are read from it. ``hw/rtl/mnist_regmap.vh``,
``overlay/config.tcl`` and ``overlay/reference.hwh`` are generated from it::

    python -m pynq_mnist.hardware.generate --write    # or --check

For its existing users this module also re-exports the weight layout
(``weights``), the AXI DMA registers (``pg021``) and the block-design names
and addresses (``design``).
"""

from __future__ import annotations

from typing import Any

from ..model import N_HID, N_IN, N_OUT
from .design import (
    ACCEL_BASE,
    ACCEL_CTRL_INTERFACE,
    ACCEL_INSTANCE,
    ACCEL_RANGE,
    DEFAULT_NUM_BANKS,
    DMA_BASE,
    DMA_INSTANCE,
    DMA_PARAMETERS,
    DMA_RANGE,
    DMA_VLNV,
    FCLK_MHZ,
    STREAM_DATA_WIDTH,
    SUPPORTED_NUM_BANKS,
    VLNV,
)
from .pg021 import DMA_REGISTERS, dma_bit, dma_offset
from .table import RO, RW, Field, Register, RegisterTable
from .weights import WEIGHT_WINDOW_BYTES, pack_weights, unpack_weights

# The table and the dicts derived from it, then the names re-exported for existing users.
__all__ = [
    "ACCEL",
    "ACCEL_BASE",
    "ACCEL_CTRL_INTERFACE",
    "ACCEL_INSTANCE",
    "ACCEL_RANGE",
    "DEFAULT_NUM_BANKS",
    "DMA_BASE",
    "DMA_INSTANCE",
    "DMA_PARAMETERS",
    "DMA_RANGE",
    "DMA_REGISTERS",
    "DMA_VLNV",
    "FCLK_MHZ",
    "N_HID",
    "N_IN",
    "N_OUT",
    "REGISTERS",
    "RESULT_WORD10",
    "RESULT_WORD10_FIELDS",
    "STREAM_DATA_WIDTH",
    "SUPPORTED_NUM_BANKS",
    "VLNV",
    "WEIGHT_WINDOW_BYTES",
    "dma_bit",
    "dma_offset",
    "pack_weights",
    "unpack_weights",
]

# --- the AXI4-Lite window: registers below REG_SPACE_BYTES, then the weights ----------
AXIL_ADDR_WIDTH = (ACCEL_RANGE - 1).bit_length()  # the IP decodes its whole range
AXIL_DATA_WIDTH = 32
REG_SPACE_BYTES = 0x100  # registers occupy 0x000..0x0FF
WEIGHT_WINDOW_OFFSET = 0x20000
WEIGHT_WINDOW_SPAN = ACCEL_RANGE - WEIGHT_WINDOW_OFFSET  # 0x20000..0x3FFFF decoded as the window

# STATUS is "read-write" at register level because DONE/ERROR are write-1-to-clear.
ACCEL = RegisterTable(
    Register(
        "ID",
        0x00,
        RO,
        "Magic 'MN' [31:16], major [15:8], minor [7:0]",
        (
            Field("MINOR", 0, 8, RO, "minor version"),
            Field("MAJOR", 8, 8, RO, "major version"),
            Field("MAGIC", 16, 16, RO, "0x4D4E ('MN')"),
        ),
    ),
    Register(
        "NUM_BANKS",
        0x04,
        RO,
        "NUM_BANKS parameter (= MAC lanes)",
        (Field("NUM_BANKS", 0, 32, RO, "weight banks / MAC lanes"),),
    ),
    Register(
        "LAYER_SIZES",
        0x08,
        RO,
        "N_IN [11:0], N_HID [23:12], N_OUT [31:24]",
        (
            Field("N_IN", 0, 12, RO, "input pixels (784)"),
            Field("N_HID", 12, 12, RO, "hidden neurons (128)"),
            Field("N_OUT", 24, 8, RO, "outputs (10)"),
        ),
    ),
    Register(
        "CTRL",
        0x10,
        RW,
        "Control: START, SOFT_RESET (self-clearing), IRQ_EN",
        (
            Field("START", 0, 1, RW, "write 1 to start a batch (self-clearing)"),
            Field("SOFT_RESET", 1, 1, RW, "write 1 to abort and return to idle (self-clearing)"),
            Field("IRQ_EN", 2, 1, RW, "interrupt = STATUS.DONE & IRQ_EN"),
        ),
    ),
    Register(
        "STATUS",
        0x14,
        RW,
        "Status: IDLE, BUSY, DONE (W1C), ERROR (W1C), START_REJECTED (W1C), DRAINING",
        (
            Field("IDLE", 0, 1, RO, "engine idle (not busy, not draining)"),
            Field("BUSY", 1, 1, RO, "batch in progress"),
            Field("DONE", 2, 1, RW, "batch done (W1C, cleared by START)"),
            Field("ERROR", 3, 1, RW, "framing error (W1C, cleared by START)"),
            Field(
                "START_REJECTED",
                4,
                1,
                RW,
                "a START arrived while busy or draining (W1C; cleared by START and SOFT_RESET)",
            ),
            Field("DRAINING", 5, 1, RO, "SOFT_RESET is draining the input packet to TLAST"),
        ),
    ),
    Register(
        "ERROR_CAUSE",
        0x18,
        RO,
        "Framing error causes of the last batch",
        (
            Field("EARLY_TLAST", 0, 1, RO, "TLAST before the last beat"),
            Field("MISSING_TLAST", 1, 1, RO, "no TLAST on the last beat (extra beats)"),
            Field("BAD_TKEEP", 2, 1, RO, "TKEEP != 4'hF"),
            Field("ZERO_IMAGES", 3, 1, RO, "START with N_IMAGES = 0"),
        ),
    ),
    Register(
        "N_IMAGES",
        0x1C,
        RW,
        "Images in the next batch",
        (Field("N_IMAGES", 0, 32, RW, "image count"),),
    ),
    Register(
        "SHIFT_L1",
        0x20,
        RW,
        "Layer-1 requantization right shift",
        (Field("SHIFT", 0, 5, RW, "0..31"),),
    ),
    Register(
        "SHIFT_L2",
        0x24,
        RW,
        "Seed-digit right shift of the logits",
        (Field("SHIFT", 0, 5, RW, "0..31"),),
    ),
    Register(
        "IMAGES_DONE",
        0x28,
        RO,
        "Result records emitted in the current/last batch",
        (Field("IMAGES_DONE", 0, 32, RO, "count"),),
    ),
    Register(
        "CYCLES",
        0x2C,
        RO,
        "Clock cycles of the last batch: START to last result beat",
        (Field("CYCLES", 0, 32, RO, "count"),),
    ),
    Register(
        "OWNER_TAG",
        0x30,
        RW,
        "Owner token; cleared by any weight-window or SHIFT_L1/SHIFT_L2 write",
        (Field("TAG", 0, 32, RW, "written by the owner after loading the weights"),),
    ),
)

# The last word of each result record (after the N_OUT logits), on m_axis.
RESULT_WORD10 = Register(
    "RESULT_WORD10",
    4 * N_OUT,
    RO,
    "Result record word 10: digits, image index, error flag",
    (
        Field("DIGIT", 0, 4, RO, "argmax(logits), lowest index"),
        Field("SEED_DIGIT", 4, 4, RO, "argmax(clamp(logits >> SHIFT_L2)), lowest index"),
        Field("INDEX", 8, 16, RO, "image index in batch mod 2^16"),
        Field("ERROR", 31, 1, RO, "image not (completely) received"),
    ),
)

# --- pynq RegisterMap.create_subclass shape ---------------------------------------------
REGISTERS: dict[str, dict[str, Any]] = ACCEL.pynq()
RESULT_WORD10_FIELDS: dict[str, dict[str, Any]] = RESULT_WORD10.pynq()["fields"]

# --- derived constants ------------------------------------------------------------------
BEATS_PER_IMAGE = N_IN // (STREAM_DATA_WIDTH // 8)  # four pixels a beat

ID_MAGIC = 0x4D4E  # "MN"
VERSION_MAJOR = 1
VERSION_MINOR = 0
ID_VALUE = ACCEL["ID"].value(MAGIC=ID_MAGIC, MAJOR=VERSION_MAJOR, MINOR=VERSION_MINOR)
LAYER_SIZES_VALUE = ACCEL["LAYER_SIZES"].value(N_IN=N_IN, N_HID=N_HID, N_OUT=N_OUT)

REG_ID = ACCEL["ID"].offset
REG_NUM_BANKS = ACCEL["NUM_BANKS"].offset
REG_LAYER_SIZES = ACCEL["LAYER_SIZES"].offset
REG_CTRL = ACCEL["CTRL"].offset
REG_STATUS = ACCEL["STATUS"].offset
REG_ERROR_CAUSE = ACCEL["ERROR_CAUSE"].offset
REG_N_IMAGES = ACCEL["N_IMAGES"].offset
REG_SHIFT_L1 = ACCEL["SHIFT_L1"].offset
REG_SHIFT_L2 = ACCEL["SHIFT_L2"].offset
REG_IMAGES_DONE = ACCEL["IMAGES_DONE"].offset
REG_CYCLES = ACCEL["CYCLES"].offset
REG_OWNER_TAG = ACCEL["OWNER_TAG"].offset

CTRL_START = ACCEL["CTRL"]["START"].mask
CTRL_SOFT_RESET = ACCEL["CTRL"]["SOFT_RESET"].mask
CTRL_IRQ_EN = ACCEL["CTRL"]["IRQ_EN"].mask

STATUS_IDLE = ACCEL["STATUS"]["IDLE"].mask
STATUS_BUSY = ACCEL["STATUS"]["BUSY"].mask
STATUS_DONE = ACCEL["STATUS"]["DONE"].mask
STATUS_ERROR = ACCEL["STATUS"]["ERROR"].mask
STATUS_START_REJECTED = ACCEL["STATUS"]["START_REJECTED"].mask
STATUS_DRAINING = ACCEL["STATUS"]["DRAINING"].mask

ERR_EARLY_TLAST = ACCEL["ERROR_CAUSE"]["EARLY_TLAST"].mask
ERR_MISSING_TLAST = ACCEL["ERROR_CAUSE"]["MISSING_TLAST"].mask
ERR_BAD_TKEEP = ACCEL["ERROR_CAUSE"]["BAD_TKEEP"].mask
ERR_ZERO_IMAGES = ACCEL["ERROR_CAUSE"]["ZERO_IMAGES"].mask

SHIFT_WIDTH = ACCEL["SHIFT_L1"]["SHIFT"].width

RESULT_WORDS_PER_IMAGE = N_OUT + 1  # N_OUT logits, then RESULT_WORD10
RESULT_DIGIT_SHIFT = RESULT_WORD10["DIGIT"].lsb
RESULT_DIGIT_WIDTH = RESULT_WORD10["DIGIT"].width
RESULT_SEED_SHIFT = RESULT_WORD10["SEED_DIGIT"].lsb
RESULT_SEED_WIDTH = RESULT_WORD10["SEED_DIGIT"].width
RESULT_INDEX_SHIFT = RESULT_WORD10["INDEX"].lsb
RESULT_INDEX_WIDTH = RESULT_WORD10["INDEX"].width
RESULT_ERROR_BIT = RESULT_WORD10["ERROR"].lsb
