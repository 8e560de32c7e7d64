"""Checks of one request's headers: Content-Length, Host and Origin (standard library only)."""

from __future__ import annotations

import ipaddress
import re
import socket
import urllib.parse
from collections.abc import Iterable

__all__ = ["HostPolicy", "content_length", "host_name", "same_origin"]

_CONTENT_LENGTH = re.compile(r"[0-9]{1,15}")


def content_length(values: list[str]) -> int | None:
    """The Content-Length of a request's header values, or None if absent.

    Raises
    ------
    ValueError
        Several values, or one that is not plain ASCII digits (``²`` is not a number here).
    """
    if not values:
        return None
    if len(values) > 1:
        raise ValueError("more than one Content-Length header")
    text = values[0].strip(" \t")
    if not _CONTENT_LENGTH.fullmatch(text):
        raise ValueError(f"Content-Length {values[0][:20]!r} is not a number of bytes")
    return int(text)


def host_name(value: str) -> str:
    """``host`` of ``host[:port]`` or ``[v6]:port``, lower case, without a final dot."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":")[0]
    return value.rstrip(".")


class HostPolicy:
    """Which Host header values name this server: IP literals, localhost, the machine's
    names (with and without ``.local``) and extra names."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        name = socket.gethostname().lower()
        short = name.split(".")[0]
        names = {"localhost", name, short, f"{short}.local", f"{name}.local"}
        self.names = frozenset(names | {host_name(e) for e in extra if e.strip()})

    def allows(self, host_header: str | None) -> bool:
        """True for a Host that names this server; an absent Host (HTTP/1.0) is allowed."""
        if host_header is None:
            return True
        host = host_name(host_header)
        if host in self.names or host.endswith(".localhost"):
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True


def same_origin(origin: str | None, host_header: str | None) -> bool:
    """True without an Origin header (not a browser) or when Origin's host:port is Host's."""
    if origin is None:
        return True
    parts = urllib.parse.urlsplit(origin.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or host_header is None:
        return False  # includes "null": a sandboxed frame or a file: page
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return False
    tail = host_header.strip().rsplit("]", 1)[-1]
    given = tail.rsplit(":", 1)[1] if ":" in tail else ""
    host_port = int(given) if given.isdigit() else 80
    return parts.hostname.lower().rstrip(".") == host_name(host_header) and port == host_port
