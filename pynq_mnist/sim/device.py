"""The virtual board: a ``pynq.Device`` backed by the Verilated RTL and an AXI DMA model.

``VirtualDevice`` is what ``pynq.Overlay`` needs of a Zynq-7000 board: it
parses the ``.hwh`` beside a bitstream with pynq's own parser (pynqmetadata, as
``EmbeddedDevice`` does), "downloads" the stand-in ``.bit`` that
``pynq_mnist.hwh`` writes (resetting the fabric and mapping the design's
address windows by VLNV), and has a PS7 SLCR register window on which pynq's
own ``Clocks`` code sets FCLK0 from the ``.hwh`` divisors. MMIO is either
``REGISTER_RW`` (``read_registers``/``write_registers``) or, with
``memory_mapped=True``, ``MEMORY_MAPPED`` as on a board: ``mmap`` returns a
``MappedWindow`` whose element reads/writes are the bus transactions. So the
unmodified ``pynq.Overlay``, ``MMIO``, ``DefaultIP``, ``allocate`` and
``pynq.lib.dma.DMA`` run on it. Register accesses in the accelerator window
become AXI4-Lite transactions on the RTL; the DMA window is served by
``dma.AxiDmaModel``, a behavioural model of the Xilinx AXI DMA in direct
register (simple) mode per PG021, whose stream datapath (bytes between host
buffers and the RTL) runs in C++.

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
import functools
import inspect
import logging
import operator
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from ..closing import Closing
from ..errors import AcceleratorError
from ..hardware import hwh, regmap
from .bitstream import STANDIN_MAGIC, standin_bitstream, standin_digest
from .dma import AxiDmaModel
from .verilator import AXI_OKAY, RunReason, RunResult, SimModel

__all__ = ["FAULTS", "MappedWindow", "VirtualDevice"]

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

# The PS7 system-level control registers (UG585), where pynq's Clocks reads the
# PLLs and sets the FCLK divisors. Reset values of the PYNQ-Z1/Z2 boot: 50 MHz
# crystal, ARM PLL x26 / 2 = 650 MHz CPU, IO PLL x20 = 1000 MHz, DDR PLL x21;
# FPGA1..3_CLK_CTRL at the TRM reset value; FPGA0 as the booted design sets it.
SLCR_BASE = 0xF800_0000
SLCR_SPAN = 0x200
_SLCR_PLL_FBDIV = {"ARM_PLL_CTRL": 26, "DDR_PLL_CTRL": 21, "IO_PLL_CTRL": hwh.IO_PLL_FBDIV}
_SLCR_ARM_DIVISOR = 2
_SLCR_FPGA_CLK_RESET = 0x0010_1800
ACCEL_ROLE = regmap.ACCEL_INSTANCE  # register_accesses keys, whatever the instance names
DMA_ROLE = regmap.DMA_INSTANCE
_SLCR_ROLE = "slcr"


def _field_value(fields: dict[str, dict[str, Any]], name: str, value: int) -> int:
    return value << int(fields[name]["bit_offset"])


def _slcr_reset_words() -> dict[int, int]:
    """SLCR word offset -> value, encoded with pynq's own Zynq-7000 register tables."""
    from pynq import ps

    regs = ps.ZYNQ_SLCR_REGISTERS
    words = {
        regs[name]["address_offset"]: _field_value(ps.ZYNQ_PLL_FIELDS, "PLL_FDIV", fbdiv)
        for name, fbdiv in _SLCR_PLL_FBDIV.items()
    }
    words[regs["ARM_CLK_CTRL"]["address_offset"]] = _field_value(
        ps.ZYNQ_ARM_FIELDS, "DIVISOR", _SLCR_ARM_DIVISOR
    )
    for clk in range(4):
        words[regs[f"FPGA{clk}_CLK_CTRL"]["address_offset"]] = _SLCR_FPGA_CLK_RESET
    return words


