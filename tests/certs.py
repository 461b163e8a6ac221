"""Certificates for TLS tests, made on the spot with `cryptography`."""

from __future__ import annotations

import ipaddress
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def server_context(folder: Path, *, expired: bool = False, with_ca: bool = False,
                   valid_days: int = 30, names: tuple[str, ...] = ("127.0.0.1",)) -> ssl.SSLContext:
    """A server-side TLS context whose certificate is for `names` (IP addresses or DNS names).

    Self-signed by default. With `with_ca`, the certificate is issued by a
    throwaway CA written to `folder / "ca.pem"` (point SSL_CERT_FILE or a
    check's `ca_file` at it to trust it), which lets a test see errors other
    than "self-signed". The certificate expires in `valid_days` (negative:
    it expired that many days ago; `expired` is -1).
    """
    now = datetime.now(UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key, issuer = key, _name(names[0])
    if with_ca:
        issuer_key, issuer = ec.generate_private_key(ec.SECP256R1()), _name("test CA")
        ca = (x509.CertificateBuilder().subject_name(issuer).issuer_name(issuer)
              .public_key(issuer_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - timedelta(days=60)).not_valid_after(now + timedelta(days=60))
              .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
              .sign(issuer_key, hashes.SHA256()))
        (folder / "ca.pem").write_bytes(_pem(ca))
    not_after = now - timedelta(days=1) if expired else now + timedelta(days=valid_days)
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(min(now - timedelta(days=1), not_after - timedelta(days=30))).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
            .sign(issuer_key, hashes.SHA256()))
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(_pem(cert))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context


def chain_context(folder: Path, *, intermediate_days: int, valid_days: int = 30,
                  name: str = "127.0.0.1") -> ssl.SSLContext:
    """A server-side TLS context showing a leaf and its intermediate CA, issued by a root in `folder / "ca.pem"`.

    The leaf expires in `valid_days`, the intermediate in `intermediate_days`
    (negative: it expired that many days ago), the root in 400 days.
    """
    now = datetime.now(UTC)
    root_key, inter_key, leaf_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))

    def issue(subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, issuer_key: ec.EllipticCurvePrivateKey,
              days: int, ca: bool) -> x509.Certificate:
        not_after = now + timedelta(days=days)
        builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(min(now - timedelta(days=1), not_after - timedelta(days=30)))
                   .not_valid_after(not_after)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(name)]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    root = issue("test root", "test root", root_key, root_key, 400, ca=True)
    intermediate = issue("test intermediate", "test root", inter_key, root_key, intermediate_days, ca=True)
    leaf = issue(name, "test intermediate", leaf_key, inter_key, valid_days, ca=False)
    (folder / "ca.pem").write_bytes(_pem(root))
    cert_file, key_file = folder / "chain.pem", folder / "key.pem"
    cert_file.write_bytes(_pem(leaf) + _pem(intermediate))
    key_file.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    return context
