"""HTTP probes against real servers on loopback."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from dataclasses import replace

import httpx
import pytest

from monitor.app.config import parse_config
from probes.base import ProbeContext
from probes.http.probe import HttpProbe
from tests.certs import server_context
from tests.probe_once import probe_once as probe
from tests.servers import TargetServer, closed_port, respond, send

INCIDENT_BODY = {"error": 'relation "threads" does not exist'}


def check_for(url: str, extra: str = "", timeout: str = "2s"):
    config = parse_config(f'[[checks]]\nname = "t"\nurl = "{url}"\ntimeout = "{timeout}"\n{extra}')
    return config.check("t")


async def test_200_passes_with_timings():
    with TargetServer({"/ok": respond(200, {"status": "ok"})}) as server:
        result = await probe(check_for(server.url + "/ok", '[checks.expect]\njson = { "status" = "ok" }'))
    assert result.ok, result.failure
    assert result.status_code == 200 and result.failure is None and result.error_text is None
    assert result.duration_ms > 0 and result.location == "test"
    assert {"connect", "processing"} <= set(result.phases)


async def test_500_json_fails_with_the_servers_exact_words():
    with TargetServer({"/api/threads": respond(500, INCIDENT_BODY)}) as server:
        result = await probe(check_for(server.url + "/api/threads", "[checks.expect]\nstatus = [200]"))
    assert not result.ok
    assert result.status_code == 500
    assert result.failure == "expected status 200, got 500"
    assert result.error_text == 'relation "threads" does not exist'


async def test_a_hanging_server_fails_within_timeout_plus_one_second():
    def hang(handler):
        server.release.wait()

    with TargetServer({"/hang": hang}) as server:
        started = time.monotonic()
        result = await probe(check_for(server.url + "/hang", timeout="1s"))
        elapsed = time.monotonic() - started
    assert not result.ok
    assert result.failure == "timed out after 1s"
    assert elapsed < 2.0


async def test_a_closed_port_fails_with_connection_refused():
    result = await probe(check_for(f"http://127.0.0.1:{closed_port()}/"))
    assert not result.ok and result.failure == "connection refused" and result.status_code is None


async def test_a_self_signed_certificate_fails(tmp_path):
    with TargetServer({"/": respond(200, "hi")}, tls=server_context(tmp_path)) as server:
        result = await probe(check_for(server.url + "/"))
    assert not result.ok
    assert result.failure == "TLS certificate is self-signed (not trusted)"


async def test_an_expired_certificate_says_expired(tmp_path, monkeypatch):
    tls = server_context(tmp_path, expired=True, with_ca=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    with TargetServer({"/": respond(200, "hi")}, tls=tls) as server:
        result = await probe(check_for(server.url + "/"))
    assert not result.ok and result.failure == "TLS certificate expired"


async def test_a_trusted_certificate_passes_and_reports_its_expiry(tmp_path, monkeypatch):
    tls = server_context(tmp_path, with_ca=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    with TargetServer({"/": respond(200, "hi")}, tls=tls) as server:
        passing = await probe(check_for(server.url + "/"))
        strict = await probe(check_for(server.url + "/", "[checks.expect]\ncert_min_days = 45"))
    assert passing.ok, passing.failure
    assert 29 < (passing.cert_expires_at - time.time()) / 86400 < 31
    assert not strict.ok and strict.failure.startswith("TLS certificate expires in ")
    assert strict.failure.endswith("days, fewer than cert_min_days 45")


async def test_verify_tls_false_accepts_a_self_signed_certificate(tmp_path):
    with TargetServer({"/": respond(200, "hi")}, tls=server_context(tmp_path)) as server:
        result = await probe(check_for(server.url + "/", "verify_tls = false"))
    assert result.ok, result.failure


async def test_a_huge_body_is_cut_off_without_growing_memory():
    chunk = b"x" * (1 << 20)

    def huge(handler):
        handler.send_response(500)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(300 * len(chunk)))
        handler.end_headers()
        for _ in range(300):  # 300 MiB, never all read
            handler.wfile.write(chunk)

    with TargetServer({"/huge": huge}) as server:
        tracemalloc.start()
        try:
            result = await probe(check_for(server.url + "/huge", timeout="10s"))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert not result.ok and result.failure == "expected status 200-399, got 500"
    assert result.error_text and len(result.error_text) <= 501
    assert peak < 32 * 1024 * 1024, f"peak traced memory {peak / 1e6:.0f} MB"


async def test_a_secret_in_the_body_is_redacted_from_the_error_text():
    body = {"error": "could not connect to postgres://app:hunter2secret@db:5432/chat"}
    with TargetServer({"/": respond(503, body)}) as server:
        result = await probe(check_for(server.url + "/"))
    assert "hunter2secret" not in result.error_text
    assert "postgres://app:" in result.error_text


async def test_a_known_secret_sent_back_by_the_server_is_redacted():
    with TargetServer({"/": lambda h: send(h, 401, f'{{"error": "bad token {h.headers["X-Api-Key"]}"}}'.encode())}) \
            as server:
        check = check_for(server.url + "/", 'headers = { X-Api-Key = "k-0123456789abcdef" }')
        result = await probe(check, secrets=frozenset({"k-0123456789abcdef"}))
    assert result.error_text == "bad token [REDACTED]"


@pytest.mark.parametrize("expect, body, failure", [
    ('body_contains = "ok"', "all good", "body did not contain 'ok'"),
    ('body_not_contains = "error"', "an error happened", "body contained 'error'"),
    ('body_regex = "^v\\\\d+"', "version", "body did not match /^v\\d+/"),
    ('json = { "db.status" = "up" }', '{"db": {"status": "down"}}', "JSON 'db.status' is \"down\", expected \"up\""),
    ('json = { "db.status" = "up" }', "<html>", "body is not valid JSON"),
])
async def test_body_expectations(expect, body, failure):
    with TargetServer({"/": respond(200, body, "text/plain")}) as server:
        result = await probe(check_for(server.url + "/", f"[checks.expect]\n{expect}"))
    assert not result.ok and result.failure == failure


async def test_redirects_are_followed_and_loops_are_reported():
    routes = {
        "/old": lambda h: send(h, 301, b"", headers={"Location": "/new"}),
        "/new": respond(200, "here"),
        "/loop": lambda h: send(h, 302, b"", headers={"Location": "/loop"}),
    }
    with TargetServer(routes) as server:
        moved = await probe(check_for(server.url + "/old"))
        loop = await probe(check_for(server.url + "/loop"))
    assert moved.ok and moved.status_code == 200
    assert not loop.ok and loop.failure == "too many redirects (redirect loop?)"


async def test_post_sends_the_json_body_and_headers():
    with TargetServer({"/api/threads": respond(201, {"id": 1})}) as server:
        check = check_for(server.url + "/api/threads",
                          'method = "POST"\njson = { title = "probe" }\nheaders = { X-Probe = "1" }')
        result = await probe(check)
        method, _, headers = server.requests[-1]
    assert result.ok and method == "POST"
    assert headers["X-Probe"] == "1" and headers["content-type"] == "application/json"


async def test_each_probe_opens_a_fresh_connection():
    ports = []

    def record(handler):
        ports.append(handler.client_address[1])
        send(handler, 200, b"ok", "text/plain")

    with TargetServer({"/": record}) as server:
        check = check_for(server.url + "/")
        p = HttpProbe(ProbeContext())
        try:
            results = [await p.run(check), await p.run(check)]
        finally:
            await p.close()
    assert all(r.ok for r in results)
    assert len(set(ports)) == 2


async def test_the_duration_starts_at_connecting_not_while_the_monitor_prepares_the_request():
    # What runs before the connection opens (httpx building the request, the pool's
    # bookkeeping, here a slow request hook) is the monitor's time, not the target's.
    async def slow_monitor_side(request):
        await asyncio.sleep(0.3)

    with TargetServer({"/": respond(200, {"status": "ok"})}) as server:
        check = check_for(server.url + "/")
        p = HttpProbe(ProbeContext())
        p._clients[True].event_hooks["request"].append(slow_monitor_side)
        try:
            t0 = time.perf_counter()
            result = await p.run(check)
            wall = time.perf_counter() - t0
        finally:
            await p.close()
    assert result.ok, result.failure
    assert wall >= 0.3
    assert result.duration_ms < 250, result.duration_ms
    assert result.duration_ms >= 1000 * sum(result.phases.values()) - 1  # the phases lie within it


async def test_mock_transport_seam_needs_no_network():
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<h1>Bad Gateway</h1>",
                                                                   headers={"content-type": "text/html"}))
    check = check_for("http://example.invalid/")
    p = HttpProbe(ProbeContext(), transport=transport)
    try:
        result = await p.run(check)
    finally:
        await p.close()
    assert not result.ok and result.status_code == 502 and result.error_text == "Bad Gateway"


async def test_a_url_httpx_cannot_use_fails_the_run_instead_of_raising():
    # The config reader refuses such a URL; a multistep check builds one at run time from a server's answer.
    port = closed_port()
    check = check_for(f"http://127.0.0.1:{port}/x")
    check = replace(check, settings=replace(check.settings, url=f"http://127.0.0.1:{port}%2F/x"))
    result = await probe(check)
    assert not result.ok and result.status_code is None
    assert result.failure == f"invalid URL: Invalid port: '{port}%2F'"


async def test_a_header_value_that_is_not_ascii_fails_the_run_naming_the_header():
    with TargetServer({"/ok": respond(200, "ok")}) as server:
        result = await probe(check_for(server.url + "/ok", 'headers = { X-User = "José", X-Ok = "plain" }'))
        sent = server.requests
    assert not result.ok and result.status_code is None
    assert result.failure == "a header value is not ASCII: X-User (HTTP headers carry ASCII only)"
    assert sent == []


async def test_an_answer_says_whether_the_request_timed_out():
    def hang(handler):
        server.release.wait()

    with TargetServer({"/hang": hang, "/ok": respond(200, "ok")}) as server:
        p = HttpProbe(ProbeContext())
        try:
            hung = await p.send(check_for(server.url + "/hang").settings, 0.3)
            refused = await p.send(check_for(f"http://127.0.0.1:{closed_port()}/").settings, 0.3)
        finally:
            await p.close()
    assert (hung.failure, hung.timed_out) == ("timed out after 300ms", True)
    assert (refused.failure, refused.timed_out) == ("connection refused", False)
