"""``data download`` against a local HTTP server: every outcome, each one exact."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pynq_mnist.apps import cli, download
from pynq_mnist.data import IDX_SHA256, load_mnist
from pynq_mnist.errors import DataError

LABELS = "t10k-labels-idx1-ubyte"
SLOW_S = 1.5
TIMEOUT_S = 0.3


@dataclass
class Route:
    """What the server does for one path: status, body, and how it misbehaves."""

    body: bytes = b""
    status: int = 200
    truncate_to: int | None = None  # announce len(body), send only this many bytes
    delay_before_s: float = 0.0  # before the status line
    stall_after: int | None = None  # send this many bytes, then stall
    fail_first: int = 0  # answer 500 to the first N requests
    hits: int = 0


@dataclass
class Server:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)


class Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, Route]

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route.hits += 1
        time.sleep(route.delay_before_s)
        if route.hits <= route.fail_first:
            self.send_error(500)
            return
        if route.status != 200:
            self.send_error(route.status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.stall_after is not None:
            self.wfile.write(route.body[: route.stall_after])
            self.wfile.flush()
            time.sleep(SLOW_S)
            return
        self.wfile.write(route.body[: route.truncate_to])
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class QuietServer(http.server.ThreadingHTTPServer):
    """Joins its handler threads on close; a client that gave up on a slow reply is no error."""

    daemon_threads = False

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture
def server() -> Iterator[Server]:
    routes: dict[str, Route] = {}
    handler = type("BoundHandler", (Handler,), {"routes": routes})
    httpd = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield Server(f"http://127.0.0.1:{httpd.server_address[1]}/", routes)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture
def labels_gz(mnist_dir: Path) -> bytes:
    return (mnist_dir / f"{LABELS}.gz").read_bytes()


def fetch(directory: Path, mirrors: list[str], lines: list[str], **options: object) -> Path:
    options = {"timeout_s": TIMEOUT_S, "backoff_s": 0.0, "progress": False, **options}
    return download.download_file(LABELS, directory, mirrors, report=lines.append, **options)


def test_good_files_all_four(server: Server, mnist_dir: Path, tmp_path: Path) -> None:
    for base in IDX_SHA256:
        server.routes[f"/m/{base}.gz"] = Route((mnist_dir / f"{base}.gz").read_bytes())
    saved, errors = download.download(tmp_path, [server.url + "m/"], progress=False)
    assert errors == []
    assert sorted(p.name for p in saved) == sorted(f"{b}.gz" for b in IDX_SHA256)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in saved)
    for path in saved:
        assert path.read_bytes() == (mnist_dir / path.name).read_bytes()
    images, labels = load_mnist("test", tmp_path)
    assert images.shape == (10000, 28, 28) and labels[:3].tolist() == [7, 2, 1]
    # A second run keeps the verified files and asks the server nothing.
    assert download.download(tmp_path, [server.url + "m/"], progress=False) == (saved, [])
    assert all(route.hits == 1 for route in server.routes.values())


def test_404_moves_to_the_next_mirror(server: Server, labels_gz: bytes, tmp_path: Path) -> None:
    server.routes[f"/b/{LABELS}.gz"] = Route(labels_gz)
    lines: list[str] = []
    path = fetch(tmp_path, [server.url + "a/", server.url + "b/"], lines)
    assert lines == [f"{LABELS}.gz: HTTP error 404 Not Found from {server.url}a/{LABELS}.gz"]
    assert path == tmp_path / f"{LABELS}.gz" and path.read_bytes() == labels_gz


def test_corrupted_file_is_deleted(server: Server, labels_gz: bytes, tmp_path: Path) -> None:
    data = bytearray(gzip.decompress(labels_gz))
    data[100] ^= 1  # one label changed, valid gzip
    server.routes[f"/{LABELS}.gz"] = Route(gzip.compress(bytes(data)))
    server.routes[f"/bad/{LABELS}.gz"] = Route(b"\x1f\x8b not really gzip")
    (tmp_path / f"{LABELS}.gz").write_bytes(b"stale")  # a broken earlier file is replaced
    lines: list[str] = []
    with pytest.raises(download.DownloadError) as info:
        fetch(tmp_path, [server.url, server.url + "bad/"], lines, attempts=3)
    got = hashlib.sha256(bytes(data)).hexdigest()
    assert lines[0] == (
        f"{LABELS}.gz: checksum mismatch from {server.url}{LABELS}.gz: SHA-256 {got[:16]}..., "
        f"expected {IDX_SHA256[LABELS][:16]}...; file deleted"
    )
    assert lines[1].startswith(
        f"{LABELS}.gz: checksum mismatch from {server.url}bad/{LABELS}.gz: not a valid gzip file ("
    )
    assert lines[1].endswith("); file deleted") and len(lines) == 2  # no retries on a mismatch
    assert str(info.value) == f"{LABELS}.gz: not downloaded: 2 failed attempt(s) on 2 mirror(s)"
    assert [p.name for p in tmp_path.iterdir()] == [f"{LABELS}.gz"]
    assert (tmp_path / f"{LABELS}.gz").read_bytes() == b"stale"  # never overwritten by bad data


def test_truncated_is_retried_then_fails(server: Server, labels_gz: bytes, tmp_path: Path) -> None:
    server.routes[f"/{LABELS}.gz"] = Route(labels_gz, truncate_to=1000)
    lines: list[str] = []
    with pytest.raises(download.DownloadError, match="2 failed attempt"):
        fetch(tmp_path, [server.url], lines, attempts=2)
    line = f"{LABELS}.gz: truncated download from {server.url}{LABELS}.gz: got 1000 of "
    assert lines == [line + f"{len(labels_gz)} bytes (retry 1/1)", line + f"{len(labels_gz)} bytes"]
    assert list(tmp_path.iterdir()) == []


def test_server_error_is_retried_and_recovers(
    server: Server, labels_gz: bytes, tmp_path: Path
) -> None:
    route = server.routes[f"/{LABELS}.gz"] = Route(labels_gz, fail_first=1)
    lines: list[str] = []
    path = fetch(tmp_path, [server.url], lines, attempts=2)
    assert lines == [
        f"{LABELS}.gz: HTTP error 500 Internal Server Error from {server.url}{LABELS}.gz "
        "(retry 1/1)"
    ]
    assert path.read_bytes() == labels_gz and route.hits == 2


@pytest.mark.parametrize("where", ["before headers", "mid-body"])
def test_too_slow_times_out(server: Server, labels_gz: bytes, tmp_path: Path, where: str) -> None:
    slow = Route(labels_gz, delay_before_s=SLOW_S) if where == "before headers" else None
    server.routes[f"/{LABELS}.gz"] = slow or Route(labels_gz, stall_after=100)
    lines: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(download.DownloadError, match="1 failed attempt"):
        fetch(tmp_path, [server.url], lines, attempts=1)
    assert time.monotonic() - t0 < SLOW_S
    assert lines == [f"{LABELS}.gz: timeout after {TIMEOUT_S:g} s from {server.url}{LABELS}.gz"]
    assert list(tmp_path.iterdir()) == []


def test_no_network(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lines: list[str] = []
    with pytest.raises(download.DownloadError):
        fetch(tmp_path, [f"http://127.0.0.1:{port}/"], lines, attempts=1)
    assert lines == [f"{LABELS}.gz: no network: cannot reach 127.0.0.1:{port}: [Errno 111] "
                     "Connection refused"]  # fmt: skip


def test_cli_download_and_failure_exit_codes(
    server: Server,
    mnist_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(download.MIRRORS_ENV_VAR, server.url)
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path / "cache"))
    assert cli.main(["data", "download", "--no-progress", "--timeout", "5"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("HTTP error 404") == 4 and err.count("pynq-mnist: error: ") == 4
    assert all(line.count(".gz") >= 1 for line in err.splitlines())

    for base in IDX_SHA256:
        server.routes[f"/{base}.gz"] = Route((mnist_dir / f"{base}.gz").read_bytes())
    assert cli.main(["data", "download", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [f"verified {tmp_path / 'cache' / b}.gz" for b in IDX_SHA256]
    assert cli.main(["data", "download", "--attempts", "0"]) == 2


def test_simple_progress_bar_without_tqdm(
    server: Server,
    labels_gz: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import fails
    server.routes[f"/{LABELS}.gz"] = Route(labels_gz)
    fetch(tmp_path, [server.url], [], progress=True)
    err = capsys.readouterr().err
    assert err.endswith(f"\r{LABELS}.gz [{'#' * 30}] 100% 0.0 MB\n")


def test_local_write_failure_is_not_a_network_error(
    server: Server, labels_gz: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Disk full (/dev/full as the temporary file): one DataError, no retry, nothing left."""
    server.routes[f"/{LABELS}.gz"] = Route(labels_gz)
    part = tmp_path / "download.part"
    monkeypatch.setattr(
        download.tempfile, "mkstemp", lambda **_: (os.open("/dev/full", os.O_WRONLY), str(part))
    )
    lines: list[str] = []
    expected = rf"^cannot write {re.escape(str(part))}: \[Errno 28\] No space left"
    with pytest.raises(DataError, match=expected):
        fetch(tmp_path, [server.url], lines)
    assert (
        lines == [] and list(tmp_path.iterdir()) == [] and server.routes[f"/{LABELS}.gz"].hits == 1
    )


