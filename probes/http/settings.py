"""`type = "http"` checks: the check's keys -> `HttpOptions` (the request) and `Expect` (a passing response).

A GraphQL request (a `graphql` table, or a JSON body with a string `query`)
also expects no top-level `errors` in the answer, since GraphQL servers
report failures with HTTP 200; `fail_on_graphql_errors` switches that off
(or on, for a request the monitor cannot tell is GraphQL).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode, urlsplit

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table, join
from monitor.core.redact import is_secret_name
from probes.web_url import read_web_url


@dataclass(frozen=True)
class Expect:
    """What a passing HTTP response looks like."""

    # Inclusive (low, high) ranges; the default accepts 200-399.
    status: tuple[tuple[int, int], ...] = ((200, 399),)
    body_contains: str | None = None
    body_not_contains: str | None = None
    body_regex: str | None = None
    # Dotted path ("data.items.0.id") -> expected value.
    json: Mapping[str, Any] = field(default_factory=dict)
    max_duration: float | None = None
    cert_min_days: int | None = None
    # A GraphQL answer (any status) whose JSON has a non-empty top-level `errors` array fails.
    graphql_errors: bool = False

    def status_ok(self, code: int) -> bool:
        return any(low <= code <= high for low, high in self.status)

    def describe_status(self) -> str:
        parts = []
        for low, high in self.status:
            if low == high:
                parts.append(str(low))
            elif low % 100 == 0 and high == low + 99:
                parts.append(f"{low // 100}xx")
            else:
                parts.append(f"{low}-{high}")
        return " or ".join(parts)


@dataclass(frozen=True)
class HttpOptions:
    """An HTTP check's own settings: the request, and what a passing response looks like."""

    url: str = ""
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    expect: Expect = field(default_factory=Expect)
    follow_redirects: bool = True
    verify_tls: bool = True
    max_body_bytes: int = 1024 * 1024

    @property
    def target(self) -> str:
        return self.url


def read_http_check(t: Table, ctx: ReadContext) -> HttpOptions:
    """Read an HTTP check's own keys from its table (its `CheckReader`)."""
    d = HttpOptions()
    url = read_web_url(t)
    graphql = _read_graphql(t)
    method = (t.string("method", "POST" if graphql is not None else d.method) or d.method).upper()
    if method not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        t.error("method", f"must be an HTTP method such as GET or POST, got {method!r}")
    headers = t.mapping("headers")
    for header, value in headers.items():
        if is_secret_name(header) and value:
            ctx.secret(value)
            # "Bearer abc": the token alone may also show up in responses.
            for part in value.split():
                if len(part) >= 8:
                    ctx.secret(part)
    body = t.get("body", None, kind=str)
    json_body = t.get("json", None, kind=(dict, list))
    if body is not None and json_body is not None:
        t.error("json", "set either body or json, not both")
    if graphql is not None and (body is not None or json_body is not None):
        t.error("graphql", "set either graphql or body/json, not both: graphql builds the request body")
    if graphql is not None and method == "GET":
        url = _with_query(url, graphql)
    elif graphql is not None:
        json_body = graphql
    payload = body.encode() if body is not None else None
    if json_body is not None:
        payload = json.dumps(json_body).encode()
        headers = {"content-type": "application/json", **headers}
    is_graphql = graphql is not None or _has_query(json_body) or _has_query(_json_or_none(body))
    fail_on_graphql_errors = t.get("fail_on_graphql_errors", None, kind=bool)
    expect = _read_expect(t.table("expect"))
    expect = replace(expect, graphql_errors=is_graphql if fail_on_graphql_errors is None else fail_on_graphql_errors)
    return HttpOptions(
        url=url, method=method, headers=headers, body=payload,
        expect=expect,
        follow_redirects=t.boolean("follow_redirects", d.follow_redirects),
        verify_tls=t.boolean("verify_tls", d.verify_tls),
        max_body_bytes=t.integer("max_body_bytes", d.max_body_bytes, minimum=1024) or d.max_body_bytes,
    )


def _read_graphql(t: Table) -> dict[str, Any] | None:
    """`graphql = { query = "...", variables = {...}, operation_name = "..." }` -> the request's JSON, or None."""
    if "graphql" not in t.raw:
        return None
    g = t.table("graphql")
    query = g.string("query", required=True, allowed='a GraphQL document such as "{ threads { id } }"')
    variables = g.get("variables", None, kind=dict)
    operation = g.string("operation_name")
    g.reject_unknown()
    if not query or not query.strip():
        if query is not None:
            g.error("query", "must not be empty")
        return None
    request: dict[str, Any] = {"query": query}
    if variables is not None:
        request["variables"] = variables
    if operation is not None:
        request["operationName"] = operation
    return request


def _with_query(url: str, request: Mapping[str, Any]) -> str:
    """`url` with a GraphQL request in its query string, as GraphQL over HTTP has it for GET."""
    params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in request.items()}
    return url + ("&" if urlsplit(url).query else "?") + urlencode(params)


def _has_query(document: object) -> bool:
    """Whether a request body is a GraphQL request: a JSON object with a string `query`."""
    return isinstance(document, dict) and isinstance(document.get("query"), str)


def _json_or_none(text: str | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


_STATUS_HINT = 'an array of status codes or classes, e.g. [200, 204] or ["2xx"]'


def _read_expect(t: Table) -> Expect:
    raw_status = t.get("status", None, kind=(list, int, str), allowed=_STATUS_HINT)
    status = Expect.status
    if raw_status is not None:
        ranges = []
        for i, item in enumerate(raw_status if isinstance(raw_status, list) else [raw_status]):
            parsed = _status_range(item)
            if parsed is None:
                t.issues.add(join(t.at("status"), i) if isinstance(raw_status, list) else t.at("status"),
                             f"must be {_STATUS_HINT}, got {item!r}")
            else:
                ranges.append(parsed)
        status = tuple(ranges) or status
    regex = t.string("body_regex")
    if regex is not None:
        try:
            re.compile(regex)
        except re.error as exc:
            t.error("body_regex", f"is not a valid regular expression: {exc}")
    expect = Expect(
        status=status,
        body_contains=t.string("body_contains"),
        body_not_contains=t.string("body_not_contains"),
        body_regex=regex,
        json=t.get("json", {}, kind=dict),
        max_duration=t.duration("max_duration", None),
        cert_min_days=t.integer("cert_min_days", None, minimum=0),
    )
    t.reject_unknown()
    return expect


def _status_range(item: Any) -> tuple[int, int] | None:
    if isinstance(item, int) and not isinstance(item, bool) and 100 <= item <= 599:
        return item, item
    if isinstance(item, str) and re.fullmatch(r"[1-5]xx", item.lower()):
        low = int(item[0]) * 100
        return low, low + 99
    return None
