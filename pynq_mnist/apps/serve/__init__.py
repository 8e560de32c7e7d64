"""``pynq-mnist serve``: a draw-a-digit web page and a JSON API, served by the board itself.

Standard library only (``http.server``), so it runs on a board's Python as is.

- ``GET /``: the page (``pynq_mnist/apps/web/index.html``): draw with mouse, pen or
  finger, or upload a photo; it shows the 28x28 image the model saw, the digit,
  a confidence bar per class, the backend and, on sim/fabric, the
  accelerator's cycles and the request latency.
- ``POST /api/classify``: body = an image file (PNG, JPEG, ... any type PIL
  reads; preprocessed exactly like ``pynq-mnist infer``) or, with
  ``Content-Type: application/octet-stream``, exactly 784 raw uint8 pixels
  (row-major 28x28, MNIST polarity, used as they are). Answer: JSON with
  ``digit``, ``logits`` (exact int32), ``confidences`` (10 floats),
  ``backend``, ``cycles`` (accelerator clock cycles, null on cpu), ``image``
  (the 784 pixels classified), ``accelerator_ms`` and ``server_ms``.
  Errors: 400 bad image or body, 401 token missing, 403 cross-origin POST,
  408 request not complete by its deadline, 411 no Content-Length, 413 body
  over the limit, 415 not image/* or raw, 421 unknown Host, 503 busy, 500
  backend failure; always ``{"error": "<one line>"}``.
- ``GET /api/health``: ``{"status": "ok", "backend", "model" (file name),
  "model_sha256", "requests", "errors"}``.
- ``HEAD`` like ``GET`` without a body, ``OPTIONS`` with ``Allow``; any other
  method 405 JSON with ``Allow``.

Unauthenticated unless ``--token``; connection limits and the request deadline
are in :mod:`.connections`, the Host/Origin checks in :mod:`.request_checks`. At
most ``DECODE_SLOTS`` image decodes run at once.

``confidences`` are the softmax of the logits times the model's
``logit_scale`` (the float value of one integer logit unit, the same figure
``infer`` prints as ``confidence``). One backend serves all requests behind a
lock, so two DMA transfers never interleave.

``--load-test`` starts a server on 127.0.0.1, sends ``--clients`` x
``--requests`` MNIST test images as raw bytes, checks every answer against the
cpu backend and prints requests/s and latency percentiles. ``--abuse-test``
runs :mod:`.abuse` against a server process.

Modules: :mod:`.service` (request body to image to reply), :mod:`.handler` (the
HTTP routes and headers), :mod:`.server` (``DigitServer``), :mod:`.command` (the
command line), :mod:`.loadtest`, :mod:`.abuse`, :mod:`.connections`,
:mod:`.request_checks` and :mod:`.addresses`.
"""

from __future__ import annotations

from .command import DEFAULT_HOST, DEFAULT_PORT, add_arguments, run, startup_lines
from .handler import ALLOWED_METHODS
from .loadtest import load_test
from .server import (
    BODY_BUDGET_BYTES,
    DECODE_SLOTS,
    MAX_CONNECTIONS,
    REQUEST_DEADLINE_S,
    DigitServer,
)
from .service import (
    MAX_BODY_BYTES,
    RAW_TYPE,
    UPLOAD_PREFIX,
    BadRequest,
    DigitService,
    model_identity,
    page_html,
    user_message,
)

__all__ = [
    "ALLOWED_METHODS",
    "BODY_BUDGET_BYTES",
    "DECODE_SLOTS",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "RAW_TYPE",
    "REQUEST_DEADLINE_S",
    "UPLOAD_PREFIX",
    "BadRequest",
    "DigitServer",
    "DigitService",
    "add_arguments",
    "load_test",
    "model_identity",
    "page_html",
    "run",
    "startup_lines",
    "user_message",
]
