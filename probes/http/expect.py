"""Does an HTTP response meet a check's expectations? Pure; no network.

`first_failure` returns the one sentence an on-call engineer reads first
("expected status 200, got 500"), or None when everything holds. The order
of the tests is the order of importance: status, GraphQL errors (servers send
them with a 200), then body, then timing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from monitor.core.durations import format_duration
from probes.http.settings import Expect

_MISSING = object()


def first_failure(expect: Expect, *, status: int, body: bytes, truncated: bool,
                  duration: float, cert_days_left: float | None) -> str | None:
    """Return why the response fails `expect`, or None when it passes."""
    if not expect.status_ok(status):
        return f"expected status {expect.describe_status()}, got {status}"
    text = body.decode("utf-8", errors="replace") if _needs_text(expect) else ""
    if expect.graphql_errors:
        errors = graphql_errors(text)
        if errors:
            return _graphql_failure(errors)
    cut = f" (within the first {_size(len(body))} read)" if truncated else ""
    if expect.body_contains is not None and expect.body_contains not in text:
        return f"body did not contain {expect.body_contains!r}{cut}"
    if expect.body_not_contains is not None and expect.body_not_contains in text:
        return f"body contained {expect.body_not_contains!r}"
    if expect.body_regex is not None and not re.search(expect.body_regex, text):
        return f"body did not match /{expect.body_regex}/{cut}"
    if expect.json:
        failure = json_failure(text, expect.json)
        if failure:
            return failure
    if expect.max_duration is not None and duration > expect.max_duration:
        return f"took {format_duration(duration)}, more than max_duration {format_duration(expect.max_duration)}"
    if expect.cert_min_days is not None and cert_days_left is not None and cert_days_left < expect.cert_min_days:
        return f"TLS certificate expires in {cert_days_left:.1f} days, fewer than cert_min_days {expect.cert_min_days}"
    return None


def json_failure(text: str, expected: Mapping[str, Any]) -> str | None:
    """Check each dotted path of `expected` in the JSON document `text`."""
    try:
        document = json.loads(text)
    except ValueError:
        return "body is not valid JSON"
    for path, want in expected.items():
        got = lookup(document, path)
        if got is _MISSING:
            return f"JSON has no {path!r}"
        if got != want:
            return f"JSON {path!r} is {_short(got)}, expected {_short(want)}"
    return None


def graphql_errors(text: str) -> list[Any]:
    """The non-empty top-level `errors` array of a GraphQL answer, or [] (not JSON, no errors, errors: [])."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    return errors if isinstance(errors, list) else []


def graphql_message(text: str) -> str | None:
    """The first GraphQL error's `message`: the server's own words for a GraphQL failure, or None."""
    for error in graphql_errors(text)[:1]:
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message.strip():
            return message
    return None


def _graphql_failure(errors: list[Any]) -> str:
    count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    first = errors[0] if isinstance(errors[0], dict) else {}
    path = first.get("path")
    where = f" (the first at {'.'.join(map(str, path))})" if isinstance(path, list) and path else ""
    return f"the GraphQL response has {count}{where}"


def lookup(document: Any, path: str) -> Any:
    """Follow a dotted path ("data.items.0.id") through dicts and lists."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _needs_text(expect: Expect) -> bool:
    return bool(expect.body_contains or expect.body_not_contains or expect.body_regex or expect.json
                or expect.graphql_errors)


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:79] + "…"


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n >= 1024 else f"{n} bytes"
