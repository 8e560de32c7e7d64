"""Load and abuse: a ``serve`` process (open files 1024) on 127.0.0.1 gets abusive files, slow
connections, idle sockets and malformed requests while a checker classifies real MNIST digits,
every answer compared with the cpu backend. Bounded: about 1,000 sockets, under a minute."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pynq_mnist.apps.serve import abuse as serve_abuse
from pynq_mnist.contract import exact_logits as forward_logits
from pynq_mnist.data import load_test_set
from pynq_mnist.model import load_model

RSS_LIMIT_MB = 150.0
LATENCY_LIMIT_S = 1.0
EXPECTED = {
    "6320x6320 RGBA PNG": 400,
    "float TIFF 1": 400,
    "float TIFF 2": 400,
    "float TIFF 3": 400,
    "float TIFF 4": 400,
    "EPS": 415,
    "EPS as image/x-eps": 400,
    "bad Host": 421,
    "cross-origin text/plain POST": 403,
    "text/plain POST": 415,
    "Content-Length: \u00b2": 400,
    "Content-Length: \u00b2 as one byte": 400,
    "PUT": 405,
    "DELETE": 405,
    "bad request line": 400,
    "request line over 64 kB": 414,
    "header line over 64 kB": 431,
    "body over the limit": 413,
    "no Content-Length": 411,
    "raw body of 783 bytes": 400,
}


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    test = load_test_set()
    images = test.images[:300].reshape(-1, 784)
    expected = forward_logits(load_model(None), images)
    process, port = serve_abuse.start_server("cpu")
    try:
        yield serve_abuse.run_abuse(port, images, expected, process.pid, slow=1000, hold_s=5.0)
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.slow
def test_every_abusive_request_gets_its_status(report: dict[str, Any]) -> None:
    got = {name: status for name, (status, _) in report["statuses"].items()}
    assert got == EXPECTED


@pytest.mark.slow
def test_every_checked_digit_is_right(report: dict[str, Any]) -> None:
    checker = report["checker"]
    assert checker["sent"] >= 20 and (checker["correct"], checker["wrong"]) == (checker["sent"], [])


@pytest.mark.slow
def test_normal_requests_answer_within_1s_under_1000_slow_connections(
    report: dict[str, Any],
) -> None:
    assert report["slow_opened"] >= 990 and len(report["slow_latencies_s"]) >= 10
    assert report["server_fds_max"] < 300  # the connection cap (256), not one per slow client
    assert report["slow_latency_max_s"] < LATENCY_LIMIT_S


@pytest.mark.slow
def test_server_peak_memory_under_the_abuse_files(report: dict[str, Any]) -> None:
    """Needs the image decoder's format allow-list and decode budget (preprocess)."""
    assert report["peak_rss_mb"] < RSS_LIMIT_MB
