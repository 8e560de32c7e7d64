"""``pynq-mnist serve`` on a shared network: connection limits, deadlines, stated exposure,
Host/Origin/type checks, security headers and the protocol's edges (all on 127.0.0.1)."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import pynq_mnist
from pynq_mnist.apps import cli, serve
from pynq_mnist.apps.serve.addresses import reachable_addresses
from pynq_mnist.errors import ImageError
from pynq_mnist.model import default_model_path

RAW = "application/octet-stream"
SAMPLES = Path(pynq_mnist.__file__).resolve().parent / "samples"
CSP = (
    "default-src 'none'; script-src 'sha256-{script}'; style-src 'sha256-{style}'; "
    "img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


@pytest.fixture
def server() -> Iterator[serve.DigitServer]:
    with serve.DigitServer(backend="cpu", request_deadline_s=1.0, max_connections=8).start() as s:
        yield s


def exchange(server: serve.DigitServer, raw: bytes, timeout_s: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout_s) as sock:
        sock.sendall(raw)
        return sock.makefile("rb").read()


def status_and_json(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def post(
    server: serve.DigitServer, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("POST", "/api/classify", body, headers)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


# ---- exposure ----


def test_help_and_start_up_say_it_is_unauthenticated(
    capsys: pytest.CaptureFixture[str], server: serve.DigitServer
) -> None:
    with pytest.raises(SystemExit):
        cli.main(["serve", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Unauthenticated by default: it listens on every network interface (0.0.0.0)" in text
    assert "--host 127.0.0.1 (this machine only) or --token" in text
    lines = serve.startup_lines(server, "0.0.0.0")
    addresses = reachable_addresses("0.0.0.0")
    assert "127.0.0.1" in addresses
    assert lines[1 : 1 + len(addresses)] == [f"  http://{a}:{server.port}/" for a in addresses]
    assert lines[-2] == (
        "unauthenticated: anyone who can reach these addresses can use it (no password; "
        "use --host 127.0.0.1 or --token on a shared network)"
    )
    assert serve.startup_lines(server, "127.0.0.1")[-2] == (
        "unauthenticated: only this machine can use it"
    )


def test_host_header_must_name_this_server(server: serve.DigitServer) -> None:
    answer = exchange(server, b"GET /api/health HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n")
    assert status_and_json(answer) == (
        421,
        {
            "error": "Host evil.example:8080 is not this server's name: use its address, or "
            "start it with --allow-host evil.example"
        },
    )
    for host in ("127.0.0.1:1", "localhost", "[::1]:8080", socket.gethostname(), "10.1.2.3"):
        answer = exchange(server, f"GET /api/health HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        assert status_and_json(answer)[0] == 200, host
    with serve.DigitServer(backend="cpu", allow_hosts=("pynq.example",)).start() as named:
        answer = exchange(named, b"GET /api/health HTTP/1.0\r\nHost: PYNQ.example:80\r\n\r\n")
        assert status_and_json(answer)[0] == 200


def test_cross_origin_and_non_image_posts_are_refused(server: serve.DigitServer) -> None:
    """A page elsewhere can send a no-cors text/plain POST; it must not be classified."""
    digit = bytes(784)
    origin = f"http://127.0.0.1:{server.port}"
    refused = post(server, digit, {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert refused[0] == 403 and json.loads(refused[2]) == {
        "error": "cross-origin request refused: use the page served by this server"
    }
    status, _, body = post(server, digit, {"Content-Type": "text/plain", "Origin": origin})
    assert (status, json.loads(body)) == (
        415,
        {"error": "Content-Type text/plain not accepted: send image/* or application/octet-stream"},
    )
    assert post(server, digit, {"Content-Type": RAW, "Origin": "null"})[0] == 403
    assert post(server, digit, {"Content-Type": RAW, "Origin": origin})[0] == 200
    health = json.loads(exchange(server, b"GET /api/health HTTP/1.0\r\n\r\n").split(b"\r\n\r\n")[1])
    assert (health["requests"], health["errors"]) == (4, 3)  # none of the three ran


def test_security_headers_and_no_python_version(server: serve.DigitServer) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("GET", "/")
    response = connection.getresponse()
    page = response.read().decode()
    connection.close()
    assert response.headers["Server"] == "pynq-mnist"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    import base64
    import hashlib
    import re

    def digest(tag: str) -> str:
        (block,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()

    assert response.headers["Content-Security-Policy"] == CSP.format(
        script=digest("script"), style=digest("style")
    )


def test_health_names_the_model_file_not_its_path(tmp_path: Path) -> None:
    model = tmp_path / "secret-dir" / "mine.npz"
    model.parent.mkdir()
    model.write_bytes(default_model_path().read_bytes())
    with serve.DigitServer(backend="cpu", model=str(model)).start() as named:
        answer = exchange(named, b"GET /api/health HTTP/1.0\r\n\r\n")
    health = status_and_json(answer)[1]
    assert (health["model"], len(health["model_sha256"])) == ("mine.npz", 64)
    assert str(tmp_path) not in answer.decode()


def test_token_protects_the_api() -> None:
    with serve.DigitServer(backend="cpu", token="s3cret").start() as guarded:
        assert post(guarded, bytes(784), {"Content-Type": RAW})[0] == 401
        assert post(guarded, bytes(784), {"Content-Type": RAW, "Authorization": "Bearer no"})[
            0
        ] == (401)
        ok = post(guarded, bytes(784), {"Content-Type": RAW, "Authorization": "Bearer s3cret"})
        assert ok[0] == 200
        assert status_and_json(exchange(guarded, b"GET /api/health HTTP/1.0\r\n\r\n"))[0] == 401
        assert exchange(guarded, b"GET / HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200 ")
        assert serve.startup_lines(guarded, "127.0.0.1")[1] == (
            f"  http://127.0.0.1:{guarded.port}/#token=s3cret"
        )


# ---- protocol edges ----


def test_content_length_must_be_ascii_digits(server: serve.DigitServer) -> None:
    head = "POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
    answer = exchange(server, (head + "Content-Length: \u00b2\r\n\r\nx").encode("utf-8"))
    assert status_and_json(answer) == (
        400,
        {"error": "Content-Length '\u00c2\u00b2' is not a number of bytes"},
    )
    answer = exchange(server, (head + "Content-Length: 1\r\nContent-Length: 1\r\n\r\nx").encode())
    assert status_and_json(answer) == (400, {"error": "more than one Content-Length header"})


def test_a_get_body_is_read_so_the_next_request_parses(server: serve.DigitServer) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 20\r\n\r\n"
            + b"x" * 20
            + b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        answer = sock.makefile("rb").read()
    assert answer.count(b"HTTP/1.1 200 OK") == 3 and b"404" not in answer


def test_head_options_and_other_methods(server: serve.DigitServer) -> None:
    get = exchange(server, b"GET / HTTP/1.0\r\n\r\n")
    head = exchange(server, b"HEAD / HTTP/1.0\r\n\r\n")
    assert head == get.split(b"\r\n\r\n")[0].replace(
        get.split(b"\r\n")[2], head.split(b"\r\n")[2]
    ) + (b"\r\n\r\n")  # the same headers (but Date) and no body
    options = exchange(server, b"OPTIONS /api/classify HTTP/1.0\r\n\r\n")
    assert options.startswith(b"HTTP/1.1 204 ") and b"\r\nAllow: GET, HEAD, POST, OPTIONS\r\n" in (
        options
    )
    for method in ("PUT", "DELETE", "PATCH", "BREW"):
        answer = exchange(server, f"{method} /api/classify HTTP/1.1\r\nHost: a.b\r\n\r\n".encode())
        assert b"\r\nAllow: GET, HEAD, POST, OPTIONS\r\n" in answer, method
        assert status_and_json(answer) == (
            405,
            {"error": f"method {method} not allowed: use GET, HEAD, POST, OPTIONS"},
        )
    assert status_and_json(exchange(server, b"GET /a b HTTP/1.1\r\n\r\n")) == (
        400,
        {"error": "bad request: Bad request syntax ('GET /a b HTTP/1.1')"},
    )


def test_error_texts_have_one_prefix_in_plain_words(
    server: serve.DigitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pynq_mnist.preprocess as preprocess

    def failing(data: bytes, *, name: str) -> np.ndarray:
        raise ImageError(f"{name}: cannot read image: {name}: broken data stream")

    monkeypatch.setattr(preprocess, "load_image_bytes", failing)
    status, _, body = post(server, b"\x89PNG....", {"Content-Type": "image/png"})
    assert (status, json.loads(body)) == (
        400,
        {"error": "uploaded image: cannot read image: broken data stream"},
    )


# ---- connections ----


def test_deadline_covers_the_whole_request(server: serve.DigitServer) -> None:
    """One header line every 0.3 s never finishes a request: the server hangs up after 1 s."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        closed_after = None
        for k in range(20):
            time.sleep(0.3)
            try:
                sock.sendall(f"X-Slow-{k}: 1\r\n".encode())
            except OSError:
                closed_after = time.monotonic() - start
                break
            sock.settimeout(0.01)
            try:
                if sock.recv(1) == b"":
                    closed_after = time.monotonic() - start
                    break
            except TimeoutError:
                pass
    assert closed_after is not None and 0.9 < closed_after < 2.5
    # A body sent one byte at a time also has one deadline: 408 after 1 s.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/octet-stream\r\nContent-Length: 784\r\n\r\n"
        )
        start = time.monotonic()
        for _ in range(8):
            time.sleep(0.25)
            try:
                sock.sendall(b"\0")
            except OSError:
                break
        answer = sock.makefile("rb").read()
    assert status_and_json(answer) == (408, {"error": "request not complete within 1 s"})
    assert time.monotonic() - start < 2.5


