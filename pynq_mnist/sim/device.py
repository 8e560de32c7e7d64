"""The virtual board: a ``pynq.Device`` backed by the Verilated RTL and an AXI DMA model.

``VirtualDevice`` offers ``REGISTER_RW`` and ``allocate``, so the unmodified
``pynq.MMIO``, ``DefaultIP``, ``pynq.allocate`` and ``pynq.lib.dma.DMA`` run
on it. Register accesses in the accelerator window become AXI4-Lite
transactions on the RTL; the DMA window is served by ``dma.AxiDmaModel``, a
behavioural model of the Xilinx AXI DMA in direct register (simple) mode per
PG021, whose stream datapath (bytes between host buffers and the RTL) runs in
C++.

Simulated time advances lazily: before every register read, the model is
clocked until no DMA channel is busy (and no DMA soft reset is in progress)
or no stream beat has moved for a while
(``idle_limit`` cycles while the engine owes results, ``starve_limit`` while
it waits for input), then ``settle_cycles`` more, standing for the latency of
the processor's read. A correct batch is thus complete by the first poll, and
a stalled one leaves the DMA not idle.
"""

from __future__ import annotations

import bisect
import copy
import logging
import weakref
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from pynq_mnist import regmap
from pynq_mnist.closing import Closing
from pynq_mnist.errors import AcceleratorError

from .dma import AxiDmaModel
from .verilator import AXI_OKAY, RunReason, RunResult, SimModel

__all__ = ["FAULTS", "VirtualDevice"]

log = logging.getLogger(__name__)


# Fake physical memory handed out by allocate(): a CMA-like pool below 4 GiB,
# since the DMA is built with c_addr_width = 32.
POOL_BASE = 0x1000_0000
POOL_SIZE = 0x1000_0000
PAGE = 4096

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


@dataclass
class _Region:
    phys: int
    size: int
    backing: weakref.ref[np.ndarray]


