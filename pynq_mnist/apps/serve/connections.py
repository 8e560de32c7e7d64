"""Connection and memory limits for a small HTTP server on a shared network (standard library only).

- :class:`ConnectionTable`: at most ``limit`` open connections. A newcomer over
  the limit takes the place of the connection that has waited longest for its
  next request (idle keep-alive or a slow sender), if that one has waited at
  least ``grace_s``; otherwise the newcomer is refused (503).
- :class:`DeadlineReader`: a socket reader with one deadline for a whole
  request (request line, headers and body), not a timeout per read.
- :class:`ByteBudget`: bytes of request bodies held in memory at once.
- :class:`HeadGate`: holds new connections in one selector until their request
  head is complete.
- :class:`BoundedHTTPServer`: a threading HTTP server using these, with a
  listen backlog of :data:`LISTEN_BACKLOG` and one counted log line instead of
  a traceback per client that went away; :func:`json_reply` builds its refusal.
"""

from __future__ import annotations

import contextlib
import http.server
import io
import json
import logging
import math
import selectors
import socket
import socketserver
import threading
import time
from typing import Any

__all__ = [
    "LISTEN_BACKLOG",
    "BoundedHTTPServer",
    "ByteBudget",
    "ConnectionTable",
    "DeadlineReader",
    "HeadGate",
    "json_reply",
]

logger = logging.getLogger(__name__)

LISTEN_BACKLOG = 128
LINGER_S = 0.5  # after a reply, wait this long at most for the client to close
LINGER_BYTES = 1 << 20  # and read at most this much of what it still sends
DROPPED_LOG_PERIOD_S = 10.0
MAX_HEAD_BYTES = 66 * 1024  # request line + headers held before a thread takes over
GATE_TICK_S = 0.1  # how often waiting connections are checked against their deadline


class ConnectionTable:
    """Open connections, each idle (waiting for a request) or busy, with eviction of idle ones."""

    def __init__(self, limit: int, grace_s: float) -> None:
        if limit < 1:
            raise ValueError(f"connection limit must be >= 1, got {limit}")
        self.limit = limit
        self.grace_s = grace_s
        self.evicted = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._open: dict[socket.socket, tuple[float, bool]] = {}  # -> (since, busy)

    def __len__(self) -> int:
        with self._lock:
            return len(self._open)

    def admit(self, sock: socket.socket) -> bool:
        """Register ``sock``; False (refuse it) when full and nobody has idled ``grace_s``."""
        now = time.monotonic()
        victim = None
        with self._lock:
            if len(self._open) >= self.limit:
                idle = [(since, s) for s, (since, busy) in self._open.items() if not busy]
                oldest = min(idle, key=lambda item: item[0], default=None)
                if oldest is None or now - oldest[0] < self.grace_s:
                    self.refused += 1
                    return False
                victim = oldest[1]
                del self._open[victim]
                self.evicted += 1
            self._open[sock] = (now, False)
        if victim is not None:
            with contextlib.suppress(OSError):  # the victim's thread sees end-of-file and ends
                victim.shutdown(socket.SHUT_RDWR)
        return True

    def mark(self, sock: socket.socket, busy: bool) -> None:
        """Record that ``sock`` now works on a request (busy) or waits for one (idle)."""
        with self._lock:
            if sock in self._open:  # an evicted connection is not re-registered
                self._open[sock] = (time.monotonic(), busy)

    def release(self, sock: socket.socket) -> None:
        """Forget ``sock`` (its connection has ended)."""
        with self._lock:
            self._open.pop(sock, None)


class DeadlineReader(io.RawIOBase):
    """Reads ``head`` (bytes already received), then the socket; every read fails with
    TimeoutError once ``deadline`` (monotonic) passes."""

    def __init__(self, sock: socket.socket, head: bytes = b"") -> None:
        super().__init__()
        self._sock = sock
        self._head = memoryview(head)
        self.deadline = math.inf

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("request deadline passed")
        self._sock.settimeout(remaining)
        return self._sock.recv_into(buffer)


