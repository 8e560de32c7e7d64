"""Fixtures of the virtual-board tests."""

from __future__ import annotations

import pytest

from pynq_mnist.sim.device import VirtualDevice


@pytest.fixture
def dev(virtual_board: VirtualDevice) -> VirtualDevice:
    """The module's board back at power-on state, with no faults and zeroed counters."""
    virtual_board.clear_faults()
    virtual_board.reset_board()
    virtual_board.reset_counters()
    return virtual_board
