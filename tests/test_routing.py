"""Routes: a check's notices reach the destinations it is routed to and no other; silences and tests per destination."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.state_store import AlertStore
from monitor.app.cli import main
from monitor.app.config import parse_config
from monitor.core.results import utcnow
from tests.alerts_harness import Harness
from tests.hook_server import Answer, HookServer
from tests.polling import eventually


@pytest.fixture
def teams():
    with HookServer(default=Answer(200)) as chat, HookServer(default=Answer(200)) as payments:
        yield chat, payments


def routed_config(tmp_path, chat: HookServer, payments: HookServer):
    text = f"""
[monitor]
database = "monitor.db"
[alerts]
failure_threshold = 2
reminder_interval = "off"
retry_backoff = "50ms"
channels = ["chat-hook"]
[alerts.chat-hook]
kind = "webhook"
url = "{chat.url}/chat"
[alerts.payments-hook]
kind = "webhook"
url = "{payments.url}/payments"
[[checks]]
name = "threads-api"
url = "http://127.0.0.1:9/api/threads"
[[checks]]
name = "checkout"
url = "http://127.0.0.1:9/checkout"
[checks.alerts]
channels = ["payments-hook"]
[[checks]]
name = "login"
url = "http://127.0.0.1:9/login"
[checks.alerts]
channels = ["chat-hook", "payments-hook"]
"""
    (tmp_path / "config.toml").write_text(text)
    return parse_config(text, path=tmp_path / "config.toml")


def heard(hook: HookServer) -> list[tuple[str, str]]:
    return sorted((r.json["kind"], r.json["check"]) for r in hook.received)


async def test_each_check_pages_only_the_destinations_it_is_routed_to(tmp_path, teams):
    chat, payments = teams
    async with Harness(routed_config(tmp_path, chat, payments)) as h:
        for check in ("threads-api", "checkout", "login"):
            h.fail(check, times=2)
        await eventually(lambda: h.pending() == 0, "every firing delivered")
        for check in ("threads-api", "checkout", "login"):
            h.pass_(check)
        await eventually(lambda: h.pending() == 0, "every resolve delivered")
    assert heard(chat) == [("firing", "login"), ("firing", "threads-api"),
                           ("resolved", "login"), ("resolved", "threads-api")]
    assert heard(payments) == [("firing", "checkout"), ("firing", "login"),
                               ("resolved", "checkout"), ("resolved", "login")]


async def test_a_silence_on_one_destination_quiets_it_and_not_the_others(tmp_path, teams):
    chat, payments = teams
    config = routed_config(tmp_path, chat, payments)
    async with Harness(config) as h:
        AlertStore(h.store.db).silence("login", utcnow() + timedelta(hours=1), utcnow(), channel="payments-hook")
        h.fail("login", times=2)
        await eventually(lambda: h.pending() == 0, "the firing delivered")
    assert heard(chat) == [("firing", "login")] and heard(payments) == []


def test_the_cli_silences_and_tests_one_destination(tmp_path, teams, capsys):
    chat, payments = teams
    config = str(routed_config(tmp_path, chat, payments).path)
    assert main(["silence", "login", "--for", "1h", "--channel", "payments-hook", "-c", config]) == 0
    assert "silenced login on payments-hook" in capsys.readouterr().out
    assert main(["status", "-c", config]) == 0
    assert "silenced on payments-hook until" in capsys.readouterr().out
    assert main(["alert-test", "payments-hook", "-c", config]) == 0
    assert "payments-hook: test message sent" in capsys.readouterr().out
    assert [r.json["kind"] for r in payments.received] == ["test"] and chat.received == []
    assert main(["silence", "login", "--for", "1h", "--channel", "payments", "-c", config]) == 2
    assert "no destination 'payments'" in capsys.readouterr().err
    assert main(["unsilence", "login", "--channel", "payments-hook", "-c", config]) == 0
    assert "login: notifications on payments-hook are on again" in capsys.readouterr().out
