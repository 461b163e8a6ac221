"""gRPC health checks (`type = "grpc"`) against a real grpcio server with the standard health servicer."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from monitor.app.cli import main
from monitor.app.config import parse_config
from monitor.core.config_schema import ConfigError
from probes.base import ProbeContext
from probes.grpc_health.probe import GrpcHealthProbe
from tests.grpc_health_server import HealthServer
from tests.probe_once import probe_once as run
from tests.servers import closed_port
from tests.stream_servers import silent, stream_server


@pytest.fixture(scope="module")
def server():
    with HealthServer() as server:
        server.set("chat.Threads", "SERVING")
        server.set("chat.Search", "NOT_SERVING")
        server.set("chat.Billing", "UNKNOWN")
        yield server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    with HealthServer(tls_folder=tmp_path_factory.mktemp("grpc-tls")) as server:
        yield server


def grpc_check(target: str, extra: str = "", timeout: str = "2s"):
    config = parse_config(f'[[checks]]\nname = "g"\ntype = "grpc"\ntarget = "{target}"\ntimeout = "{timeout}"\n'
                          f'{extra}', path="/tmp/config.toml")
    return config.check("g")


def samples(result) -> dict:
    return {(s.name, *(v for _, v in s.labels)): s.value for s in result.samples}


async def test_serving_passes_with_the_blackbox_series(server):
    result = await run(grpc_check(server.target, 'service = "chat.Threads"'))
    assert result.ok, result.failure
    assert result.failure is None and result.error_text is None and result.cert_expires_at is None
    assert result.target == server.target and set(result.phases) == {"connect", "check"}
    got = samples(result)
    assert got[("probe_grpc_status_code",)] == 0 and got[("probe_grpc_ssl",)] == 0
    assert {s: got[("probe_grpc_healthcheck_response", s)] for s in ("SERVING", "NOT_SERVING", "UNKNOWN",
                                                                     "SERVICE_UNKNOWN")} == {
        "SERVING": 1, "NOT_SERVING": 0, "UNKNOWN": 0, "SERVICE_UNKNOWN": 0}


async def test_the_whole_server_is_asked_about_by_default(server):
    assert (await run(grpc_check(server.target))).ok


@pytest.mark.parametrize(("service", "status"), [("chat.Search", "NOT_SERVING"), ("chat.Billing", "UNKNOWN")])
async def test_not_serving_and_unknown_fail_with_the_status_as_the_servers_words(server, service, status):
    result = await run(grpc_check(server.target, f'service = "{service}"'))
    assert not result.ok
    assert result.failure == f'service "{service}" is not serving'
    assert result.error_text == status
    assert samples(result)[("probe_grpc_healthcheck_response", status)] == 1
    assert samples(result)[("probe_grpc_healthcheck_response", "SERVING")] == 0


async def test_a_serving_status_the_enum_does_not_know_fails_naming_its_number():
    class FromTheFuture(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            return health_pb2.HealthCheckResponse(status=7)  # proto3 keeps enum values it does not know

    with HealthServer(servicer=FromTheFuture()) as odd:
        result = await run(grpc_check(odd.target))
    assert not result.ok
    assert result.failure == "the server is not serving" and result.error_text == "status 7"
    assert result.details["serving_status"] == "status 7"
    assert not any(value for key, value in samples(result).items() if key[0] == "probe_grpc_healthcheck_response")


async def test_an_unknown_service_fails_with_not_found(server):
    result = await run(grpc_check(server.target, 'service = "chat.Nope"'))
    assert not result.ok
    assert result.failure == 'the server does not know service "chat.Nope"'
    assert result.error_text == "NOT_FOUND"
    got = samples(result)
    assert got[("probe_grpc_status_code",)] == grpc.StatusCode.NOT_FOUND.value[0]
    assert not any(key[0] == "probe_grpc_healthcheck_response" for key in got)


async def test_an_rpc_error_quotes_the_servers_details():
    class Refusing(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "token revoked for tenant acme")

    with HealthServer(servicer=Refusing()) as refusing:
        result = await run(grpc_check(refusing.target))
    assert result.failure == "the health check RPC failed"
    assert result.error_text == "PERMISSION_DENIED: token revoked for tenant acme"


async def test_a_server_that_is_not_there_fails_at_once_with_our_words_only():
    started = time.monotonic()
    result = await run(grpc_check(f"127.0.0.1:{closed_port()}", timeout="5s"))
    assert time.monotonic() - started < 2
    assert not result.ok and result.failure == "connection refused"
    assert result.error_text is None
    assert samples(result)[("probe_grpc_status_code",)] == grpc.StatusCode.UNAVAILABLE.value[0]


async def test_a_server_that_never_answers_times_out():
    class Hanging(health_pb2_grpc.HealthServicer):
        def Check(self, request, context):
            time.sleep(3)
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    with HealthServer(servicer=Hanging()) as hanging:
        started = time.monotonic()
        result = await run(grpc_check(hanging.target, timeout="500ms"))
        elapsed = time.monotonic() - started
    assert elapsed < 1.5
    assert result.failure == "timed out after 500ms" and result.error_text is None


async def test_tls_with_the_servers_ca_passes_and_reports_the_certificate_expiry(tls_server, tmp_path):
    ca = tls_server_ca(tls_server)
    result = await run(grpc_check(tls_server.target, f'tls = true\nca_file = "{ca}"'))
    assert result.ok, result.failure
    assert samples(result)[("probe_grpc_ssl",)] == 1
    assert result.cert_expires_at is not None
    assert 29 < (result.cert_expires_at - time.time()) / 86400 <= 30


async def test_tls_trusts_the_system_store_as_tcp_and_tls_checks_do(tls_server, monkeypatch):
    # OpenSSL's system store honours SSL_CERT_FILE: the test CA stands in for the system's CAs.
    monkeypatch.setenv("SSL_CERT_FILE", tls_server_ca(tls_server))
    result = await run(grpc_check(tls_server.target, "tls = true"))
    assert result.ok, result.failure
    assert 29 < (result.cert_expires_at - time.time()) / 86400 <= 30


async def test_reading_the_certificate_expiry_stays_within_the_checks_deadline():
    async with stream_server(silent) as port:  # accepts, never shakes hands
        check = grpc_check(f"127.0.0.1:{port}", "tls = true")
        probe = GrpcHealthProbe(ProbeContext(location="test"))
        started = time.monotonic()
        assert await probe.cert_expiry(check.settings, deadline=time.perf_counter() + 0.2) is None
        assert time.monotonic() - started < 0.5
        assert await probe.cert_expiry(check.settings, deadline=time.perf_counter() - 1) is None


async def test_tls_without_trusting_the_ca_fails_saying_so(tls_server):
    result = await run(grpc_check(tls_server.target, "tls = true"))
    assert not result.ok
    assert result.failure == (
        "TLS certificate not trusted: unable to get local issuer certificate (give its CA with ca_file)")
    assert result.error_text is None and result.cert_expires_at is None


async def test_a_certificate_for_another_name_fails_saying_so(tls_server):
    result = await run(grpc_check(tls_server.target, f'tls = true\nca_file = "{tls_server_ca(tls_server)}"\n'
                                                     'server_name = "search.example"'))
    assert result.failure == "TLS certificate does not match the host name (set server_name if it is another)"
    assert result.error_text is None


async def test_plaintext_to_a_tls_server_and_tls_to_a_plaintext_one_fail_saying_which(tls_server, server):
    result = await run(grpc_check(tls_server.target))
    assert result.failure == "the server closed the connection at once (if it speaks TLS, set tls = true)"
    result = await run(grpc_check(server.target, "tls = true"))
    assert result.failure == "TLS handshake failed: the server does not speak TLS (set tls = false)"
    assert result.error_text is None


def tls_server_ca(server: HealthServer) -> str:
    return str(server.tls_folder / "ca.pem")


def test_monitor_check_json_and_validate_take_a_grpc_check(server, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[monitor]\ndatabase = "monitor.db"\n\n[[checks]]\nname = "search-grpc"\ntype = "grpc"\n'
                      f'target = "{server.target}"\nservice = "chat.Search"\n')
    assert main(["validate", "-c", str(config)]) == 0
    capsys.readouterr()
    assert main(["check", "--json", "-c", str(config)]) == 1
    [result] = json.loads(capsys.readouterr().out)
    assert result["type"] == "grpc" and result["ok"] is False
    assert result["failure"] == 'service "chat.Search" is not serving' and result["error_text"] == "NOT_SERVING"


@pytest.mark.parametrize(("lines", "path", "message"), [
    ('target = "api.example.com"', 'checks["g"].target', 'must be "HOST:PORT"'),
    ('target = "localhost:1"\nca_file = "nope.pem"\ntls = true', 'checks["g"].ca_file', "no such file"),
    ('target = "localhost:1"\nserver_name = "api.example.com"', 'checks["g"].server_name',
     "is only used with tls = true"),
    ('', 'checks["g"].target', "is required"),
    ('target = "localhost:1"\ntls = true\nverify = false', 'checks["g"].verify', "trust the server's CA with ca_file"),
    # The same words as tcp and tls checks: one reader of the shared TLS keys.
    ('target = "localhost:1"\ntls = true\nca_file = "nope.pem"', 'checks["g"].ca_file',
     "give a PEM file of the CA certificates to trust (relative to the config file)"),
    ('target = "localhost:1"\ntls = true\nserver_name = "a..b"', 'checks["g"].server_name',
     "'a..b' is not a valid host name"),
    ('target = "localhost:1"\ntls = true\nmin_version = "TLS1.3"', 'checks["g"].min_version', "unknown key"),
])
def test_config_errors_name_the_key_and_the_fix(lines, path, message, tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_config(f'[[checks]]\nname = "g"\ntype = "grpc"\n{lines}\n', path=tmp_path / "config.toml")
    [issue] = caught.value.issues
    assert issue.path == path and message in issue.message


async def test_a_ca_file_removed_after_the_config_was_read_fails_the_run_instead_of_the_probe(server, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not yet read")
    check = grpc_check(server.target, f'tls = true\nca_file = "{ca}"')
    ca.unlink()
    result = await run(check)
    assert not result.ok and result.failure == f"cannot read ca_file {ca}: No such file or directory"


def test_the_readme_example_is_a_valid_config(tmp_path):
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split('### gRPC health checks (`type = "grpc"`)', 1)[1].split("\n### ", 1)[0]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "internal-ca.pem").write_text("")  # the example's ca_file, relative to the config
    check = parse_config(example, path=tmp_path / "config.toml").check("search-grpc")
    assert check.target == "search.internal:50051" and check.settings.service == "chat.Search"
    assert check.settings.tls and check.settings.client.ca_file == tmp_path / "internal-ca.pem"
