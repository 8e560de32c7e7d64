"""The one interface every backend (cpu, sim, fabric) implements, and how to pick one."""

from __future__ import annotations

import abc
import os
from typing import Any

import numpy as np

from .closing import Closing
from .errors import BackendUnavailable
from .model import Model

BACKEND_ENV = "PYNQ_MNIST_BACKEND"
BACKEND_NAMES = ("auto", "cpu", "sim", "fabric")


class Backend(Closing, abc.ABC):
    """Runs the shift-only MLP on some engine.

    ``infer`` takes uint8 images [N, 784] and returns int32 logits [N, 10],
    bit-exact with the arithmetic contract on every backend.
    """

    name: str = "abstract"

    @abc.abstractmethod
    def load(self, model: Model) -> None:
        """Make ``model`` the one that ``infer`` runs."""

    @abc.abstractmethod
    def infer(self, images: np.ndarray) -> np.ndarray:
        """Return int32 logits [N, 10] for uint8 images [N, 784]."""


class AcceleratorBackend(Backend):
    """A backend whose ``accel`` is an ``MnistAccel`` driver (fabric and sim).

    Both run the same driver code; only the device under it differs.
    """

    accel: Any

    def load(self, model: Model) -> None:
        """Write and verify the weights and shifts."""
        self.accel.load_weights(model, verify=True)

    def infer(self, images: np.ndarray) -> np.ndarray:
        """Return int32 logits [N, 10] computed by the accelerator."""
        logits, _, _ = self.accel.classify(images, read_cycles=False)
        return logits

    def classify(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Logits, hardware digits and stats (cycles, register accesses)."""
        return self.accel.classify(images, read_cycles=True)


def resolve_backend_name(name: str | None = None) -> str:
    """Apply the ``$PYNQ_MNIST_BACKEND`` default and check the name."""
    chosen = (name or os.environ.get(BACKEND_ENV) or "auto").strip().lower()
    if chosen not in BACKEND_NAMES:
        raise BackendUnavailable(
            f"unknown backend '{chosen}': choose one of {', '.join(BACKEND_NAMES)}"
        )
    return chosen


def get_backend(name: str | None = None) -> Backend:
    """Create a backend by name: auto (fabric on a PYNQ board, else cpu), cpu, sim, fabric.

    Raises
    ------
    BackendUnavailable
        Unknown name, or the backend cannot run here (no board, no Verilator, ...).
    """
    chosen = resolve_backend_name(name)
    if chosen == "auto":
        chosen = "fabric" if _board_available() else "cpu"
    if chosen == "cpu":
        from .cpu import CpuBackend

        return CpuBackend()
    if chosen == "sim":
        try:
            from .sim.backend import SimBackend
        except ImportError as exc:
            raise BackendUnavailable(f"sim backend needs the 'sim' extra (pynq): {exc}") from None
        return SimBackend()
    try:
        from .overlay import FabricBackend
    except ImportError as exc:
        raise BackendUnavailable(f"fabric backend needs the 'board' extra (pynq): {exc}") from None
    return FabricBackend()


def _board_available() -> bool:
    try:
        from .overlay import board_available
    except ImportError:
        return False
    return board_available()
