"""User-facing classification on any backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backend import Backend, get_backend
from .closing import Closing
from .cpu import as_image_batch, contract_digits, contract_seed_digits
from .model import Model, load_model


@dataclass(frozen=True)
class ClassifyResult:
    """Digits, exact logits and softmax confidences for a batch of images."""

    digits: np.ndarray
    logits: np.ndarray
    confidence: np.ndarray
    backend: str


def seed_digits(logits: np.ndarray, model: Model) -> np.ndarray:
    """The seed notebook's digit: argmax over min(255, max(0, logits >> s2))."""
    return contract_seed_digits(logits, model.shift_l2)


def softmax_confidence(logits: np.ndarray, model: Model) -> np.ndarray:
    """Probability of the argmax class under softmax of the dequantised logits."""
    scaled = np.asarray(logits, dtype=np.float64) * model.logit_scale
    scaled -= scaled.max(axis=-1, keepdims=True)
    weights = np.exp(scaled)
    return weights.max(axis=-1) / weights.sum(axis=-1)


class Classifier(Closing):
    """Classify 28x28 uint8 digit images with a model on a backend.

    Parameters
    ----------
    model
        A Model, a path to a model file, or None for the bundled default.
    backend
        A Backend instance or a name: auto (default), cpu, sim, fabric.
    """

    def __init__(self, model: Model | str | None = None, backend: Backend | str = "auto") -> None:
        self.model = model if isinstance(model, Model) else load_model(model)
        self.backend = backend if isinstance(backend, Backend) else get_backend(backend)
        self.backend.load(self.model)

    def classify(self, images: np.ndarray) -> ClassifyResult:
        """Classify uint8 images shaped [28,28], [N,28,28] or [N,784]."""
        batch = as_image_batch(images)
        logits = self.backend.infer(batch)
        return ClassifyResult(
            digits=contract_digits(logits),
            logits=logits,
            confidence=softmax_confidence(logits, self.model),
            backend=self.backend.name,
        )

    def close(self) -> None:
        """Release the backend."""
        self.backend.close()