def test_connection_cap_makes_room_or_answers_503(monkeypatch: pytest.MonkeyPatch) -> None:
    """4 connections in use fill a table of 4: a fifth gets 503 JSON. 4 idle connections: a
    newcomer takes the place of the one idle longest."""
    with serve.DigitServer(backend="cpu", max_connections=4).start() as server:
        classify, entered, release = (
            server.service.classify,
            threading.Semaphore(0),
            threading.Event(),
        )

        def blocked(image: np.ndarray) -> dict[str, Any]:
            entered.release()
            release.wait(30)
            return classify(image)

        monkeypatch.setattr(server.service, "classify", blocked)
        statuses: list[int] = []
        busy = [
            threading.Thread(
                target=lambda: statuses.append(post(server, bytes(784), {"Content-Type": RAW})[0])
            )
            for _ in range(4)
        ]
        for thread in busy:
            thread.start()
        for _ in range(4):
            assert entered.acquire(timeout=30)
        answer = exchange(server, b"GET /api/health HTTP/1.0\r\n\r\n")
        assert status_and_json(answer) == (
            503,
            {"error": "server busy: too many open connections, try again"},
        )
        assert b"\r\nRetry-After: 1\r\n" in answer
        release.set()
        for thread in busy:
            thread.join()
        assert statuses == [200] * 4
        idle = []
        try:
            for _ in range(4):
                idle.append(socket.create_connection(("127.0.0.1", server.port), timeout=10))
                time.sleep(0.05)
            deadline = time.monotonic() + 5
            while len(server.connections) < 4 and time.monotonic() < deadline:
                time.sleep(0.01)
            answer = exchange(server, b"GET /api/health HTTP/1.0\r\n\r\n")
            assert status_and_json(answer)[0] == 200
            assert idle[0].recv(1) == b""  # the oldest was closed to make room
            assert (server.connections.refused, server.connections.evicted) == (1, 1)
        finally:
            for sock in idle:
                sock.close()


