"""`type = "multistep"` checks: the `steps` array -> `MultistepOptions`.

Each step is an HTTP request read by the HTTP kind's own reader (every key of
an HTTP check: `method`, `url`, `headers`, `json`/`body`, `graphql`,
`expect`, ...), plus:

    name     how failures and the run's steps call it (default "METHOD /path")
    extract  { id = "json:id", next = "header:Location", csrf = "regex:csrf=(\\w+)" }
    always   true: a teardown step, run even after an earlier step failed

`{{ name }}` in a later step's `url`, `headers` or body is filled at run time
with what an earlier step extracted (`${ENV}` is filled once, at load time).
A name that no earlier step extracts is a config error. A `url` that starts
with `/` is relative to the first step's origin; one that starts with a
`{{ name }}` (`url = "{{ next }}"`, with `next = "header:Location"`) is
resolved at run time against the URL of the step that extracted it.

Extracted values are secret, redacted from everything the run keeps, when
their name looks secret (`token`, `session`, `password`, `api_key`...), when
they come from a credential header (`header:Set-Cookie`), or when any step
sends them in a credential header (`Authorization`, `Cookie`, `X-Api-Key`...).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table, join
from monitor.core.redact import is_secret_name
from probes.http.settings import HttpOptions, read_http_check
from probes.multistep.extract import Extractor, parse_extractor
from probes.multistep.template import NAME, names_in, starts_with_placeholder

_STEPS_HINT = ('an array of steps such as [{ method = "POST", url = "https://example.com/api/threads", '
               'json = { title = "probe" }, extract = { id = "json:id" } }]')
_STAND_IN = "https://placeholder.invalid/"  # what the reader checks a url starting with {{ name }} as
# Names whose values are credentials, beyond `is_secret_name`'s env-style suffixes: a word part (`auth` in
# `x_auth`, `AuthHeader`, not in `author_id`), or a stem anywhere in the parts run together (`csrftoken`, `apiKey`).
_SECRET_PARTS = frozenset({"auth", "authn", "authz", "authorization", "pwd"})
_SECRET_STEMS = ("token", "session", "passw", "secret", "apikey", "cookie", "credential", "jwt", "csrf", "xsrf")
_WORD_PARTS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")  # snake_case, kebab-case, camelCase, HTTPHeader


@dataclass(frozen=True)
class Step:
    """One request of the run. `needs` are the `{{ names }}` its request uses."""

    name: str
    http: HttpOptions
    extract: Mapping[str, Extractor] = field(default_factory=dict)
    always: bool = False
    needs: tuple[str, ...] = ()
    json_body: bool = False  # the body came from `json`: values are filled into it as JSON (template.fill_json)
    follows: bool = False  # its url starts with a `{{ name }}`: resolved against the extracting step's URL



@dataclass(frozen=True)
class MultistepOptions:
    steps: tuple[Step, ...]
    # Extracted names whose values are redacted from everything the run keeps.
    secret_names: frozenset[str] = frozenset()

    @property
    def target(self) -> str:
        return self.steps[0].http.url if self.steps else ""


def summary(http: HttpOptions) -> str:
    """How a request reads in names and failures: "POST /api/threads"."""
    return f"{http.method} {urlsplit(http.url).path or '/'}"


def looks_secret(name: str) -> bool:
    """Whether an extracted value's name says it is a credential (`token`, `session_id`, `api_key`, `x_auth`...)."""
    parts = [part.lower() for part in _WORD_PARTS.findall(name)]
    joined = "".join(parts)
    return is_secret_name(name) or any(part in _SECRET_PARTS for part in parts) \
        or any(stem in joined for stem in _SECRET_STEMS)


def read_multistep_check(t: Table, ctx: ReadContext) -> MultistepOptions:
    """Read a multistep check's own keys (its `CheckReader`)."""
    raw_steps = t.get("steps", [], kind=list, required=True, allowed=_STEPS_HINT)
    if not raw_steps and "steps" in t.raw and isinstance(t.raw["steps"], list):
        t.error("steps", f"needs at least one step: {_STEPS_HINT}")
    steps: list[Step] = []
    extracted_by: dict[str, int] = {}  # name -> the first step that extracts it
    origin = None
    for index, raw in enumerate(raw_steps):
        if origin and isinstance(raw, dict) and isinstance(raw.get("url"), str) and raw["url"].startswith("/"):
            raw = {**raw, "url": origin + raw["url"]}
        st = Table(raw, join(t.at("steps"), index), t.issues)
        step = _read_step(st, ctx)
        st.reject_unknown()
        if index == 0 and not step.follows and re.match(r"^https?://[^/\s]+", step.http.url):
            origin = re.match(r"^https?://[^/\s]+", step.http.url).group(0)  # type: ignore[union-attr]
        _check_needs(st, raw, index, extracted_by, _later_extractions(raw_steps, index))
        _check_authority(st, step.http.url)
        for name in step.extract:
            extracted_by.setdefault(name, index)
        steps.append(step)
    seen: dict[str, int] = {}
    for index, step in enumerate(steps):
        if step.name in seen:
            t.issues.add(join(join(t.at("steps"), index), "name"),
                         f"{step.name!r} is also the name of steps[{seen[step.name]}]: give each step its own name")
        seen.setdefault(step.name, index)
    return MultistepOptions(steps=tuple(steps), secret_names=_secret_names(steps))