@functools.lru_cache(maxsize=8)
def _parse_hwh(path: str, mtime_ns: int, size: int) -> Any:
    """pynq's runtime parser of one .hwh (cached per file version: parsing takes ~0.5 s)."""
    from pynqmetadata.frontends import Metadata
    from pynqmetadata.views.runtime import RuntimeMetadataParser

    parser = RuntimeMetadataParser(Metadata(input=Path(path)))
    parser.refresh_hierarchy_dict()
    return parser


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
    memory_mapped : bool
        Offer ``MEMORY_MAPPED`` (pynq's MMIO then uses ``mmap``/``MMIO.array``,
        as on a board) instead of ``REGISTER_RW``.

    The board boots with the default design (``hwh.BlockDesign(num_banks)``)
    programmed, as a PYNQ image boots with a bitstream loaded;
    ``pynq.Overlay(bitfile, device=...)`` downloads another one.
    """

    # pynq >= 3.1 picks its Zynq-7000 clock code by the device's arch.
    arch = "armv7l"

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
        memory_mapped: bool = False,
        tag: str = "pynq_mnist_virtual_board",
    ) -> None:
        super().__init__(tag)
        self.capabilities = (
            {"MEMORY_MAPPED": True, "REGISTER_RW": False}
            if memory_mapped
            else {"REGISTER_RW": True}
        )
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
        self._stuck = False  # the last run found nothing moving, and nothing was written since
        self._slcr = _slcr_reset_words()
        self._windows: list[tuple[int, int, str]] = []
        self._restore_active: tuple[bool, Any] | None = None
        self._restore_clocks: dict[str, Any] | None = None
        boot = str(standin_bitstream(hwh.BlockDesign(num_banks=num_banks)))
        parser = self.get_bitfile_metadata(boot)
        self._map_design(parser)
        self._set_fclks(parser.clock_dict)
        self.reset(parser, "", boot)  # booted: loaded, no download timestamp
        if activate:
            self.make_active()

    def make_active(self) -> None:
        """Make this pynq's active device, with pynq's Clocks on its PS, until ``close()``.

        ``close()`` restores the previous active device and clocks.
        """
        if self._restore_active is None:
            had = "_active_device" in pynq.Device.__dict__
            self._restore_active = (had, pynq.Device.__dict__.get("_active_device"))
        pynq.Device.active_device = self
        self._bind_clocks()

    def _bind_clocks(self) -> None:
        """Point ``pynq.Clocks`` at pynq's own Zynq-7000 clock code on this board's SLCR.

        pynq caches one clock implementation per process, chosen by the CPU it
        runs on (3.0.1) or by the device's arch (3.1, 4.0); off-board it has
        none, so this installs the one a Zynq-7000 board gets.
        """
        from pynq import ps

        if self._restore_clocks is None:
            self._restore_clocks = {
                key: ps.Clocks.__dict__[key]
                for key in ("_real_instance", "device")
                if key in ps.Clocks.__dict__
            }
        if "device" in inspect.signature(ps._ClocksZynq).parameters:
            ps.Clocks.device = self
            ps.Clocks._real_instance = ps._ClocksZynq(device=self)
        else:  # pynq 3.0.1: its MMIO uses the active device, which is this one
            ps.Clocks._real_instance = ps._ClocksZynq()

    def _unbind_clocks(self) -> None:
        from pynq import ps

        if self._restore_clocks is None:
            return
        for key in ("_real_instance", "device"):
            if key in self._restore_clocks:
                setattr(ps.Clocks, key, self._restore_clocks[key])
            elif key in ps.Clocks.__dict__:
                delattr(ps.Clocks, key)
        self._restore_clocks = None

    # --- the programmed design: metadata, download ----------------------------

    def get_bitfile_metadata(self, bitfile_name: str) -> Any:
        """pynq's parser of the .hwh beside ``bitfile_name``, as ``EmbeddedDevice`` builds it.

        (Without the XRT xclbin step, which needs ``xclbinutil``.)

        Raises
        ------
        RuntimeError
            No .hwh beside the bitstream (pynq's own message).
        """
        from pynq.pl_server.embedded_device import _get_bitstream_handler

        hwh_path = Path(bitfile_name).with_suffix(".hwh")
        if not hwh_path.is_file():
            raise RuntimeError("Unable to find metadata for bitstream")
        stat = hwh_path.stat()
        parser = copy.deepcopy(_parse_hwh(str(hwh_path), stat.st_mtime_ns, stat.st_size))
        parser.bin_data = _get_bitstream_handler(bitfile_name).get_bin_data()
        return parser

    def download(self, bitstream: Any, parser: Any = None) -> None:
        """Program the virtual PL with a stand-in .bit: map its design, reset the fabric.

        Raises
        ------
        AcceleratorError
            Not a stand-in for the .hwh beside it (a real bitstream cannot be
            programmed into the Verilated RTL), or a design this board cannot be.
        """
        if parser is None:
            parser = self.get_bitfile_metadata(bitstream.bitfile_name)
        self._check_standin(Path(bitstream.bitfile_name))
        self._map_design(parser)
        self.reset_board()
        self.post_download(bitstream, parser, self.tag)

    @staticmethod
    def _check_standin(bit: Path) -> None:
        from pynq.pl_server.embedded_device import parse_bit_header

        payload = parse_bit_header(bit.read_bytes())["data"]
        digest = standin_digest(bit.with_suffix(".hwh").read_text(encoding="utf-8"))
        if not payload.startswith(STANDIN_MAGIC):
            raise AcceleratorError(
                f"sim: {bit} is not a virtual-board stand-in bitstream "
                "(write one with pynq_mnist.sim.bitstream.standin_bitstream)"
            )
        if digest.encode("ascii") not in payload:
            raise AcceleratorError(
                f"sim: {bit} was written for another .hwh than the one beside it"
            )

    def _map_design(self, parser: Any) -> None:
        """Route the design's address windows to the RTL and the DMA model, by VLNV."""
        found: dict[str, list[tuple[str, dict[str, Any]]]] = {ACCEL_ROLE: [], DMA_ROLE: []}
        for name, desc in parser.ip_dict.items():
            role = {regmap.VLNV: ACCEL_ROLE, regmap.DMA_VLNV: DMA_ROLE}.get(desc.get("type"))
            if role is not None:
                found[role].append((name, desc))
        for role, vlnv in ((ACCEL_ROLE, regmap.VLNV), (DMA_ROLE, regmap.DMA_VLNV)):
            if len(found[role]) != 1:
                names = [n for n, _ in found[role]]
                raise AcceleratorError(
                    f"sim: the virtual board has one {vlnv}; the design has {len(names)} {names}"
                )
        accel = found[ACCEL_ROLE][0][1]
        banks = int(accel["parameters"]["NUM_BANKS"])
        if banks != self.num_banks:
            raise AcceleratorError(
                f"sim: the design's accelerator has NUM_BANKS={banks}, this virtual board's "
                f"RTL {self.num_banks}: use VirtualDevice(num_banks={banks})"
            )
        windows = [(SLCR_BASE, SLCR_BASE + SLCR_SPAN, _SLCR_ROLE)]
        for role, ((_, desc),) in found.items():
            windows.append((desc["phys_addr"], desc["phys_addr"] + desc["addr_range"], role))
        self._windows = sorted(windows)

    def _set_fclks(self, clock_dict: dict[int, dict[str, Any]]) -> None:
        """Program the FPGAn_CLK_CTRL divisors of enabled clocks (what the boot does)."""
        from pynq import ps

        for clk, clock in clock_dict.items():
            if not clock.get("enable"):
                continue
            offset = ps.ZYNQ_SLCR_REGISTERS[f"FPGA{clk}_CLK_CTRL"]["address_offset"]
            self._slcr[offset] = _field_value(
                ps.ZYNQ_CLK_FIELDS, "DIVISOR0", int(clock["divisor0"])
            ) | _field_value(ps.ZYNQ_CLK_FIELDS, "DIVISOR1", int(clock["divisor1"]))

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
        desc["device"] = self
        return desc

    def mmap(self, base_addr: int, length: int) -> MappedWindow:
        """The MEMORY_MAPPED view of [base_addr, base_addr+length): what MMIO.array becomes."""
        if base_addr % 4 or length % 4:
            raise ValueError(f"sim: mmap of {length} bytes at {base_addr:#x} is not word aligned")
        return MappedWindow(self, base_addr, length // 4)

    # --- counters, faults, lifecycle -------------------------------------

    def reset_counters(self) -> None:
        """Zero ``register_accesses``: one count per register read/write call (or mapped
        element access), keyed by role (``mnist_accel``, ``axi_dma``) whatever the instance
        names of the design."""
        self.register_accesses = {ACCEL_ROLE: 0, DMA_ROLE: 0}

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
        self._stuck = False
        self._model().reset()
        self.dma.power_on()

    def close(self) -> None:
        """Free the simulator and restore the previously active pynq device (idempotent)."""
        if self.model is not None:
            self.model.close()
            self.model = None
        self.dma.release()
        self._regions.clear()
        self._unbind_clocks()
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
        for lo, hi, role in self._windows:
            if lo <= addr and addr + length <= hi:
                if role in self.register_accesses:
                    self.register_accesses[role] += 1
                return role, addr - lo
        raise AcceleratorError(
            f"sim: {what} of {length} bytes at {addr:#x} hits no IP "
            + ", ".join(f"{n} {lo:#x}..{hi - 1:#x}" for lo, hi, n in self._windows)
        )

    def read_registers(self, address: int, length: int) -> bytes:
        """Serve a register read (pynq REGISTER_RW): accelerator, DMA or SLCR window."""
        name, offset = self._decode(address, length, "read")
        if name == _SLCR_ROLE:
            return b"".join(
                self._slcr.get(offset + 4 * i, 0).to_bytes(4, "little") for i in range(length // 4)
            )
        self.advance()
        if name == DMA_ROLE:
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
        self._stuck = False
        name, offset = self._decode(address, len(data), "write")
        if name == _SLCR_ROLE:
            for i in range(0, len(data), 4):
                self._slcr[offset + i] = int.from_bytes(data[i : i + 4], "little")
            return
        if name == DMA_ROLE:
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
        """Clock the model until the DMA has nothing in progress or nothing moves.

        Once a run found nothing moving, further reads (until the next write)
        cost only ``settle_cycles`` each, as a poll of a stuck board does: so
        the cycle counts of a fault's detection and recovery stay realistic.
        """
        self.dma.sync()
        if not self.dma.busy:
            return None
        model = self._model()
        if self._stuck:
            model.tick(self.settle_cycles)
            self.dma.sync()
            return self.last_run
        result = model.run(self.max_cycles_per_access, self.idle_limit, self.starve_limit)
        self._stuck = result.reason == RunReason.NO_PROGRESS
        if result.reason == RunReason.QUIESCENT:
            model.tick(self.settle_cycles)
        self.last_run = result
        self.dma.sync()
        return result


class MappedWindow:
    """A MEMORY_MAPPED register window: what ``mmap`` is on a board, for the virtual one.

    On a board, ``EmbeddedDevice.mmap`` returns a uint32 ndarray over
    ``/dev/mem``, and every element load/store is a bus transaction. Here every
    element read/write goes to the device as a register transaction (AXI4-Lite
    on the RTL, the DMA model, or the SLCR). It supports what pynq's MMIO,
    Register and RegisterMap and the driver do with ``MMIO.array``: integer
    indexing, contiguous slices (views), ``view("u4")``, ``len`` and
    conversion with ``np.array`` / ``np.asarray`` (one block read).
    """

    dtype = np.dtype(np.uint32)
    ndim = 1

    def __init__(self, device: VirtualDevice, base_addr: int, words: int) -> None:
        self._device = device
        self._base = base_addr
        self._words = max(words, 0)

    @property
    def shape(self) -> tuple[int]:
        return (self._words,)

    @property
    def size(self) -> int:
        return self._words

    def __len__(self) -> int:
        return self._words

    def __repr__(self) -> str:
        return f"MappedWindow({self._base:#x}, {self._words} words)"

    def _address(self, index: Any) -> int:
        i = operator.index(index)
        if i < 0:
            i += self._words
        if not 0 <= i < self._words:
            raise IndexError(f"index {index} out of a {self._words}-word window")
        return self._base + 4 * i

    def _span(self, index: slice) -> tuple[int, int]:
        start, stop, step = index.indices(self._words)
        if step != 1:
            raise IndexError("a mapped register window has no strided views")
        return self._base + 4 * start, max(stop - start, 0)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            base, words = self._span(index)
            return MappedWindow(self._device, base, words)
        data = self._device.read_registers(self._address(index), 4)
        return np.uint32(int.from_bytes(data, "little"))

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            base, words = self._span(index)
            values = np.broadcast_to(np.asarray(value, dtype=np.uint32), (words,))
            if words:
                self._device.write_registers(base, values.astype("<u4").tobytes())
            return
        word = int(value) & 0xFFFF_FFFF
        self._device.write_registers(self._address(index), word.to_bytes(4, "little"))

    def view(self, dtype: Any = None) -> MappedWindow:
        """This window (only the uint32 view pynq takes exists)."""
        if dtype is not None and np.dtype(dtype) != self.dtype:
            raise TypeError(f"a mapped register window is uint32, not {np.dtype(dtype)}")
        return self

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        data = np.zeros(0, np.uint32)
        if self._words:
            raw = self._device.read_registers(self._base, 4 * self._words)
            data = np.frombuffer(bytes(raw), dtype="<u4").astype(np.uint32)
        return data if dtype is None else data.astype(dtype)
