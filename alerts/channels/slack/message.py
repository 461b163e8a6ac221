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

from datetime import datetime

from monitor.core.artifacts import artifact_link
from monitor.core.durations import format_duration

SECTION_LIMIT = 3000  # characters of a section block's text
TEXT_LIMIT = 3000  # our cap for the fallback; Slack cuts at 40,000 but phones show far less
ERROR_TEXT_LIMIT = 1500
ELLIPSIS = "…"
# Looks like a backtick, cannot end a code span.
_TICK = "\u02cb"

_ICONS = {"firing": ":red_circle:", "reminder": ":large_orange_circle:", "resolved": ":large_green_circle:",
          "closed": ":white_circle:", "test": ":white_check_mark:"}


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


def build_slack_message(notice: dict, public_url: str | None = None, token: str | None = None) -> dict:
    """Return `{"text": ..., "blocks": [...]}` for `notice` (see alerts/channels/base.py)."""
    headline = _headline(notice)
    blocks = [_section(headline)]
    said = notice.get("error_text")
    failure = notice.get("failure")
    if notice["kind"] != "test" and (failure or said):
        body = f"*{cut(escape(failure), 500)}*" if failure else ""
        if said:
            body += f"\n```{cut(code(said), ERROR_TEXT_LIMIT)}```"
        previous = notice.get("previous_error_text")
        if previous and notice["kind"] == "reminder":
            body += f"\nwas: `{cut(code(previous), 500)}`"
        blocks.append(_section(body.strip()))
    facts = _facts(notice)
    if facts:
        blocks.append(_section("\n".join(facts)))
    links = _links(notice, public_url, token)
    if links:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(links, SECTION_LIMIT)}]})
    return {"text": _fallback(notice), "blocks": blocks}


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": cut(text, SECTION_LIMIT)}}


def _headline(n: dict) -> str:
    kind, check = n["kind"], n["check"]
    icon = _ICONS.get(kind, "")
    if kind == "resolved" and n.get("reason"):  # this check's own news, in a group too
        return f"{_ICONS['closed']} *CLOSED* `{escape(check)}` — {escape(n['reason'])}, after {_lasted(n)}"
    group = n.get("group") or []
    if len(group) > 1:
        names = ", ".join(escape(m["check"]) + _member_state(m) for m in group)
        failing = sum(not m["resolved"] for m in group)
        said = cut(code(n.get("error_text") or ""), 300)
        if failing == 0:
            return f"{_ICONS['resolved']} *RESOLVED: {len(group)} checks* — {names}"
        return f"{icon} *{failing} of {len(group)} checks failing:* `{said}` — {names}"
    if kind == "test":
        return f"{icon} *TEST* synthetic-monitor can post here ({escape(check)})"
    if kind == "resolved":
        return f"{icon} *RESOLVED* `{escape(check)}` after {_lasted(n)}"
    state = "FIRING" if kind == "firing" else "STILL FAILING"
    return f"{icon} *{state}* `{escape(check)}` — {_since(n)}"


def _member_state(member: dict) -> str:
    if member.get("closed_reason"):
        return " (removed)"
    return " (resolved)" if member["resolved"] else ""


def _since(n: dict) -> str:
    since = _parse(n.get("failing_since"))
    runs = n.get("runs_failed") or 0
    when = f" since {since:%H:%M:%S} UTC" if since else ""
    return f"failing for {runs} run{'s' if runs != 1 else ''}{when}"


def _lasted(n: dict) -> str:
    since, until = _parse(n.get("failing_since")), _parse(n.get("resolved_at") or n.get("at"))
    lasted = format_duration((until - since).total_seconds()) if since and until else "a while"
    runs = n.get("runs_failed") or 0
    return f"{lasted} ({runs} failed run{'s' if runs != 1 else ''})"


def _facts(n: dict) -> list[str]:
    f = n.get("facts") or {}
    lines = []
    if f.get("target"):
        request = f"{f.get('method') or ''} {f['target']}".strip()
        status = f" → {f['status_code']}" if f.get("status_code") is not None else ""
        lines.append(f"*Request:* `{cut(code(request), 500)}`{status}")
    if f.get("failing_step"):
        lines.append(f"*Failing step:* {cut(escape(f['failing_step']), 300)}")
    if f.get("location"):
        lines.append(f"*Location:* {cut(escape(f['location']), 100)}")
    if n["kind"] == "resolved":
        since = _parse(n.get("failing_since"))
        if since:
            lines.append(f"*Was failing since:* {since:%Y-%m-%d %H:%M:%S} UTC")
    elif n["kind"] != "test" and n.get("failing_since"):
        lines.append(f"*Failing since:* {_parse(n['failing_since']):%Y-%m-%d %H:%M:%S} UTC "
                     f"({n.get('runs_failed') or 0} failed runs)")
    return lines


def _links(n: dict, public_url: str | None, token: str | None) -> str:
    f = n.get("facts") or {}
    parts = []
    if public_url:
        base = _url_safe(public_url.rstrip("/"))
        for path in f.get("artifacts") or []:
            label = "trace" if path.endswith(".zip") else "screenshot" if path.endswith(".png") else \
                escape(path.rsplit("/", 1)[-1])
            # Signed when the server wants a token: a Slack click cannot send one.
            parts.append(f"<{artifact_link(path, base_url=base, token=token)}|{label}>")
    # A check removed from the config cannot be replayed.
    if f.get("run_id") is not None and n["kind"] != "test" and not n.get("reason"):
        parts.append(f"replay: `monitor replay {code(n['check'])} --run {int(f['run_id'])}`")
    return " · ".join(parts)


def _fallback(n: dict) -> str:
    kind, check = n["kind"], escape(n["check"])
    if kind == "test":
        return f"TEST synthetic-monitor can post here ({check})"
    if kind == "resolved" and n.get("reason"):
        text = f"CLOSED {check}: {escape(n['reason'])}, after {_lasted(n)}"
    elif kind == "resolved":
        text = f"RESOLVED {check} after {_lasted(n)}"
    else:
        state = "FIRING" if kind == "firing" else "STILL FAILING"
        text = f"{state} {check}: {escape(n.get('failure') or 'failed')}"
        if n.get("error_text"):
            text += f": {code(n['error_text'])}"
        text = cut(text, TEXT_LIMIT - 80) + f" ({_since(n)})"
    return cut(text, TEXT_LIMIT)


def _url_safe(url: str) -> str:
    # <, > and | would end or split Slack's <url|label> link syntax.
    return url.replace("<", "%3C").replace(">", "%3E").replace("|", "%7C").replace(" ", "%20")


def _parse(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
