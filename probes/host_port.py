"""The `target = "host:port"` key of the check types that open a TCP connection (tcp, tls, grpc), the dns
`server`, and how to resolve and connect to one and say why it failed."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from monitor.core.config_schema import Table
from monitor.core.series import Family

DNS_LOOKUP_TIME = Family("probe_dns_lookup_time_seconds", "gauge",
                         "How long resolving the target's host name took in the latest run.")
_HINT = '"HOST:PORT" such as "db.example.com:5432" or "[::1]:443"'
_TARGET = re.compile(r"(?:\[(?P<v6>[^\]]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class HostPort:
    host: str  # a name, an IPv4 address, or an IPv6 address without brackets
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def read_host_port(t: Table, key: str = "target") -> HostPort | None:
    """The check's `target`; an error on the table (and None) when it is missing or not HOST:PORT."""
    text = t.string(key, required=True, allowed=_HINT)
    if text is None:
        return None
    try:
        return parse_host_port(text)
    except ValueError as exc:
        t.error(key, str(exc))
        return None


def parse_host_port(text: str, default_port: int | None = None) -> HostPort:
    """"db.example.com:5432", "[::1]:443" -> HostPort; ValueError saying what is wrong. Pure.

    With `default_port`, the port may be left out ("10.0.0.2", "[::1]", even "2001:db8::1").
    """
    written = text.strip()
    if default_port is not None and _TARGET.fullmatch(written) is None:
        written = f"[{written}]:{default_port}" if _is_ipv6(written) else f"{written}:{default_port}"
    found = _TARGET.fullmatch(written)
    if found is None:
        raise ValueError(f"must be {_HINT}, got {text!r}")
    host, port = found["v6"] or found["host"], int(found["port"])
    if found["v6"] is not None and not _is_ipv6(host):
        raise ValueError(f"{host!r} in brackets is not an IPv6 address; write {_HINT}")
    if (wrong := host_name_error(host)) is not None:
        raise ValueError(wrong)
    if not 1 <= port <= 65535:
        raise ValueError(f"the port must be between 1 and 65535, got {port}")
    return HostPort(host, port)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def host_name_error(host: str) -> str | None:
    """Why `host` cannot go into a DNS lookup or a TLS handshake (its IDNA encoding fails), or None. Pure."""
    try:
        host.encode("idna")
    except UnicodeError as exc:
        return describe_bad_host(exc, host)
    return None


def describe_bad_host(exc: UnicodeError, *hosts: str) -> str:
    """"'a..b' is not a valid host name (a label is empty or over 63 characters)", naming the first of `hosts`
    (the target's, the TLS server name) that the IDNA codec refuses."""
    host = next((h for h in hosts if h and _refused(h)), hosts[0])
    reason = str(exc)
    if "label empty or too long" in reason or "label too long" in reason:
        reason = "a label is empty or over 63 characters"
    return f"{host!r} is not a valid host name ({reason})"


def _refused(host: str) -> bool:
    try:
        host.encode("idna")
    except UnicodeError:
        return True
    return False


def describe_connection_error(exc: OSError) -> str:
    """The sentence for a connection that could not be opened ("connection refused")."""
    if isinstance(exc, socket.gaierror):
        return "DNS lookup failed: the host name does not resolve"
    if isinstance(exc, ConnectionRefusedError) or "connection refused" in str(exc).lower():  # or every address refused
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    return f"connection failed: {exc.strerror or exc}"


# What getaddrinfo gives for one address: family, socket type, protocol, canonical name, socket address.
Address = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple[Any, ...]]


async def resolve(address: HostPort) -> Sequence[Address]:
    """The addresses `address.host` resolves to (an IP address resolves to itself); `socket.gaierror` if none."""
    loop = asyncio.get_running_loop()
    return await loop.getaddrinfo(address.host, address.port, type=socket.SOCK_STREAM)


async def connect_any(addresses: Sequence[Address]) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A stream to the first of `addresses` that accepts, tried in order as asyncio does for a host name.

    The resolving is the caller's, so it can be timed on its own (probe_dns_lookup_time_seconds).
    When every address fails, the error of the only one, or an OSError naming each.
    """
    loop = asyncio.get_running_loop()
    errors: list[OSError] = []
    for family, kind, proto, _, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, sockaddr)
        except OSError as exc:
            sock.close()
            errors.append(exc)
            continue
        except BaseException:
            sock.close()
            raise
        return await asyncio.open_connection(sock=sock)
    if not errors:
        raise OSError("the host name resolved to no address")
    if len(errors) == 1 or len({str(e) for e in errors}) == 1:
        raise errors[0]
    # Every address refused is still "connection refused": keep the class when they agree.
    error_class = type(errors[0]) if len({type(e) for e in errors}) == 1 else OSError
    raise error_class(errors[0].errno, f"Multiple exceptions: {', '.join(str(e) for e in errors)}")
