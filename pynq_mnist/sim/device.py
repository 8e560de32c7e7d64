"""The virtual board: a ``pynq.Device`` backed by the Verilated RTL and an AXI DMA model.

``VirtualDevice`` is what ``pynq.Overlay`` needs of a Zynq-7000 or Zynq
UltraScale+ board (``board=``, a key of ``hardware.boards.BOARDS``): it parses
the ``.hwh`` beside a bitstream with pynq's own parser (pynqmetadata, as
``EmbeddedDevice`` does), "downloads" the stand-in ``.bit`` that
``pynq_mnist.hwh`` writes (resetting the fabric, mapping the design's address
windows by VLNV and, as ``EmbeddedDevice.download`` does, calling pynq's own
``set_axi_port_width`` on it), and has the PS register blocks of its family
(``ps7.Ps7``: the SLCR; ``psu.Psu``: CRL_APB, CRF_APB, AXI_FS, AFIFMn) on
which pynq's own ``Clocks`` code reads and sets the PL clocks. MMIO is either
``REGISTER_RW`` (``read_registers``/``write_registers``) or, with
``memory_mapped=True``, ``MEMORY_MAPPED`` as on a board: ``mmap`` returns a
``window.MappedWindow`` whose element reads/writes are the bus transactions.
``allocate`` hands out buffers at fake physical addresses in the board's DDR
(``memory``: above 4 GiB on the KV260). So the unmodified ``pynq.Overlay``,
``MMIO``, ``DefaultIP``, ``allocate`` and ``pynq.lib.dma.DMA`` run on it.
Register accesses in the accelerator window become AXI4-Lite transactions on
the RTL; the DMA window is served by ``dma.AxiDmaModel``, a behavioural model
of the Xilinx AXI DMA in direct register (simple) mode per PG021 with the
design's ``c_addr_width``, whose stream datapath (bytes between host buffers
and the RTL) runs in C++, through the PS's HP port (``hp_port``: a port set to
another width than the design's corrupts the data, as on a board). ``inject``
arms the faults of ``faults``.

Simulated time advances lazily: before every register read, the model is
clocked until no DMA channel is busy (nor a DMA soft reset under way) or no
stream beat has moved for ``idle_limit`` cycles while the engine owes results
(``starve_limit`` while it waits for input), then ``settle_cycles`` more, the
latency of the processor's read. A correct batch is complete by the first
poll; a stalled one leaves the DMA not idle.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pynq
from pynq.buffer import PynqBuffer

from ..closing import Closing
from ..errors import AcceleratorError
from ..hardware import boards, hwh, regmap
from .bitstream import STANDIN_MAGIC, standin_bitstream, standin_digest
from .dma import AxiDmaModel
from .faults import FAULTS, inject
from .memory import BufferPool, pool_span
from .ps import ClockBinding, PsRegisters
from .ps7 import Ps7
from .psu import Psu
from .verilator import AXI_OKAY, RunReason, RunResult, SimModel
from .window import MappedWindow

__all__ = ["FAULTS", "MappedWindow", "VirtualDevice"]

log = logging.getLogger(__name__)


ACCEL_ROLE = regmap.ACCEL_INSTANCE  # register_accesses keys, whatever the instance names
DMA_ROLE = regmap.DMA_INSTANCE
_PS_ROLE = "ps"


@functools.lru_cache(maxsize=8)
def _parse_hwh(path: str, mtime_ns: int, size: int) -> Any:
    """pynq's runtime parser of one .hwh (cached per file version: parsing takes ~0.5 s)."""
    from pynqmetadata.frontends import Metadata
    from pynqmetadata.views.runtime import RuntimeMetadataParser

    parser = RuntimeMetadataParser(Metadata(input=Path(path)))
    parser.refresh_hierarchy_dict()
    return parser


def _active_state() -> tuple[bool, Any]:
    """pynq's active-device setting as it is now: (set at all, the device)."""
    return "_active_device" in pynq.Device.__dict__, pynq.Device.__dict__.get("_active_device")


