"""The classifying side of ``pynq-mnist serve``: request body to image, image to reply.

:class:`DigitService` decodes and preprocesses an upload exactly like
``pynq-mnist infer`` and classifies it with one shared ``Classifier`` behind a
lock (two DMA transfers never interleave). Also the model's identity for
``/api/health``, the page's bytes and the one-line messages for unreadable uploads.
"""

from __future__ import annotations

import hashlib
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ... import contract
from ...backends import Backend
from ...classifier import Classifier
from ...closing import Closing
from ...errors import ImageError, PynqMnistError
from ...model import N_IN, Model, default_model_path

__all__ = [
    "MAX_BODY_BYTES",
    "RAW_TYPE",
    "UPLOAD_PREFIX",
    "BadRequest",
    "DigitService",
    "model_identity",
    "page_html",
    "user_message",
]

MAX_BODY_BYTES = 10 * 1024 * 1024  # a phone photo is 2-8 MB
RAW_TYPE = "application/octet-stream"
UPLOAD_NAME = "uploaded image"
UPLOAD_PREFIX = UPLOAD_NAME + ": "


class BadRequest(PynqMnistError):
    """The request body is not a usable image; the message is the reply."""


class DigitService(Closing):
    """Decode, preprocess and classify one image at a time with one shared ``Classifier``."""

    def __init__(self, backend: Backend | str | None = None, model: Model | str | None = None):
        self.classifier = Classifier(model, backend)
        self.model_name = model if isinstance(model, str) else "bundled"
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.requests = 0
        self.errors = 0

    @property
    def model(self) -> Model:
        """The model every request runs."""
        return self.classifier.model

    @property
    def backend(self) -> Backend:
        """The one backend behind the lock."""
        return self.classifier.backend

    def image_from_body(self, body: bytes, content_type: str) -> np.ndarray:
        """The uint8 [28, 28] that a request body stands for (see :mod:`pynq_mnist.apps.serve`).

        Raises
        ------
        BadRequest
            Raw bytes of the wrong length, or an image that cannot be read or is blank.
        """
        if content_type.split(";")[0].strip().lower() == RAW_TYPE:
            if len(body) != N_IN:
                raise BadRequest(f"raw input must be exactly {N_IN} bytes, got {len(body)}")
            return np.frombuffer(body, dtype=np.uint8).reshape(28, 28).copy()
        if not body:
            raise BadRequest("empty body: send an image file or 784 raw bytes")
        from ...preprocess import load_image_bytes

        # Decoded from memory with the same bounds and steps as 'pynq-mnist infer'.
        try:
            return load_image_bytes(body, name=UPLOAD_NAME)
        except ImageError as exc:
            raise BadRequest(user_message(str(exc))) from None

    def classify(self, image: np.ndarray) -> dict[str, Any]:
        """Classify one uint8 [28, 28]; the reply dict of ``POST /api/classify``."""
        batch = np.ascontiguousarray(image, dtype=np.uint8).reshape(1, N_IN)
        with self._lock:  # one transfer at a time through the one DMA
            start = time.perf_counter()
            result = self.classifier.classify(batch)
            accelerator_ms = (time.perf_counter() - start) * 1e3
        logits = result.logits
        cycles = None if result.stats is None else result.stats["cycles"]
        return {
            "digit": int(result.digits[0]),
            "logits": [int(v) for v in logits[0]],
            "confidences": [round(float(p), 6) for p in contract.softmax(logits, self.model)[0]],
            "backend": self.backend.name,
            "cycles": None if cycles is None else int(cycles),
            "image": [int(v) for v in result.network_input[0]],
            "accelerator_ms": round(accelerator_ms, 3),
        }

    def infer(self, images: np.ndarray) -> np.ndarray:
        """Logits int32 [N, 10] of uint8 images [N, 28, 28] or [N, 784], between requests."""
        batch = np.ascontiguousarray(images, dtype=np.uint8).reshape(-1, N_IN)
        with self._lock:
            return self.classifier.classify(batch).logits

    def count(self, error: bool) -> None:
        """Count one request (``error``: it got a 4xx/5xx reply)."""
        with self._count_lock:
            self.requests += 1
            self.errors += int(error)

    def health(self) -> dict[str, Any]:
        """The reply of ``GET /api/health``."""
        return {
            "status": "ok",
            "backend": self.backend.name,
            "model": self.model_name,
            "requests": self.requests,
            "errors": self.errors,
        }

    def close(self) -> None:
        """Release the backend."""
        self.classifier.close()


def model_identity(model: Model | str | None) -> tuple[str, str]:
    """(file name, SHA-256 of the file) of a model argument; a Model object: its arrays' hash."""
    if isinstance(model, Model):
        digest = hashlib.sha256()
        for array in (model.w1, model.w2, model.shift_l1, model.shift_l2):
            digest.update(np.ascontiguousarray(array).tobytes())
        return "in-memory model", digest.hexdigest()
    path = Path(model) if model is not None else default_model_path()
    return path.name, hashlib.sha256(path.read_bytes()).hexdigest()


def page_html() -> bytes:
    """The draw-a-digit page shipped in ``pynq_mnist/apps/web/index.html``."""
    return resources.files("pynq_mnist.apps").joinpath("web", "index.html").read_bytes()


def user_message(text: str) -> str:
    """One line for the user from a preprocessing error about the upload.

    The upload is named ``uploaded image`` once (a decoder may repeat the name),
    and internal figures become plain words.
    """
    text = " ".join(text.split())
    while text.startswith(UPLOAD_PREFIX):
        text = text[len(UPLOAD_PREFIX) :]
    text = text.replace(UPLOAD_PREFIX, "")
    if text.startswith(("no digit found: blank image", "no digit found: ink is")):
        text = "no digit found: the image is blank or too faint; draw or photograph a darker digit"
    return UPLOAD_PREFIX + text
