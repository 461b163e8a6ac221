"""Do one configured step on a page, or load a Python journey.

`perform(page, step, timeout, base_url, capture)` returns when the action is
done and raises `StepFailed` with a sentence a person understands ("li.thread
was not visible within 5s") and Playwright's own words, for the error text.
Selectors go to Playwright untouched. Expectations look at the first match
(a list of threads is fine); actions insist on exactly one (clicking one of
three buttons is a journey bug Playwright names).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urljoin

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from monitor.core.durations import format_duration
from probes.browser.capture import Capture, NetworkEntry, short_url
from probes.browser.settings import Step, required

# A step's action: (page, step, timeout in ms, the check's url, capture) -> the document status of a navigation.
Action = Callable[[Page, Step, float, str, Capture], Awaitable[int | None]]
# A Python journey's `async def run(page, ...)`; what it returns is ignored.
JourneyScript = Callable[..., Awaitable[object]]


class StepFailed(Exception):
    """A step did not do what it should. `str()` is the sentence for `failure`."""

    def __init__(self, sentence: str, playwright_message: str | None = None,
                 entry: NetworkEntry | None = None, timed_out: bool = False):
        super().__init__(sentence)
        self.playwright_message = playwright_message
        self.entry = entry  # the response the step itself judged, if any
        self.timed_out = timed_out


def playwright_words(exc: BaseException) -> str:
    """Playwright's message without the API name prefix and the call log."""
    text = str(exc).strip()
    head = text.split("\nCall log:", 1)[0].strip()
    head = re.sub(r"^[A-Z][A-Za-z]*\.[a-z_A-Z]+: ", "", head)
    return " ".join(head.split())[:500] or type(exc).__name__


async def perform(page: Page, step: Step, timeout: float, base_url: str, capture: Capture) -> int | None:
    """Do `step` within `timeout` seconds. Return the document status for a navigation."""
    ms = max(1.0, timeout * 1000)
    within = format_duration(timeout)
    try:
        return await _ACTIONS[step.action](page, step, ms, base_url, capture)
    except PlaywrightTimeoutError as exc:
        raise StepFailed(_timeout_sentence(step, within), playwright_words(exc), timed_out=True) from exc
    except AssertionError as exc:  # expect(...) reports its timeout this way
        raise StepFailed(_timeout_sentence(step, within), playwright_words(exc), timed_out=True) from exc


async def open_page(page: Page, url: str, ms: float) -> int | None:
    """Navigate to `url`; a document answering >= 400 fails."""
    try:
        response = await page.goto(url, timeout=ms, wait_until="load")
    except PlaywrightTimeoutError as exc:
        raise StepFailed(f"{url} did not load within {format_duration(ms / 1000)}",
                         playwright_words(exc), timed_out=True) from exc
    except PlaywrightError as exc:
        words = playwright_words(exc)
        if "net::" not in words:
            raise
        raise StepFailed(f"could not open {url}: {words.split(' at ')[0]}", words) from exc
    if response is not None and response.status >= 400:
        raise StepFailed(f"{url} answered {response.status}")
    return response.status if response is not None else None


def _timeout_sentence(step: Step, within: str) -> str:
    a = step.action
    if a == "click":
        return f"could not click {step.selector} within {within}"
    if a == "fill":
        return f"could not fill {step.selector} within {within}"
    if a == "press":
        return f"could not press {step.value}" + (f" in {step.selector}" if step.selector else "") + \
               f" within {within}"
    if a == "expect_visible":
        return f"{step.selector} was not visible within {within}"
    if a == "expect_text":
        where = step.selector or "the page"
        return f"{where} did not show {step.value!r} within {within}"
    if a == "goto":
        return f"{step.value} did not load within {within}"
    return f"timed out after {within}"


async def _goto(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> int | None:
    return await open_page(page, urljoin(base_url, required(step.value, step, "value")), ms)


async def _click(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    await page.locator(required(step.selector, step, "selector")).click(timeout=ms)


async def _fill(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    selector, text = required(step.selector, step, "selector"), required(step.value, step, "value")
    await page.locator(selector).fill(text, timeout=ms)


async def _press(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    key = required(step.value, step, "value")
    if step.selector:
        await page.locator(step.selector).press(key, timeout=ms)
    else:
        await page.keyboard.press(key)


async def _expect_visible(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    await expect(page.locator(required(step.selector, step, "selector")).first).to_be_visible(timeout=ms)


async def _expect_text(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    target = page.locator(step.selector).first if step.selector else page.locator("body")
    await expect(target).to_contain_text(required(step.value, step, "value"), timeout=ms)


async def _expect_response(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    """Match a response seen since the journey began (not matched before), or wait for one."""
    want = required(step.response, step, "response")
    pattern = glob_to_regex(urljoin(base_url, want.url) if want.url.startswith("/") else want.url)
    deadline = time.monotonic() + ms / 1000
    while True:
        for entry in capture.entries:
            if (entry.status is not None and not entry.matched
                    and (want.method is None or entry.method == want.method) and pattern.fullmatch(entry.url)):
                entry.matched = True
                if want.status is not None and entry.status != want.status:
                    raise StepFailed(f"{entry.method} {short_url(entry.url, base_url)} answered {entry.status}, "
                                     f"expected {want.status}", entry=entry)
                return
        if time.monotonic() >= deadline:
            raise StepFailed(f"no response {want.describe()} within {format_duration(ms / 1000)}",
                             timed_out=True)
        await asyncio.sleep(0.02)


async def _wait(page: Page, step: Step, ms: float, base_url: str, capture: Capture) -> None:
    await asyncio.sleep(min(required(step.seconds, step, "seconds"), ms / 1000))


# Steps that act on the page, and so may start requests; the others only look.
POKING_ACTIONS = frozenset({"goto", "click", "fill", "press"})

_ACTIONS: dict[str, Action] = {
    "goto": _goto, "click": _click, "fill": _fill, "press": _press, "expect_visible": _expect_visible,
    "expect_text": _expect_text, "expect_response": _expect_response, "wait": _wait,
}


def glob_to_regex(glob: str) -> re.Pattern[str]:
    """Playwright's URL globs: `**` any characters, `*` any but `/`, `{a,b}` either; the rest literal."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "{" and "}" in glob[i:]:
            end = glob.index("}", i)
            out.append("(?:" + "|".join(re.escape(p) for p in glob[i + 1:end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out))


_scripts: dict[tuple[str, int], JourneyScript] = {}


def load_script(path: Path) -> JourneyScript:
    """The `run` coroutine function of a Python journey, reloaded when the file changes."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in _scripts:
        spec = importlib.util.spec_from_file_location(f"journey_{abs(hash(key))}", path)
        if spec is None or spec.loader is None:  # never for a path: it gets the source file loader
            raise ImportError(f"{path} cannot be loaded as a Python module")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        run = getattr(module, "run", None)
        if not inspect.iscoroutinefunction(run):
            raise TypeError(f"{path} must define `async def run(page, ...)`")
        _scripts[key] = run
    return _scripts[key]


async def call_script(run: JourneyScript, page: Page, **available: object) -> None:
    """Call `run(page, ...)` with the keyword arguments it declares (`step`, `url`, `expect`)."""
    params = inspect.signature(run).parameters
    takes_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs = {k: v for k, v in available.items() if takes_all or k in params}
    await run(page, **kwargs)


__all__ = ["perform", "open_page", "StepFailed", "playwright_words", "glob_to_regex", "load_script",
           "call_script", "expect", "PlaywrightError"]
