"""The Slack message builder: what on-call reads, and what a hostile server cannot do to it."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.channels.console import format_notice
from alerts.channels.slack.message import SECTION_LIMIT, TEXT_LIMIT, build_slack_message, cut, escape
from alerts.incidents import REMOVED
from tests.notices import RELATION, notice


def texts(message: dict) -> list[str]:
    """Every piece of mrkdwn Slack will render: the fallback and each block's text."""
    out = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e["text"] for e in block.get("elements", [])]
    return out


def test_firing_message_holds_what_on_call_needs():
    message = build_slack_message(notice())
    everything = "\n".join(texts(message))
    assert message["text"].startswith("FIRING new-chat: expected status 201, got 500: relation")
    assert "failing for 2 runs since 09:14:00 UTC" in message["text"]
    assert f"```{RELATION}```" in everything
    assert "`POST https://chat.example.com/api/threads` → 500" in everything
    assert "eu-west" in everything
    assert "replay: `monitor replay new-chat`" in everything  # an HTTP check is sent again, not looked up


def test_the_replay_hint_fits_the_checks_kind():
    def hint(**facts):
        everything = "\n".join(texts(build_slack_message(notice(facts=facts))))
        found = re.search(r"replay: `([^`]*)`", everything)
        return found and found.group(1)

    assert hint(type="http", run_id=113) == "monitor replay new-chat"
    assert hint(type="browser", run_id=42) == "monitor replay new-chat --run 42"  # its trace
    assert hint(type="browser") is None  # a journey without a stored run has no trace to open


def test_journey_message_names_the_step_and_links_trace_and_screenshot():
    facts = {"type": "browser", "failing_step": "click New chat", "run_id": 7,
             "artifacts": ["new-chat/7/trace.zip", "new-chat/7/screenshot.png"]}
    message = build_slack_message(notice(facts=facts), public_url="https://monitor.example.com/")
    everything = "\n".join(texts(message))
    assert "*Failing step:* click New chat" in everything
    assert "<https://monitor.example.com/artifacts/new-chat/7/trace.zip|trace>" in everything
    assert "<https://monitor.example.com/artifacts/new-chat/7/screenshot.png|screenshot>" in everything


def test_what_the_browser_said_is_labelled_apart_from_the_servers_words():
    facts = {"type": "browser", "failing_step": "expect li.thread visible", "run_id": 7,
             "browser_said": "Locator expected to be visible <@U1>"}
    message = build_slack_message(notice(error_text=None, facts=facts,
                                         failure="POST /api/threads: no response after 5s; li.thread was not "
                                                 "visible within 5s"))
    everything = "\n".join(texts(message))
    assert "```" not in everything  # the code block is for a server's words only
    assert "*Browser said:* `Locator expected to be visible &lt;@U1&gt;`" in everything


def test_no_links_without_public_url():
    message = build_slack_message(notice(facts={"artifacts": ["a/1/trace.zip"], "run_id": 1}))
    assert "trace" not in json.dumps(message)


@pytest.mark.parametrize("hostile, shown", [
    ("<!channel> db down", "&lt;!channel&gt; db down"),
    ("<@U123> look", "&lt;@U123&gt; look"),
    ("<https://evil.example|click here>", "&lt;https://evil.example|click here&gt;"),
    ("a & b", "a &amp; b"),
    ("```\n<!here>", "ˋˋˋ\n&lt;!here&gt;"),
])
def test_server_text_cannot_ping_link_or_break_the_code_block(hostile, shown):
    message = build_slack_message(notice(error_text=hostile, failure=f"body said {hostile}"))
    everything = "\n".join(texts(message))
    assert f"```{shown}```" in everything
    for forbidden in ("<!channel>", "<@U123>", "<!here>", "<https://evil"):
        assert forbidden not in everything


def test_resolved_message_says_for_how_long():
    message = build_slack_message(notice(kind="resolved", resolved_at="2026-05-01T09:26:30.000+00:00",
                                         runs_failed=12))
    assert message["text"] == "RESOLVED new-chat after 12m 30s (12 failed runs)"


def test_an_incident_closed_because_its_check_was_removed_says_so_not_resolved():
    message = build_slack_message(notice(kind="resolved", resolved_at="2026-05-01T09:26:30.000+00:00",
                                         runs_failed=12, reason=REMOVED))
    assert message["text"] == "CLOSED new-chat: the check was removed from the config, after 12m 30s (12 failed runs)"
    assert texts(message)[1].startswith(":white_circle: *CLOSED* `new-chat` — the check was removed")
    assert "monitor replay" not in "\n".join(texts(message))  # it cannot be replayed any more
    # In a group, the reply still says CLOSED and why; the group's summary marks it removed.
    grouped = notice(kind="resolved", reason=REMOVED, grouped=True,
                     group=[{"check": "new-chat", "resolved": True, "closed_reason": REMOVED},
                            {"check": "threads-api", "resolved": False, "closed_reason": None}])
    assert texts(build_slack_message(grouped))[1].startswith(":white_circle: *CLOSED* `new-chat`")
    summary = build_slack_message(replace(grouped, kind="firing", reason=None))
    assert "*1 of 2 checks failing:*" in texts(summary)[1] and "new-chat (removed), threads-api" in texts(summary)[1]