class ByteBudget:
    """A pool of bytes: ``acquire(n, timeout_s)`` waits until ``n`` are free."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.used = 0
        self._free = threading.Condition()

    def acquire(self, n: int, timeout_s: float) -> bool:
        """Take ``n`` bytes; False if ``n`` exceeds the total or the wait passed ``timeout_s``."""
        if n > self.total:
            return False
        with self._free:
            ok = self._free.wait_for(lambda: self.used + n <= self.total, max(0.0, timeout_s))
            if ok:
                self.used += n
            return ok

    def release(self, n: int) -> None:
        """Give back ``n`` bytes taken by :meth:`acquire`."""
        with self._free:
            self.used -= n
            self._free.notify_all()


def json_reply(status: int, payload: dict[str, Any], extra: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response that closes the connection, for use outside a handler."""
    body = json.dumps(payload).encode()
    reason = http.server.BaseHTTPRequestHandler.responses.get(status, ("",))[0]
    lines = [
        f"HTTP/1.1 {status} {reason}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k}: {v}" for k, v in (extra or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HeadGate(threading.Thread):
    """Holds new connections until their request head is complete, without a thread each.

    Accepted sockets wait in one selector; a connection gets a handler thread
    (``hand_off(sock, head_bytes, accepted_at)``) only once it has sent a blank
    line ending its headers, or ``max_head`` bytes (then http.server answers 414/431).
    One that has not done so ``deadline_s`` after it connected is closed. So a
    thousand slow clients cost a thousand sockets, not a thousand threads, and
    a normal request never waits behind them.
    """

    def __init__(
        self,
        connections: ConnectionTable,
        hand_off: Any,
        deadline_s: float,
        max_head: int = MAX_HEAD_BYTES,
    ) -> None:
        super().__init__(name="http-head-gate", daemon=True)
        self.connections = connections
        self.hand_off = hand_off
        self.deadline_s = deadline_s
        self.max_head = max_head
        self.timed_out = 0
        self._selector = selectors.DefaultSelector()
        self._pending: dict[socket.socket, tuple[bytearray, float, Any]] = {}
        self._queue: list[tuple[socket.socket, Any]] = []
        self._queue_lock = threading.Lock()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False

    def add(self, sock: socket.socket, address: Any) -> None:
        """Watch ``sock`` (just accepted) until its head is complete."""
        with self._queue_lock:
            self._queue.append((sock, address))
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    def stop(self) -> None:
        """End the thread and close every connection still waiting."""
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self.join()

    def run(self) -> None:
        try:
            while not self._stopping:
                for key, _ in self._selector.select(GATE_TICK_S):
                    if key.fileobj is self._wake_r:
                        with contextlib.suppress(OSError):
                            self._wake_r.recv(4096)
                        self._take_queue()
                    else:
                        self._read(key.fileobj)  # type: ignore[arg-type]
                self._sweep()
        finally:
            self._take_queue()
            for sock in list(self._pending):
                self._close(sock)
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _take_queue(self) -> None:
        with self._queue_lock:
            queue, self._queue = self._queue, []
        now = time.monotonic()
        for sock, address in queue:
            sock.setblocking(False)
            self._pending[sock] = (bytearray(), now, address)
            self._selector.register(sock, selectors.EVENT_READ)

    def _read(self, sock: socket.socket) -> None:
        head, accepted_at, address = self._pending[sock]
        try:
            chunk = sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._close(sock)
            return
        head += chunk
        if len(head) >= self.max_head or any(end in head for end in (b"\n\r\n", b"\n\n")):
            self._selector.unregister(sock)
            del self._pending[sock]
            sock.setblocking(True)
            self.hand_off(sock, address, bytes(head), accepted_at)

    def _sweep(self) -> None:
        limit = time.monotonic() - self.deadline_s
        for sock in [s for s, (_, since, _) in self._pending.items() if since < limit]:
            self.timed_out += 1
            self._close(sock)

    def _close(self, sock: socket.socket) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(sock)
        self._pending.pop(sock, None)
        self.connections.release(sock)
        sock.close()


class BoundedHTTPServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server with a connection table, a deep backlog and quiet client drops.

    The handler calls ``connections.mark(sock, busy)``; a refused connection gets
    ``refusal`` (a complete response) and is closed at once.
    """

    request_queue_size = LISTEN_BACKLOG
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[http.server.BaseHTTPRequestHandler],
        connections: ConnectionTable,
        refusal: bytes,
        deadline_s: float,
    ) -> None:
        self.connections = connections
        self.refusal = refusal
        self.heads: dict[socket.socket, tuple[bytes, float]] = {}  # handed off, not yet read
        self._heads_lock = threading.Lock()
        self.gate = HeadGate(connections, self._hand_off, deadline_s)
        self.dropped = 0
        self._dropped_logged = 0
        self._dropped_logged_at = -math.inf
        self._drop_lock = threading.Lock()
        super().__init__(address, handler)
        self.gate.start()

    def server_close(self) -> None:
        super().server_close()
        if self.gate.is_alive():
            self.gate.stop()

    def take_head(self, sock: socket.socket) -> tuple[bytes, float]:
        """The bytes the gate read from ``sock`` and when it connected (for the handler)."""
        with self._heads_lock:
            return self.heads.pop(sock, (b"", time.monotonic()))

    def _hand_off(self, sock: socket.socket, address: Any, head: bytes, since: float) -> None:
        with self._heads_lock:
            self.heads[sock] = (head, since)
        try:
            socketserver.ThreadingMixIn.process_request(self, sock, address)
        except BaseException:
            self.take_head(sock)
            self.connections.release(sock)
            sock.close()
            raise

    def server_bind(self) -> None:
        """Bind without http.server's reverse name lookup (it can hang with no DNS)."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        """Admit (perhaps closing the longest-idle connection) or refuse; the gate waits for
        the request head."""
        if not self.connections.admit(request):
            self._refuse(request)
            return
        self.gate.add(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connections.release(request)

    def shutdown_request(self, request: Any) -> None:
        """Close after taking what the client still sends (bounded), so that an early error
        reply is read rather than lost to a reset."""
        try:
            request.shutdown(socket.SHUT_WR)
            request.settimeout(LINGER_S)
            taken = 0
            while taken < LINGER_BYTES:
                chunk = request.recv(65536)
                if not chunk:
                    break
                taken += len(chunk)
        except OSError:
            pass
        self.close_request(request)

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 without blocking the accept loop, then close."""
        try:
            request.setblocking(False)
            request.send(self.refusal)
            request.shutdown(socket.SHUT_WR)
            for _ in range(4):  # take what was sent so the close is no reset
                if not request.recv(65536):
                    break
        except OSError:
            pass
        finally:
            request.close()

    def note_dropped(self, exc: BaseException) -> None:
        """Count a client that went away mid-request; log one line per period, no traceback."""
        with self._drop_lock:
            self.dropped += 1
            now = time.monotonic()
            if now - self._dropped_logged_at < DROPPED_LOG_PERIOD_S:
                return
            new, self._dropped_logged, self._dropped_logged_at = (
                self.dropped - self._dropped_logged,
                self.dropped,
                now,
            )
        logger.warning(
            "%d client connection(s) ended mid-request (last: %s), %d in all",
            new,
            type(exc).__name__,
            self.dropped,
        )

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            self.note_dropped(exc)
        else:
            logger.error("unexpected error serving %s", client_address, exc_info=True)
