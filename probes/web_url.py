"""The `url` key of the check types that open a web address (http, browser): required, http:// or https://."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from monitor.core.config_schema import Table


def read_web_url(t: Table) -> str:
    """The check's `url`; an error on the table (and "") when it is missing or not a web address."""
    url = t.string("url", required=True, allowed='a URL such as "https://example.com/api/health"')
    if url is not None and not re.match(r"^https?://[^/\s]+", url):
        t.error("url", f"must be an http:// or https:// URL, got {url!r}")
    elif url is not None:
        try:
            urlsplit(url).port  # noqa: B018 - parsing is the check: a port out of range raises
        except ValueError as exc:
            t.error("url", f"{url!r} has a bad port ({exc}): a port is a number from 1 to 65535")
    return url or ""
