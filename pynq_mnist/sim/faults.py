"""Faults the virtual board can inject: what goes wrong on a real board's buses and DMA.

Each fault models a failure a PYNQ board can show, so that the driver's
detection and recovery (docs/architecture.md, "Recovery") are exercised
without one. The stream faults act on the AXI4-Stream signals (TLAST, TREADY,
TVALID; AMBA AXI4-Stream, ARM IHI 0051) in the C++ datapath; the DMA faults
give the responses and timings PG021 (AXI DMA v7.1) describes for direct
register mode: DMASR DMASlvErr/DMADecErr on a memory error, S2MM_LENGTH
holding the bytes actually written, a soft reset that reads 1 until it is
over, and the beats an RS=0 halt leaves on the stream.
"""

from __future__ import annotations

from typing import Any

from ..hardware import regmap
from .dma import AxiDmaModel
from .verilator import SimModel

__all__ = ["FAULTS", "inject"]

FAULTS = (
    "drop_tlast",
    "stall",
    "random_stream",
    "corrupt_weight_write",
    "mm2s_error",
    "s2mm_error",
    "short_s2mm",
    "slow_reset",
    "residual_beats",
)


def inject(model: SimModel, dma: AxiDmaModel, fault: str, **params: Any) -> None:
    """Inject ``fault``; it stays until ``model.clear_faults()`` (or fires once).

    - ``drop_tlast``: MM2S sends its last beat without TLAST.
    - ``stall``: m_axis TREADY held low (a hung S2MM datapath), so S2MM
      never completes; a DMA soft reset ends it.
    - ``random_stream``: ``seed``, ``idle_permille``, ``backpressure_permille``:
      seeded random bubbles on s_axis and backpressure on m_axis.
    - ``corrupt_weight_write``: flip ``bit`` (default 0) of the next
      write in the weight window (fires once).
    - ``mm2s_error`` / ``s2mm_error``: ``kind`` "decerr" or "slverr" (default
      "decerr"), ``at_byte`` (default 0): the next transfer of that channel
      gets that response from memory there (fires once; PG021 DMASR errors).
    - ``short_s2mm``: ``nbytes``: the next S2MM packet ends after that many
      bytes (fires once), as when the result stream is cut short (PG021:
      S2MM_LENGTH then reads the bytes actually written).
    - ``slow_reset``: ``cycles``: the next DMA soft reset takes that much longer
      (PG021: DMACR.Reset reads 1 until the reset is over).
    - ``residual_beats``: ``beats`` (default 16): stale beats without TLAST
      wait in the MM2S FIFO, as an aborted transfer leaves them (PG021 RS=0:
      stream outputs "potentially terminated").

    Raises
    ------
    ValueError
        Unknown fault or parameter.
    """
    if fault == "drop_tlast" and not params:
        model.fault_drop_tlast(True)
    elif fault == "stall" and not params:
        model.fault_stall(True)
    elif fault == "random_stream":
        model.fault_random(**params)
    elif fault == "corrupt_weight_write" and set(params) <= {"bit"}:
        lo = regmap.WEIGHT_WINDOW_OFFSET
        model.fault_corrupt_write(lo, lo + regmap.WEIGHT_WINDOW_SPAN, params.get("bit", 0))
    elif fault in ("mm2s_error", "s2mm_error") and set(params) <= {"kind", "at_byte"}:
        dma.inject_memory_error(
            fault[:4], params.get("kind", "decerr"), int(params.get("at_byte", 0))
        )
    elif fault == "short_s2mm" and set(params) == {"nbytes"}:
        model.fault_short_s2mm(int(params["nbytes"]))
    elif fault == "slow_reset" and set(params) == {"cycles"}:
        model.fault_slow_reset(int(params["cycles"]))
    elif fault == "residual_beats" and set(params) <= {"beats"}:
        model.fault_residual(int(params.get("beats", 16)))
    else:
        raise ValueError(f"unknown fault {fault!r} with {params}; faults: {', '.join(FAULTS)}")
