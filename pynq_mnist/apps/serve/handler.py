"""The HTTP request handler of ``pynq-mnist serve``: routes, checks, replies and headers.

Every reply carries a Content-Length and is JSON unless it is the page; every
reply carries the security headers (a Content-Security-Policy allowing exactly
the page's inline script and style). :class:`RequestHandler` is subclassed per
server with its settings (see :class:`~pynq_mnist.apps.serve.server.DigitServer`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import io
import json
import logging
import re
import threading
import time
from typing import Any

from ...errors import PynqMnistError
from . import request_checks
from .connections import BoundedHTTPServer, ByteBudget, DeadlineReader
from .service import RAW_TYPE, BadRequest, DigitService

__all__ = ["ALLOWED_METHODS", "RequestHandler", "content_security_policy"]

logger = logging.getLogger(__name__)

ALLOWED_METHODS = "GET, HEAD, POST, OPTIONS"
SEND_TIMEOUT_S = 10.0  # per write of a reply
MAX_DISCARDED_BODY = 64 * 1024  # a GET/HEAD/OPTIONS body up to this size is read and dropped


def content_security_policy(page: bytes, frame_ancestors: str) -> str:
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


class RequestHandler(http.server.BaseHTTPRequestHandler):
    """Routes of the page and the API; every reply carries a Content-Length and is JSON
    unless it is the page."""

    protocol_version = "HTTP/1.1"  # keep-alive for API clients
    disable_nagle_algorithm = True  # headers and body go out at once, no 40 ms delayed-ACK wait
    server_version = "pynq-mnist"
    error_content_type = "application/json"
    server: BoundedHTTPServer
    service: DigitService
    max_body: int
    page: bytes
    csp: str
    hosts: request_checks.HostPolicy
    token: str | None
    deadline_s: float
    decodes: threading.BoundedSemaphore
    bodies: ByteBudget
    _reader: DeadlineReader

    def version_string(self) -> str:
        """The Server header: the program only, no Python version."""
        return self.server_version

    def setup(self) -> None:
        super().setup()
        head, self._connected_at = self.server.take_head(self.connection)
        self._reader = DeadlineReader(self.connection, head)
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
        if not request_checks.same_origin(self.headers.get("Origin"), self.headers.get("Host")):
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
            length = request_checks.content_length(self.headers.get_all("Content-Length") or [])
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
            f"--allow-host {request_checks.host_name(shown) or 'NAME'}",
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
            length = request_checks.content_length(self.headers.get_all("Content-Length") or [])
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
