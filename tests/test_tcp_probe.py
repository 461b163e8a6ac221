"""TCP probes against real servers on loopback: open, closed, greeting, answering, and over TLS."""

from __future__ import annotations

import ssl
import time
from dataclasses import replace

import pytest
from prometheus_client import CollectorRegistry

from monitor.app.config import parse_config
from monitor.app.metrics import Metrics
from monitor.core.config_schema import ConfigError
from probes.host_port import HostPort, connect_any, describe_connection_error, resolve
from tests.certs import server_context
from tests.probe_once import probe_once as probe
from tests.servers import closed_port
from tests.stream_servers import answer, greet, silent, stream_server


def tcp_check(target: str, extra: str = "", timeout: str = "2s"):
    config = parse_config(f'[[checks]]\nname = "t"\ntype = "tcp"\ntarget = "{target}"\ntimeout = "{timeout}"\n'
                          f"{extra}")
    return config.check("t")


def sample(result, name):
    return {s.name: s for s in result.samples}.get(name)


async def test_an_open_port_passes_with_its_connect_time():
    async with stream_server(silent) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}"))
    assert result.ok, result.failure
    assert result.target == f"127.0.0.1:{port}" and result.type == "tcp" and result.status_code is None
    assert set(result.phases) == {"connect"} and result.error_text is None


async def test_a_closed_port_fails_with_connection_refused_and_no_server_words():
    result = await probe(tcp_check(f"127.0.0.1:{closed_port()}", 'expect = "^220"'))
    assert not result.ok
    assert result.failure == "connection refused" and result.error_text is None
    assert sample(result, "probe_failed_due_to_regex").value == 0


async def test_a_banner_that_matches_passes_with_first_byte_and_answer_times():
    async with stream_server(greet(b"220 mail.example ESMTP ready\r\n")) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}", 'expect = "^220 "'))
    assert result.ok, result.failure
    assert {"connect", "first_byte", "answer"} <= set(result.phases)
    assert result.phases["answer"] >= result.phases["first_byte"]
    assert sample(result, "probe_failed_due_to_regex").value == 0


async def test_a_banner_that_does_not_match_fails_with_the_servers_words_redacted():
    said = b"421 4.3.2 mail.example busy, password=hunter22 try later\r\n"
    async with stream_server(greet(said)) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}", 'expect = "^220 "', timeout="1s"))
    assert not result.ok
    assert result.failure == "the server's answer did not match '^220 ' within 1s"
    assert result.error_text == "421 4.3.2 mail.example busy, password=[REDACTED] try later"
    assert sample(result, "probe_failed_due_to_regex").value == 1


async def test_the_servers_words_lose_the_configs_secrets():
    async with stream_server(greet(b"-NOAUTH token s3cr3t-redis-pw rejected\r\n")) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}", 'expect = "^OK"', timeout="300ms"),
                             secrets=frozenset({"s3cr3t-redis-pw"}))
    assert result.error_text == "-NOAUTH token [REDACTED] rejected"


async def test_tls_with_cert_min_days_not_met(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path, with_ca=True, valid_days=10)) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}",
                                       f'tls = true\nca_file = "{tmp_path}/ca.pem"\ncert_min_days = 30'))
    assert result.failure == "certificate expires in 9 days, below cert_min_days = 30"


async def test_a_server_that_closes_without_the_answer_fails_at_once():
    async def hang_up(reader, writer):
        writer.write(b"-ERR unknown command\r\n")
        await writer.drain()

    async with stream_server(hang_up) as port:
        started = time.monotonic()
        result = await probe(tcp_check(f"127.0.0.1:{port}", 'expect = "^\\\\+PONG"', timeout="5s"))
    assert not result.ok and time.monotonic() - started < 2
    assert result.failure == "the server's answer did not match '^\\\\+PONG'"
    assert result.error_text == "-ERR unknown command"