def test_reminder_shows_what_the_server_said_before():
    message = build_slack_message(notice(kind="reminder", error_text="pool exhausted",
                                         previous_error_text=RELATION))
    everything = "\n".join(texts(message))
    assert message["text"].startswith("STILL FAILING new-chat")
    assert f"was: `{RELATION}`" in everything


def test_group_message_names_every_check_once():
    group = [{"check": "threads-api", "resolved": False}, {"check": "new-chat", "resolved": False},
             {"check": "threads-list", "resolved": True}]
    headline = build_slack_message(notice(group=group))["blocks"][0]["text"]["text"]
    assert f"2 of 3 checks failing:* `{RELATION}` — threads-api, new-chat, threads-list (resolved)" in headline
    all_done = [{**m, "resolved": True} for m in group]
    headline = build_slack_message(notice(kind="resolved", group=all_done))["blocks"][0]["text"]["text"]
    assert "RESOLVED: 3 checks" in headline


def test_cut_never_splits_an_entity():
    assert cut(escape("a" * 10 + "<"), 12) == "a" * 10 + "…"
    assert cut("abc", 3) == "abc"
    assert cut("abcd", 3) == "ab…"


@settings(max_examples=300, deadline=None)
@given(error_text=st.text(max_size=5000), failure=st.text(max_size=800), previous=st.text(max_size=800),
       step=st.text(max_size=400), target=st.text(max_size=600),
       kind=st.sampled_from(["firing", "reminder", "resolved"]))
def test_any_server_text_stays_text_and_fits_slack(error_text, failure, previous, step, target, kind):
    message = build_slack_message(notice(kind=kind, error_text=error_text, failure=failure,
                                         previous_error_text=previous,
                                         facts={"failing_step": step, "target": target, "method": "GET"}))
    assert len(message["text"]) <= TEXT_LIMIT
    for text in texts(message)[1:]:
        assert len(text) <= SECTION_LIMIT
    for text in texts(message):
        # Without public_url we build no links: every < and > Slack sees is an entity.
        assert "<" not in text and ">" not in text
        # & only ever starts one of the three entities, never a raw Slack escape.
        assert not re.search(r"&(?!amp;|lt;|gt;)", text)
    for block in message["blocks"]:
        body = block.get("text", {}).get("text", "")
        for inside in re.findall(r"```(.*?)```", body, flags=re.S):
            assert "`" not in inside


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=3000))
def test_redacted_secrets_stay_redacted(words):
    text = f"password=[REDACTED] {words}"[:1000]
    everything = "\n".join(texts(build_slack_message(notice(error_text=text))))
    assert "password=[REDACTED]" in everything


@pytest.mark.parametrize("n, line", [
    (notice(), "FIRING new-chat: expected status 201, got 500: relation \"threads\" does not exist "
               "(failing for 2 runs since 09:14:00 UTC)"),
    (notice(kind="resolved", resolved_at="2026-05-01T09:15:00.000+00:00"),
     "RESOLVED new-chat after 1m (2 failed runs)"),
    (notice(kind="resolved", resolved_at="2026-05-01T09:15:00.000+00:00", reason=REMOVED),
     "CLOSED new-chat: the check was removed from the config, after 1m (2 failed runs)"),
    (notice(error_text="\x1b[2Jgone\r"), "FIRING new-chat: expected status 201, got 500: \\x1b[2Jgone\\x0d "
                                         "(failing for 2 runs since 09:14:00 UTC)"),
])
def test_console_line(n, line):
    assert format_notice(n) == line


def test_with_an_auth_token_artifact_links_are_signed():
    from monitor.core.artifacts import signature_ok

    facts = {"artifacts": ["new-chat/7/trace.zip"], "run_id": 7}
    message = build_slack_message(notice(facts=facts), public_url="https://monitor.example.com", token="t0ken-xyz")
    link = next(t for t in texts(message) if "trace.zip" in t)
    sig = link.split("?sig=", 1)[1].split("|", 1)[0]
    assert signature_ok("t0ken-xyz", "new-chat/7/trace.zip", sig)
    assert "t0ken-xyz" not in link
