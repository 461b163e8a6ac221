"""The monitor's HTTP server, live: /healthz, /artifacts, auth, reload, on a real service."""

from __future__ import annotations

import base64
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitor.app.config import load_config
from monitor.app.service import build_service
from monitor.core.artifacts import artifact_link
from monitor.core.config import ConfigError
from tests.config_files import checks_config
from tests.metrics_text import metric_samples, scrape
from tests.polling import wait_until
from tests.servers import TargetServer, closed_port, respond
from tests.service_thread import ServiceThread

TOKEN = "s3cret-monitor-token"
SECRET = b"TOP SECRET: outside the artifacts folder"


@pytest.fixture(scope="module")
def target():
    with TargetServer({"/api": respond(200, "ok"), "/other": respond(500, {"error": "down"})}) as server:
        yield server


def make_artifacts(folder: Path) -> Path:
    """An artifacts folder with one run's files, and traps pointing out of it."""
    (folder / "secret.txt").write_bytes(SECRET)
    run = folder / "artifacts" / "api" / "run-1"
    run.mkdir(parents=True)
    for name, content in {"trace.zip": b"PK\x03\x04trace", "screenshot.png": b"\x89PNG", "console.log": b"log",
                          "page.html": b"<script>alert(1)</script>", "network.har": b"{}", "blob.bin": b"?",
                          "notes.txt": b"notes"}.items():
        (run / name).write_bytes(content)
    (run / "escape.txt").symlink_to(folder / "secret.txt")
    (folder / "artifacts" / "outside").symlink_to(folder)
    (run / "inside.zip").symlink_to(run / "trace.zip")
    return folder / "artifacts"


@pytest.fixture(scope="module")
def shared(tmp_path_factory, target):
    """One running service for the tests that only read from it."""
    folder = tmp_path_factory.mktemp("shared")
    make_artifacts(folder)
    with ServiceThread(build_service(load_config(checks_config(folder, target.url)))) as running:
        yield running


@pytest.fixture
def running(tmp_path, target):
    """A fresh running service, for tests that change it."""
    make_artifacts(tmp_path)
    with ServiceThread(build_service(load_config(checks_config(tmp_path, target.url)))) as running:
        yield running