async def test_send_and_expect_an_answer():
    async with stream_server(answer({b"PING\r\n": b"+PONG\r\n"})) as port:
        good = await probe(tcp_check(f"127.0.0.1:{port}", 'send = "PING\\r\\n"\nexpect = "^\\\\+PONG"'))
        bad = await probe(tcp_check(f"127.0.0.1:{port}", 'send = "PONG\\r\\n"\nexpect = "^\\\\+PONG"',
                                    timeout="500ms"))
    assert good.ok, good.failure
    assert not bad.ok
    assert bad.failure == "no answer matching '^\\\\+PONG' within 500ms; the server said nothing"
    assert bad.error_text is None


async def test_tls_passes_with_its_phases_version_and_expiry(tmp_path):
    tls = server_context(tmp_path, with_ca=True, valid_days=40)
    async with stream_server(greet(b"* OK IMAP ready\r\n"), tls=tls) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}",
                                       f'tls = true\nca_file = "{tmp_path}/ca.pem"\nexpect = "^\\\\* OK"'))
    assert result.ok, result.failure
    assert {"connect", "tls", "first_byte", "answer"} <= set(result.phases)
    assert 39 < (result.cert_expires_at - time.time()) / 86400 < 41
    assert sample(result, "probe_tls_version_info").labels == (("version", "TLS 1.3"),)


async def test_a_tls_listener_with_an_expired_certificate_fails_saying_when(tmp_path):
    tls = server_context(tmp_path, with_ca=True, valid_days=-3)
    async with stream_server(greet(b"* OK IMAP ready\r\n"), tls=tls) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}", f'tls = true\nca_file = "{tmp_path}/ca.pem"'))
    assert not result.ok
    assert result.failure.startswith("certificate expired 3 days ago (not after 20"), result.failure
    assert result.error_text is None
    assert result.cert_expires_at < time.time() - 2 * 86400  # the metric still shows the expiry


async def test_tls_without_verify_accepts_a_self_signed_certificate(tmp_path):
    async with stream_server(silent, tls=server_context(tmp_path)) as port:
        strict = await probe(tcp_check(f"127.0.0.1:{port}", "tls = true"))
        lax = await probe(tcp_check(f"127.0.0.1:{port}", "tls = true\nverify = false"))
    assert strict.failure == "certificate chain not trusted: self-signed certificate"
    assert lax.ok, lax.failure
    assert lax.cert_expires_at is not None


async def test_a_silent_server_times_out_naming_the_stage():
    async with stream_server(silent) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}", "tls = true", timeout="300ms"))
    assert not result.ok and result.failure == "timed out after 300ms (the TLS handshake)"


