"""Fixtures of the overlay tests: one stubbed Vivado build shared by every file."""

from __future__ import annotations

import pytest
from vivado_stub import BOARD_KEYS, StubRun, run_build


@pytest.fixture(scope="session")
def z2_build(tmp_path_factory: pytest.TempPathFactory) -> StubRun:
    """The default PYNQ-Z2 build under the stubs, run once and only read by the tests."""
    run = run_build(tmp_path_factory.mktemp("z2"))
    assert run.returncode == 0, run.error + run.tcl_error
    return run


@pytest.fixture(scope="session")
def board_builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, StubRun]:
    """Each board's default build (no board files) under the stubs, run once."""
    runs = {}
    for key in BOARD_KEYS:
        run = run_build(tmp_path_factory.mktemp(key), {"board": key})
        assert run.returncode == 0, run.error + run.tcl_error
        runs[key] = run
    return runs
