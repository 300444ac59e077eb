"""Which `Host` values name this server: the defence against DNS rebinding.

A page on a name the attacker controls can re-point that name at 127.0.0.1 and then read the relay's plain HTTP
answers as its own origin; its requests still carry the attacker's name in `Host`. The relay answers only Host
values that name it: its bind address, `localhost`, `127.0.0.1`, `[::1]` and the names given by `--allow-host`,
each with the port it listens on. On a wildcard bind (`0.0.0.0`, `::`) any IP address is accepted too: a client
that reached the server by address sent that address, and a rebinding page can only send a name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

__all__ = ["HostCheck", "split_host"]

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of wildcard binds, compared with, never bound


def split_host(value: str) -> tuple[str, int | None] | None:
    """(name, port) of a `Host` header value (the name lower-cased, IPv6 without brackets); None if malformed."""
    try:
        parts = urlsplit(f"//{value.strip()}")
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or parts.username is not None or parts.path or parts.query or parts.fragment:
        return None
    return parts.hostname.lower().rstrip("."), port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostCheck:
    """Decides whether a request's `Host` names this server (see the module's docstring)."""

    def __init__(self, bind: str, port: Callable[[], int], allowed: Iterable[str] = ()) -> None:
        self.bind = bind.strip("[]").lower()
        self.port = port
        self.names = {self.bind, *LOOPBACK_NAMES, *(name.strip().strip("[]").lower().rstrip(".") for name in allowed)}

    def refusal(self, value: str | None) -> tuple[int, str] | None:
        """None when `value` names this server, else the HTTP status (400, 421) and plain text to answer with."""
        if value is None:
            return 400, "a Host header is required\n"
        parsed = split_host(value)
        if parsed is None:
            return 400, "the Host header is malformed\n"
        name, port = parsed
        own_port = self.port()
        if (port or 80) == own_port and (name in self.names or (self.bind in WILDCARD_BINDS and _is_ip(name))):
            return None
        return 421, (
            f"host {value!r} is not a name of this server (it answers to localhost, 127.0.0.1, [::1], its bind "
            f"address and the names given by --allow-host / VEO_ALLOW_HOSTS, on port {own_port})\n"
        )