class VirtualDevice(Closing, pynq.Device):
    """A PYNQ device whose PL is the Verilated ``mnist_top`` plus an AXI DMA model.

    Parameters
    ----------
    num_banks : int
        NUM_BANKS of the RTL build (one of ``regmap.SUPPORTED_NUM_BANKS``).
    activate : bool
        Make this ``pynq.Device.active_device`` (restored by ``close``), so
        ``pynq.allocate`` and ``pynq.MMIO`` use it by default.
    idle_limit : int
        Cycles without a stream beat, while the engine owes results, after
        which a register read stops clocking (a stalled transfer costs this
        much per poll).
    starve_limit : int
        The same while the engine owes nothing (waiting for host input).
    settle_cycles : int
        Cycles clocked after a transfer completes, before the read is served.
    max_cycles_per_access : int
        Upper bound of cycles clocked before one register read.
    strict_bus : bool
        Raise AcceleratorError on an AXI4-Lite SLVERR/DECERR (a bus fault on a
        real board); when False, log it and return 0 / drop the write.
    """

    capabilities: ClassVar[dict[str, bool]] = {"REGISTER_RW": True}

    def __init__(
        self,
        num_banks: int = regmap.DEFAULT_NUM_BANKS,
        *,
        activate: bool = True,
        idle_limit: int = 1 << 16,
        starve_limit: int = 1024,
        settle_cycles: int = 32,
        max_cycles_per_access: int = 1 << 34,
        strict_bus: bool = True,
        tag: str = "pynq_mnist_virtual_board",
    ) -> None:
        super().__init__(tag)
        self.num_banks = num_banks
        self.idle_limit = idle_limit
        self.starve_limit = starve_limit
        self.settle_cycles = settle_cycles
        self.max_cycles_per_access = max_cycles_per_access
        self.strict_bus = strict_bus
        self.model: SimModel | None = SimModel(num_banks)
        self.dma = AxiDmaModel(self._model, self._host_span)
        self._regions: list[_Region] = []
        self.register_accesses: dict[str, int] = {}
        self.reset_counters()
        self.last_run: RunResult | None = None
        self.mem_dict: dict[str, Any] = {}
        self.gpio_dict: dict[str, Any] = {}
        self.interrupt_controllers: dict[str, Any] = {}
        self.interrupt_pins: dict[str, Any] = {}
        self.hierarchy_dict: dict[str, Any] = {}
        self.ip_dict = self._build_ip_dict()
        self._windows = sorted(
            (d["phys_addr"], d["phys_addr"] + d["addr_range"], name)
            for name, d in self.ip_dict.items()
        )
        self._restore_active: tuple[bool, Any] | None = None
        if activate:
            self.make_active()

    def make_active(self) -> None:
        """Make this pynq's active device until ``close()``, which restores the previous one."""
        if self._restore_active is None:
            had = "_active_device" in pynq.Device.__dict__
            self._restore_active = (had, pynq.Device.__dict__.get("_active_device"))
        pynq.Device.active_device = self

    # --- description (what pynq builds from the .hwh) -----------------------

    def _build_ip_dict(self) -> dict[str, dict[str, Any]]:
        def entry(
            name: str,
            vlnv: str,
            base: int,
            span: int,
            mem_id: str,
            parameters: dict[str, str],
            registers: dict[str, Any],
        ) -> dict[str, Any]:
            return {
                "fullpath": name,
                "type": vlnv,
                "bdtype": None,
                "state": None,
                "addr_range": span,
                "phys_addr": base,
                "mem_id": mem_id,
                "memtype": "REGISTER",
                "gpio": {},
                "interrupts": {},
                "parameters": parameters,
                "registers": copy.deepcopy(registers),
                "device": self,
            }

        return {
            regmap.ACCEL_INSTANCE: entry(
                regmap.ACCEL_INSTANCE,
                regmap.VLNV,
                regmap.ACCEL_BASE,
                regmap.ACCEL_RANGE,
                regmap.ACCEL_CTRL_INTERFACE,
                {"NUM_BANKS": str(self.num_banks)},  # the packaged IP user parameter
                regmap.REGISTERS,
            ),
            regmap.DMA_INSTANCE: entry(
                regmap.DMA_INSTANCE,
                regmap.DMA_VLNV,
                regmap.DMA_BASE,
                regmap.DMA_RANGE,
                "S_AXI_LITE",
                dict(regmap.DMA_PARAMETERS),
                regmap.DMA_REGISTERS,
            ),
        }

    def description(self, name: str) -> dict[str, Any]:
        """The ip_dict entry of instance ``name`` (a copy), ready for ``DefaultIP``/``DMA``.

        Raises
        ------
        KeyError
            No such instance.
        """
        if name not in self.ip_dict:
            raise KeyError(f"no IP '{name}' on the virtual board (have {sorted(self.ip_dict)})")
        desc = dict(self.ip_dict[name])
        desc["parameters"] = dict(desc["parameters"])
        return desc

    # --- counters, faults, lifecycle -------------------------------------

    def reset_counters(self) -> None:
        """Zero ``register_accesses`` (one count per read_registers/write_registers call)."""
        self.register_accesses = {regmap.ACCEL_INSTANCE: 0, regmap.DMA_INSTANCE: 0}

    @property
    def cycles(self) -> int:
        """Clock cycles simulated so far."""
        return self._model().cycles

    @property
    def violations(self) -> dict[str, int]:
        """AXI protocol violations by the RTL so far (see ``SimModel.violations``)."""
        return self._model().violations

    @property
    def interrupts(self) -> dict[str, bool]:
        """Levels of the three PL interrupt lines."""
        return {
            "mnist_accel/interrupt": self._model().interrupt,
            "axi_dma/mm2s_introut": self.dma.introut("mm2s"),
            "axi_dma/s2mm_introut": self.dma.introut("s2mm"),
        }

    def inject(self, fault: str, **params: Any) -> None:
        """Inject a fault; it stays until :meth:`clear_faults` (or fires once).

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
          bytes (fires once), as when the result stream is cut short.
        - ``slow_reset``: ``cycles``: the next DMA soft reset takes that much longer.
        - ``residual_beats``: ``beats`` (default 16): stale beats without TLAST
          wait in the MM2S FIFO, as an aborted transfer leaves them.

        Raises
        ------
        ValueError
            Unknown fault or parameter.
        """
        model = self._model()
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
            self.dma.inject_memory_error(
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

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._model().clear_faults()

    def reset_board(self) -> None:
        """Power-on state: RTL and DMA datapath in reset for 16 cycles, DMA registers reset."""
        self._model().reset()
        self.dma.power_on()

    def close(self) -> None:
        """Free the simulator and restore the previously active pynq device (idempotent)."""
        if self.model is not None:
            self.model.close()
            self.model = None
        self.dma.release()
        self._regions.clear()
        if self._restore_active is not None:
            had, previous = self._restore_active
            self._restore_active = None
            if pynq.Device.__dict__.get("_active_device") is self:
                if had:
                    pynq.Device.active_device = previous
                else:
                    del pynq.Device._active_device

    def _model(self) -> SimModel:
        if self.model is None:
            raise AcceleratorError("sim: virtual board used after close()")
        return self.model

    # --- memory ---------------------------------------------------------------

    def allocate(self, shape: Any, dtype: Any = "u4", **kwargs: Any) -> PynqBuffer:
        """A coherent PynqBuffer in host memory at a unique, page-aligned fake physical address.

        Keywords such as pynq's ``cacheable`` are accepted and ignored: the
        memory is always coherent, so ``flush``/``invalidate`` are no-ops.
        """
        dt = np.dtype(dtype)
        count = int(np.prod(shape, dtype=np.int64))
        nbytes = max(count * dt.itemsize, 1)
        backing = np.zeros(nbytes, dtype=np.uint8)
        phys = self._reserve(nbytes, backing)
        return PynqBuffer(
            shape, dt, buffer=backing, device=self, device_address=phys, coherent=True
        )

    def _reserve(self, nbytes: int, backing: np.ndarray) -> int:
        self._regions = [r for r in self._regions if r.backing() is not None]
        span = -(-nbytes // PAGE) * PAGE
        start = POOL_BASE
        for region in self._regions:
            if region.phys - start >= span:
                break
            start = max(start, region.phys + -(-region.size // PAGE) * PAGE)
        if start + span > POOL_BASE + POOL_SIZE:
            raise AcceleratorError(
                f"sim: cannot allocate {nbytes} bytes: the {POOL_SIZE >> 20} MiB "
                f"buffer pool at {POOL_BASE:#x} is full"
            )
        region = _Region(phys=start, size=nbytes, backing=weakref.ref(backing))
        bisect.insort(self._regions, region, key=lambda r: r.phys)
        return start

    def _host_span(self, phys: int, nbytes: int) -> tuple[np.ndarray, int] | None:
        """(backing array, host pointer) for [phys, phys+nbytes) inside one live buffer."""
        i = bisect.bisect_right([r.phys for r in self._regions], phys) - 1
        if i < 0:
            return None
        region = self._regions[i]
        backing = region.backing()
        if backing is None or phys + nbytes > region.phys + region.size:
            return None
        return backing, backing.ctypes.data + (phys - region.phys)

    # --- register access ------------------------------------------------------

    def _decode(self, addr: int, length: int, what: str) -> tuple[str, int]:
        if addr % 4 or length % 4 or length <= 0:
            raise ValueError(f"sim: {what} of {length} bytes at {addr:#x} is not word aligned")
        for lo, hi, name in self._windows:
            if lo <= addr and addr + length <= hi:
                self.register_accesses[name] += 1
                return name, addr - lo
        raise AcceleratorError(
            f"sim: {what} of {length} bytes at {addr:#x} hits no IP "
            + ", ".join(f"{n} {lo:#x}..{hi - 1:#x}" for lo, hi, n in self._windows)
        )

    def read_registers(self, address: int, length: int) -> bytes:
        """Serve a register read (pynq REGISTER_RW): accelerator or DMA window."""
        name, offset = self._decode(address, length, "read")
        self.advance()
        if name == regmap.DMA_INSTANCE:
            return b"".join(
                self.dma.read(offset + 4 * i).to_bytes(4, "little") for i in range(length // 4)
            )
        model = self._model()
        if length == 4:
            value, resp = model.read(offset)
            data = value.to_bytes(4, "little")
            errors = int(resp != AXI_OKAY)
        else:
            data, resp, errors = model.read_block(offset, length // 4)
        self._bus_check(resp, errors, "read", address)
        return data

    def write_registers(self, address: int, data: bytes) -> None:
        """Serve a register write (pynq REGISTER_RW); multi-word writes are one C call."""
        data = bytes(data)
        name, offset = self._decode(address, len(data), "write")
        if name == regmap.DMA_INSTANCE:
            for i in range(0, len(data), 4):
                self.dma.write(offset + i, int.from_bytes(data[i : i + 4], "little"))
            return
        model = self._model()
        if len(data) == 4:
            resp = model.write(offset, int.from_bytes(data, "little"))
            errors = int(resp != AXI_OKAY)
        else:
            resp, errors = model.write_block(offset, data)
        self._bus_check(resp, errors, "write", address)

    def _bus_check(self, resp: int, errors: int, what: str, address: int) -> None:
        if resp == AXI_OKAY:
            return
        message = (
            f"sim: AXI4-Lite {what} at {address:#x} answered "
            f"{'SLVERR' if resp == 2 else 'DECERR'} ({errors} word(s))"
        )
        if self.strict_bus:
            raise AcceleratorError(message)
        log.warning("%s", message)

    # --- simulated time ---------------------------------------------------------

    def advance(self) -> RunResult | None:
        """Clock the model until the DMA has nothing in progress or nothing moves."""
        self.dma.sync()
        if not self.dma.busy:
            return None
        model = self._model()
        result = model.run(self.max_cycles_per_access, self.idle_limit, self.starve_limit)
        if result.reason == RunReason.QUIESCENT:
            model.tick(self.settle_cycles)
        self.last_run = result
        self.dma.sync()
        return result
