"""Multistep checks whose extracted values are awkward: each failure is the step's, and the teardown still runs.

A test API on loopback: POST /api/threads answers 201 with a thread whose fields are hard to carry (a
non-ASCII name, a null) and a Location header; /api/threads/42 answers GET and records each DELETE.
"""

from __future__ import annotations

import json

import pytest

from monitor.app.config import parse_config
from probes.base import ProbeContext
from probes.multistep import probe as multistep_probe
from probes.multistep.probe import MultistepProbe
from tests.servers import TargetServer, send

CREATED = {"id": 42, "name": "José", "nul": None, "token": "abc+/def=ghi"}


class ThreadApi(TargetServer):
    """The test API; `deleted` lists the paths each DELETE was sent to."""

    def __init__(self, created: dict | bytes = CREATED, content_type: str = "application/json",
                 location: str = "/api/threads/42"):
        body = created if isinstance(created, bytes) else json.dumps(created).encode()
        self.location = location
        self.deleted: list[str] = []
        self.bodies: list[bytes] = []

        def create(h):
            self.bodies.append(h.rfile.read(int(h.headers.get("Content-Length") or 0)))
            send(h, 201, body, content_type, headers={"Location": self.location.format(url=self.url)})

        def thread(h):
            if h.command == "DELETE":
                self.deleted.append(h.path)
                send(h, 204, b"")
            else:
                send(h, 200, b'{"ok": true}')

        super().__init__({"/api/threads": create, "/api/threads/42": thread})


def flow(url: str, middle: str, extract: str = '{ id = "json:id" }', create: str = "") -> str:
    """Create a thread, do `middle` with what it answered, delete thread 42 (always)."""
    return f'''
[[checks]]
name = "flow"
type = "multistep"
timeout = "5s"

[[checks.steps]]
name = "create"
method = "POST"
url = "{url}/api/threads"
expect = {{ status = [201] }}
extract = {extract}
{create}

[[checks.steps]]
name = "middle"
{middle}

[[checks.steps]]
name = "teardown"
method = "DELETE"
url = "/api/threads/42"
expect = {{ status = [204] }}
always = true
'''


async def run(config_text: str, secrets: frozenset[str] = frozenset()):
    probe = MultistepProbe(ProbeContext(location="test", secrets=secrets))
    try:
        return await probe.run(parse_config(config_text, env={}).check("flow"))
    finally:
        await probe.close()


def middle_and_teardown(result) -> list[tuple[str, bool]]:
    return [(s.name, s.ok) for s in result.steps][1:]


async def test_a_value_that_is_not_ascii_in_a_header_fails_its_step_and_the_teardown_runs():
    with ThreadApi() as api:
        result = await run(flow(api.url, 'url = "/api/threads/42"\nheaders = { X-User = "{{ name }}" }',
                                '{ name = "json:name" }'))
    assert result.failure == "step 'middle': a header value is not ASCII: X-User (HTTP headers carry ASCII only)"
    assert middle_and_teardown(result) == [("middle", False), ("teardown", True)]
    assert api.deleted == ["/api/threads/42"]


async def test_a_regex_group_that_matched_nothing_is_an_extraction_failure():
    with ThreadApi() as api:
        result = await run(flow(api.url, 'url = "/api/threads/{{ x }}"', r'{ x = "regex:zzz(\\d+)?|\"id\"" }'))
    assert result.failure == "step 'create': could not extract x (regex:zzz(\\d+)?|\"id\"): " \
                             "the body matched /zzz(\\d+)?|\"id\"/, but its group matched nothing"
    assert api.deleted == ["/api/threads/42"]


async def test_a_monitor_bug_in_a_step_fails_that_step_redacted_and_the_teardown_runs(monkeypatch):
    def broken(extractor, headers, body):
        raise RuntimeError(f"bug while reading {json.loads(body)['token']}")

    monkeypatch.setattr(multistep_probe, "extract", broken)
    with ThreadApi() as api:
        result = await run(flow(api.url, 'url = "/api/threads/42"', '{ token = "json:token" }'),
                           secrets=frozenset({"abc+/def=ghi"}))
    assert result.failure == "step 'create': monitor error: RuntimeError: bug while reading [REDACTED]"
    assert [(s.name, s.ok) for s in result.steps] == [("create", False), ("teardown", True)]
    assert api.deleted == ["/api/threads/42"]



async def test_a_null_is_an_extraction_failure_not_the_text_null():
    with ThreadApi() as api:
        result = await run(flow(api.url, 'url = "/api/threads/{{ nul }}"', '{ nul = "json:nul" }'))
        paths = [path for _, path, _ in api.requests]
    assert result.failure == "step 'create': could not extract nul (json:nul): JSON 'nul' is null"
    assert paths == ["/api/threads", "/api/threads/42"]  # nothing was sent to /api/threads/null


async def test_a_failed_extraction_keeps_the_servers_words():
    page = b"<html><h1>Down for maintenance until 14:00</h1></html>"
    with ThreadApi(created=page, content_type="text/html") as api:
        result = await run(flow(api.url, 'url = "/api/threads/{{ id }}"'))
    assert result.failure == "step 'create': could not extract id (json:id): the body is not valid JSON"
    assert result.error_text == "Down for maintenance until 14:00"
    assert result.steps[0].error == \
        "could not extract id (json:id): the body is not valid JSON: Down for maintenance until 14:00"


@pytest.mark.parametrize("location", ["/api/threads/42", "threads/42", "{url}/api/threads/42"])
async def test_a_location_header_is_followed_as_a_browser_would(location):
    with ThreadApi(location=location) as api:
        result = await run(flow(api.url, 'url = "{{ next }}?full=1"', '{ next = "header:Location" }'))
        paths = [(method, path) for method, path, _ in api.requests]
    assert result.ok, result.failure
    assert paths == [("POST", "/api/threads"), ("GET", "/api/threads/42?full=1"), ("DELETE", "/api/threads/42")]
    assert result.details["steps"][1]["url"] == f"{api.url}/api/threads/42?full=1"


async def test_a_json_string_that_is_only_a_placeholder_takes_the_values_json_type():
    middle = ('method = "POST"\nurl = "/api/threads"\n'
              'json = { parent = "{{ id }}", note = "reply to {{ id }}", by = "{{ name }}", "{{ name }}" = true }')
    with ThreadApi() as api:
        result = await run(flow(api.url, middle, '{ id = "json:id", name = "json:name" }'))
    assert result.ok, result.failure
    assert json.loads(api.bodies[1]) == {"parent": 42, "note": "reply to 42", "by": "José", "José": True}
