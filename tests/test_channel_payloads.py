"""Every JSON channel's payload, from a real probe of a hostile target: the server's words arrive, secrets never do;
and the browser's words (a journey's timeout) travel apart from the server's, in every channel.

The target echoes the check's bearer token in its error and adds text meant
to break what it lands in (quotes, a JSON fragment, control characters,
Slack's `<!channel>`). The real HTTP probe redacts; the webhook, PagerDuty
and Alertmanager channels carry the words as JSON strings, intact but for
the secret.
"""

from __future__ import annotations

import json

from alerts.channels.alertmanager import AlertmanagerSettings, alertmanager_alert
from alerts.channels.console import format_notice
from alerts.channels.pagerduty import PagerDutySettings, pagerduty_event
from alerts.channels.webhook import webhook_payload
from monitor.app.config import parse_config
from monitor.app.runner import Runner
from monitor.core.results import utcnow
from tests.alerts_harness import Harness
from tests.hook_server import Answer, HookServer
from tests.notices import notice
from tests.polling import eventually
from tests.servers import TargetServer, send

TOKEN = "tok-9f8e7d6c5b4a"
HOSTILE = '"}], "injected": true, {"x": "\u202e<!channel> \\u0000'


def echo_token(handler) -> None:
    said = f"relation \"threads\" does not exist; you sent {handler.headers.get('Authorization')} {HOSTILE}"
    send(handler, 500, json.dumps({"error": said}).encode())


async def test_webhook_pagerduty_and_alertmanager_carry_the_words_and_no_secret(tmp_path):
    with (TargetServer({"/api/threads": echo_token}) as target, HookServer(default=Answer(200)) as hook,
          HookServer() as pagerduty, HookServer(default=Answer(200, b"")) as alertmanager):
        text = f"""
[monitor]
database = "monitor.db"
[alerts]
failure_threshold = 1
reminder_interval = "off"
[alerts.hook]
kind = "webhook"
url = "{hook.url}/in"
[alerts.pagerduty]
routing_key = "R0UT1NGKEY0123456789ABCDEFGHIJKL"
api_url = "{pagerduty.url}/v2/enqueue"
[alerts.alertmanager]
urls = ["{alertmanager.url}"]
[[checks]]
name = "threads-api"
url = "{target.url}/api/threads"
[checks.headers]
Authorization = "Bearer ${{API_TOKEN}}"
"""
        (tmp_path / "config.toml").write_text(text)
        config = parse_config(text, path=tmp_path / "config.toml", env={"API_TOKEN": TOKEN})
        async with Harness(config) as h:
            runner = Runner(config, h.writer, stored_listeners=[h.alerts])
            try:
                await runner.run_check(config.check("threads-api"), wait_stored=True)
            finally:
                await runner.close()
            await eventually(lambda: h.pending() == 0, "every channel's firing delivered")
        bodies = {"webhook": hook.received[0], "pagerduty": pagerduty.received[0],
                  "alertmanager": alertmanager.received[0]}
    said = {"webhook": bodies["webhook"].json["server_said"],
            "pagerduty": bodies["pagerduty"].json["payload"]["custom_details"]["server_said"],
            "alertmanager": bodies["alertmanager"].json[0]["annotations"]["server_said"]}
    for channel, words in said.items():
        assert words.startswith('relation "threads" does not exist; you sent [REDACTED]'), channel
        assert "<!channel>" in words and '"injected": true' in words, channel  # intact, inside a JSON string
    for channel, received in bodies.items():
        assert TOKEN.encode() not in received.body, channel
        assert "injected" not in (received.json if channel != "alertmanager" else received.json[0]), channel


def test_the_browsers_words_travel_apart_from_the_servers_in_every_channel():
    # A journey that timed out with no server answer: nothing the server said, only what Playwright said.
    n = notice(error_text=None, failure="step 'open New chat': li.thread was not visible within 5s",
               facts={"type": "browser", "run_id": 42, "browser_said": "Timeout 5000ms exceeded."})
    webhook = webhook_payload(n)
    details = pagerduty_event(n, PagerDutySettings("R" * 32))["payload"]["custom_details"]
    annotations = alertmanager_alert(n, AlertmanagerSettings(("http://am:9093",)), utcnow())["annotations"]
    assert webhook["browser_said"] == details["browser_said"] == annotations["browser_said"] == (
        "Timeout 5000ms exceeded.")
    assert webhook["server_said"] is details["server_said"] is None and "server_said" not in annotations
    assert format_notice(n).endswith("(browser said: Timeout 5000ms exceeded.) (failing for 2 runs since 09:14:00 UTC)")


def test_the_console_line_counts_one_run_in_the_singular():
    assert format_notice(notice(runs_failed=1)).endswith("(failing for 1 run since 09:14:00 UTC)")
    assert format_notice(notice(runs_failed=3)).endswith("(failing for 3 runs since 09:14:00 UTC)")
