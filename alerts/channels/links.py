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
    """The `monitor replay` command that shows on-call this failure, for the check's kind; None when none would.

    A journey's recorded run opens its trace (`--run ID`); any other check is
    simply run again, which for an HTTP check prints the request and the
    response like `curl -v`. A check removed from the config cannot be
    replayed, and a test notice has no check.
    """
    if notice.kind == "test" or notice.reason:
        return None
    if notice.facts.type == "browser":
        run_id = notice.facts.run_id
        return f"monitor replay {notice.check} --run {int(run_id)}" if run_id is not None else None
    return f"monitor replay {notice.check}"


def _label(path: str) -> str:
    if path.endswith(".zip"):
        return "trace"
    if path.endswith(".png"):
        return "screenshot"
    return path.rsplit("/", 1)[-1]
