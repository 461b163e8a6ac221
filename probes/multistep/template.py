"""`{{ name }}` placeholders: values an earlier step of the same run extracted. Pure.

They are filled at run time, unlike `${ENV}`, which the config loader fills
once at load time (monitor/core/interpolate.py). Each place quotes the value
for where it lands: percent-encoded in a URL, JSON-escaped inside a `json`
body, as is in headers and a plain `body`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def names_in(text: str) -> list[str]:
    """The names `text`'s placeholders use, in order."""
    return PLACEHOLDER.findall(text)


def fill(text: str, values: Mapping[str, str], quote_value: Callable[[str], str] = str) -> str:
    """`text` with each `{{ name }}` replaced by `quote_value(values[name])`.

    Raises KeyError for a name `values` lacks (the reader makes sure every
    name is extracted by an earlier step, and a step whose extraction failed
    stops the run, so this means a bug).
    """
    return PLACEHOLDER.sub(lambda m: quote_value(values[m.group(1)]), text)


def url_quoted(value: str) -> str:
    return quote(value, safe="")


def json_quoted(value: str) -> str:
    """`value` escaped to sit inside a JSON string (the placeholder is inside quotes in the body)."""
    return json.dumps(value)[1:-1]
