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
  Errors: 400 bad image or body, 411 no Content-Length, 413 body over the
  limit, 500 backend failure; always ``{"error": "<one line>"}``.
- ``GET /api/health``: ``{"status": "ok", "backend", "model", "requests", "errors"}``.

``confidences`` are the softmax of the logits times the model's
``logit_scale`` (the float value of one integer logit unit, the same figure
``infer`` prints as ``confidence``). One backend serves all requests behind a
lock, so two DMA transfers never interleave.

``--load-test`` starts a server on 127.0.0.1, sends ``--clients`` x
``--requests`` MNIST test images as raw bytes, checks every answer against the
cpu backend and prints requests/s and latency percentiles.
"""

from __future__ import annotations

import argparse
import http.client
import http.server
import json
import logging
import sys
import tempfile
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .. import contract
from ..backends import Backend
from ..classifier import Classifier
from ..closing import Closing
from ..errors import ImageError, PynqMnistError
from ..model import N_IN, Model

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "MAX_BODY_BYTES",
    "DigitServer",
    "DigitService",
    "add_arguments",
    "load_test",
    "run",
]

logger = logging.getLogger(__name__)

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8080
MAX_BODY_BYTES = 10 * 1024 * 1024  # a phone photo is 2-8 MB
RAW_TYPE = "application/octet-stream"
CLIENT_TIMEOUT_S = 30.0  # a client that stops sending frees its thread after this
LOAD_CLIENTS = 8
LOAD_REQUESTS = 50


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
        """The uint8 [28, 28] that a request body stands for (see the module docstring).

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
        from ..preprocess import load_image

        # load_image reads files: the same code path as 'pynq-mnist infer'.
        with tempfile.TemporaryDirectory(prefix="pynq-mnist-serve-") as tmp:
            path = Path(tmp) / "upload"
            path.write_bytes(body)
            try:
                return load_image(path)
            except ImageError as exc:
                raise BadRequest(str(exc).replace(str(path), "uploaded image")) from None

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


