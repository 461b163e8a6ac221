"""A notice -> the Slack message (Block Kit `blocks` plus a `text` fallback). Pure.

The fallback alone holds the essentials (state, check, the failure, the
server's words), because phone notifications and screen readers show only
it. Server-sent text is untrusted: `&`, `<` and `>` are escaped so a body
holding `<!channel>`, `<@U123>` or `<https://evil|click>` shows as text and
pings or links nobody, and backticks are neutralised inside code spans so
the server cannot close our code block. Everything is cut to Slack's limits
with a visible "…" (https://api.slack.com/reference/block-kit/blocks).
"""

from __future__ import annotations

from typing import Any

from alerts.channels.base import GroupMember, Notice
from alerts.channels.links import artifact_links, replay_command
from monitor.core.durations import format_duration

SECTION_LIMIT = 3000  # characters of a section block's text
TEXT_LIMIT = 3000  # our cap for the fallback; Slack cuts at 40,000 but phones show far less
ERROR_TEXT_LIMIT = 1500
ELLIPSIS = "…"
# Looks like a backtick, cannot end a code span.
_TICK = "\u02cb"

# {"text": the fallback, "blocks": [Block Kit blocks]}, as chat.postMessage and webhooks take them.
SlackMessage = dict[str, Any]

_ICONS = {"firing": ":red_circle:", "changed": ":large_orange_circle:", "reminder": ":large_orange_circle:",
          "resolved": ":large_green_circle:", "closed": ":white_circle:", "test": ":white_check_mark:"}
_STATES = {"firing": "FIRING", "changed": "CHANGED", "reminder": "STILL FAILING"}


def escape(text: object) -> str:
    """Slack mrkdwn escaping: control characters &, < and > become entities."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def code(text: object) -> str:
    """Escaped text that cannot break out of a code span or block."""
    return escape(text).replace("`", _TICK)


def cut(escaped: str, limit: int) -> str:
    """Shorten already escaped text to `limit` characters with "…", never splitting an entity."""
    if len(escaped) <= limit:
        return escaped
    head = escaped[: limit - 1]
    amp = head.rfind("&", max(0, len(head) - 5))
    if amp != -1 and ";" not in head[amp:]:
        head = head[:amp]
    return head + ELLIPSIS


def build_slack_message(notice: Notice, public_url: str | None = None, token: str | None = None) -> SlackMessage:
    """Return `{"text": ..., "blocks": [...]}` for `notice`."""
    blocks = [_section(_headline(notice))]
    said, failure = notice.error_text, notice.failure
    if notice.kind != "test" and (failure or said):
        body = f"*{cut(escape(failure), 500)}*" if failure else ""
        if said:
            body += f"\n```{cut(code(said), ERROR_TEXT_LIMIT)}```"
        if notice.previous_error_text and notice.kind in ("changed", "reminder"):
            body += f"\nwas: `{cut(code(notice.previous_error_text), 500)}`"
        blocks.append(_section(body.strip()))
    facts = _facts(notice)
    if facts:
        blocks.append(_section("\n".join(facts)))
    links = _links(notice, public_url, token)
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(links, SECTION_LIMIT)}]})
    return {"text": _fallback(notice), "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def _headline(n: Notice) -> str:
    check = escape(n.check)
    icon = _ICONS.get(n.kind, "")
    if n.kind == "resolved" and n.reason:  # this check's own news, in a group too
        return f"{_ICONS['closed']} *CLOSED* `{check}` — {escape(n.reason)}, after {_lasted(n)}"
    if len(n.group) > 1:
        names = ", ".join(escape(m.check) + _member_state(m) for m in n.group)
        failing = sum(not m.resolved for m in n.group)
        said = cut(code(n.error_text or ""), 300)
        if failing == 0:
            return f"{_ICONS['resolved']} *RESOLVED: {len(n.group)} checks* — {names}"
        return f"{icon} *{failing} of {len(n.group)} checks failing:* `{said}` — {names}"
    if n.kind == "test":
        return f"{icon} *TEST* synthetic-monitor can post here ({check})"
    if n.kind == "resolved":
        return f"{icon} *RESOLVED* `{check}` after {_lasted(n)}"
    return f"{icon} *{_STATES.get(n.kind, 'STILL FAILING')}* `{check}` — {_since(n)}"


def _member_state(member: GroupMember) -> str:
    if member.closed_reason:
        return " (removed)"
    return " (resolved)" if member.resolved else ""


def _since(n: Notice) -> str:
    when = f" since {n.failing_since:%H:%M:%S} UTC" if n.failing_since else ""
    return f"failing for {n.runs_failed} run{'s' if n.runs_failed != 1 else ''}{when}"


def _lasted(n: Notice) -> str:
    until = n.resolved_at or n.at
    lasted = format_duration((until - n.failing_since).total_seconds()) if n.failing_since else "a while"
    return f"{lasted} ({n.runs_failed} failed run{'s' if n.runs_failed != 1 else ''})"


def _facts(n: Notice) -> list[str]:
    f = n.facts
    lines = []
    if f.target:
        request = f"{f.method or ''} {f.target}".strip()
        status = f" → {f.status_code}" if f.status_code is not None else ""
        lines.append(f"*Request:* `{cut(code(request), 500)}`{status}")
    if f.failing_step:
        lines.append(f"*Failing step:* {cut(escape(f.failing_step), 300)}")
    if f.browser_said and n.kind != "resolved":
        lines.append(f"*Browser said:* `{cut(code(f.browser_said), 300)}`")
    if f.location:
        lines.append(f"*Location:* {cut(escape(f.location), 100)}")
    if n.kind == "resolved":
        if n.failing_since:
            lines.append(f"*Was failing since:* {n.failing_since:%Y-%m-%d %H:%M:%S} UTC")
    elif n.kind != "test" and n.failing_since:
        lines.append(f"*Failing since:* {n.failing_since:%Y-%m-%d %H:%M:%S} UTC ({n.runs_failed} failed runs)")
    return lines


def _links(n: Notice, public_url: str | None, token: str | None) -> str:
    parts = [f"<{_url_safe(link.url)}|{escape(link.label)}>" for link in artifact_links(n, public_url, token)]
    replay = replay_command(n)
    if replay:
        parts.append(f"replay: `{code(replay)}`")
    return " · ".join(parts)


def _fallback(n: Notice) -> str:
    check = escape(n.check)
    if n.kind == "test":
        return f"TEST synthetic-monitor can post here ({check})"
    if n.kind == "resolved" and n.reason:
        text = f"CLOSED {check}: {escape(n.reason)}, after {_lasted(n)}"
    elif n.kind == "resolved":
        text = f"RESOLVED {check} after {_lasted(n)}"
    else:
        text = f"{_STATES.get(n.kind, 'STILL FAILING')} {check}: {escape(n.failure or 'failed')}"
        if n.error_text:
            text += f": {code(n.error_text)}"
        if n.kind == "changed" and n.previous_error_text:
            text = cut(text, TEXT_LIMIT - 400) + f" (was: {cut(code(n.previous_error_text), 300)})"
        text = cut(text, TEXT_LIMIT - 80) + f" ({_since(n)})"
    return cut(text, TEXT_LIMIT)


def _url_safe(url: str) -> str:
    # <, > and | would end or split Slack's <url|label> link syntax.
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")
