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

Unauthenticated unless ``--token``; connection limits, the request deadline
and the Host/Origin checks are in :mod:`pynq_mnist.apps.http_limits`. At most
``DECODE_SLOTS`` image decodes run at once.

``confidences`` are the softmax of the logits times the model's
``logit_scale`` (the float value of one integer logit unit, the same figure
``infer`` prints as ``confidence``). One backend serves all requests behind a
lock, so two DMA transfers never interleave.

``--load-test`` starts a server on 127.0.0.1, sends ``--clients`` x
``--requests`` MNIST test images as raw bytes, checks every answer against the
cpu backend and prints requests/s and latency percentiles. ``--abuse-test``
runs :mod:`pynq_mnist.apps.serve_abuse` against a server process.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import io
import json
import logging
import re
import secrets
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
from ..model import N_IN, Model, default_model_path
from . import http_limits

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
LOAD_CLIENTS = 8
ABUSE_RSS_LIMIT_MB = 150.0
MAX_SLOW = 5000  # slow connections the abuse test may open
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
                raise BadRequest(user_message(str(exc), str(path))) from None

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


ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS"
MAX_CONNECTIONS = 256  # open connections; over it, the longest-idle one makes room, or 503
IDLE_GRACE_S = 0.0  # a connection idle this long may be closed to make room for a newcomer
REQUEST_DEADLINE_S = 30.0  # request line + headers + body, and idle time before it
SEND_TIMEOUT_S = 10.0  # per write of a reply
DECODE_SLOTS = 2  # image decodes at a time (each may take tens of MB)
BODY_BUDGET_BYTES = 2 * MAX_BODY_BYTES + 4 * 1024 * 1024  # request bodies held at once
MAX_DISCARDED_BODY = 64 * 1024  # a GET/HEAD/OPTIONS body up to this size is read and dropped
UPLOAD_PREFIX = "uploaded image: "


def user_message(text: str, path: str) -> str:
    """One line for the user from a preprocessing error about the temporary file ``path``.

    The file name becomes ``uploaded image`` once (never twice), and internal
    figures become plain words.
    """
    text = " ".join(text.replace(path, "uploaded image").split())
    while text.startswith(UPLOAD_PREFIX):
        text = text[len(UPLOAD_PREFIX) :]
    text = text.replace(UPLOAD_PREFIX, "")
    if text.startswith("no digit found: blank image") or (
        text.startswith("no digit found: ink is")
    ):
        text = "no digit found: the image is blank or too faint; draw or photograph a darker digit"
    elif text.startswith("not an image format PIL can read"):
        text = "not an image in a format we read (PNG, JPEG, GIF, BMP, WebP or TIFF)"
    return UPLOAD_PREFIX + text


