"""`{{ name }}` placeholders: values an earlier step of the same run extracted. Pure.

They are filled at run time, unlike `${ENV}`, which the config loader fills
once at load time (monitor/core/interpolate.py). Each place quotes the value
for where it lands: percent-encoded in a URL (except one that starts the
URL, which is resolved like a link: `url = "{{ next }}"` follows a
Location), JSON-escaped inside a `json` body, as is in headers and a plain
`body`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, urljoin

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def names_in(text: str) -> list[str]:
    """The names `text`'s placeholders use, in order."""
    return PLACEHOLDER.findall(text)


def starts_with_placeholder(url: str) -> bool:
    """Whether `url` starts with a `{{ name }}`: the value (a Location, a link) says where the request goes."""
    return PLACEHOLDER.match(url) is not None


def fill_url(url: str, values: Mapping[str, str], base: Callable[[str], str]) -> str:
    """`url` with its placeholders filled: one that starts it is resolved against `base(name)` as a browser
    resolves a link (`/api/threads/42`, `threads/42` or a whole URL); the others are quoted as one path segment.
    """
    leading = PLACEHOLDER.match(url)
    if leading is None:
        return fill(url, values, url_quoted)
    name = leading.group(1)
    return urljoin(base(name), values[name] + fill(url[leading.end():], values, url_quoted))


def fill(text: str, values: Mapping[str, str], quote_value: Callable[[str], str] = str) -> str:
    """`text` with each `{{ name }}` replaced by `quote_value(values[name])`.

    Raises KeyError for a name `values` lacks (the reader makes sure every
    name is extracted by an earlier step, and a step whose extraction failed
    stops the run, so this means a bug).
    """
    return PLACEHOLDER.sub(lambda m: quote_value(values[m.group(1)]), text)


def url_quoted(value: str) -> str:
    """`value` percent-encoded as one path segment or query value: `/`, `?`, `&`... included."""
    return quote(value, safe="")


def json_quoted(value: str) -> str:
    """`value` escaped to sit inside a JSON string (the placeholder is inside quotes in the body)."""
    return json.dumps(value)[1:-1]