def _restore_active_state(state: tuple[bool, Any]) -> None:
    """Put back what :func:`_active_state` returned."""
    had, previous = state
    if had:
        pynq.Device.active_device = previous
    elif "_active_device" in pynq.Device.__dict__:
        del pynq.Device._active_device


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
    board : str
        The board (``hardware.boards.BOARDS`` key): its PS family's registers,
        its memory map, the design it boots with.
    boot_design : hwh.BlockDesign, optional
        The design the image loads at boot (default: the board's default
        design). Loaded as a boot loads a PL, without pynq: the PS's port
        widths stay at their reset values (128 bits on Zynq UltraScale+).

    Attributes
    ----------
    register_accesses : dict
        One count per register read/write call (or mapped element access),
        keyed by role (``mnist_accel``, ``axi_dma``) whatever the instance
        names of the design; the ``sim`` backend reports what it served.

    The board boots with the default design of its board
    (``hwh.BlockDesign(board=..., num_banks=...)``) programmed, as a PYNQ image
    boots with a bitstream loaded; ``pynq.Overlay(bitfile, device=...)``
    downloads another one. ``arch`` is the board's ``uname -m``, by which
    pynq >= 3.1 picks its clock code.
    """

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
        board: str = boards.DEFAULT_BOARD,
        boot_design: hwh.BlockDesign | None = None,
        tag: str = "pynq_mnist_virtual_board",
    ) -> None:
        self.board = boards.board(board)
        super().__init__(tag)
        self.arch = self.board.family.machine
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
        self._pool = BufferPool(*pool_span(self.board))
        self.dma = AxiDmaModel(self._model, self._pool.lookup)
        self.register_accesses: dict[str, int] = {ACCEL_ROLE: 0, DMA_ROLE: 0}
        self.last_run: RunResult | None = None
        self._stuck = False  # the last run found nothing moving, and nothing was written since
        self.ps: PsRegisters = Ps7() if self.board.family is boards.ZYNQ7000 else Psu()
        self._windows: list[tuple[int, int, str]] = []
        self._restore_active: tuple[bool, Any] | None = None
        self._clocks = ClockBinding()
        boot_design = boot_design or hwh.BlockDesign(board=board, num_banks=num_banks)
        boot = str(standin_bitstream(boot_design))
        parser = self.get_bitfile_metadata(boot)
        self._map_design(parser)
        self.ps.boot(parser)
        self.reset(parser, "", boot)  # booted: loaded, no download timestamp
        if activate:
            self.make_active()

    def make_active(self) -> None:
        """Make this pynq's active device, with pynq's Clocks on its PS, until ``close()``.

        ``close()`` restores the previous active device and clocks.
        """
        if self._restore_active is None:
            self._restore_active = _active_state()
        pynq.Device.active_device = self
        self._clocks.bind(self, self.ps.clocks_class)

    @property
    def env_name(self) -> str:
        """``$BOARD`` as this board's PYNQ image sets it (e.g. ``Pynq-Z2``, ``KV260``)."""
        return self.board.env_name

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
        from pynq.pl_server.embedded_device import EmbeddedDevice

        if parser is None:
            parser = self.get_bitfile_metadata(bitstream.bitfile_name)
        self._check_standin(Path(bitstream.bitfile_name))
        self._map_design(parser)
        self.reset_board()
        # pynq's own port-width code, unmodified; pynq 3.0.1's writes through the active device.
        with self._active():
            EmbeddedDevice.set_axi_port_width(self, parser)
        self.post_download(bitstream, parser, self.tag)

    @contextlib.contextmanager
    def _active(self) -> Iterator[None]:
        state = _active_state()
        pynq.Device.active_device = self
        try:
            yield
        finally:
            _restore_active_state(state)

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
        """Route the design's address windows to the RTL and the DMA model, by VLNV;
        give the DMA model the design's address width and HP port."""
        self.ps.check_design(parser, self.board)
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
        windows = [(lo, hi, _PS_ROLE) for lo, hi in self.ps.windows()]
        for role, ((_, desc),) in found.items():
            windows.append((desc["phys_addr"], desc["phys_addr"] + desc["addr_range"], role))
        self._windows = sorted(windows)
        dma_parameters = found[DMA_ROLE][0][1]["parameters"]
        self.dma.addr_width = int(dma_parameters.get("c_addr_width", 32))
        self.dma.port = self.ps.hp_port(parser, self.board.family)

    def description(self, name: str) -> dict[str, Any]:
        """The ip_dict entry of instance ``name`` (a copy), ready for ``DefaultIP``/``DMA``.

        With ``device`` set, as ``pynq.Overlay`` hands it to a driver
        (``pynq/overlay.py``), so a driver can be built without an overlay.

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

    # --- observed state, faults, lifecycle -------------------------------

    @property
    def cycles(self) -> int:
        """Clock cycles simulated so far."""
        return self._model().cycles

    @property
    def interrupts(self) -> dict[str, bool]:
        """Levels of the three PL interrupt lines.

        The accelerator's ``interrupt`` output (DONE with CTRL.IRQ_EN) and the
        DMA's ``mm2s_introut``/``s2mm_introut`` (PG021: IOC_Irq and IOC_IrqEn, or
        Err_Irq and Err_IrqEn); the block design leaves them unconnected.
        """
        return {
            "mnist_accel/interrupt": self._model().interrupt,
            "axi_dma/mm2s_introut": self.dma.introut("mm2s"),
            "axi_dma/s2mm_introut": self.dma.introut("s2mm"),
        }

    def inject(self, fault: str, **params: Any) -> None:
        """Inject a fault of :data:`FAULTS`; it stays until :meth:`clear_faults` (or fires once).

        See :func:`pynq_mnist.sim.faults.inject` for each fault and its parameters.

        Raises
        ------
        ValueError
            Unknown fault or parameter.
        """
        inject(self._model(), self.dma, fault, **params)

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
        self._pool.clear()
        self._clocks.unbind()
        if self._restore_active is not None:
            state, self._restore_active = self._restore_active, None
            if pynq.Device.__dict__.get("_active_device") is self:
                _restore_active_state(state)

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
        phys = self._pool.reserve(nbytes, backing)
        return PynqBuffer(
            shape, dt, buffer=backing, device=self, device_address=phys, coherent=True
        )

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
        """Serve a register read (pynq REGISTER_RW): accelerator, DMA or PS registers."""
        name, offset = self._decode(address, length, "read")
        if name == _PS_ROLE:
            return self.ps.read(address, length)
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
        if name == _PS_ROLE:
            self.ps.write(address, data)
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
