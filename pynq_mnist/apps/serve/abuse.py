"""``pynq-mnist serve --abuse-test``: a server in its own process (open files limited to
1024, on 127.0.0.1), abused while a checker classifies real digits.

Phases, each bounded in count and time, each request with its expected status:

1. memory: a 6320x6320 RGBA PNG (~160 kB), four float32 TIFFs at once and an EPS file,
   all concurrently; the server's peak resident memory (``VmHWM``) is read afterwards;
2. connections: ``slow`` connections held open by one client, sending one header byte
   now and then, plus idle sockets; every checker request must answer within 1 s;
3. malformed: bad Host, cross-origin POST, wrong type, bad Content-Length, unknown
   method, bad syntax, oversized headers and body.

Throughout, a checker thread sends MNIST test digits and compares every answer with the
cpu backend's logits. Standard library + numpy only.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ...errors import PynqMnistError
from ...model import N_IN

__all__ = [
    "MALFORMED",
    "abuse_files",
    "run_abuse",
    "start_server",
]

SERVER_NOFILE = 1024  # open files of the server process, as on a small board
SLOW_CONNECTIONS = 1000
SLOW_HOLD_S = 6.0  # how long the slow connections are held while the checker measures
OPEN_BOUND_S = 30.0  # time allowed for opening the slow connections
CONNECT_TIMEOUT_S = 3.0  # per slow connection opened
OPENERS = 32  # slow connections are opened by this many threads at once
MEASURE_TIMEOUT_S = 5.0  # a checker request under slow connections gives up after this
TRICKLE_S = 1.0  # each slow connection sends a byte this often
LATENCY_LIMIT_S = 1.0
START_TIMEOUT_S = 120.0
PNG_SIDE = 6320  # 39.9 megapixels: under the 40-megapixel limit
TIFF_SIDE = 5000
TIFF_COUNT = 4
RAW = "application/octet-stream"

# (name, raw request, expected status); {port} is the server's port.
MALFORMED: tuple[tuple[str, bytes, int], ...] = (
    ("bad Host", b"GET /api/health HTTP/1.1\r\nHost: evil.example:8080\r\n\r\n", 421),
    (
        "cross-origin text/plain POST",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: http://evil.example"
        b"\r\nContent-Type: text/plain\r\nContent-Length: 784\r\n\r\n" + bytes(N_IN),
        403,
    ),
    (
        "text/plain POST",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 784\r\n\r\n" + bytes(N_IN),
        415,
    ),
    (
        "Content-Length: \u00b2",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        + "Content-Length: \u00b2\r\n\r\n".encode(),
        400,
    ),
    (
        "Content-Length: \u00b2 as one byte",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        b"Content-Length: \xb2\r\n\r\n",
        400,
    ),
    ("PUT", b"PUT /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n", 405),
    ("DELETE", b"DELETE / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 405),
    ("bad request line", b"GET /a b HTTP/1.1\r\n\r\n", 400),
    ("request line over 64 kB", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
    ("header line over 64 kB", b"GET / HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431),
    (
        "body over the limit",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n"
        b"Content-Length: 99999999999\r\n\r\n",
        413,
    ),
    (
        "no Content-Length",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/png\r\n\r\n",
        411,
    ),
    (
        "raw body of 783 bytes",
        b"POST /api/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
        + RAW.encode()
        + b"\r\nContent-Length: 783\r\n\r\n"
        + bytes(783),
        400,
    ),
)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def big_png(side: int = PNG_SIDE) -> bytes:
    """A ``side`` x ``side`` RGBA PNG of transparent black, compressed to ~1/1000."""
    packer = zlib.compressobj(9)
    row = bytes(1 + 4 * side)  # filter byte 0, then the pixels
    parts = [packer.compress(row) for _ in range(side)]
    data = b"".join(parts) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", data)
        + _png_chunk(b"IEND", b"")
    )


@functools.cache
def float_tiff(side: int = TIFF_SIDE) -> bytes:
    """A ``side`` x ``side`` float32 grayscale TIFF of zeros, one deflate strip."""
    packer = zlib.compressobj(9)
    row = bytes(4 * side)
    strip = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    # (tag, type, value): type 3 SHORT, 4 LONG
    entries = [
        (256, 4, side),  # ImageWidth
        (257, 4, side),  # ImageLength
        (258, 3, 32),  # BitsPerSample
        (259, 3, 8),  # Compression: Adobe deflate
        (262, 3, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 0),  # StripOffsets, patched below
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, side),  # RowsPerStrip
        (279, 4, len(strip)),  # StripByteCounts
        (339, 3, 3),  # SampleFormat: IEEE float
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    strip_offset = 8 + ifd_size
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        value = strip_offset if tag == 273 else value
        packed = struct.pack("<HI", value, 0)[:4] if kind == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, kind, 1) + packed
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + strip


EPS = (
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n%%EndComments\n"
    b"newpath 10 10 moveto 90 90 lineto stroke showpage\n%%EOF\n"
)


def abuse_files() -> list[tuple[str, bytes, str, int]]:
    """(name, body, Content-Type, expected status) of the memory phase, sent all at once."""
    tiff = float_tiff()
    return [
        (f"{PNG_SIDE}x{PNG_SIDE} RGBA PNG", big_png(), "image/png", 400),
        *[(f"float TIFF {k + 1}", tiff, "image/tiff", 400) for k in range(TIFF_COUNT)],
        ("EPS", EPS, "application/postscript", 415),
        ("EPS as image/x-eps", EPS, "image/x-eps", 400),
    ]


def _limit_open_files() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (SERVER_NOFILE, min(hard, max(SERVER_NOFILE, soft))))


def start_server(
    backend: str = "cpu", extra_env: dict[str, str] | None = None, cwd: str | None = None
) -> tuple[subprocess.Popen[str], int]:
    """``pynq-mnist serve --host 127.0.0.1 --port 0`` in a child process with open files
    limited to :data:`SERVER_NOFILE`; (process, port) once it listens.

    Raises
    ------
    PynqMnistError
        The server did not print its address within START_TIMEOUT_S.
    """
    env = {**os.environ, **(extra_env or {})}
    command = [sys.executable, "-m", "pynq_mnist", "serve", "--host", "127.0.0.1", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--backend", backend],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        preexec_fn=_limit_open_files,
    )
    deadline = time.monotonic() + START_TIMEOUT_S
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        found = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if found:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # drain
            return process, int(found.group(1))
    process.kill()
    errors = (process.stderr.read() if process.stderr else "").strip().splitlines()
    raise PynqMnistError(f"abuse test: the server did not start: {(errors or ['no output'])[-1]}")


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of process ``pid`` in MB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


def _status(port: int, raw: bytes, timeout_s: float = 30.0) -> int:
    """Send ``raw`` on a new connection; the reply's status (0: no reply)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(raw.replace(b"{port}", str(port).encode()))
            head = sock.makefile("rb").readline()
    except OSError:
        return 0
    parts = head.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def _post(port: int, body: bytes, kind: str, timeout_s: float = 60.0) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        connection.request("POST", "/api/classify", body, {"Content-Type": kind})
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""
    finally:
        connection.close()


