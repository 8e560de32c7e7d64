"""``pynq-mnist data download``: fetch the four MNIST IDX files, verified, into the cache.

Standard library only (urllib), so that it runs on a board's bare Python. Each
file is tried on every mirror in order; transient failures (no network, HTTP
5xx, timeout, truncated transfer) are retried on the same mirror, a 4xx or a
checksum mismatch moves on to the next one. A download goes to a temporary
file next to its target and is renamed into place only once its SHA-256 (of
the decompressed IDX bytes, :data:`pynq_mnist.data.IDX_SHA256`) matches, so a
half-written or wrong file is never left behind. Every failed attempt is one
line on stderr.
"""

from __future__ import annotations

import argparse
import errno
import gzip
import hashlib
import os
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from ..data import CACHE_ENV_VAR, IDX_SHA256, cache_dir
from ..errors import DataError

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_TIMEOUT_S",
    "MIRRORS",
    "MIRRORS_ENV_VAR",
    "DownloadError",
    "add_arguments",
    "configured_mirrors",
    "download",
    "download_file",
    "idx_sha256",
    "run",
]

# The two mirrors torchvision and TensorFlow use, then the original site.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
MIRRORS_ENV_VAR = "PYNQ_MNIST_MIRRORS"  # comma-separated base URLs replacing MIRRORS
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 3  # per mirror, for transient failures
BACKOFF_S = 1.0  # wait before retry k: BACKOFF_S * 2**(k-1)
CHUNK_BYTES = 1 << 16
RESOLVE_TIMEOUT_S = 4.0  # name lookup of every mirror, at once, within this
SIMPLE_BAR_PERIOD_S = 0.2
SIMPLE_BAR_WIDTH = 30

Report = Callable[[str], None]
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.ENETDOWN}


class DownloadError(DataError):
    """A file could not be fetched and verified from any mirror."""


class _Transient(Exception):
    """A failure worth retrying on the same mirror; the message is the report line."""


class _Permanent(Exception):
    """A failure that moves on to the next mirror; the message is the report line."""


class _Unreachable(_Permanent):
    """The mirror's host cannot be reached at all: not retried, not tried for other files."""


def _stderr_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def idx_sha256(path: Path) -> str:
    """SHA-256 of the decompressed bytes of the gzip file ``path``.

    Raises
    ------
    OSError, EOFError, zlib.error
        Not a complete, valid gzip stream.
    """
    digest = hashlib.sha256()
    with gzip.open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(path: Path, expected: str) -> bool:
    try:
        return idx_sha256(path) == expected
    except (OSError, EOFError, zlib.error):
        return False


class _SimpleBar:
    """A text progress bar on stderr for when tqdm is not installed."""

    def __init__(self, total: int | None, desc: str) -> None:
        self.total, self.desc, self.done, self._shown_at = total, desc, 0, 0.0

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._shown_at >= SIMPLE_BAR_PERIOD_S:
            self._shown_at = now
            self._show()

    def _show(self) -> None:
        if self.total:
            filled = SIMPLE_BAR_WIDTH * self.done // self.total
            bar = "#" * filled + "." * (SIMPLE_BAR_WIDTH - filled)
            text = f"{self.desc} [{bar}] {100 * self.done // self.total:3d}% "
        else:
            text = f"{self.desc} "
        sys.stderr.write(f"\r{text}{self.done / 1e6:.1f} MB")
        sys.stderr.flush()

    def close(self) -> None:
        self._show()
        sys.stderr.write("\n")
        sys.stderr.flush()


