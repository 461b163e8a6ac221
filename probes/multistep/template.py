"""`{{ name }}` placeholders: values an earlier step of the same run extracted. Pure.

They are filled at run time, unlike `${ENV}`, which the config loader fills
once at load time (monitor/core/interpolate.py). Each place quotes the value
for where it lands: percent-encoded in a URL (except one that starts the
URL, which is resolved like a link: `url = "{{ next }}"` follows a
Location), JSON-escaped inside a `json` body, as is in headers and a plain
`body`. In a `json` body, a string that is exactly `"{{ name }}"` becomes
the value with its own JSON type: an extracted number stays a number.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urljoin

# What a step extracted: text, or a JSON number or boolean, which keeps its type in a `json` body.
Value = str | int | float | bool

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def names_in(text: str) -> list[str]:
    """The names `text`'s placeholders use, in order."""
    return PLACEHOLDER.findall(text)


def starts_with_placeholder(url: str) -> bool:
    """Whether `url` starts with a `{{ name }}`: the value (a Location, a link) says where the request goes."""
    return PLACEHOLDER.match(url) is not None


def as_text(value: Value) -> str:
    """`value` as it reads in a URL, a header or a text body: numbers and booleans as JSON writes them."""
    return value if isinstance(value, str) else json.dumps(value)


def fill_url(url: str, values: Mapping[str, Value], base: Callable[[str], str]) -> str:
    """`url` with its placeholders filled: one that starts it is resolved against `base(name)` as a browser
    resolves a link (`/api/threads/42`, `threads/42` or a whole URL); the others are quoted as one path segment.
    """
    leading = PLACEHOLDER.match(url)
    if leading is None:
        return fill(url, values, url_quoted)
    name = leading.group(1)
    return urljoin(base(name), as_text(values[name]) + fill(url[leading.end():], values, url_quoted))


def fill(text: str, values: Mapping[str, Value], quote_value: Callable[[str], str] = str) -> str:
    """`text` with each `{{ name }}` replaced by `quote_value` of the value's text.

    Raises KeyError for a name `values` lacks (the reader makes sure every
    name is extracted by an earlier step, and a step whose extraction failed
    stops the run, so this means a bug).
    """
    return PLACEHOLDER.sub(lambda m: quote_value(as_text(values[m.group(1)])), text)


def fill_json(document: Any, values: Mapping[str, Value]) -> Any:
    """A parsed `json` body with its placeholders filled: a string that is exactly `"{{ name }}"` becomes the
    value itself (42, not "42"); other strings, keys included, get the value's text."""
    if isinstance(document, str):
        whole = PLACEHOLDER.fullmatch(document)
        return values[whole.group(1)] if whole else fill(document, values)
    if isinstance(document, list):
        return [fill_json(item, values) for item in document]
    if isinstance(document, dict):
        return {fill(key, values): fill_json(item, values) for key, item in document.items()}
    return document


def url_quoted(value: str) -> str:
    """`value` percent-encoded as one path segment or query value: `/`, `?`, `&`... included."""
    return quote(value, safe="")

