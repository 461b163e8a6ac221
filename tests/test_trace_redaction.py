"""What a kept Playwright trace holds is redacted like everything else the monitor writes; images are kept."""

from __future__ import annotations

import json
import os
import zipfile

from probes.browser.artifacts import redact_trace, redact_trace_member

TOKEN = "tok-9f8e7d6c5b4a"
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4

NETWORK = {"type": "resource-snapshot", "snapshot": {
    "request": {"method": "POST", "url": f"http://app/api/login?token={TOKEN}",
                "headers": [{"name": "Authorization", "value": "Basic dXNlcjpodW50ZXIy"},
                            {"name": "Cookie", "value": "session=abc123def456"},
                            {"name": "Accept", "value": "application/json"}],
                "cookies": [{"name": "session", "value": "abc123def456"}],
                "postData": {"mimeType": "application/json", "text": '{"password": "hunter2-typed"}'}},
    "response": {"status": 500, "headers": [{"name": "Set-Cookie", "value": "session=abc123def456; HttpOnly"}],
                 "content": {"size": 47, "_sha1": "02e0.json"}}}}
CONSOLE = {"type": "console", "messageType": "log", "text": 'config: {"dsn": "postgres://app:s3cr3t@db/prod"}'}
FILL = {"type": "before", "method": "fill", "params": {"selector": "#password", "value": TOKEN}}


def test_json_lines_stay_json_and_lose_their_secrets():
    text = redact_trace_member("trace.network", (json.dumps(NETWORK) + "\n").encode(), {TOKEN}).decode()
    [line] = [json.loads(line) for line in text.splitlines() if line]
    request, response = line["snapshot"]["request"], line["snapshot"]["response"]
    assert request["url"] == "http://app/api/login?token=[REDACTED]"
    assert [h["value"] for h in request["headers"]] == ["[REDACTED]", "[REDACTED]", "application/json"]
    assert request["cookies"] == [{"name": "session", "value": "[REDACTED]"}]
    assert response["headers"] == [{"name": "Set-Cookie", "value": "[REDACTED]"}]
    assert "hunter2-typed" not in text and response["content"]["size"] == 47
    events = redact_trace_member("test.trace", f"{json.dumps(CONSOLE)}\n{json.dumps(FILL)}".encode(), {TOKEN})
    assert b"s3cr3t" not in events and TOKEN.encode() not in events
    assert json.loads(events.splitlines()[1])["params"] == {"selector": "#password", "value": "[REDACTED]"}


def test_bodies_are_redacted_as_text_and_images_are_left_alone():
    body = redact_trace_member("resources/02e0.json", b'{"dsn": "postgres://app:s3cr3t@db/prod"}', ())
    assert body == b'{"dsn": "postgres://app:[REDACTED]@db/prod"}'
    assert redact_trace_member("screencast/page-1.jpeg", JPEG, {TOKEN}) == JPEG
    assert redact_trace_member("resources/x.html", b"<p>not a secret</p>", {TOKEN}) == b"<p>not a secret</p>"


def test_a_trace_file_is_rewritten_whole_and_owner_only(tmp_path):
    trace = tmp_path / "trace.zip"
    with zipfile.ZipFile(trace, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("trace.trace", json.dumps(CONSOLE) + "\n")
        z.writestr("trace.network", json.dumps(NETWORK) + "\n")
        z.writestr("resources/02e0.json", '{"dsn": "postgres://app:s3cr3t@db/prod"}')
        z.writestr("screencast/page-1.jpeg", JPEG)
    os.chmod(trace, 0o600)
    redact_trace(trace, {TOKEN})
    with zipfile.ZipFile(trace) as z:
        assert z.namelist() == ["trace.trace", "trace.network", "resources/02e0.json", "screencast/page-1.jpeg"]
        assert z.testzip() is None and z.read("screencast/page-1.jpeg") == JPEG
        everything = b"".join(z.read(name) for name in z.namelist())
    assert b"s3cr3t" not in everything and b"abc123def456" not in everything and TOKEN.encode() not in everything
    assert (trace.stat().st_mode & 0o777) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trace.zip"]  # nothing half-written left behind
