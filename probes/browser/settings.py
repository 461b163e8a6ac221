"""`type = "browser"` checks: the journey's keys -> `JourneyOptions`; the `[browser]` table -> `BrowserSettings`.

A journey opens the check's `url`, then does its `steps` (or runs its Python
`script`) in a fresh browser context:

    steps = [
      { name = "open New chat", click = "role=button[name='New chat']" },
      { expect_visible = "li.thread", timeout = "5s" },
    ]

Each step does exactly one action (`ACTIONS`), with an optional `name`
(defaults to a summary of the action) and `timeout`. Selectors are
Playwright's own (`css`, `text=...`, `role=button[name='New chat']`) and are
passed through untouched: only the browser can tell whether one matches.
Every mistake is recorded with its key path, and a misspelt action gets a
"did you mean".
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from monitor.core.config import ReadContext
from monitor.core.config_schema import Table, join, suggest, type_name
from monitor.core.durations import format_duration
from probes.web_url import read_web_url

ACTIONS = ("goto", "click", "fill", "press", "expect_visible", "expect_text", "expect_response", "wait")
STEP_KEYS = ("name", "timeout")

_T = TypeVar("_T")


@dataclass(frozen=True)
class ResponseMatch:
    """A response an `expect_response` step waits for."""

    url: str  # Playwright URL glob: "**/api/threads"
    status: int | None = None
    method: str | None = None

    def describe(self) -> str:
        text = f"{self.method + ' ' if self.method else ''}{self.url}"
        return f"{text} -> {self.status}" if self.status is not None else text


@dataclass(frozen=True)
class Step:
    """One user action. Which fields are set depends on `action`:

    goto: value (URL, relative to the check's url) | click, expect_visible:
    selector | fill: selector, value | press: value (key), selector optional |
    expect_text: value (text), selector optional (default: the whole page) |
    expect_response: response | wait: seconds.
    """

    action: str
    name: str
    selector: str | None = None
    value: str | None = None
    seconds: float | None = None
    response: ResponseMatch | None = None
    timeout: float | None = None


def required(value: _T | None, step: Step, what: str) -> _T:
    """`value`, the `what` field of `step`, which every step whose action uses it has (see `Step`).

    Raises ValueError when it is None: a step that did not come from `read_step`.
    """
    if value is None:
        raise ValueError(f"the {step.action} step {step.name!r} has no {what}")
    return value


@dataclass(frozen=True)
class JourneyOptions:
    url: str = ""  # the page opened first
    steps: tuple[Step, ...] = ()
    # Absolute path of a Python journey (`async def run(page, ...)`), instead of steps.
    script: Path | None = None
    fail_on_http_errors: bool = True
    fail_on_console_errors: bool = False

    @property
    def target(self) -> str:
        return self.url


@dataclass(frozen=True)
class BrowserSettings:
    """The `[browser]` table: the one browser every journey of a monitor process shares."""

    executable_path: str | None = None
    max_concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    headless: bool = True
    args: tuple[str, ...] = ()
    # When a journey records a Playwright trace (TRACE_MODES); a failing run keeps its screenshot and log either way.
    trace: str = "retain-on-failure"


# "retain-on-failure": record every run, keep the trace of a failing one. "on-first-retry": record only the
# first retry of a failed run (the check's `retries`), so passing runs pay nothing. "off": never record.
TRACE_MODES = ("retain-on-failure", "on-first-retry", "off")


def read_browser_section(t: Table, ctx: ReadContext) -> BrowserSettings:
    """Read the `[browser]` table (an empty one when absent: the defaults)."""
    d = BrowserSettings()
    executable = t.string("executable_path")
    args = t.get("args", [], kind=list)
    if not all(isinstance(a, str) for a in args):
        t.error("args", "must be an array of strings")
        args = []
    settings = BrowserSettings(
        executable_path=str(ctx.base / executable) if executable else None,
        max_concurrency=t.integer("max_concurrency", d.max_concurrency, minimum=1) or d.max_concurrency,
        headless=t.boolean("headless", d.headless),
        args=tuple(args),
        trace=t.choice("trace", d.trace, TRACE_MODES),
    )
    t.reject_unknown()
    return settings


def read_browser_check(t: Table, ctx: ReadContext) -> JourneyOptions:
    """Read a browser check's own keys from its table (its `CheckReader`)."""
    url = read_web_url(t)
    raw_steps = t.get("steps", [], kind=list, allowed="an array of steps such as "
                      "[{ click = \"text=New chat\" }]")
    script = _read_script(t, ctx.base)
    if raw_steps and script is not None:
        t.error("script", "set either steps or script, not both")
    steps = []
    for index, raw in enumerate(raw_steps):
        step = read_step(Table(raw, join(t.at("steps"), index), t.issues), ctx)
        if step is not None:
            steps.append(step)
    d = JourneyOptions()
    return JourneyOptions(
        url=url, steps=tuple(steps), script=script,
        fail_on_http_errors=t.boolean("fail_on_http_errors", d.fail_on_http_errors),
        fail_on_console_errors=t.boolean("fail_on_console_errors", d.fail_on_console_errors),
    )


def read_step(t: Table, ctx: ReadContext | None = None) -> Step | None:
    """One step table -> Step, or None after recording what is wrong with it."""
    before = len(t.issues.items)
    if not t.raw and t.path:
        t.issues.add(t.path, f"is an empty step; give it one action: {', '.join(ACTIONS)}")
        return None
    for key in t.raw:
        if key not in ACTIONS and key not in STEP_KEYS:
            t.error(key, f"unknown step key{suggest(key, ACTIONS + STEP_KEYS)}")
    actions = [key for key in t.raw if key in ACTIONS]
    if not actions:
        if len(t.issues.items) == before:
            t.issues.add(t.path, f"needs one action: {', '.join(ACTIONS)}")
        return None
    if len(actions) > 1:
        t.issues.add(t.path, f"has {len(actions)} actions ({', '.join(actions)}); a step does one thing: "
                             "split it into one step per action")
        return None
    action = actions[0]
    name = t.string("name")
    if name is not None and not name.strip():
        t.error("name", "must not be empty; leave it out for a name made from the action")
    timeout = t.duration("timeout", None)
    step = _READERS[action](t, action)
    if step is None or len(t.issues.items) > before:
        return None
    if action == "fill" and "password" in (step.selector or "").lower() and step.value and ctx is not None:
        ctx.secret(step.value)  # a typed password must never reach a log
    return Step(**{**step.__dict__, "name": (name or "").strip() or default_name(step), "timeout": timeout})


def default_name(step: Step) -> str:
    """A readable summary of what the step does: "click text=New chat"."""
    a = step.action
    if a == "goto":
        return f"go to {step.value}"
    if a == "click":
        return f"click {step.selector}"
    if a == "fill":
        return f"fill {step.selector}"
    if a == "press":
        return f"press {step.value}" + (f" in {step.selector}" if step.selector else "")
    if a == "expect_visible":
        return f"expect {step.selector} visible"
    if a == "expect_text":
        where = f"{step.selector} to contain" if step.selector else "the page to contain"
        return f"expect {where} {step.value!r}"
    if a == "expect_response":
        return f"expect response {required(step.response, step, 'response').describe()}"
    return f"wait {format_duration(step.seconds or 0)}"


def _selector(t: Table, key: str, value: Any) -> str | None:
    if not isinstance(value, str):
        t.error(key, f"must be a selector string such as \"text=New chat\" or \"#id\", got {type_name(value)}")
        return None
    if not value.strip():
        t.error(key, "must not be empty: give a selector such as \"text=New chat\", \"#id\" or "
                     "\"role=button[name='New chat']\"")
        return None
    return value.strip()


def _sub(t: Table, action: str) -> Table | None:
    """The inline table of an action such as `fill = { selector, value }`."""
    if not isinstance(t.raw[action], dict):
        return None
    return t.table(action)


def _read_goto(t: Table, action: str) -> Step | None:
    url = t.string(action, allowed='a URL or a path such as "/settings"')
    if url is not None and not url.strip():
        t.error(action, 'must not be empty: give a URL or a path such as "/settings"')
        return None
    return Step(action, "", value=url.strip()) if url else None


def _read_selector_action(t: Table, action: str) -> Step | None:
    t.known.add(action)
    selector = _selector(t, action, t.raw[action])
    return Step(action, "", selector=selector) if selector else None


def _read_fill(t: Table, action: str) -> Step | None:
    sub = _sub(t, action)
    if sub is None:
        t.error(action, 'must be a table: fill = { selector = "#title", value = "New chat" }')
        return None
    sub.known.add("selector")
    selector = _selector(sub, "selector", sub.raw.get("selector"))
    value = sub.string("value", required=True, allowed="the text to type")
    sub.reject_unknown()
    return Step(action, "", selector=selector, value=value) if selector and value is not None else None


def _value_step(t: Table, action: str, field: str, *, short: str, empty: str, detail: str) -> Step | None:
    """A step given as a string (`press = "Enter"`) or as a table with an optional selector
    (`press = { selector = "#msg", key = "Enter" }`); `field` names the value in the table form."""
    sub = _sub(t, action)
    if sub is None:
        value = t.string(action, allowed=short)
        if value is not None and not value.strip():
            t.error(action, empty)
            return None
        return Step(action, "", value=value) if value else None
    value = sub.string(field, required=True, allowed=detail)
    selector = None
    if "selector" in sub.raw:
        sub.known.add("selector")
        selector = _selector(sub, "selector", sub.raw["selector"])
    sub.reject_unknown()
    return Step(action, "", selector=selector, value=value) if value else None


def _read_press(t: Table, action: str) -> Step | None:
    return _value_step(t, action, "key", short='a key such as "Enter", or { selector = "#msg", key = "Enter" }',
                       empty='must name a key such as "Enter" or "Control+A"', detail='a key such as "Enter"')


def _read_expect_text(t: Table, action: str) -> Step | None:
    return _value_step(t, action, "text",
                       short='the text the page must show, or { selector = "h1", text = "Chats" }',
                       empty="must not be empty: give the text the page must show",
                       detail="the text the element must contain")


def _read_expect_response(t: Table, action: str) -> Step | None:
    sub = _sub(t, action)
    if sub is None:
        t.error(action, 'must be a table: expect_response = { url = "**/api/threads", status = 201, '
                        'method = "POST" }')
        return None
    url = sub.string("url", required=True, allowed='a URL glob such as "**/api/threads"')
    if url is not None and not url.strip():
        sub.error("url", 'must not be empty: give a URL glob such as "**/api/threads"')
        url = None
    status = sub.integer("status", None, minimum=100, maximum=599)
    method = sub.string("method")
    if method is not None and method.upper() not in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        sub.error("method", f"must be an HTTP method such as GET or POST, got {method!r}")
        method = None
    sub.reject_unknown()
    if not url:
        return None
    return Step(action, "", response=ResponseMatch(url.strip(), status, method and method.upper()))


def _read_wait(t: Table, action: str) -> Step | None:
    seconds = t.duration(action, None)
    return Step(action, "", seconds=seconds) if seconds is not None else None


_READERS = {
    "goto": _read_goto,
    "click": _read_selector_action,
    "fill": _read_fill,
    "press": _read_press,
    "expect_visible": _read_selector_action,
    "expect_text": _read_expect_text,
    "expect_response": _read_expect_response,
    "wait": _read_wait,
}


def _read_script(t: Table, base: Path) -> Path | None:
    rel = t.string("script", allowed='a Python file such as "journeys/new_chat.py"')
    if rel is None:
        return None
    path = (base / rel).resolve()
    if not path.is_file():
        t.error("script", f"{str(path)!r} does not exist (script paths are relative to the config file)")
        return None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (SyntaxError, UnicodeDecodeError, OSError) as exc:
        t.error("script", f"{str(path)!r} is not valid Python: {exc}")
        return None
    if not any(isinstance(node, ast.AsyncFunctionDef) and node.name == "run" for node in tree.body):
        t.error("script", f"{str(path)!r} must define `async def run(page, ...)`")
        return None
    return path
