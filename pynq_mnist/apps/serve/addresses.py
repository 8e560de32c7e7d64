"""The IPv4 addresses a server answers on, for the start-up lines (standard library only)."""

from __future__ import annotations

import fcntl
import socket
import struct

__all__ = ["reachable_addresses"]

_SIOCGIFADDR = 0x8915  # Linux ioctl: an interface's IPv4 address


def reachable_addresses(bound_host: str) -> list[str]:
    """IPv4 addresses a server bound to ``bound_host`` answers on (all interfaces' for 0.0.0.0)."""
    if bound_host not in ("0.0.0.0", ""):
        return [bound_host]
    found: list[str] = []
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            try:
                reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, request)
            except OSError:  # no IPv4 address on this interface
                continue
            address = socket.inet_ntoa(reply[20:24])
            if address not in found:
                found.append(address)
    except OSError:
        pass
    finally:
        probe.close()
    if "127.0.0.1" not in found:
        found.insert(0, "127.0.0.1")
    return found