def _read_step(st: Table, ctx: ReadContext) -> Step:
    url = st.raw.get("url")
    follows = isinstance(url, str) and starts_with_placeholder(url)
    if isinstance(url, str) and follows:
        # Where it points is known only at run time: the HTTP reader checks the step with a stand-in url.
        raw, st.raw = st.raw, {**st.raw, "url": _STAND_IN}
        http = replace(read_http_check(st, ctx), url=url)
        st.raw = raw
    else:
        http = read_http_check(st, ctx)
    name = st.string("name", summary(http)) or summary(http)
    extract: dict[str, Extractor] = {}
    for key, text in st.mapping("extract").items():
        if not NAME.fullmatch(key):
            st.issues.add(join(st.at("extract"), key),
                          "is not a usable name: use letters, digits and _ (it is written {{ name }} later)")
            continue
        try:
            extract[key] = parse_extractor(text)
        except ValueError as exc:
            st.issues.add(join(st.at("extract"), key), str(exc))
    needs = tuple(dict.fromkeys(name for _, text in _templated(st.raw) for name in names_in(text)))
    return Step(name=name, http=http, extract=extract, always=st.boolean("always", False), needs=needs,
                json_body="json" in st.raw, follows=follows)


def _templated(raw: Any) -> list[tuple[str, str]]:
    """(key, text) of every place of a raw step where `{{ name }}` is filled in."""
    if not isinstance(raw, dict):
        return []
    places = []
    if isinstance(raw.get("url"), str):
        places.append(("url", raw["url"]))
    if isinstance(raw.get("headers"), dict):
        places += [(join("headers", str(k)), v) for k, v in raw["headers"].items() if isinstance(v, str)]
    if isinstance(raw.get("body"), str):
        places.append(("body", raw["body"]))
    if isinstance(raw.get("json"), (dict, list)):
        places.append(("json", json.dumps(raw["json"])))
    return places


def _later_extractions(raw_steps: list[Any], index: int) -> dict[str, int]:
    later: dict[str, int] = {}
    for i in range(index, len(raw_steps)):
        extract = raw_steps[i].get("extract") if isinstance(raw_steps[i], dict) else None
        for name in extract if isinstance(extract, dict) else ():
            later.setdefault(name, i)
    return later


def _check_needs(st: Table, raw: Any, index: int, extracted_by: Mapping[str, int], later: Mapping[str, int]) -> None:
    """A `{{ name }}` must be extracted by an earlier step: say where it is, and how to fix it."""
    for key, text in _templated(raw):
        for name in dict.fromkeys(names_in(text)):
            if name in extracted_by:
                continue
            if name in later:
                where = "this step" if later[name] == index else f"steps[{later[name]}]"
                fix = f"only {where} extracts it, and values come from earlier steps"
            else:
                fix = f'no step extracts it: add extract = {{ {name} = "json:..." }} to an earlier step'
            hint = " (for an environment variable, write ${" + name + "})" if name.isupper() else ""
            st.issues.add(st.at(key), f"uses {{{{ {name} }}}}, but {fix}{hint}")


def _check_authority(st: Table, url: str) -> None:
    """`https://host{{ next }}` cannot work: the value would be quoted into the host or port."""
    authority = re.match(r"^https?://([^/?#]*)", url)
    names = names_in(authority.group(1)) if authority else []
    if names:
        st.issues.add(st.at("url"), f"has {{{{ {names[0]} }}}} in its host or port, where a value cannot go "
                      "(values are quoted as one path segment); to follow a link or a Location, start the url with "
                      f'it: url = "{{{{ {names[0]} }}}}"')


def _secret_names(steps: list[Step]) -> frozenset[str]:
    secret = set()
    for step in steps:
        for name, extractor in step.extract.items():
            if looks_secret(name) or (extractor.source == "header" and is_secret_name(extractor.argument)):
                secret.add(name)
        for header, value in step.http.headers.items():
            if is_secret_name(header):
                secret.update(names_in(value))
    return frozenset(secret)
