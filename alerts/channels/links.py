"""What a notice links to, for every channel: the check on the status page, its artifacts, how to replay it.

Links need `[monitor] public_url` (where people reach this monitor); without
it there are none, except the replay command, which needs no server.
Artifact links are signed when the server wants a token (`[monitor]
auth_token`), because a click in Slack or PagerDuty cannot send one.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from alerts.channels.base import Notice
from monitor.core.artifacts import artifact_link


@dataclass(frozen=True)
class Link:
    label: str  # "trace", "screenshot", or the file's name
    url: str


def check_url(public_url: str | None, check: str) -> str | None:
    """The check's row on the status page."""
    return f"{public_url.rstrip('/')}/#check-{quote(check)}" if public_url else None


def artifact_links(notice: Notice, public_url: str | None, token: str | None) -> list[Link]:
    """One link per artifact of the failing run."""
    if not public_url:
        return []
    base = public_url.rstrip("/")
    return [Link(_label(path), artifact_link(path, base_url=base, token=token)) for path in notice.facts.artifacts]


def replay_command(notice: Notice) -> str | None:
    """`monitor replay CHECK --run ID` for the run that failed; None when there is none to replay."""
    # A check removed from the config (a closing reason) cannot be replayed; a test notice has no run.
    if notice.facts.run_id is None or notice.kind == "test" or notice.reason:
        return None
    return f"monitor replay {notice.check} --run {int(notice.facts.run_id)}"


def _label(path: str) -> str:
    if path.endswith(".zip"):
        return "trace"
    if path.endswith(".png"):
        return "screenshot"
    return path.rsplit("/", 1)[-1]