def test_listen_backlog_takes_a_burst() -> None:
    """100 connections while the server is not accepting yet: all complete at once."""
    with serve.DigitServer(backend="cpu") as stopped:
        socks = []
        try:
            for _ in range(100):
                socks.append(socket.create_connection(("127.0.0.1", stopped.port), timeout=0.5))
        finally:
            for sock in socks:
                sock.close()
        assert len(socks) == 100


def test_clients_that_go_away_cost_one_log_line(
    server: serve.DigitServer, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    """Clients that reset the connection before the answer: no traceback, one counted line."""
    request = (
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/octet-stream\r\nContent-Length: 784\r\n\r\n" + bytes(784)
    ) * 50  # pipelined: the server keeps writing answers into a closed connection
    caplog.set_level(logging.INFO, logger="pynq_mnist")
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(request)
        assert sock.recv(12) == b"HTTP/1.1 200"  # the server is answering
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        sock.close()  # reset
    deadline = time.monotonic() + 10
    while server.httpd.dropped < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err
    dropped = [r for r in caplog.records if "ended mid-request" in r.getMessage()]
    assert server.httpd.dropped == 20 and len(dropped) == 1
    assert dropped[0].getMessage().startswith("1 client connection(s) ended mid-request (last: ")


def test_at_most_two_decodes_at_once(
    server: serve.DigitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    decode = server.service.image_from_body
    in_flight, most = 0, 0
    guard = threading.Lock()

    def counted(body: bytes, kind: str) -> np.ndarray:
        nonlocal in_flight, most
        with guard:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.2)
        try:
            return decode(body, kind)
        finally:
            with guard:
                in_flight -= 1

    monkeypatch.setattr(server.service, "image_from_body", counted)
    png = (SAMPLES / "digit_7_0.png").read_bytes()
    results: list[int] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(post(server, png, {"Content-Type": "image/png"})[0])
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (results, most) == ([200] * 6, 2)
