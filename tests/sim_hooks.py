"""Test-only hooks on the virtual board: things tests do to it that no board does, and the
boards the virtual-board tests run on."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pynq_mnist.sim.device import VirtualDevice

# One board of each PS family: Zynq-7000 (the default board) and Zynq UltraScale+.
BOARD_KEYS = ("pynq-z2", "kv260")
# Runs a test that takes the ``board_key`` fixture on both.
both_boards = pytest.mark.parametrize("board_key", BOARD_KEYS)


def reset_counters(device: VirtualDevice) -> None:
    """Zero the device's ``register_accesses`` counters, so a test counts from here."""
    for role in device.register_accesses:
        device.register_accesses[role] = 0
