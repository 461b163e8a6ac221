"""Turn a failed HTTP exchange into the one sentence on-call reads. Pure.

httpx wraps httpcore's exceptions, which wrap the socket's; the useful fact
(refused, reset, certificate expired, name unknown) sits somewhere in the
`__cause__` / `__context__` chain, so we walk it rather than parse messages.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpx

from monitor.core.durations import format_duration


def describe_error(exc: BaseException, timeout: float) -> str:
    """Return a short human sentence for why the request got no usable response."""
    chain = list(_chain(exc))
    for err in chain:
        if isinstance(err, ssl.SSLCertVerificationError):
            return _describe_certificate(err)
    for err in chain:
        if isinstance(err, (TimeoutError, httpx.TimeoutException)):
            return f"timed out after {format_duration(timeout)}"
        if isinstance(err, httpx.TooManyRedirects):
            return "too many redirects (redirect loop?)"
        if isinstance(err, ConnectionRefusedError) or "connection refused" in str(err).lower():
            return "connection refused"
        if isinstance(err, socket.gaierror) or _looks_like_dns(err):
            return "DNS lookup failed: the host name does not resolve"
        if isinstance(err, ConnectionResetError) or "reset by peer" in str(err).lower():
            return "connection reset by peer"
        if isinstance(err, ssl.SSLError):
            return f"TLS handshake failed: {err.reason or err}"
        if isinstance(err, httpx.RemoteProtocolError):
            return "server closed the connection without a complete response"
        if isinstance(err, httpx.InvalidURL):
            return f"invalid URL: {err}"
        if isinstance(err, httpx.UnsupportedProtocol):
            return f"unsupported URL: {err}"
    name = type(exc).__name__
    detail = str(exc).strip()
    return f"request failed: {name}: {detail}" if detail else f"request failed: {name}"


def is_timeout(exc: BaseException) -> bool:
    """Whether the request failed because it ran out of time (what `describe_error` calls "timed out")."""
    chain = list(_chain(exc))
    if any(isinstance(err, ssl.SSLCertVerificationError) for err in chain):
        return False
    return any(isinstance(err, (TimeoutError, httpx.TimeoutException)) for err in chain)


def _describe_certificate(err: ssl.SSLCertVerificationError) -> str:
    reason = (err.verify_message or err.reason or str(err)).strip()
    lowered = reason.lower()
    if "expired" in lowered:
        return "TLS certificate expired"
    if "self-signed" in lowered or "self signed" in lowered:
        return "TLS certificate is self-signed (not trusted)"
    if "hostname mismatch" in lowered or "doesn't match" in lowered:
        return "TLS certificate does not match the host name"
    return f"TLS certificate not trusted: {reason}"


def _looks_like_dns(err: BaseException) -> bool:
    text = str(err).lower()
    return any(s in text for s in ("name or service not known", "nodename nor servname",
                                   "temporary failure in name resolution", "no address associated"))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        seen.add(id(node))
        yield node
        if isinstance(node, BaseExceptionGroup):
            for inner in node.exceptions:
                yield from _chain(inner)
        node = node.__cause__ or node.__context__