def _content_security_policy(page: bytes, frame_ancestors: str) -> str:
    """A CSP allowing exactly the page's inline script and style (by hash), nothing else."""
    text = page.decode("utf-8")

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", text, flags=re.S)
        return " ".join(
            f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
            for b in blocks
        )

    return (
        f"default-src 'none'; script-src {hashes('script') or chr(39) + 'none' + chr(39)}; "
        f"style-src {hashes('style') or chr(39) + 'none' + chr(39)}; img-src data:; "
        f"connect-src 'self'; base-uri 'none'; form-action 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes of the page and the API; every reply carries a Content-Length and is JSON
    unless it is the page."""

    protocol_version = "HTTP/1.1"  # keep-alive for API clients
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK wait
    server_version = "pynq-mnist"
    error_content_type = "application/json"
    server: http_limits.BoundedHTTPServer
    service: DigitService
    max_body: int
    page: bytes
    csp: str
    hosts: http_limits.HostPolicy
    token: str | None
    deadline_s: float
    decodes: threading.BoundedSemaphore
    bodies: http_limits.ByteBudget
    _reader: http_limits.DeadlineReader

    def version_string(self) -> str:
        """The Server header: the program only, no Python version."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        head, self._connected_at = self.server.take_head(self.connection)
        self._reader = http_limits.DeadlineReader(self.connection, head)
        self.rfile = io.BufferedReader(self._reader)
        self._first = True

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError) as exc:
            self.server.note_dropped(exc)

    def handle_one_request(self) -> None:
        if self._first:  # the deadline of the first request runs from the connection's start
            self._first = False
            self._reader.deadline = self._connected_at + self.deadline_s
        else:
            self.server.connections.mark(self.connection, busy=False)
            self._reader.deadline = time.monotonic() + self.deadline_s
        super().handle_one_request()

    # ---- methods ----

    def do_GET(self) -> None:
        if not self._checked_request():
            return
        path = self.path.split("?")[0]
        if path in ("/", "/index.html"):
            self._send(200, self.page, "text/html; charset=utf-8")
        elif path == "/api/health":
            if self._authorized():
                self._send_json(200, self.service_health())
        else:
            self._send_json(404, {"error": f"no such page: {path}"})

    def do_HEAD(self) -> None:
        self.do_GET()  # _send leaves the body out for HEAD

    def do_OPTIONS(self) -> None:
        if not self._checked_request():
            return
        self.send_response(204)
        self.send_header("Allow", ALLOWED_METHODS)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        if not self._checked_host():
            return
        if self.path.split("?")[0] != "/api/classify":
            self._reject(404, f"no such endpoint: {self.path}")
            return
        if not http_limits.same_origin(self.headers.get("Origin"), self.headers.get("Host")):
            self._reject(403, "cross-origin request refused: use the page served by this server")
            return
        if not self._authorized():
            return
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if not (kind.startswith("image/") or kind == RAW_TYPE):
            shown = kind or "none"
            self._reject(415, f"Content-Type {shown[:60]} not accepted: send image/* or {RAW_TYPE}")
            return
        if "Transfer-Encoding" in self.headers:
            self._reject(411, "Content-Length required (chunked bodies are not accepted)")
            return
        try:
            length = http_limits.content_length(self.headers.get_all("Content-Length") or [])
        except ValueError as exc:
            self._reject(400, str(exc))
            return
        if length is None:
            self._reject(411, "Content-Length required")
            return
        if length > self.max_body:
            self._reject(413, f"body of {length} bytes is over the limit of {self.max_body}")
            return
        start = time.perf_counter()
        if not self.bodies.acquire(length, self._reader.deadline - time.monotonic()):
            self._reject(503, "server busy with other uploads: try again in a few seconds")
            return
        try:
            self._classify(length, start)
        finally:
            self.bodies.release(length)

    def _classify(self, length: int, start: float) -> None:
        """Read the body (under the request deadline), decode, classify and reply."""
        try:
            body = self._read_body(length)
        except TimeoutError:
            self._reject(408, f"request not complete within {self.deadline_s:g} s")
            return
        if len(body) != length:
            self._reject(400, f"body ended after {len(body)} of {length} bytes")
            return
        self.server.connections.mark(self.connection, busy=True)
        self.connection.settimeout(SEND_TIMEOUT_S)
        kind = self.headers.get("Content-Type", "")
        try:
            if kind.split(";")[0].strip().lower() == RAW_TYPE:
                image = self.service.image_from_body(body, kind)
            else:
                with self.decodes:  # bounded memory: at most DECODE_SLOTS decodes at once
                    image = self.service.image_from_body(body, kind)
            del body
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

    def _read_body(self, length: int) -> bytearray:
        """Exactly ``length`` bytes or fewer if the client closed; one buffer, no copies."""
        body = bytearray(length)
        view = memoryview(body)
        got = 0
        while got < length:
            n = self.rfile.readinto(view[got:])
            if not n:
                break
            got += n
        view.release()
        del body[got:]
        return body

    # ---- checks ----

    def _checked_host(self) -> bool:
        """False (and a 421 reply) when the Host header does not name this server."""
        host = self.headers.get("Host")
        if self.hosts.allows(host):
            return True
        shown = " ".join(str(host).split())[:80]
        self._reject(
            421,
            f"Host {shown} is not this server's name: use its address, or start it with "
            f"--allow-host {http_limits.host_name(shown) or 'NAME'}",
        )
        return False

    def _checked_request(self) -> bool:
        """Host check, then drop a body sent with GET/HEAD/OPTIONS (read, or close after)."""
        if not self._checked_host():
            return False
        if "Transfer-Encoding" in self.headers:
            self.close_connection = True
            return True
        try:
            length = http_limits.content_length(self.headers.get_all("Content-Length") or [])
        except ValueError as exc:
            self._reject(400, str(exc))
            return False
        if length:
            if length > MAX_DISCARDED_BODY:
                self.close_connection = True
            else:
                try:
                    self.rfile.read(length)
                except TimeoutError:
                    self.close_connection = True
        return True

    def _authorized(self) -> bool:
        """True without a token configured or with ``Authorization: Bearer <token>``."""
        if self.token is None:
            return True
        given = self.headers.get("Authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            value.strip().encode(), self.token.encode()
        ):
            return True
        self._reject(401, "token required: open the address with #token=... printed at start")
        return False

    def service_health(self) -> dict[str, Any]:
        """``/api/health``: the service's figures, the model by file name and SHA-256."""
        health = self.service.health()
        health["model"], health["model_sha256"] = self.model_identity
        return health

    model_identity: tuple[str, str]

    # ---- replies ----

    def _reject(self, status: int, message: str) -> None:
        """Reply without reading the body, then drop the connection (the body is unread)."""
        self.service.count(error=True)
        self.close_connection = True
        self._send_json(status, {"error": message}, close=True)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method, ...) as one-line JSON."""
        self.close_connection = True
        text = " ".join((message or self.responses.get(code, ("error",))[0]).split())
        if code == 501:  # a method this server does not have
            self.send_response(405)
            self.send_header("Allow", ALLOWED_METHODS)
            body = json.dumps(
                {"error": f"method {str(self.command)[:20]} not allowed: use {ALLOWED_METHODS}"}
            ).encode()
        else:
            self.send_response(code)
            body = json.dumps({"error": f"bad request: {text}"[:200]}).encode()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Content-Security-Policy", self.csp)
        self.send_header("Referrer-Policy", "no-referrer")
        if "'none'" in self.csp.split("frame-ancestors")[-1]:
            self.send_header("X-Frame-Options", "DENY")
        super().end_headers()

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
        if self.command != "HEAD":
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
        *,
        allow_hosts: tuple[str, ...] = (),
        token: str | None = None,
        max_connections: int = MAX_CONNECTIONS,
        request_deadline_s: float = REQUEST_DEADLINE_S,
        frame_ancestors: str = "'none'",
    ) -> None:
        self.service = DigitService(backend, model)
        self.token = token
        page = page_html()
        self.connections = http_limits.ConnectionTable(max_connections, IDLE_GRACE_S)
        handler = type(
            "DigitHandler",
            (_Handler,),
            {
                "service": self.service,
                "max_body": max_body,
                "page": page,
                "csp": _content_security_policy(page, frame_ancestors),
                "hosts": http_limits.HostPolicy(allow_hosts),
                "token": token,
                "deadline_s": request_deadline_s,
                "decodes": threading.BoundedSemaphore(DECODE_SLOTS),
                "bodies": http_limits.ByteBudget(max(BODY_BUDGET_BYTES, 2 * max_body)),
                "model_identity": model_identity(model),
            },
        )
        refusal = http_limits.json_reply(
            503,
            {"error": "server busy: too many open connections, try again"},
            {"Retry-After": "1"},
        )
        try:
            self.httpd = http_limits.BoundedHTTPServer(
                (host, port), handler, self.connections, refusal, request_deadline_s
            )
        except BaseException:
            self.service.close()
            raise
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


UNAUTHENTICATED = (
    "anyone who can reach these addresses can use it (no password; "
    "use --host 127.0.0.1 or --token on a shared network)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pynq-mnist serve``."""
    parser.description = (
        "Serve the draw-a-digit page and the JSON API. Unauthenticated by default: it listens "
        f"on every network interface ({DEFAULT_HOST}), so anyone on the network can use it. "
        "On a shared network use --host 127.0.0.1 (this machine only) or --token."
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: every interface, reachable by "
        "anyone on the network; 127.0.0.1: this machine only)",
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
        "--token",
        nargs="?",
        const="",
        metavar="TOKEN",
        help="require this token on the API (--token alone: generate one); the start-up line "
        "prints the address to open, with #token=...",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also accept this name in the Host header (repeatable; IP addresses, localhost "
        "and this machine's names are always accepted)",
    )
    parser.add_argument(
        "--load-test",
        action="store_true",
        help="instead of serving: start on 127.0.0.1, run --clients x --requests, print figures",
    )
    parser.add_argument(
        "--abuse-test",
        action="store_true",
        help="instead of serving: start a server process on 127.0.0.1 (open files 1024), send "
        "abusive files, slow and malformed requests while checking real digits; print figures",
    )
    parser.add_argument(
        "--slow", type=int, default=1000, help="abuse test: slow connections held (default 1000)"
    )
    parser.add_argument(
        "--rss-limit",
        type=float,
        default=ABUSE_RSS_LIMIT_MB,
        help=f"abuse test: server peak RSS limit in MB (default {ABUSE_RSS_LIMIT_MB:g})",
    )
    parser.add_argument(
        "--server-from",
        metavar="DIR",
        help="abuse test: run the server from this source tree (e.g. an older checkout, for a "
        "before/after comparison)",
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
    if args.abuse_test:
        from .serve_abuse import main_abuse

        if not 1 <= args.slow <= MAX_SLOW or args.rss_limit <= 0:
            print(
                f"pynq-mnist: error: --slow must be 1..{MAX_SLOW} and --rss-limit > 0",
                file=sys.stderr,
            )
            return 2

        return main_abuse(args.backend or "cpu", args.slow, args.rss_limit, args.server_from)
    host, port = ("127.0.0.1", 0) if args.load_test else (args.host, args.port)
    wants_token = args.token is not None and not args.load_test  # the load test has none
    token = (args.token or secrets.token_urlsafe(16)) if wants_token else None
    try:
        server = DigitServer(
            host,
            port,
            args.backend,
            args.model,
            args.max_body,
            allow_hosts=tuple(args.allow_host),
            token=token,
        )
    except OSError as exc:
        print(f"pynq-mnist: error: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    with server:
        if args.load_test:
            return _run_load_test(server.start(), args.clients, args.requests)
        for line in startup_lines(server, host):
            print(line, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("stopped", file=sys.stderr)
    return 0


def startup_lines(server: DigitServer, host: str) -> list[str]:
    """What ``serve`` prints at start: every address, and who can use it."""
    fragment = f"#token={server.token}" if server.token else ""
    addresses = http_limits.reachable_addresses(host)
    who = (
        "the API needs the token (it is part of each address above)"
        if server.token
        else ("only this machine can use it" if host.startswith("127.") else UNAUTHENTICATED)
    )
    return [
        f"serving the draw-a-digit page (backend {server.service.backend.name}; "
        "API: POST /api/classify, GET /api/health) on:",
        *(f"  http://{a}:{server.port}/{fragment}" for a in addresses),
        f"unauthenticated: {who}" if not server.token else f"token required: {who}",
        "Ctrl-C stops",
    ]


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
