"""The one interface every backend (cpu, sim, fabric) implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import contract
from ..closing import Closing
from ..model import Model


@dataclass(frozen=True)
class Inference:
    """What a backend computed for a batch.

    ``logits`` are the exact int32 logits [N, 10]; ``digits`` (int64 [N]) are
    the contract digits, as the accelerator reports them on sim/fabric;
    ``stats`` (accelerators only, else None) has ``images``, ``transfers``,
    ``cycles``, ``register_accesses`` and ``wall_s``.
    """

    logits: np.ndarray
    digits: np.ndarray
    stats: dict[str, Any] | None = None


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

    def run(self, images: np.ndarray) -> Inference:
        """Logits, digits and (on an accelerator) its statistics for uint8 images [N, 784]."""
        logits = self.infer(images)
        return Inference(logits=logits, digits=contract.digits(logits))


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
        logits, _, _ = self.accel.classify(contract.as_image_batch(images), read_cycles=False)
        return logits

    def run(self, images: np.ndarray) -> Inference:
        """Logits, hardware digits and stats (CYCLES read, register accesses)."""
        logits, digits, stats = self.accel.classify(
            contract.as_image_batch(images), read_cycles=True
        )
        return Inference(logits=logits, digits=digits, stats=stats)
