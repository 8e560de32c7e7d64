"""``pynq-mnist serve``: its options, start-up lines and the serve / load test / abuse test runs."""

from __future__ import annotations

import argparse
import secrets
import sys

from ...model import N_IN
from .addresses import reachable_addresses
from .loadtest import LOAD_CLIENTS, LOAD_REQUESTS, load_test
from .server import DigitServer
from .service import MAX_BODY_BYTES

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "add_arguments", "run", "startup_lines"]

DEFAULT_HOST = "0.0.0.0"
DEFAULT_PORT = 8080
ABUSE_RSS_LIMIT_MB = 150.0
MAX_SLOW = 5000  # slow connections the abuse test may open


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
        from .abuse import main_abuse

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
    addresses = reachable_addresses(host)
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
    from ...data import load_test_set

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