def raw_get(url: str, path: str, method: str = "GET", headers: dict | None = None) -> http.client.HTTPResponse:
    """Send `path` exactly as written (httpx would normalise `..` away before sending)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request(method, path, headers=headers or {})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


@pytest.mark.parametrize("path", [
    "/artifacts/../secret.txt",
    "/artifacts/%2e%2e/secret.txt",
    "/artifacts/%2E%2E%2Fsecret.txt",
    "/artifacts/api/run-1/..%2f..%2f..%2fsecret.txt",
    "/artifacts/api/%2e%2e/%2e%2e/../secret.txt",
    "/artifacts/%252e%252e/secret.txt",
    "/artifacts//etc/passwd",
    "/artifacts/%2fetc%2fpasswd",
    "/artifacts/" + "%2e%2e/" * 12 + "etc/passwd",
    "/artifacts/api/run-1/escape.txt",           # a symlink to a file outside
    "/artifacts/outside/secret.txt",              # a symlink to a folder outside
    "/artifacts/api/run-1/%00trace.zip",
    "/artifacts/api\\..\\..\\secret.txt",
    "/artifacts/api/./run-1/trace.zip",
    "/artifacts/api/run-1",                        # a folder, not a file
    "/artifacts/",
    "/artifacts/api/run-1/missing.zip",
])
def test_nothing_outside_the_artifacts_folder_is_reachable(shared, path):
    response = raw_get(shared.url, path)
    assert response.status == 404, (path, response.status)
    assert SECRET not in response.body and b"root:" not in response.body


@pytest.mark.parametrize("name, content_type", [
    ("trace.zip", "application/zip"),
    ("inside.zip", "application/zip"),  # a symlink that stays inside is fine
    ("screenshot.png", "image/png"),
    ("console.log", "text/plain; charset=utf-8"),
    ("notes.txt", "text/plain; charset=utf-8"),
    ("network.har", "application/json"),
    ("page.html", "text/html; charset=utf-8"),
    ("blob.bin", "application/octet-stream"),
])
def test_artifacts_are_served_with_their_type_and_open_to_the_trace_viewer(shared, name, content_type):
    response = httpx.get(f"{shared.url}/artifacts/api/run-1/{name}")
    assert response.status_code == 200
    assert response.content == (shared.service.config.monitor.artifacts_dir / "api" / "run-1" / name).read_bytes()
    assert response.headers["content-type"] == content_type
    assert response.headers["access-control-allow-origin"] == "https://trace.playwright.dev"
    # The target's own HTML must never run script on the monitor's origin.
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_head_and_the_trace_viewers_preflight(shared):
    head = raw_get(shared.url, "/artifacts/api/run-1/trace.zip", method="HEAD")
    assert head.status == 200 and head.body == b"" and head.getheader("Content-Length") == "9"
    preflight = raw_get(shared.url, "/artifacts/api/run-1/trace.zip", method="OPTIONS", headers={
        "Origin": "https://trace.playwright.dev", "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Private-Network": "true"})
    assert preflight.status == 204
    assert preflight.getheader("Access-Control-Allow-Origin") == "https://trace.playwright.dev"
    assert preflight.getheader("Access-Control-Allow-Private-Network") == "true"


def test_unknown_paths_and_methods_are_refused(shared):
    assert httpx.get(f"{shared.url}/nope").status_code == 404
    assert httpx.post(f"{shared.url}/metrics").status_code == 501


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"anyone:{password}".encode()).decode()


@pytest.mark.parametrize("protect_metrics", [False, True])
def test_auth_token_guards_artifacts_and_the_status_page(tmp_path, target, protect_metrics):
    make_artifacts(tmp_path)
    monitor = f'auth_token = "{TOKEN}"\nprotect_metrics = {str(protect_metrics).lower()}'
    config = load_config(checks_config(tmp_path, target.url, monitor=monitor))
    trace = "api/run-1/trace.zip"
    with ServiceThread(build_service(config)) as running:
        def status(path: str, authorization: str | None = None) -> int:
            headers = {"Authorization": authorization} if authorization else {}
            return httpx.get(running.url + path, headers=headers).status_code

        for path in ("/", f"/artifacts/{trace}"):
            assert status(path) == 401
            assert status(path, "Bearer wrong-token") == 401
            assert status(path, basic("wrong-token")) == 401
            assert status(path, f"Bearer {TOKEN}") == 200
            assert status(path, basic(TOKEN)) == 200  # what a browser sends after its login prompt
        challenge = httpx.get(running.url + "/").headers.get_list("www-authenticate")
        assert 'Basic realm="synthetic-monitor"' in challenge
        # A signed link opens its own file, and only that one.
        assert status(artifact_link(trace, token=TOKEN)) == 200
        assert status(artifact_link("api/run-1/screenshot.png", token=TOKEN)) == 200
        forged = artifact_link(trace, token=TOKEN).replace("trace.zip", "screenshot.png")
        assert status(forged) == 401
        assert status(f"/artifacts/{trace}?sig=") == 401
        for path in ("/metrics", "/healthz"):
            assert status(path) == (401 if protect_metrics else 200)
            assert status(path, f"Bearer {TOKEN}") == 200


@pytest.mark.slow
def test_healthz_turns_503_when_the_event_loop_is_stuck(running):
    running.server.loop_timeout = 0.3
    blocked = running.loop.call_soon_threadsafe(time.sleep, 2)  # a probe that blocks the loop, say
    try:
        response = httpx.get(f"{running.url}/healthz")
        assert response.status_code == 503
        assert "event_loop" in response.json()["unhealthy"]
    finally:
        blocked.cancel()
    assert wait_until(lambda: httpx.get(f"{running.url}/healthz").status_code == 200, "healthz back to 200")


def test_reload_drops_the_series_of_removed_checks(tmp_path, target):
    path = checks_config(tmp_path, target.url, names=("api", "other"))
    with ServiceThread(build_service(load_config(path))) as running:
        def checks_with(name: str) -> set[str]:
            return {dict(labels)["check"] for (metric, labels) in scrape(running) if metric == name}

        wait_until(lambda: checks_with("probe_success") == {"api", "other"}, "both checks' first runs")
        checks_config(tmp_path, target.url, names=("api", "new"))
        assert running.call(running.service.reload) is True
        assert checks_with("synthetic_incident_open") == {"api", "new"}
        assert not any(dict(labels).get("check") == "other" for _, labels in scrape(running))
        wait_until(lambda: checks_with("probe_success") == {"api", "new"}, "the new check's first run")


async def test_a_taken_port_is_a_clear_config_error(tmp_path, target):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = build_service(load_config(checks_config(tmp_path, target.url, listen=f"127.0.0.1:{port}")))
        with pytest.raises(ConfigError) as error:
            await service.serve(install_signals=False)
        service.store.close()
    assert f"monitor.listen: cannot listen on 127.0.0.1:{port}" in str(error.value)
    assert "choose another one" in str(error.value)


@pytest.mark.slow
def test_monitor_run_serves_healthz_and_metrics_and_reloads_on_sighup(tmp_path, target):
    """The real command line: `monitor run` binds [monitor] listen and reports the truth."""
    port = closed_port()
    path = checks_config(tmp_path, target.url, names=("api", "other"), listen=f"127.0.0.1:{port}")
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "monitor", "run", "-c", str(path)], cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        def both_ran():
            try:
                samples = metric_samples(httpx.get(f"{url}/metrics").text)
            except httpx.TransportError:
                return None
            return {dict(labels)["check"]: v for (m, labels), v in samples.items() if m == "probe_success"} == {
                "api": 1.0, "other": 0.0}

        wait_until(both_ran, "probe_success of both checks", timeout=20)
        assert httpx.get(f"{url}/healthz").status_code == 200
        # SIGHUP reloads the config; the removed check's series go with it.
        checks_config(tmp_path, target.url, names=("api",), listen=f"127.0.0.1:{port}")
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: 'check="other"' not in httpx.get(f"{url}/metrics").text, "other's series to go")
        assert 'probe_success{check="api"' in httpx.get(f"{url}/metrics").text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0, out
    assert f"on {url}" in out
