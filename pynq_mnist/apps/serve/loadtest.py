"""The load test of ``pynq-mnist serve --load-test``: concurrent keep-alive clients,
every answer checked against the cpu backend's logits."""

from __future__ import annotations

import http.client
import json
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ... import contract
from ...model import N_IN
from .server import DigitServer
from .service import RAW_TYPE

__all__ = ["LOAD_CLIENTS", "LOAD_REQUESTS", "load_test"]

LOAD_CLIENTS = 8
LOAD_REQUESTS = 50


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
