"""What a TLS handshake showed (version, leaf certificate), and the sentence for what is wrong with it. Pure.

Shared by the kinds that speak TLS over a bare connection (tcp with
`tls = true`, tls); probes/tls_handshake.py does the I/O. A verification
error from OpenSSL carries a code; each code that on-call meets names the
property that failed, with the certificate's own facts (its dates, its
names) read from the certificate the server showed.
"""

from __future__ import annotations

import ipaddress
import math
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.x509.oid import NameOID

from monitor.core.series import Family, Sample

# ssl.SSLObject.version() -> the names blackbox_exporter puts in probe_tls_version_info{version}.
VERSION_NAMES = {"SSLv3": "SSL 3.0", "TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2",
                 "TLSv1.3": "TLS 1.3"}
VERSIONS = ("TLS 1.0", "TLS 1.1", "TLS 1.2", "TLS 1.3")  # oldest first

TLS_VERSION_INFO = Family("probe_tls_version_info", "gauge",
                          "Always 1; `version` is the TLS version the latest run negotiated.")

# OpenSSL's X509_V_ERR_* codes (x509_vfy.h) that name one property of the certificate.
_NOT_YET_VALID, _EXPIRED = 9, 10
_NAME_MISMATCH = {62, 64}  # host name, IP address
_UNTRUSTED = {2, 18, 19, 20, 21, 27}  # no issuer, self-signed (leaf or in chain), unknown issuer, untrusted


@dataclass(frozen=True)
class Certificate:
    """The facts of the leaf certificate a server showed."""

    not_before: float  # Unix time
    not_after: float
    names: tuple[str, ...]  # DNS names and IP addresses it is for (its SANs, else its common name)

    @classmethod
    def from_der(cls, der: bytes | None) -> Certificate | None:
        if not der:
            return None
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            return None
        names: list[str] = []
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            names += san.get_values_for_type(x509.DNSName)
            names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
        except x509.ExtensionNotFound:
            pass
        if not names:
            names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        return cls(cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp(), tuple(names))


@dataclass(frozen=True)
class TlsFacts:
    """What one handshake showed: the negotiated version ("TLS 1.3") and the leaf certificate, if read."""

    version: str
    certificate: Certificate | None

    @property
    def expires_at(self) -> float | None:
        return None if self.certificate is None else self.certificate.not_after

    def samples(self) -> list[Sample]:
        return [Sample(TLS_VERSION_INFO.name, 1, (("version", self.version),))]


def version_name(openssl_name: str | None) -> str:
    return VERSION_NAMES.get(openssl_name or "", openssl_name or "unknown")


def below_minimum(version: str, minimum: str) -> str | None:
    """"TLS 1.0 negotiated, below the minimum TLS 1.2", or None when `version` is at least `minimum`."""
    if version in VERSIONS and VERSIONS.index(version) >= VERSIONS.index(minimum):
        return None
    return f"{version} negotiated, below the minimum {minimum}"


def expires_too_soon(cert: Certificate | None, cert_min_days: int | None, now: float) -> str | None:
    """"certificate expires in 5 days, below cert_min_days = 14", or None."""
    if cert is None or cert_min_days is None:
        return None
    days = (cert.not_after - now) / 86400
    if days >= cert_min_days:
        return None
    return f"certificate expires in {_days(days)}, below cert_min_days = {cert_min_days}"


def describe_verify_error(err: ssl.SSLCertVerificationError, cert: Certificate | None, host: str,
                          now: float) -> str:
    """The property a failed verification names, in words ("certificate expired 3 days ago (not after ...)")."""
    message = (err.verify_message or err.reason or str(err)).strip()
    code = err.verify_code
    # OpenSSL gives the same code for any certificate of the chain: the leaf's dates say whether it is the leaf.
    if code == _EXPIRED:
        if cert is None:
            return "certificate expired"
        if cert.not_after >= now:
            return "a certificate in the chain (not the server's own) expired"
        return f"certificate expired {_days((now - cert.not_after) / 86400)} ago (not after {_date(cert.not_after)})"
    if code == _NOT_YET_VALID:
        if cert is None:
            return "certificate is not valid yet"
        if cert.not_before <= now:
            return "a certificate in the chain (not the server's own) is not valid yet"
        return f"certificate is not valid yet (not before {_date(cert.not_before)})"
    if code in _NAME_MISMATCH:
        if cert is None or not cert.names:
            return f"certificate is not for {_host(host)}"
        shown = ", ".join(cert.names[:3]) + (f" and {len(cert.names) - 3} more" if len(cert.names) > 3 else "")
        return f"certificate is for {shown}, not {_host(host)}"
    if code in _UNTRUSTED:
        return f"certificate chain not trusted: {message}"
    return f"certificate not valid: {message}"


def _days(days: float) -> str:
    if days < 1:
        return "less than a day"
    whole = math.floor(days)
    return "1 day" if whole == 1 else f"{whole} days"


def _date(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")


def _host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