def page_html() -> bytes:
    """The draw-a-digit page shipped in ``pynq_mnist/apps/web/index.html``."""
    return resources.files("pynq_mnist.apps").joinpath("web", "index.html").read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes of the page and the API; every reply carries a Content-Length."""

    protocol_version = "HTTP/1.1"  # keep-alive for API clients
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK wait
    timeout = CLIENT_TIMEOUT_S
    server_version = "pynq-mnist"
    service: DigitService
    max_body: int
    page: bytes

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path in ("/", "/index.html"):
            self._send(200, self.page, "text/html; charset=utf-8")
        elif path == "/api/health":
            self._send_json(200, self.service.health())
        else:
            self._send_json(404, {"error": f"no such page: {path}"})

    def do_POST(self) -> None:
        if self.path.split("?")[0] != "/api/classify":
            self._reject(404, f"no such endpoint: {self.path}")
            return
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.strip().isdigit():
            self._reject(411, "Content-Length required")
            return
        length = int(length_header)
        if length > self.max_body:
            self._reject(413, f"body of {length} bytes is over the limit of {self.max_body}")
            return
        start = time.perf_counter()
        body = self.rfile.read(length)
        if len(body) != length:
            self._reject(400, f"body ended after {len(body)} of {length} bytes")
            return
        try:
            image = self.service.image_from_body(body, self.headers.get("Content-Type", ""))
            reply = self.service.classify(image)
        except BadRequest as exc:
            self.service.count(error=True)
            self._send_json(400, {"error": str(exc)})
            return
        except PynqMnistError as exc:  # the backend failed; the driver has recovered it
            self.service.count(error=True)
            logger.error("classify failed: %s", exc)
            self._send_json(500, {"error": f"classification failed: {' '.join(str(exc).split())}"})
            return
        except Exception as exc:  # a bug or a codec's surprise costs this request only
            self.service.count(error=True)
            logger.exception("classify failed")
            self._send_json(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
            return
        reply["server_ms"] = round((time.perf_counter() - start) * 1e3, 3)
        self.service.count(error=False)
        self._send_json(200, reply)

    def _reject(self, status: int, message: str) -> None:
        """Reply without reading the body, then drop the connection (the body is unread)."""
        self.service.count(error=True)
        self.close_connection = True
        self._send_json(status, {"error": message}, close=True)

    def _send_json(self, status: int, payload: dict[str, Any], close: bool = False) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", close)

    def _send(self, status: int, body: bytes, content_type: str, close: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        logger.info("%s %s", self.address_string(), format % args)


class DigitServer(Closing):
    """The page and the API on ``host:port`` (port 0: any free one), around a DigitService.

    ``start()`` serves from a background thread (tests, notebooks);
    ``serve_forever()`` blocks (the command line).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        backend: Backend | str | None = None,
        model: Model | str | None = None,
        max_body: int = MAX_BODY_BYTES,
    ) -> None:
        self.service = DigitService(backend, model)
        handler = type(
            "DigitHandler",
            (_Handler,),
            {"service": self.service, "max_body": max_body, "page": page_html()},
        )
        try:
            self.httpd = http.server.ThreadingHTTPServer((host, port), handler)
        except BaseException:
            self.service.close()
            raise
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def port(self) -> int:
        """The port actually bound."""
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for this machine (127.0.0.1 when bound to every interface)."""
        host = str(self.httpd.server_address[0])
        return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.port}/"

    def start(self) -> DigitServer:
        """Serve from a daemon thread; returns self."""
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="pynq-mnist-serve", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve until interrupted."""
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and release the backend (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
        self.httpd.server_close()
        self.service.close()


def load_test(
    server: DigitServer,
    images: np.ndarray,
    clients: int = LOAD_CLIENTS,
    requests: int = LOAD_REQUESTS,
) -> dict[str, Any]:
    """``clients`` threads, each sending ``requests`` raw images over one keep-alive connection.

    Every answer is compared with the cpu backend's logits for the same bytes.
    Returns ``requests``, ``correct``, ``wrong`` (first few), ``requests_per_s``,
    ``latency_p50_ms``, ``latency_p99_ms`` and ``up_after`` (health check passed).
    """
    flat = np.ascontiguousarray(images.reshape(-1, N_IN), dtype=np.uint8)
    expected = contract.exact_logits(server.service.model, flat)
    expected_digits = contract.digits(expected)
    path = "/api/classify"

    def client(index: int) -> list[tuple[float, bool, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        results = []
        try:
            for k in range(requests):
                row = (index * requests + k) % len(flat)
                t0 = time.perf_counter()
                connection.request("POST", path, flat[row].tobytes(), {"Content-Type": RAW_TYPE})
                response = connection.getresponse()
                payload = response.read()
                latency = time.perf_counter() - t0
                reply = json.loads(payload) if response.status == 200 else {}
                ok = reply.get("logits") == expected[row].tolist() and reply.get("digit") == int(
                    expected_digits[row]
                )
                note = "" if ok else f"image {row}: HTTP {response.status} {payload[:200]!r}"
                results.append((latency, ok, note))
        finally:
            connection.close()
        return results

    t0 = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        outcomes = [r for batch in pool.map(client, range(clients)) for r in batch]
    wall = time.perf_counter() - t0
    latencies = np.array([o[0] for o in outcomes]) * 1e3
    status, health = _get_json(server.url + "api/health")
    return {
        "backend": server.service.backend.name,
        "clients": clients,
        "requests": len(outcomes),
        "correct": sum(o[1] for o in outcomes),
        "wrong": [o[2] for o in outcomes if not o[1]][:5],
        "requests_per_s": len(outcomes) / wall,
        "latency_p50_ms": float(np.percentile(latencies, 50)),
        "latency_p99_ms": float(np.percentile(latencies, 99)),
        "up_after": status == 200 and health.get("status") == "ok",
    }


def _get_json(url: str, timeout_s: float = 10.0) -> tuple[int, dict[str, Any]]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout_s)
    try:
        connection.request("GET", parts.path)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pynq-mnist serve``."""
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})"
    )
    parser.add_argument(
        "--backend",
        help="auto (default: $PYNQ_MNIST_BACKEND or fabric on a board, else cpu), cpu, sim, fabric",
    )
    parser.add_argument("--model", metavar="NPZ", help="model file (default: the bundled model)")
    parser.add_argument(
        "--max-body",
        type=int,
        default=MAX_BODY_BYTES,
        help=f"largest accepted request body in bytes (default {MAX_BODY_BYTES})",
    )
    parser.add_argument(
        "--load-test",
        action="store_true",
        help="instead of serving: start on 127.0.0.1, run --clients x --requests, print figures",
    )
    parser.add_argument("--clients", type=int, default=LOAD_CLIENTS, help="load test clients")
    parser.add_argument(
        "--requests", type=int, default=LOAD_REQUESTS, help="load test requests per client"
    )


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C (exit 0), or run the load test (0: every answer right, else 1)."""
    if not 0 <= args.port <= 65535 or args.max_body < N_IN or args.clients < 1 or args.requests < 1:
        print(
            "pynq-mnist: error: --port must be 0..65535, --max-body >= 784, --clients and "
            "--requests >= 1",
            file=sys.stderr,
        )
        return 2
    host, port = ("127.0.0.1", 0) if args.load_test else (args.host, args.port)
    try:
        server = DigitServer(host, port, args.backend, args.model, args.max_body)
    except OSError as exc:
        print(f"pynq-mnist: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    with server:
        if args.load_test:
            return _run_load_test(server.start(), args.clients, args.requests)
        shown = f"http://<this machine>:{server.port}/" if host in ("0.0.0.0", "") else server.url
        print(
            f"serving the draw-a-digit page on {shown} (backend {server.service.backend.name}; "
            f"API: POST /api/classify, GET /api/health); Ctrl-C stops",
            flush=True,
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def _run_load_test(server: DigitServer, clients: int, requests: int) -> int:
    from ..data import load_test_set

    test = load_test_set()
    print(f"data: {test.source}", flush=True)
    report = load_test(server, test.images, clients, requests)
    print(
        f"load test on {report['backend']}: {report['clients']} clients x {requests} requests: "
        f"{report['correct']}/{report['requests']} correct (vs cpu), "
        f"{report['requests_per_s']:.0f} requests/s, "
        f"latency p50 {report['latency_p50_ms']:.2f} ms, p99 {report['latency_p99_ms']:.2f} ms, "
        f"server up after: {report['up_after']}"
    )
    for line in report["wrong"]:
        print(f"wrong: {line}", file=sys.stderr)
    ok = report["correct"] == report["requests"] and report["up_after"]
    return 0 if ok else 1
