"""Test-only hooks on the virtual board: things tests do to it that no board does."""

from __future__ import annotations

from pynq_mnist.sim.device import VirtualDevice


def reset_counters(device: VirtualDevice) -> None:
    """Zero the device's ``register_accesses`` counters, so a test counts from here."""
    for role in device.register_accesses:
        device.register_accesses[role] = 0
