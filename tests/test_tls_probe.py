"""TLS probes against real TLS listeners on loopback: each failure names the property that failed."""

from __future__ import annotations

import ssl
import time

import pytest

from monitor.app.config import parse_config
from monitor.core.config_schema import ConfigError
from probes.tls_facts import Certificate, describe_verify_error
from tests.certs import chain_context, server_context
from tests.probe_once import probe_once as probe
from tests.servers import closed_port
from tests.stream_servers import only_version, silent, stream_server


def tls_check(target: str, extra: str = "", timeout: str = "2s"):
    config = parse_config(f'[[checks]]\nname = "t"\ntype = "tls"\ntarget = "{target}"\ntimeout = "{timeout}"\n'
                          f"{extra}")
    return config.check("t")


def trusting(folder) -> str:
    return f'ca_file = "{folder}/ca.pem"'


def version_of(result) -> str | None:
    return next((dict(s.labels)["version"] for s in result.samples if s.name == "probe_tls_version_info"), None)


async def test_a_valid_certificate_passes_with_its_version_expiry_and_phases(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path, with_ca=True, valid_days=90)) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path)))
    assert result.ok, result.failure
    assert set(result.phases) == {"connect", "tls"}
    assert version_of(result) == "TLS 1.3"
    lookup = next(s.value for s in result.samples if s.name == "probe_dns_lookup_time_seconds")
    assert 0 <= lookup <= result.phases["connect"]
    assert 89 < (result.cert_expires_at - time.time()) / 86400 < 91
    assert result.error_text is None and result.type == "tls"


async def test_an_expired_certificate_says_how_long_ago_and_its_date(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path, with_ca=True, valid_days=-3)) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path)))
    assert not result.ok
    not_after = time.strftime("%Y-%m-%d", time.gmtime(result.cert_expires_at))
    assert result.failure == f"certificate expired 3 days ago (not after {not_after})"


async def test_an_expired_intermediate_is_not_reported_as_the_servers_own_certificate(tmp_path):
    async with stream_server(silent, tls=chain_context(tmp_path, intermediate_days=-2, valid_days=80)) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path)))
    assert not result.ok
    assert result.failure == "a certificate in the chain (not the server's own) expired"
    assert 79 < (result.cert_expires_at - time.time()) / 86400 < 81  # the leaf's, as the metric's help says


async def test_a_valid_chain_passes(tmp_path):
    async with stream_server(silent, tls=chain_context(tmp_path, intermediate_days=100, valid_days=80)) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path)))
    assert result.ok, result.failure


async def test_a_certificate_for_another_host_says_whom_it_is_for(tmp_path):
    tls = server_context(tmp_path, with_ca=True, names=("other.example", "www.other.example"))
    async with stream_server(silent, tls=tls) as port:
        wrong = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path)))
        named = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path) + '\nserver_name = "other.example"'))
    assert wrong.failure == "certificate is for other.example, www.other.example, not 127.0.0.1"
    assert named.ok, named.failure


async def test_a_self_signed_certificate_is_an_untrusted_chain(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path)) as port:
        strict = await probe(tls_check(f"127.0.0.1:{port}"))
        lax = await probe(tls_check(f"127.0.0.1:{port}", "verify = false"))
    assert strict.failure == "certificate chain not trusted: self-signed certificate"
    assert strict.cert_expires_at is not None  # read by the second handshake, for the metric
    assert lax.ok, lax.failure


async def test_a_certificate_from_a_ca_nobody_trusts(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path, with_ca=True)) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}"))
    assert result.failure == "certificate chain not trusted: unable to get local issuer certificate"


async def test_a_server_speaking_only_tls_1_0_is_below_the_minimum(tmp_path):
    tls = only_version(server_context(tmp_path, with_ca=True), ssl.TLSVersion.TLSv1)
    async with stream_server(silent, tls=tls) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path)))
        allowed = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path) + '\nmin_version = "TLS1.0"'))
    assert result.failure == "TLS 1.0 negotiated, below the minimum TLS 1.2"
    assert version_of(result) == "TLS 1.0"
    assert allowed.ok, allowed.failure


async def test_a_min_version_of_1_3_refuses_a_1_2_server(tmp_path):
    tls = only_version(server_context(tmp_path, with_ca=True), ssl.TLSVersion.TLSv1_2)
    async with stream_server(silent, tls=tls) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path) + '\nmin_version = "TLS1.3"'))
    assert result.failure == "TLS 1.2 negotiated, below the minimum TLS 1.3"


async def test_cert_min_days_not_met(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path, with_ca=True, valid_days=5)) as port:
        result = await probe(tls_check(f"127.0.0.1:{port}", trusting(tmp_path) + "\ncert_min_days = 14"))
    assert result.failure == "certificate expires in 4 days, below cert_min_days = 14"


async def test_a_closed_port_and_a_server_that_is_not_tls(tmp_path):
    refused = await probe(tls_check(f"127.0.0.1:{closed_port()}"))

    async def plain_text(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n")
        await writer.drain()

    async with stream_server(plain_text) as port:
        not_tls = await probe(tls_check(f"127.0.0.1:{port}"))
    assert refused.failure == "connection refused"
    assert not_tls.failure == "TLS handshake failed: the server does not speak TLS on this port (wrong version number)"
    assert not_tls.cert_expires_at is None and version_of(not_tls) is None
    assert [s.name for s in not_tls.samples] == ["probe_dns_lookup_time_seconds"]


@pytest.mark.parametrize(("extra", "message"), [
    ('min_version = "TLS1.4"', "checks[\"t\"].min_version: must be one of TLS1.0, TLS1.1, TLS1.2, TLS1.3, got "
                               "'TLS1.4'"),
    ("cert_min_days = -1", 'checks["t"].cert_min_days: must be at least 0, got -1'),
    ('send = "hi"', 'checks["t"].send: unknown key'),
])
def test_config_errors_name_the_key(extra, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[[checks]]\nname = "t"\ntype = "tls"\ntarget = "example.com:443"\n{extra}\n')
    assert message in str(caught.value)


@pytest.mark.parametrize(("code", "leaf_not_before", "leaf_not_after", "sentence"), [
    (10, -30, 80, "a certificate in the chain (not the server's own) expired"),
    (10, -30, -3, "certificate expired 3 days ago (not after {after})"),
    (9, -30, 80, "a certificate in the chain (not the server's own) is not valid yet"),
    (9, 2, 80, "certificate is not valid yet (not before {before})"),
])
def test_a_date_error_names_the_leaf_only_when_the_leafs_own_dates_are_wrong(code, leaf_not_before, leaf_not_after,
                                                                              sentence):
    now = time.time()
    leaf = Certificate(now + leaf_not_before * 86400, now + leaf_not_after * 86400 - 60, ("127.0.0.1",))
    err = ssl.SSLCertVerificationError()
    err.verify_code, err.verify_message = code, "certificate has expired"
    expected = sentence.format(after=time.strftime("%Y-%m-%d", time.gmtime(leaf.not_after)),
                               before=time.strftime("%Y-%m-%d", time.gmtime(leaf.not_before)))
    assert describe_verify_error(err, leaf, "127.0.0.1", now) == expected
