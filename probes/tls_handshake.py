"""A TLS handshake on an open connection, with the client settings both TLS-speaking kinds read.

`read_tls_client` reads the keys shared by `type = "tls"` and `type = "tcp"`
with `tls = true`: `server_name`, `ca_file`, `verify`, `min_version`,
`cert_min_days`. `start_tls` upgrades a connection and returns the
`TlsFacts`, or raises `TlsFailure` with the sentence on-call reads;
`connect` is what tcp and tls checks share: resolve, connect, shake hands,
noting each phase in a `Progress`.

Why a second connection on failure: a handshake that fails verification
(or finds no common protocol version) gives no certificate and no version,
so the sentence could only repeat OpenSSL. One more handshake that verifies
nothing and accepts any version reads what the server shows, so the failure
can say "certificate expired 3 days ago (not after 2026-11-29)" or "TLS 1.0
negotiated, below the minimum TLS 1.2". It only runs on the failing path.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table
from monitor.core.series import Sample
from probes.host_port import DNS_LOOKUP_TIME, HostPort, connect_any, host_name_error, resolve
from probes.tls_facts import VERSIONS, Certificate, TlsFacts, below_minimum, describe_verify_error, version_name

TLS_KEYS = ("server_name", "ca_file", "verify", "min_version", "cert_min_days")
_OPENSSL_VERSIONS = {"TLS 1.0": ssl.TLSVersion.TLSv1, "TLS 1.1": ssl.TLSVersion.TLSv1_1,
                     "TLS 1.2": ssl.TLSVersion.TLSv1_2, "TLS 1.3": ssl.TLSVersion.TLSv1_3}
# OpenSSL 3 refuses TLS 1.0 and 1.1 at its default security level: asking for them means level 0.
_LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"


@dataclass(frozen=True)
class TlsClient:
    """How the monitor shakes hands: whom it expects, whom it trusts, what it accepts."""

    server_name: str | None = None  # SNI and the name the certificate must be for; the target's host by default
    ca_file: Path | None = None  # trust only these CAs (PEM), instead of the system's and certifi's
    verify: bool = True
    min_version: str = "TLS 1.2"
    cert_min_days: int | None = None

    def name_for(self, address: HostPort) -> str:
        return self.server_name or address.host


def read_tls_client(t: Table, ctx: ReadContext) -> TlsClient:
    """The shared TLS keys of a check's table (absent keys take `TlsClient`'s defaults)."""
    d = TlsClient()
    spelled = {v.replace(" ", ""): v for v in VERSIONS}  # "TLS1.2" -> "TLS 1.2"
    min_version = t.choice("min_version", d.min_version.replace(" ", ""), tuple(spelled))
    return TlsClient(
        server_name=read_server_name(t),
        ca_file=read_ca_file(t, ctx),
        verify=t.boolean("verify", d.verify),
        min_version=spelled[min_version],
        cert_min_days=t.integer("cert_min_days", None, minimum=0),
    )


def read_server_name(t: Table) -> str | None:
    """The `server_name` key; an error on the table when it cannot be a host name."""
    server_name = t.string("server_name") or None
    if server_name is not None and (wrong := host_name_error(server_name)) is not None:
        t.error("server_name", wrong)
    return server_name


def read_ca_file(t: Table, ctx: ReadContext) -> Path | None:
    """The `ca_file` key, relative to the config file; an error on the table when there is no such file."""
    ca = t.string("ca_file")
    if ca is None:
        return None
    ca_file = ctx.base / ca
    if not ca_file.is_file():
        t.error("ca_file", f"no such file: {str(ca_file)!r}; give a PEM file of the CA certificates to trust "
                           "(relative to the config file)")
    return ca_file


def trusted_roots_pem(client: TlsClient) -> bytes | None:
    """The CAs `client` trusts, as PEM, for a library with its own TLS stack (grpcio) to agree with our contexts.

    `ca_file` alone when set (OSError if it went away); else the system's CA bundle file (where OpenSSL
    looks, SSL_CERT_FILE included) and certifi's; None when neither can be read (the library's own roots).
    """
    if client.ca_file is not None:
        return client.ca_file.read_bytes()
    paths = [ssl.get_default_verify_paths().cafile]
    try:
        import certifi

        paths.append(certifi.where())
    except ImportError:
        pass
    found = b""
    for path in paths:
        if path is None:
            continue
        try:
            found += Path(path).read_bytes().rstrip(b"\n") + b"\n"
        except OSError:
            pass
    return found or None


class TlsFailure(Exception):
    """The handshake failed; `sentence` says which property, `facts` what the server showed (if read)."""

    def __init__(self, sentence: str, facts: TlsFacts | None = None):
        super().__init__(sentence)
        self.sentence = sentence
        self.facts = facts


class TlsContexts:
    """The client contexts of one probe, built once per (ca_file, verify, min_version, ALPN): building one loads
    a whole CA bundle, which would otherwise dominate a cheap probe."""

    def __init__(self) -> None:
        self._built: dict[tuple[Path | None, bool, str, tuple[str, ...]], ssl.SSLContext] = {}
        self.lax = _lax_context()

    def get(self, client: TlsClient, alpn: tuple[str, ...] = ()) -> ssl.SSLContext:
        """The context for `client`, offering the `alpn` protocols (("h2",) for gRPC)."""
        key = (client.ca_file, client.verify, client.min_version, alpn)
        if key not in self._built:
            context = _context(client)
            if alpn:
                context.set_alpn_protocols(list(alpn))
            self._built[key] = context
        return self._built[key]


def _context(client: TlsClient) -> ssl.SSLContext:
    if client.ca_file is not None:
        context = ssl.create_default_context(cafile=str(client.ca_file))
    else:
        context = ssl.create_default_context()
        try:
            import certifi

            context.load_verify_locations(certifi.where())
        except (ImportError, OSError):
            pass
    if not client.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if VERSIONS.index(client.min_version) < VERSIONS.index("TLS 1.2"):
        # The check's owner asked for the old versions: the ssl module's deprecation warning is for them.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = _OPENSSL_VERSIONS[client.min_version]
        context.set_ciphers(_LEGACY_CIPHERS)
    else:
        context.minimum_version = _OPENSSL_VERSIONS[client.min_version]
    return context


def _lax_context() -> ssl.SSLContext:
    """Verifies nothing, accepts every version: only to read what a failing server shows."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    context.set_ciphers(_LEGACY_CIPHERS)
    return context


