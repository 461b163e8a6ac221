"""Notices as the outbox hands them to channels, for the tests of message builders and channels."""

from __future__ import annotations

from typing import Any

from alerts.channels.base import GroupMember, Notice

RELATION = 'relation "threads" does not exist'


def notice(*, thread: dict[str, Any] | None = None, group: list[dict[str, Any]] = (), grouped: bool = False,
           **payload: Any) -> Notice:
    """A firing of new-chat (POST /api/threads answered 500 with RELATION), with `payload` keys overridden
    as the outbox row's JSON would hold them; `group` as [{"check", "resolved", "closed_reason"}]."""
    base = {
        "kind": "firing", "check": "new-chat", "at": "2026-05-01T09:16:00.000+00:00",
        "failing_since": "2026-05-01T09:14:00.000+00:00", "opened_at": "2026-05-01T09:15:00.000+00:00",
        "runs_failed": 2, "failure": "expected status 201, got 500", "error_text": RELATION,
        "facts": {"method": "POST", "target": "https://chat.example.com/api/threads", "status_code": 500,
                  "location": "eu-west", "run_id": 42},
    }
    members = tuple(GroupMember(m["check"], m["resolved"], m.get("closed_reason")) for m in group)
    return Notice.from_payload({**base, **payload}, thread=thread, group=members, grouped=grouped)
