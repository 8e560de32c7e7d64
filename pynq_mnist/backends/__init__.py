"""The backends and how to pick one: the interface (:mod:`.base`) and a registry of names.

The registry names each backend by a ``"module:Class"`` string and imports it
only when asked for, so nothing here imports the modules that import
:mod:`.base`, and ``fabric``/``sim`` (which need pynq) cost nothing until chosen.
"""

from __future__ import annotations

import importlib
import os

from ..board.detect import board_available
from ..errors import BackendUnavailable
from .base import AcceleratorBackend, Backend, Inference

BACKEND_ENV = "PYNQ_MNIST_BACKEND"
# name -> "module:Class", imported on demand; the extra that supplies its dependencies.
REGISTRY = {
    "cpu": ("pynq_mnist.backends.cpu:CpuBackend", None),
    "sim": ("pynq_mnist.backends.sim:SimBackend", "sim"),
    "fabric": ("pynq_mnist.backends.fabric:FabricBackend", "board"),
}
BACKEND_NAMES = ("auto", *REGISTRY)

__all__ = [
    "BACKEND_ENV",
    "BACKEND_NAMES",
    "AcceleratorBackend",
    "Backend",
    "Inference",
    "get_backend",
    "resolve_backend_name",
]


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
        chosen = "fabric" if board_available() else "cpu"
    target, extra = REGISTRY[chosen]
    module_name, class_name = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(
            f"{chosen} backend needs the '{extra}' extra (pynq): {exc}"
        ) from None
    backend: Backend = getattr(module, class_name)()
    return backend
