"""The accelerator's data as the driver reads it: result records and weight-window bytes.

Pure numpy on the layouts in :mod:`pynq_mnist.hardware.regmap` (no pynq), so
:class:`~.accel.MnistAccel` decodes and names with code that runs anywhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import AcceleratorError
from ..hardware import regmap

__all__ = ["POISON", "decode_records", "field_mask", "weight_name"]

# Written over the output buffer before each transfer. Word 10 of a real
# record has bits [30:24] = 0, so a record still holding this was never written.
POISON = 0xFFFFFFFF


def field_mask(fields: dict[str, dict[str, Any]], name: str) -> tuple[int, int]:
    """(shift, mask) of a field in a register map entry's ``fields``."""
    f = fields[name]
    return int(f["bit_offset"]), (1 << int(f["bit_width"])) - 1


def weight_name(byte_index: int, num_banks: int) -> str:
    """Name the weight at a window byte, e.g. ``W1[17][300]`` (layer 1, neuron 17, input 300).

    Packs index-coded matrices with the same ``pack_weights`` rather than
    inverting the layout by hand, so this cannot drift from the packing.
    """
    n1, i1 = np.indices((regmap.N_HID, regmap.N_IN))
    o2, n2 = np.indices((regmap.N_OUT, regmap.N_HID))

    def at(w1: np.ndarray, w2: np.ndarray) -> int:
        packed = regmap.pack_weights(
            w1.astype(np.uint8).view(np.int8),
            w2.astype(np.uint8).view(np.int8),
            num_banks,
        )
        return int(packed.view(np.uint8)[byte_index])

    layer = at(np.ones_like(n1), 2 * np.ones_like(n2))
    if layer == 1:
        neuron = at(n1, n2)
        pixel = at(i1 & 0xFF, o2) | at(i1 >> 8, o2) << 8
        return f"W1[{neuron}][{pixel}] (layer 1, neuron {neuron}, input {pixel})"
    neuron = at(n1, n2)
    output = at(i1 & 0xFF, o2)
    return f"W2[{output}][{neuron}] (layer 2, neuron {output}, input {neuron})"


def decode_records(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split [n, 11] result words into logits and hardware digits; check index and error."""
    n = records.shape[0]
    fields = regmap.RESULT_WORD10_FIELDS
    word = records[:, regmap.N_OUT].astype(np.int64)
    stale = np.flatnonzero(word == POISON)
    if stale.size:
        raise AcceleratorError(
            f"{stale.size} of {n} result records were never written by the DMA "
            f"(still poisoned), first image {stale[0]}: stale output buffer"
        )
    shift, mask = field_mask(fields, "ERROR")
    failed = np.flatnonzero(word >> shift & mask)
    if failed.size:
        raise AcceleratorError(
            f"{failed.size} of {n} result records carry the ERROR bit, first image {failed[0]}"
        )
    shift, mask = field_mask(fields, "INDEX")
    index = word >> shift & mask
    wrong = np.flatnonzero(index != np.arange(n) & mask)
    if wrong.size:
        k = int(wrong[0])
        raise AcceleratorError(
            f"result record {k} carries image index {int(index[k])}, expected {k & mask} "
            f"({wrong.size} of {n} records out of order)"
        )
    shift, mask = field_mask(fields, "DIGIT")
    digits = word >> shift & mask
    logits = np.ascontiguousarray(records[:, : regmap.N_OUT]).view(np.int32)
    return logits, digits