def test_no_name_resolution_fails_fast_with_one_line_per_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One mirror's DNS never answers, the others fail to resolve: under 5 s, one line each,
    no lookup repeated for the other files, then what to do."""
    never = threading.Event()
    looked_up: list[str] = []

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        looked_up.append(host)
        if host == download.MIRRORS[0].split("/")[2]:
            never.wait(30)  # a DNS server that never answers
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(download.socket, "getaddrinfo", getaddrinfo)
    monkeypatch.delenv(download.MIRRORS_ENV_VAR, raising=False)
    monkeypatch.setenv("PYNQ_MNIST_CACHE", str(tmp_path))
    start = time.monotonic()
    try:
        assert cli.main(["data", "download", "--no-progress"]) == 1
    finally:
        never.set()
    assert time.monotonic() - start < 5
    hosts = [m.split("/")[2] for m in download.MIRRORS]
    assert sorted(looked_up) == sorted(hosts)
    names = ", ".join(f"{base}.gz" for base in IDX_SHA256)
    assert capsys.readouterr().err.splitlines() == [
        f"mirror {download.MIRRORS[0]}: cannot look up {hosts[0]}: no answer within 4 s",
        f"mirror {download.MIRRORS[1]}: cannot look up {hosts[1]}: "
        "Temporary failure in name resolution",
        f"mirror {download.MIRRORS[2]}: cannot look up {hosts[2]}: "
        "Temporary failure in name resolution",
        "pynq-mnist: error: no mirror reachable: check the network, or pass --mirror URL (a "
        f"mirror you can reach; repeatable), or copy {names} from another machine into {tmp_path}",
    ]


def test_unreachable_mirror_is_not_tried_again_for_the_other_files(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    lines: list[str] = []
    start = time.monotonic()
    saved, errors = download.download(
        tmp_path, [f"http://127.0.0.1:{port}/"], progress=False, report=lines.append
    )
    assert time.monotonic() - start < 5 and saved == []
    assert lines == [
        f"train-images-idx3-ubyte.gz: no network: cannot reach 127.0.0.1:{port}: [Errno 111] "
        "Connection refused"
    ]
    assert len(errors) == 1 and errors[0].startswith("no mirror reachable: ")