async def start_tls(writer: asyncio.StreamWriter, address: HostPort, client: TlsClient,
                    contexts: TlsContexts) -> TlsFacts:
    """Upgrade the open connection `writer` to TLS; the facts, or `TlsFailure` saying what is wrong.

    Timeouts are the caller's (a TimeoutError passes through).
    """
    name = client.name_for(address)
    try:
        await writer.start_tls(contexts.get(client), server_hostname=name)
    except ssl.SSLCertVerificationError as exc:
        shown = await _diagnose(address, name, contexts)
        cert = shown.certificate if shown else None
        raise TlsFailure(describe_verify_error(exc, cert, name, time.time()), shown) from exc
    except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError, EOFError) as exc:
        shown = await _diagnose(address, name, contexts)
        if shown is not None and (sentence := below_minimum(shown.version, client.min_version)):
            raise TlsFailure(sentence, shown) from exc
        raise TlsFailure(f"TLS handshake failed: {_reason(exc)}", shown) from exc
    return _facts(writer)


class Progress:
    """What a run has seen so far; kept outside the timed block so a timeout loses none of it."""

    def __init__(self) -> None:
        self.stage = "connecting"  # what a timeout interrupted, in words
        self.phases: dict[str, float] = {}
        self.lookup: float | None = None  # seconds resolving the host name, once done
        self.facts: TlsFacts | None = None
        self._mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        """`phase` took the time since the previous lap (or since the run began)."""
        now = time.perf_counter()
        self.phases[phase] = round(now - self._mark, 6)
        self._mark = now

    def since_lap(self, phase: str) -> None:
        """`phase` took the time since the previous lap, which it overlaps (`answer` includes `first_byte`)."""
        self.phases[phase] = round(time.perf_counter() - self._mark, 6)

    def samples(self) -> list[Sample]:
        """The name resolution time and the TLS version, as far as the run got."""
        samples = self.facts.samples() if self.facts else []
        if self.lookup is not None:
            samples.append(Sample(DNS_LOOKUP_TIME.name, round(self.lookup, 6)))
        return samples


async def connect(address: HostPort, client: TlsClient | None, contexts: TlsContexts,
                  progress: Progress) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Resolve, connect and, with a `client`, shake hands, noting each step in `progress` as it ends.

    Raises OSError (connecting), UnicodeError (a host name IDNA refuses), `TlsFailure` (with its facts
    in `progress` too); timeouts are the caller's. The caller closes the stream it gets.
    """
    started = time.perf_counter()
    addresses = await resolve(address)
    progress.lookup = time.perf_counter() - started
    reader, writer = await connect_any(addresses)
    progress.lap("connect")
    if client is None:
        return reader, writer
    progress.stage = "the TLS handshake"
    try:
        progress.facts = await start_tls(writer, address, client, contexts)
    except TlsFailure as exc:
        progress.facts = exc.facts
        writer.transport.abort()
        raise
    except BaseException:
        writer.transport.abort()
        raise
    progress.lap("tls")
    return reader, writer


def _facts(writer: asyncio.StreamWriter) -> TlsFacts:
    ssl_object = writer.get_extra_info("ssl_object")
    der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    return TlsFacts(version_name(ssl_object.version() if ssl_object else None), Certificate.from_der(der))


async def _diagnose(address: HostPort, name: str, contexts: TlsContexts) -> TlsFacts | None:
    """What the server shows a client that accepts anything; None when even that handshake fails."""
    try:
        _, writer = await asyncio.open_connection(address.host, address.port, ssl=contexts.lax,
                                                  server_hostname=name)
    except (OSError, ssl.SSLError, EOFError):
        return None
    try:
        return _facts(writer)
    finally:
        writer.transport.abort()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason == "WRONG_VERSION_NUMBER":
        # What OpenSSL says when the first bytes back are not TLS at all (an SSH banner, an HTTP error).
        return "the server does not speak TLS on this port (wrong version number)"
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return exc.reason.lower().replace("_", " ")
    if isinstance(exc, ConnectionResetError):
        return "connection reset by peer"
    if isinstance(exc, (ConnectionError, asyncio.IncompleteReadError, EOFError)):
        return "the server closed the connection"
    return str(exc) or type(exc).__name__
