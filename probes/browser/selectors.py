"""Journey selectors checked before they run: parsed by Playwright's own selector engine, on `about:blank`.

`monitor validate` asks each probe kind to look deeper than the config's
shape (`ProbeKind.validate`); for journeys that means every selector of every
step. Playwright parses a selector when it is first used, so a typo
(`button[[[`, `xpath=//div[`, `foo=bar`) used to pass validation and then
page like an outage at run time. A blank page is enough: a selector that
parses matches nothing there, one that does not raises.

Playwright's role engine accepts any role name (`role=buton` simply matches
nothing), so role names are also checked against Playwright's own list of
ARIA roles, the one its `get_by_role` takes.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.core.config import Check
from monitor.core.config_schema import ConfigIssue, check_paths
from probes.base import ProbeContext
from probes.browser.settings import BrowserSettings, JourneyOptions


@dataclass(frozen=True)
class JourneySelector:
    """One selector of one step: where it is written, and the step's name."""

    path: str  # checks["new-chat"].steps[0].click
    step: str
    selector: str


def journey_selectors(checks: Sequence[Check]) -> list[JourneySelector]:
    """Every selector of every configured step of `checks` (scripts are code: not read). Pure."""
    found = []
    paths = check_paths([{"name": c.name} for c in checks])
    for check, path in zip(checks, paths, strict=True):
        options = check.settings
        if not isinstance(options, JourneyOptions):
            continue
        for index, step in enumerate(options.steps):
            if step.selector is None:
                continue
            key = step.action if step.action in ("click", "expect_visible") else f"{step.action}.selector"
            found.append(JourneySelector(f"{path}.steps[{index}].{key}", step.name, step.selector))
    return found


def aria_roles() -> frozenset[str]:
    """The ARIA roles Playwright knows (its `get_by_role` type); empty if this Playwright does not say."""
    try:
        from playwright._impl.internal_structures import AriaRole
    except ImportError:  # a private module: without it only Playwright's parser judges
        return frozenset()
    return frozenset(typing.get_args(AriaRole))


_ROLE_PART = re.compile(r"^\s*(?:internal:)?role\s*=\s*([A-Za-z-]*)")


def role_problem(selector: str, roles: frozenset[str]) -> str | None:
    """Why a `role=` part of `selector` names no ARIA role ("unknown role 'buton'; did you mean 'button'?"). Pure."""
    if not roles:
        return None
    for part in _parts(selector):
        found = _ROLE_PART.match(part)
        if found is None:
            continue
        role = found.group(1)
        if role not in roles:
            close = difflib.get_close_matches(role.lower(), sorted(roles), n=1, cutoff=0.6)
            return f"unknown role {role!r}" + (f"; did you mean {close[0]!r}?" if close else "")
    return None


def _parts(selector: str) -> list[str]:
    """The ` >> `-chained parts of a selector, not splitting inside quotes."""
    parts, current, quote = [], [], ""
    i = 0
    while i < len(selector):
        char = selector[i]
        if quote:
            if char == "\\":
                current.append(selector[i:i + 2])
                i += 2
                continue
            if char == quote:
                quote = ""
        elif char in "\"'`":
            quote = char
        elif selector.startswith(">>", i):
            parts.append("".join(current))
            current = []
            i += 2
            continue
        current.append(char)
        i += 1
    parts.append("".join(current))
    return parts


def _without_stack(words: str) -> str:
    """The browser's message without the JavaScript stack Playwright appends ("at Object.queryAll (<anonymous>...")."""
    return re.split(r"\s+at\s+\S*\s*\(?<anonymous>", words, maxsplit=1)[0]


async def validate_journeys(checks: Sequence[Check], ctx: ProbeContext) -> list[ConfigIssue]:
    """A problem for every selector of `checks` that Playwright cannot parse or whose role does not exist.

    Launches the kind's browser (as `[browser]` says) for one blank page.
    Raises `BrowserError` when there is no browser to ask.
    """
    from playwright.async_api import Error as PlaywrightError

    from probes.browser.runtime import BrowserRuntime
    from probes.browser.steps import playwright_words

    selectors = journey_selectors(checks)
    if not selectors:
        return []
    roles = aria_roles()
    runtime = BrowserRuntime(ctx.sections.get("browser") or BrowserSettings(), ctx.telemetry)
    issues = []
    try:
        context = await runtime.new_context()
        page = await context.new_page()  # about:blank
        for item in selectors:
            why = role_problem(item.selector, roles)
            if why is None:
                try:
                    await page.locator(item.selector).count()
                except PlaywrightError as exc:
                    why = _without_stack(playwright_words(exc).removeprefix("Locator.count: "))
            if why is not None:
                issues.append(ConfigIssue(item.path, f"step {item.step!r}: {item.selector!r} is not a selector "
                                                     f"Playwright can use: {why}"))
        await context.close()
    finally:
        await runtime.close()
    return issues