class Checker:
    """Classifies real digits in a loop; each answer is compared with the cpu backend."""

    def __init__(self, port: int, images: np.ndarray, expected: np.ndarray) -> None:
        self.port, self.images, self.expected = port, images, expected
        self.sent = 0
        self.correct = 0
        self.wrong: list[str] = []
        self.latencies: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="checker", daemon=True)

    def one(self) -> float:
        """Send one digit, check it; its latency in seconds."""
        row = self.sent % len(self.images)
        self.sent += 1
        start = time.perf_counter()
        status, payload = _post(self.port, self.images[row].tobytes(), RAW, MEASURE_TIMEOUT_S)
        latency = time.perf_counter() - start
        reply = json.loads(payload) if status == 200 else {}
        if reply.get("logits") == self.expected[row].tolist():
            self.correct += 1
        else:
            self.wrong.append(f"image {row}: HTTP {status} {payload[:120]!r}")
        self.latencies.append(latency)
        return latency

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.one()
            self._stop.wait(0.05)

    def __enter__(self) -> Checker:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _raise_own_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, needed), hard))


def slow_connections(
    port: int, count: int, hold_s: float, measure: Callable[[], float], pid: int | None = None
) -> dict[str, Any]:
    """Open ``count`` connections, :data:`OPENERS` at a time (at most :data:`OPEN_BOUND_S`), and
    keep them alive: every :data:`TRICKLE_S`, half of them send one more header byte, the
    other half nothing. Then call ``measure`` repeatedly for ``hold_s`` seconds.

    Returns ``opened`` (connections the client opened), ``latencies_s`` and
    ``server_fds_max`` (open files of process ``pid`` while measuring, if given).
    """
    _raise_own_open_files(count + 256)
    socks: list[socket.socket] = []
    lock = threading.Lock()
    done = threading.Event()

    def trickle() -> None:
        while not done.wait(TRICKLE_S):
            with lock:
                current = list(socks)
            for k, sock in enumerate(current):
                if k % 2 == 0:
                    with contextlib.suppress(OSError):
                        sock.send(b"X")

    trickler = threading.Thread(target=trickle, name="trickle", daemon=True)
    trickler.start()
    latencies = []
    fds = 0
    give_up = time.monotonic() + OPEN_BOUND_S

    def open_one(k: int) -> None:
        if time.monotonic() > give_up:
            return
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S)
        except OSError:
            return
        sock.setblocking(False)
        if k % 2 == 0:
            with contextlib.suppress(OSError):
                sock.send(b"GET / HTTP/1.1\r\n")
        with lock:
            socks.append(sock)

    try:
        with ThreadPoolExecutor(OPENERS) as pool:
            list(pool.map(open_one, range(count)))
        end = time.monotonic() + hold_s
        while time.monotonic() < end:
            latencies.append(measure())
            if pid is not None:
                fds = max(fds, len(os.listdir(f"/proc/{pid}/fd")))
            time.sleep(0.1)
    finally:
        done.set()
        trickler.join()
        for sock in socks:
            sock.close()
    return {"opened": len(socks), "latencies_s": latencies, "server_fds_max": fds}


