"""Multistep checks against the demo chat app on loopback: create a thread, read it, delete it (with a token)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from demo.app import start_server
from monitor.app.config import parse_config
from monitor.app.metrics import Metrics
from probes.base import ProbeContext
from probes.multistep.probe import TEARDOWN_GRACE, MultistepProbe
from tests.multistep_lifecycle import READ_OK, lifecycle
from tests.servers import TargetServer, respond


async def run(config_text: str, secrets: frozenset[str] = frozenset(), on_exchange=None):
    check = parse_config(config_text, env={}).check("thread-lifecycle")
    probe = MultistepProbe(ProbeContext(location="test", secrets=secrets), on_exchange=on_exchange)
    try:
        return await probe.run(check)
    finally:
        await probe.close()


@pytest.fixture
def broken_demo(tmp_path):
    server, url = start_server(db_path=tmp_path / "demo.db", broken=True)
    yield server, url
    server.shutdown()


@pytest.fixture
def demo(tmp_path):
    server, url = start_server(db_path=tmp_path / "demo.db")
    server.database.create_thread("a thread someone made")
    yield server, url
    server.shutdown()


def ran(result) -> dict[str, bool]:
    return {step["name"]: step["ran"] for step in result.details["steps"]}


async def test_a_broken_deploy_fails_at_the_create_step_with_the_servers_words(broken_demo):
    server, url = broken_demo
    result = await run(lifecycle(url))
    assert not result.ok
    assert result.failure == "step 'create thread': POST /api/threads answered 500"
    assert result.error_text == "no such table: threads"
    assert (result.failing_step, result.status_code, result.method) == ("create thread", 500, "POST")
    assert [(s.name, s.ok, s.error) for s in result.steps] == [
        ("log in", True, None), ("create thread", False, "POST /api/threads answered 500: no such table: threads")]
    # Nothing to read, and no id to delete: both are recorded as not run, with why.
    assert ran(result) == {"log in": True, "create thread": True, "read thread": False, "delete thread": False}
    assert result.details["steps"][3]["why"] == "no earlier step extracted id in this run"
    json.dumps(asdict(result), default=str)  # details are JSON-serialisable


async def test_a_migrated_deploy_passes_and_the_teardown_deletes_the_thread(demo):
    server, url = demo
    before = server.database.list_threads()
    result = await run(lifecycle(url))
    assert result.ok, result.failure
    assert [(s.name, s.ok) for s in result.steps] == [
        ("log in", True), ("create thread", True), ("read thread", True), ("delete thread", True)]
    assert (result.status_code, result.method, result.failing_step) == (204, "DELETE", None)
    assert [step["status"] for step in result.details["steps"]] == [200, 201, 200, 204]
    assert {"connect", "processing"} <= set(result.phases)
    assert server.database.list_threads() == before  # the probe's thread is gone, the user's is untouched


async def test_a_failing_middle_step_still_runs_the_teardown(demo):
    server, url = demo
    before = server.database.list_threads()
    wrong = READ_OK.replace('title = "probe"', 'title = "not probe"')
    result = await run(lifecycle(url, read=wrong))
    assert not result.ok
    assert result.failure == "step 'read thread': JSON 'title' is \"probe\", expected \"not probe\""
    assert result.failing_step == "read thread" and result.status_code == 200 and result.method == "GET"
    assert [(s.name, s.ok) for s in result.steps][-1] == ("delete thread", True)
    assert server.database.list_threads() == before


async def test_a_failing_teardown_fails_a_run_whose_steps_passed(demo):
    server, url = demo
    result = await run(lifecycle(url, delete_headers='X-Note = "forgot the token"'))
    assert not result.ok
    assert result.failure == "step 'delete thread': DELETE /api/threads/2 answered 401"
    assert result.error_text == ("deleting a thread needs the token from POST /api/login "
                                 "in an Authorization bearer header")
    assert len(server.database.list_threads()) == 2  # what the teardown was for is still there


async def test_an_extracted_token_is_redacted_from_everything_the_result_keeps(demo):
    server, url = demo
    # The token goes in a URL, where no credential-shaped text gives it away, of a step that fails.
    leaky = 'name = "read thread"\nurl = "/api/threads/{{ id }}?t={{ token }}"\nexpect = { status = [418] }'
    shown = []
    result = await run(lifecycle(url, read=leaky), on_exchange=shown.append)
    assert not result.ok and result.failing_step == "read thread"
    [token] = server.tokens
    assert token not in json.dumps(asdict(result), default=str)
    assert result.details["steps"][2]["url"].endswith("?t=[REDACTED]")  # no shape gives it away: the name does
    # What replay prints is redacted of it too, and the teardown did use it.
    assert shown and not [e for e in shown if token in repr(e)]
    assert result.steps[-1].ok


async def test_teardown_gets_a_grace_when_the_checks_timeout_is_spent():
    def hang(handler):
        server.release.wait(10)

    with TargetServer({"/hang": hang, "/cleanup": respond(200, {"done": True})}) as server:
        started = time.monotonic()
        result = await run(f'''
[[checks]]
name = "thread-lifecycle"
type = "multistep"
timeout = "1s"
steps = [
  {{ name = "slow", url = "{server.url}/hang" }},
  {{ name = "next", url = "/hang" }},
  {{ name = "cleanup", url = "/cleanup", always = true }},
]
''')
        elapsed = time.monotonic() - started
        cleaned = [path for _, path, _ in server.requests if path == "/cleanup"]
    assert result.failure == "step 'slow': timed out after 1s (the check's timeout, for all its steps)"
    assert cleaned == ["/cleanup"] and result.steps[-1].ok
    assert ran(result) == {"slow": True, "next": False, "cleanup": True}
    assert elapsed < 1 + TEARDOWN_GRACE


async def test_a_run_exports_status_summed_phases_and_step_durations(demo):
    server, url = demo
    config = parse_config(lifecycle(url), env={})
    result = await run(lifecycle(url))
    metrics = Metrics(CollectorRegistry(), config, version="test")
    metrics.on_result(config.check("thread-lifecycle"), result)
    exported = {(s.name, s.labels.get("phase") or s.labels.get("step")): s.value
                for family in text_string_to_metric_families(metrics.exposition().decode())
                for s in family.samples if s.labels.get("check") == "thread-lifecycle"}
    assert exported[("probe_success", None)] == 1 and exported[("probe_http_status_code", None)] == 204
    assert exported[("probe_http_duration_seconds", "connect")] == result.phases["connect"]
    assert {step for name, step in exported if name == "synthetic_journey_step_duration_seconds"} == {
        "log in", "create thread", "read thread", "delete thread"}