@pytest.mark.parametrize(("extra", "message"), [
    ('target = "db.example.com"', 'checks["t"].target: must be "HOST:PORT" such as "db.example.com:5432" or '
                                  '"[::1]:443", got \'db.example.com\''),
    ('target = "db.example.com:70000"', 'checks["t"].target: the port must be between 1 and 65535, got 70000'),
    ('target = "[::1]:443"\nexpect = "(unclosed"', 'checks["t"].expect: is not a valid regular expression: '
                                                    'missing ), unterminated subpattern at position 0'),
    ('target = "[::1]:443"\nverify = false', 'checks["t"].verify: applies to TLS only: set tls = true, or remove it'),
    ('target = "[::1]:443"\ntls = true\nca_file = "nope.pem"', 'checks["t"].ca_file: no such file'),
    ("", 'checks["t"].target: is required'),
    ('target = "a..b:80"', 'checks["t"].target: \'a..b\' is not a valid host name (a label is empty or over 63'),
    ('target = "[::1]:443"\ntls = true\nserver_name = "a..b"',
     'checks["t"].server_name: \'a..b\' is not a valid host name (a label is empty or over 63'),
])
def test_config_errors_name_the_key_and_the_fix(extra, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[[checks]]\nname = "t"\ntype = "tcp"\n{extra}\n')
    assert message in str(caught.value)


async def test_a_tcp_run_becomes_its_kinds_series_and_never_the_servers_words(tmp_path):
    said = b'421 busy"} 1\nprobe_success 1\r\n'
    async with stream_server(greet(said), tls=server_context(tmp_path, with_ca=True)) as port:
        check = tcp_check(f"127.0.0.1:{port}", f'tls = true\nca_file = "{tmp_path}/ca.pem"\nexpect = "^220"',
                          timeout="300ms")
        result = await probe(check)
    metrics = Metrics(CollectorRegistry(), parse_config(f'[[checks]]\nname = "t"\ntype = "tcp"\n'
                                                        f'target = "127.0.0.1:{port}"\n'))
    metrics.on_result(check, result)
    text = metrics.exposition().decode()
    labels = f'check="t",type="tcp",location="test",target="127.0.0.1:{port}"'
    assert f"probe_success{{{labels}}} 0" in text
    assert f'probe_tcp_duration_seconds{{{labels},phase="tls"}}' in text
    assert f'probe_tls_version_info{{{labels},version="TLS 1.3"}} 1' in text
    assert f"probe_failed_due_to_regex{{{labels}}} 1" in text
    assert f"probe_ssl_earliest_cert_expiry{{{labels}}}" in text
    assert "probe_http_status_code" not in text and "busy" not in text


def test_an_ipv6_target_keeps_its_brackets():
    check = tcp_check("[::1]:6379")
    assert check.target == "[::1]:6379" and check.settings.address.host == "::1"


async def test_a_host_name_that_cannot_be_encoded_fails_the_run_instead_of_the_probe():
    check = tcp_check("127.0.0.1:80")  # what the reader refuses, given past it as a config built in code could
    check = replace(check, settings=replace(check.settings, address=HostPort("a..b", 80)))
    result = await probe(check)
    assert not result.ok
    assert result.failure == "'a..b' is not a valid host name (a label is empty or over 63 characters)"


async def test_a_host_name_is_resolved_on_its_own_clock_within_connect():
    async with stream_server(silent) as port:
        result = await probe(tcp_check(f"localhost:{port}"))
    assert result.ok, result.failure
    lookup = sample(result, "probe_dns_lookup_time_seconds").value
    assert 0 <= lookup <= result.phases["connect"]


async def test_connect_any_goes_on_to_the_next_address_and_names_every_failure():
    async with stream_server(silent) as port:
        closed = [a for a in await resolve(HostPort("127.0.0.1", closed_port()))]
        open_ = [a for a in await resolve(HostPort("127.0.0.1", port))]
        _, writer = await connect_any(closed + open_)
        assert writer.get_extra_info("peername")[1] == port
        writer.close()
    with pytest.raises(ConnectionRefusedError) as caught:
        other = next(p for p in iter(closed_port, None) if p != closed[0][4][1])
        await connect_any(closed + [a for a in await resolve(HostPort("127.0.0.1", other))])
    assert "Multiple exceptions" in str(caught.value)
    assert describe_connection_error(caught.value) == "connection refused"


async def test_a_tls_1_3_server_that_wants_a_client_certificate_says_so(tmp_path):
    tls = server_context(tmp_path, with_ca=True)
    tls.verify_mode = ssl.CERT_REQUIRED  # the probe shows none: TLS 1.3 refuses it only after the handshake
    tls.load_verify_locations(tmp_path / "ca.pem")
    async with stream_server(greet(b"220 ready\r\n"), tls=tls) as port:
        result = await probe(tcp_check(f"127.0.0.1:{port}", f'tls = true\nca_file = "{tmp_path}/ca.pem"\n'
                                                            'expect = "^220"'))
    assert not result.ok
    assert result.failure == ("the server closed the connection after the TLS handshake "
                              "(does it require a client certificate?)")