def run_abuse(
    port: int,
    images: np.ndarray,
    expected: np.ndarray,
    pid: int | None = None,
    slow: int = SLOW_CONNECTIONS,
    hold_s: float = SLOW_HOLD_S,
) -> dict[str, Any]:
    """All three phases against the server on ``port`` (process ``pid`` for its memory).

    Returns ``statuses`` (name -> (got, expected)), ``peak_rss_mb``, ``slow_latency_max_s``,
    ``slow_latencies_s``, ``checker`` (sent, correct, wrong) and ``opened`` slow sockets.
    """
    flat = np.ascontiguousarray(images.reshape(-1, N_IN), dtype=np.uint8)
    statuses: dict[str, tuple[int, int]] = {}
    probe = Checker(port, flat, expected)
    with Checker(port, flat, expected) as checker:
        files = abuse_files()
        with ThreadPoolExecutor(len(files)) as pool:
            got = list(pool.map(lambda f: _post(port, f[1], f[2])[0], files))
        for (name, _, _, want), status in zip(files, got, strict=True):
            statuses[name] = (status, want)
        rss = peak_rss_mb(pid) if pid is not None else float("nan")
        held = slow_connections(port, slow, hold_s, probe.one, pid)
        for name, raw, want in MALFORMED:
            statuses[name] = (_status(port, raw), want)
    return {
        "statuses": statuses,
        "peak_rss_mb": rss,
        "slow_opened": held["opened"],
        "server_fds_max": held["server_fds_max"],
        "slow_latencies_s": held["latencies_s"],
        "slow_latency_max_s": max(held["latencies_s"], default=float("inf")),
        "checker": {
            "sent": checker.sent + probe.sent,
            "correct": checker.correct + probe.correct,
            "wrong": (checker.wrong + probe.wrong)[:5],
        },
    }


def report_lines(report: dict[str, Any], slow: int) -> list[str]:
    """The figures ``--abuse-test`` prints, one per line."""
    lines = [
        f"server peak RSS under the memory abuse: {report['peak_rss_mb']:.0f} MB",
        f"{slow} slow connections held ({report['slow_opened']} opened, server open files at "
        f"most {report['server_fds_max']}): "
        f"{len(report['slow_latencies_s'])} classify requests, slowest "
        f"{report['slow_latency_max_s'] * 1e3:.0f} ms",
    ]
    for name, (got, want) in report["statuses"].items():
        lines.append(f"{name}: HTTP {got} (expected {want}){'' if got == want else ' WRONG'}")
    checker = report["checker"]
    lines.append(f"checker: {checker['correct']}/{checker['sent']} digits right (vs cpu)")
    return lines


def passed(report: dict[str, Any], rss_limit_mb: float) -> bool:
    """Every status as expected, memory and latency within limits, every digit right."""
    checker = report["checker"]
    return (
        all(got == want for got, want in report["statuses"].values())
        and report["peak_rss_mb"] < rss_limit_mb
        and report["slow_latency_max_s"] < LATENCY_LIMIT_S
        and checker["sent"] > 0
        and checker["correct"] == checker["sent"]
    )


def main_abuse(backend: str, slow: int, rss_limit_mb: float, server_from: str | None = None) -> int:
    """``serve --abuse-test``: start (from the tree ``server_from`` if given), abuse, print,
    stop; 0 when everything passed."""
    from ...contract import exact_logits
    from ...data import load_test_set
    from ...model import load_model

    test = load_test_set()
    images = test.images[:500].reshape(-1, N_IN)
    expected = exact_logits(load_model(None), images)
    if server_from is None:
        process, port = start_server(backend)
    else:
        root = os.path.abspath(server_from)
        process, port = start_server(backend, {"PYTHONPATH": root}, cwd=root)
    try:
        report = run_abuse(port, images, expected, process.pid, slow)
    finally:
        process.terminate()
        process.wait(timeout=30)
    print(f"data: {test.source}")
    if server_from is not None:
        print(f"server from: {os.path.abspath(server_from)}")
    for line in report_lines(report, slow):
        print(line)
    ok = passed(report, rss_limit_mb)
    print(
        f"abuse test {'passed' if ok else 'FAILED'} (RSS limit {rss_limit_mb:g} MB, "
        f"latency limit {LATENCY_LIMIT_S:g} s)"
    )
    return 0 if ok else 1
