"""`extract = { name = "json:path" | "header:Name" | "regex:pattern" }`: capture values from a step's answer. Pure.

    json:data.id       a dotted path into the JSON body (as in expect.json); numbers and booleans keep
                       their type (see template.py); null fails
    header:Location    a response header, case-insensitive
    regex:id=(\\d+)     the first group of the first match in the body (the whole match without groups);
                       a failure when that group matched nothing
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from probes.http.expect import lookup
from probes.multistep.template import Value

SOURCES = ("json", "header", "regex")
HINT = 'one of "json:PATH", "header:NAME" or "regex:PATTERN", e.g. "json:id"'


@dataclass(frozen=True)
class Extractor:
    source: str  # one of SOURCES
    argument: str  # the path, header name or pattern

    def describe(self) -> str:
        return f"{self.source}:{self.argument}"


class ExtractionFailed(Exception):
    """The answer has no such value; the message says what was missing, in our words."""


def parse_extractor(text: str) -> Extractor:
    """Read `"json:data.id"` and the like; ValueError with what is wrong and how to write it."""
    source, colon, argument = text.partition(":")
    if not colon or source not in SOURCES:
        raise ValueError(f"must be {HINT}, got {text!r}")
    if not argument:
        raise ValueError(f"needs something after {source + ':'!r}, e.g. {_EXAMPLES[source]!r}")
    if source == "regex":
        try:
            re.compile(argument)
        except re.error as exc:
            raise ValueError(f"is not a valid regular expression: {exc}") from None
    return Extractor(source, argument)


_EXAMPLES = {"json": "json:data.id", "header": "header:Location", "regex": r"regex:id=(\d+)"}


def extract(extractor: Extractor, headers: tuple[tuple[str, str], ...], body: bytes) -> Value:
    """The value `extractor` names in an answer (JSON numbers and booleans as such); ExtractionFailed when none."""
    if extractor.source == "header":
        wanted = extractor.argument.lower()
        for name, value in headers:
            if name.lower() == wanted:
                return value
        raise ExtractionFailed(f"the answer has no {extractor.argument} header")
    text = body.decode("utf-8", errors="replace")
    if extractor.source == "json":
        try:
            document = json.loads(text)
        except ValueError:
            raise ExtractionFailed("the body is not valid JSON") from None
        value = lookup(document, extractor.argument)
        if isinstance(value, str):
            return value
        if value is None:
            raise ExtractionFailed(f"JSON {extractor.argument!r} is null")
        if isinstance(value, (int, float, bool)):
            return value
        if isinstance(value, (dict, list)):
            kind = "an object" if isinstance(value, dict) else "an array"
            raise ExtractionFailed(f"JSON {extractor.argument!r} is {kind}, not a single value")
        # Anything else is `lookup`'s marker for a path the document does not have.
        raise ExtractionFailed(f"the JSON has no {extractor.argument!r}")
    match = re.search(extractor.argument, text)
    if match is None:
        raise ExtractionFailed(f"the body did not match /{extractor.argument}/")
    if not match.groups():
        return match.group(0)
    if match.group(1) is None:  # an optional group, or a group in the branch that did not match
        raise ExtractionFailed(f"the body matched /{extractor.argument}/, but its group matched nothing")
    return match.group(1)
