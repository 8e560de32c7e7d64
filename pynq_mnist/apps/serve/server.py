"""``DigitServer``: the page and the API on a bounded HTTP server around one DigitService."""

from __future__ import annotations

import threading

from ...backends import Backend
from ...closing import Closing
from ...model import Model
from . import request_checks
from .connections import BoundedHTTPServer, ByteBudget, ConnectionTable, json_reply
from .handler import RequestHandler, content_security_policy
from .service import MAX_BODY_BYTES, DigitService, model_identity, page_html

__all__ = ["DigitServer"]

MAX_CONNECTIONS = 256  # open connections; over it, the longest-idle one makes room, or 503
IDLE_GRACE_S = 0.0  # a connection idle this long may be closed to make room for a newcomer
REQUEST_DEADLINE_S = 30.0  # request line + headers + body, and idle time before it
DECODE_SLOTS = 2  # image decodes at a time (each may take tens of MB)
BODY_BUDGET_BYTES = 2 * MAX_BODY_BYTES + 4 * 1024 * 1024  # request bodies held at once


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
        self.connections = ConnectionTable(max_connections, IDLE_GRACE_S)
        handler = type(
            "DigitHandler",
            (RequestHandler,),
            {
                "service": self.service,
                "max_body": max_body,
                "page": page,
                "csp": content_security_policy(page, frame_ancestors),
                "hosts": request_checks.HostPolicy(allow_hosts),
                "token": token,
                "deadline_s": request_deadline_s,
                "decodes": threading.BoundedSemaphore(DECODE_SLOTS),
                "bodies": ByteBudget(max(BODY_BUDGET_BYTES, 2 * max_body)),
                "model_identity": model_identity(model),
            },
        )
        refusal = json_reply(
            503,
            {"error": "server busy: too many open connections, try again"},
            {"Retry-After": "1"},
        )
        try:
            self.httpd = BoundedHTTPServer(
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
