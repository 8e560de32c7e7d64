"""Fixtures of the virtual-board tests."""

from __future__ import annotations

import pytest
from sim_hooks import BOARD_KEYS, reset_counters

from pynq_mnist.sim.device import VirtualDevice


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every virtual-board test here runs on one board of each PS family."""
    if "virtual_board" in metafunc.fixturenames:
        metafunc.parametrize("virtual_board", BOARD_KEYS, indirect=True, scope="module")


@pytest.fixture
def dev(virtual_board: VirtualDevice) -> VirtualDevice:
    """The module's board back at power-on state, with no faults and zeroed counters."""
    virtual_board.clear_faults()
    virtual_board.reset_board()
    reset_counters(virtual_board)
    return virtual_board