class _NoBar:
    def update(self, n: int) -> None:
        """Nothing to show."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(total: int | None, desc: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _SimpleBar(total, desc)
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False)


def _write(out: IO[bytes], chunk: bytes, where: Path) -> None:
    """Write to the temporary file; a local failure (disk full, ...) is no network problem."""
    try:
        out.write(chunk)
    except OSError as exc:
        raise DataError(f"cannot write {where}: {exc}") from None


def _fetch(
    url: str, out: IO[bytes], where: Path, timeout_s: float, progress: bool, desc: str
) -> None:
    """Copy ``url`` into ``out`` (the file ``where``); raise _Transient or _Permanent with a
    one-line reason, DataError when writing fails."""
    host = urllib.parse.urlsplit(url).netloc
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            length_header = response.headers.get("Content-Length")
            length = int(length_header) if length_header and length_header.isdigit() else None
            bar = _progress_bar(length, desc, progress)
            received = 0
            try:
                while chunk := response.read(CHUNK_BYTES):
                    _write(out, chunk, where)
                    received += len(chunk)
                    bar.update(len(chunk))
            finally:
                bar.close()
    except urllib.error.HTTPError as exc:
        line = f"HTTP error {exc.code} {exc.reason} from {url}"
        raise (_Transient(line) if exc.code >= 500 else _Permanent(line)) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, TimeoutError):
            raise _Transient(f"timeout after {timeout_s:g} s from {url}") from None
        line = f"no network: cannot reach {host}: {exc.reason}"
        if isinstance(exc.reason, (ConnectionRefusedError, socket.gaierror)) or (
            isinstance(exc.reason, OSError) and exc.reason.errno in _UNREACHABLE
        ):
            raise _Unreachable(line) from None
        raise _Transient(line) from None
    except TimeoutError:
        raise _Transient(f"timeout after {timeout_s:g} s from {url}") from None
    except (ConnectionError, OSError) as exc:  # reset or refused mid-transfer
        raise _Transient(f"no network: connection to {host} failed: {exc}") from None
    if length is not None and received != length:
        raise _Transient(f"truncated download from {url}: got {received} of {length} bytes")


def _mirror_host(base_url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def unreachable_mirrors(mirrors: Sequence[str], timeout_s: float) -> dict[str, str]:
    """Mirrors whose host name cannot be looked up within ``timeout_s`` (all looked up at
    once, each in a thread: the resolver has no timeout of its own) -> one-line reason."""
    outcomes: dict[str, str | None] = {}

    def look_up(base_url: str) -> None:
        host, port = _mirror_host(base_url)
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            outcomes[base_url] = None
        except (OSError, UnicodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            outcomes[base_url] = f"cannot look up {host}: {reason}"

    threads = [
        threading.Thread(target=look_up, args=(m,), name=f"resolve {m}", daemon=True)
        for m in mirrors
    ]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout_s
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    failed: dict[str, str] = {}
    for base_url in mirrors:
        if base_url not in outcomes:
            host = _mirror_host(base_url)[0]
            failed[base_url] = f"cannot look up {host}: no answer within {timeout_s:g} s"
        elif outcomes[base_url] is not None:
            failed[base_url] = str(outcomes[base_url])
    return failed


def how_to_proceed(directory: Path) -> str:
    """What to do when no mirror can be reached, as one sentence."""
    names = ", ".join(f"{base}.gz" for base in IDX_SHA256)
    return (
        f"no mirror reachable: check the network, or pass --mirror URL (a mirror you can "
        f"reach; repeatable), or copy {names} from another machine into {directory}"
    )


def download_file(
    base_name: str,
    target_dir: Path,
    mirrors: Sequence[str] = MIRRORS,
    *,
    expected_sha256: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    attempts: int = DEFAULT_ATTEMPTS,
    backoff_s: float = BACKOFF_S,
    progress: bool = True,
    report: Report = _stderr_line,
    unreachable: set[str] | None = None,
) -> Path:
    """Fetch ``<base_name>.gz`` into ``target_dir`` from the first mirror that serves it intact.

    A file already there with the right checksum is kept. ``expected_sha256``
    (default: :data:`IDX_SHA256`) is the digest of the decompressed bytes.
    Each failed attempt is passed to ``report`` as one line. A mirror whose host
    cannot be reached is added to ``unreachable`` and skipped by later calls given
    the same set.

    Raises
    ------
    DownloadError
        Every mirror failed; the message counts the attempts.
    """
    expected = expected_sha256 or IDX_SHA256[base_name]
    name = base_name + ".gz"
    target = target_dir / name
    if target.is_file() and _verified(target, expected):
        return target
    target_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    dead = unreachable if unreachable is not None else set()
    for base_url in mirrors:
        if base_url in dead:
            continue
        url = urllib.parse.urljoin(base_url if base_url.endswith("/") else base_url + "/", name)
        for attempt in range(1, attempts + 1):
            fd, temp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=target_dir)
            temp = Path(temp_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    _fetch(url, out, temp, timeout_s, progress, name)
                try:
                    got = idx_sha256(temp)
                except (OSError, EOFError, zlib.error) as exc:
                    raise _Permanent(
                        f"checksum mismatch from {url}: not a valid gzip file ({exc}); file deleted"
                    ) from None
                if got != expected:
                    raise _Permanent(
                        f"checksum mismatch from {url}: SHA-256 {got[:16]}..., expected "
                        f"{expected[:16]}...; file deleted"
                    )
                os.replace(temp, target)
                return target
            except _Transient as exc:
                failures += 1
                more = attempt < attempts
                report(f"{name}: {exc}" + (f" (retry {attempt}/{attempts - 1})" if more else ""))
                if more:
                    time.sleep(backoff_s * 2 ** (attempt - 1))
            except _Permanent as exc:
                failures += 1
                report(f"{name}: {exc}")
                if isinstance(exc, _Unreachable):
                    dead.add(base_url)
                break
            finally:
                temp.unlink(missing_ok=True)
    raise DownloadError(
        f"{name}: not downloaded: {failures} failed attempt(s) on {len(mirrors)} mirror(s)"
    )


def configured_mirrors() -> tuple[str, ...]:
    """``$PYNQ_MNIST_MIRRORS`` (comma-separated base URLs) or the public :data:`MIRRORS`."""
    env = os.environ.get(MIRRORS_ENV_VAR, "")
    chosen = tuple(m.strip() for m in env.split(",") if m.strip())
    return chosen or MIRRORS


def download(
    target_dir: str | os.PathLike[str] | None = None,
    mirrors: Sequence[str] | None = None,
    **options: Any,
) -> tuple[list[Path], list[str]]:
    """Fetch all four MNIST files into ``target_dir`` (default: :func:`cache_dir`).

    ``options`` go to :func:`download_file`. Returns the verified paths and one
    error line per file that could not be fetched.
    """
    directory = Path(target_dir) if target_dir is not None else cache_dir()
    chosen = tuple(mirrors) if mirrors else configured_mirrors()
    saved: list[Path] = []
    errors: list[str] = []
    missing = [
        base
        for base in IDX_SHA256
        if not (
            (directory / f"{base}.gz").is_file()
            and _verified(directory / f"{base}.gz", IDX_SHA256[base])
        )
    ]
    if missing:
        report = options.get("report", _stderr_line)
        lookup_s = min(RESOLVE_TIMEOUT_S, options.get("timeout_s", DEFAULT_TIMEOUT_S))
        for base_url, reason in unreachable_mirrors(chosen, lookup_s).items():
            report(f"mirror {base_url}: {reason}")
            chosen = tuple(m for m in chosen if m != base_url)
        if not chosen:
            return [], [how_to_proceed(directory)]
    dead: set[str] = set()
    for base_name in IDX_SHA256:
        if all(m in dead for m in chosen):
            errors.append(f"{base_name}.gz: not downloaded: no mirror left")
            continue
        try:
            saved.append(download_file(base_name, directory, chosen, unreachable=dead, **options))
        except DownloadError as exc:
            errors.append(str(exc))
    if errors and all(m in dead for m in chosen):
        errors = [how_to_proceed(directory)]  # the report lines said why, once per mirror
    return saved, errors


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``pynq-mnist data``."""
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    fetch = actions.add_parser(
        "download",
        help="fetch the four MNIST files from public mirrors and verify them",
        description="Fetch the four MNIST IDX files (verified by SHA-256) into the cache, "
        "where bench, the notebooks and data.py find them.",
    )
    fetch.add_argument(
        "--dir", help=f"where to put them (default: ${CACHE_ENV_VAR} or ~/.cache/pynq-mnist)"
    )
    fetch.add_argument(
        "--mirror",
        action="append",
        help=f"base URL to try (repeatable; default: ${MIRRORS_ENV_VAR} or {', '.join(MIRRORS)})",
    )
    fetch.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds without data before an attempt fails (default {DEFAULT_TIMEOUT_S:g})",
    )
    fetch.add_argument(
        "--attempts",
        type=int,
        default=DEFAULT_ATTEMPTS,
        help=f"tries per mirror for transient failures (default {DEFAULT_ATTEMPTS})",
    )
    fetch.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args: argparse.Namespace) -> int:
    """Download; print each verified file on stdout; 0 all four present, 1 otherwise."""
    if args.timeout <= 0 or args.attempts < 1:
        print(
            f"pynq-mnist: error: --timeout ({args.timeout:g}) must be > 0 and --attempts "
            f"({args.attempts}) >= 1",
            file=sys.stderr,
        )
        return 2
    saved, errors = download(
        args.dir,
        args.mirror,
        timeout_s=args.timeout,
        attempts=args.attempts,
        progress=not args.no_progress,
    )
    for path in saved:
        print(f"verified {path}")
    for line in errors:
        print(f"pynq-mnist: error: {line}", file=sys.stderr)
    return 0 if not errors else 1
