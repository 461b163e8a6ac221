"""DNS checks (`type = "dns"`) against dnsmasq serving a test zone on loopback, and a server that never answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dns.flags
import dns.message
import pytest

from monitor.app.cli import main
from monitor.app.config import parse_config
from monitor.core.config_schema import ConfigError
from tests.dnsmasq import SERIAL, Dnsmasq, ScriptedServer, SilentServer
from tests.probe_once import probe_once as run
from tests.servers import closed_port


@pytest.fixture(scope="module")
def dnsmasq(tmp_path_factory):
    with Dnsmasq(tmp_path_factory.mktemp("dnsmasq")) as server:
        yield server


def dns_check(server: str, query_name: str, record: str = "A", expect: str = "", timeout: str = "2s"):
    config = parse_config(f'[[checks]]\nname = "d"\ntype = "dns"\nquery_name = "{query_name}"\nrecord = "{record}"\n'
                          f'server = "{server}"\ntimeout = "{timeout}"\n[checks.expect]\n{expect}')
    return config.check("d")


def samples(result) -> dict[str, float]:
    return {s.name: s.value for s in result.samples}


@pytest.mark.slow
async def test_the_expected_answer_passes_with_the_blackbox_series(dnsmasq):
    result = await run(dns_check(dnsmasq.address, "threads.example", expect='answers_contain = ["10.0.0.9"]'))
    assert result.ok, result.failure
    assert result.failure is None and result.error_text is None and result.status_code is None
    assert result.target == f"threads.example. A @{dnsmasq.address}"
    assert set(result.phases) == {"request"} and result.phases["request"] > 0
    got = samples(result)
    assert got["probe_dns_query_succeeded"] == 1 and got["probe_dns_answer_rrs"] == 1
    assert got["probe_dns_authority_rrs"] == 1  # the zone's NS: dnsmasq is authoritative here
    # blackbox_exporter's lookup time is resolving the target's name; a dns check's server is an address.
    assert "probe_dns_lookup_time_seconds" not in got
    assert result.details["answers"] == ["A 10.0.0.9"] and result.details["rcode"] == "NOERROR"


@pytest.mark.slow
async def test_a_wrong_answer_fails_quoting_what_the_server_answered(dnsmasq):
    result = await run(dns_check(dnsmasq.address, "threads.example", expect='answers_contain = ["10.0.0.5"]'))
    assert not result.ok
    assert result.failure == "threads.example. A: expected 10.0.0.5, got 10.0.0.9"
    assert result.error_text == "NOERROR: A 10.0.0.9"


@pytest.mark.slow
async def test_nxdomain_fails_with_the_rcode_as_the_servers_words_and_the_zones_serial(dnsmasq):
    result = await run(dns_check(dnsmasq.address, "nope.example"))
    assert not result.ok
    assert result.failure == "nope.example. A did not resolve"
    assert result.error_text == "NXDOMAIN"
    assert samples(result)["probe_dns_serial"] == SERIAL and samples(result)["probe_dns_answer_rrs"] == 0


@pytest.mark.slow
async def test_an_expected_nxdomain_passes_and_an_unexpected_noerror_fails(dnsmasq):
    assert (await run(dns_check(dnsmasq.address, "nope.example", expect='rcode = "NXDOMAIN"'))).ok
    result = await run(dns_check(dnsmasq.address, "threads.example", expect='rcode = "nxdomain"'))
    assert result.failure == "threads.example. A: expected NXDOMAIN, got NOERROR"
    assert result.error_text == "NOERROR: A 10.0.0.9"


@pytest.mark.slow
async def test_an_empty_answer_fails_unless_min_answers_is_0(dnsmasq):
    result = await run(dns_check(dnsmasq.address, "threads.example", "AAAA"))
    assert result.failure == "threads.example. AAAA: no record in the answer"
    assert result.error_text == "NOERROR"
    assert (await run(dns_check(dnsmasq.address, "threads.example", "AAAA", expect="min_answers = 0"))).ok


@pytest.mark.slow
async def test_answers_compare_as_records_not_as_text(dnsmasq):
    # Through a CNAME, in any order, names in any case and without the final dot, TXT without its quotes.
    assert (await run(dns_check(dnsmasq.address, "www.threads.example", expect='answers_equal = ["10.0.0.9"]'))).ok
    assert (await run(dns_check(dnsmasq.address, "two.example",
                                expect='answers_equal = ["10.0.0.2", "10.0.0.1"]'))).ok
    assert (await run(dns_check(dnsmasq.address, "threads.example", "MX",
                                expect='answers_contain = ["10 MAIL.threads.example"]'))).ok
    assert (await run(dns_check(dnsmasq.address, "threads.example", "TXT",
                                expect='answers_contain = ["v=spf1 -all"]'))).ok
    result = await run(dns_check(dnsmasq.address, "two.example", expect='answers_equal = ["10.0.0.1"]'))
    assert result.failure == "two.example. A: expected exactly 10.0.0.1, got 10.0.0.1, 10.0.0.2"


@pytest.mark.slow
async def test_a_truncated_answer_is_asked_again_over_tcp(dnsmasq):
    result = await run(dns_check(dnsmasq.address, "many.example", expect='answers_contain = ["10.0.1.40"]'))
    assert result.ok, result.failure
    assert result.details["tcp"] is True and samples(result)["probe_dns_answer_rrs"] == 40
    assert (await run(dns_check(dnsmasq.address, "threads.example"))).details["tcp"] is False


@pytest.mark.slow
def test_monitor_check_json_and_validate_take_a_dns_check(dnsmasq, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[monitor]\ndatabase = "monitor.db"\n\n[[checks]]\nname = "threads-dns"\ntype = "dns"\n'
                      f'query_name = "threads.example"\nserver = "{dnsmasq.address}"\n'
                      '[checks.expect]\nanswers_contain = ["10.0.0.5"]\n')
    assert main(["validate", "-c", str(config)]) == 0
    capsys.readouterr()
    assert main(["check", "--json", "-c", str(config)]) == 1
    [result] = json.loads(capsys.readouterr().out)
    assert result["type"] == "dns" and result["ok"] is False
    assert result["failure"] == "threads.example. A: expected 10.0.0.5, got 10.0.0.9"
    assert result["error_text"] == "NOERROR: A 10.0.0.9"


async def test_a_server_that_never_answers_fails_at_the_timeout_with_our_words_only():
    with SilentServer() as server:
        started = time.monotonic()
        result = await run(dns_check(server.address, "threads.example", timeout="500ms"))
        elapsed = time.monotonic() - started
    assert not result.ok and elapsed < 1.5
    assert result.failure == f"no answer from {server.address} within 500ms"
    assert result.error_text is None and result.phases == {}
    assert samples(result) == {"probe_dns_query_succeeded": 0}


async def test_a_closed_port_fails_as_refused():
    port = closed_port()
    result = await run(dns_check(f"127.0.0.1:{port}", "threads.example", timeout="1s"))
    assert result.failure == f"nothing answers DNS at 127.0.0.1:{port} (connection refused)"
    assert result.error_text is None


@pytest.mark.parametrize(("lines", "path", "message"), [
    ('record = "AA"', 'checks["d"].record', "must be a DNS record type such as A, AAAA"),
    ('record = "any"', 'checks["d"].record', "RFC 8482"),
    ('server = "dns.example:53"', 'checks["d"].server', "must be an IP address with an optional port"),
    ('server = "127.0.0.1:99999"', 'checks["d"].server', "must be an IP address"),
    ('[checks.expect]\nanswers_contain = ["10.0.0.300"]', 'checks["d"].expect.answers_contain[0]',
     "'10.0.0.300' is not a valid A record"),
    ('[checks.expect]\nrcode = "NOPE"', 'checks["d"].expect.rcode', "must be a DNS response code"),
    ('[checks.expect]\nanswers_contain = ["10.0.0.1"]\nanswers_equal = ["10.0.0.1"]',
     'checks["d"].expect.answers_equal', "set either answers_contain or answers_equal, not both"),
])
def test_config_errors_name_the_key_and_the_fix(lines, path, message):
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[[checks]]\nname = "d"\ntype = "dns"\nquery_name = "threads.example"\n{lines}\n')
    [issue] = caught.value.issues
    assert issue.path == path and message in issue.message


def test_query_name_is_required_and_server_defaults_to_the_system_resolver():
    with pytest.raises(ConfigError) as caught:
        parse_config('[[checks]]\nname = "d"\ntype = "dns"\n')
    assert [i.path for i in caught.value.issues] == ['checks["d"].query_name']
    check = parse_config('[[checks]]\nname = "d"\ntype = "dns"\nquery_name = "example.com"\nrecord = "mx"\n'
                         '[checks.expect]\nrcode = "NXDOMAIN"\n').check("d")
    assert check.target == "example.com. MX" and check.settings.server is None
    assert check.settings.expect.min_answers == 0


@pytest.mark.slow
async def test_a_secret_in_an_answer_is_redacted_from_what_is_kept(dnsmasq):
    secret = "v=spf1 -all"
    result = await run(dns_check(dnsmasq.address, "threads.example", "TXT", expect='answers_contain = ["other"]'),
                       secrets=frozenset({secret}))
    assert not result.ok and result.error_text.startswith("NOERROR: TXT ")
    kept = json.dumps([result.failure, result.error_text, result.details])
    assert secret not in kept


def test_the_readme_example_is_a_valid_config():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split('### DNS checks (`type = "dns"`)', 1)[1].split("\n### ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    check = parse_config(example).check("threads-dns")
    assert check.target == "threads.example.com. A @10.0.0.2:53"
    assert check.settings.expect.answers_contain == ("10.0.0.5",)


def truncated(query):
    """An empty answer with the TC flag: the client must ask again over TCP."""
    response = dns.message.make_response(query)
    response.flags |= dns.flags.TC
    return response


async def test_a_tcp_answer_cut_off_midway_fails_in_words():
    # Two bytes of length, then 3 bytes of the promised 64, then the server closes.
    with ScriptedServer(truncated, tcp_bytes=lambda wire: b"\x00\x40\x12") as server:
        result = await run(dns_check(server.address, "threads.example", timeout="2s"))
    assert not result.ok
    assert result.failure == f"{server.address} closed the TCP connection mid-answer"
    assert result.error_text is None


async def test_a_tcp_fallback_closed_at_once_fails_in_words():
    with ScriptedServer(truncated, tcp_bytes=lambda wire: b"") as server:
        result = await run(dns_check(server.address, "threads.example", timeout="2s"))
    assert result.failure == f"{server.address} closed the TCP connection mid-answer"


@pytest.mark.parametrize(("server", "target"), [
    ("127.0.0.1", "127.0.0.1:53"), ("127.0.0.1:5353", "127.0.0.1:5353"), ("[::1]", "[::1]:53"),
    ("2001:db8::1", "[2001:db8::1]:53"), ("[2001:db8::1]:5353", "[2001:db8::1]:5353"),
])
def test_server_is_an_ip_address_with_port_53_unless_said(server, target):
    check = parse_config(f'[[checks]]\nname = "d"\ntype = "dns"\nquery_name = "x.example"\nserver = "{server}"\n'
                         ).check("d")
    assert check.target == f"x.example. A @{target}"
