"""User-facing classification on any backend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import contract
from .backends import Backend, get_backend
from .closing import Closing
from .model import Model, load_model


@dataclass(frozen=True)
class ClassifyResult:
    """Digits, exact logits and softmax confidences for a batch of images.

    ``network_input`` holds the uint8 pixels [N, 784] the network saw (after
    the model's input transform); ``stats`` is the accelerator's (cycles,
    register accesses, ...) on ``sim``/``fabric`` and None on ``cpu``.
    """

    digits: np.ndarray
    logits: np.ndarray
    confidence: np.ndarray
    backend: str
    stats: dict[str, Any] | None = None
    network_input: np.ndarray | None = None


def seed_digits(logits: np.ndarray, model: Model) -> np.ndarray:
    """The seed notebook's digit: argmax over min(255, max(0, logits >> s2))."""
    return contract.seed_digits(logits, model.shift_l2)


class Classifier(Closing):
    """Classify 28x28 uint8 digit images with a model on a backend.

    Parameters
    ----------
    model
        A Model, a path to a model file, or None for the bundled default.
    backend
        A Backend instance or a name: auto (default), cpu, sim, fabric; None
        takes ``$PYNQ_MNIST_BACKEND`` (else auto).
    """

    def __init__(
        self, model: Model | str | None = None, backend: Backend | str | None = "auto"
    ) -> None:
        self.model = model if isinstance(model, Model) else load_model(model)
        self.backend = backend if isinstance(backend, Backend) else get_backend(backend)
        try:
            self.backend.load(self.model)
        except BaseException:
            self.backend.close()
            raise

    def classify(self, images: np.ndarray) -> ClassifyResult:
        """Classify uint8 images shaped [28,28], [N,28,28] or [N,784]."""
        pixels = contract.network_input(self.model, images)
        inference = self.backend.run(pixels)
        return ClassifyResult(
            digits=contract.digits(inference.logits),
            logits=inference.logits,
            confidence=contract.confidence(inference.logits, self.model),
            backend=self.backend.name,
            stats=inference.stats,
            network_input=pixels,
        )

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()
