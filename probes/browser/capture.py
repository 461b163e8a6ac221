"""What a journey's browser saw: every request, and the console and page errors.

`Capture` listens to one browser context (all its pages) and keeps:

* every request with its method, URL, resource type, status or network
  failure (`net::ERR_...`) and the step that was running when it was sent;
  for answers >= 400 also the server's own words, read from the body with
  the same extractor as HTTP probes;

The page's own fetch/XHR calls are routed through Playwright (`route.fetch`
then `fulfill`): Chromium never finishes loading a body the page does not
read, so the words of a silent failure (`if (!response.ok) return;`) could
not be read any other way. Other requests go to the network untouched.
* console errors and uncaught page errors, with their step.

The rest of the module is pure: which captured problems fail a step
(`http_problems`), which failed request relates most to the failing step
(`most_related`), which request a timed-out step was waiting on
(`stuck_request`), the `error_text` rule of a failed journey (only a server's
words: `choose_error_text`) and what the browser said instead
(`choose_browser_said`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict
from urllib.parse import urlsplit

from monitor.core.durations import format_duration
from monitor.core.redact import redact
from probes.error_text import extract_error_text

if TYPE_CHECKING:  # Playwright is imported with the probe, at run time
    from playwright.async_api import BrowserContext, ConsoleMessage, Page, Request, Response, Route, WebError

# Requests a page's own code makes: the ones that fail silently.
API_TYPES = ("fetch", "xhr")
# Requests that stay open by design: never "no response" when a step times out.
STREAMING_TYPES = ("websocket", "eventsource", "ping")
MAX_ENTRIES = 1000        # requests kept per run (the log), beyond which only problems are kept
MAX_PROBLEMS = 50         # failed requests / console errors / page errors kept per run
MAX_TEXT = 500
QUIET = 0.05              # seconds without a request in flight that count as "settled" after an action


@dataclass
class NetworkEntry:
    method: str
    url: str
    resource_type: str
    step: int
    started: float
    status: int | None = None
    failure: str | None = None       # net::ERR_... when no answer came
    error_text: str | None = None    # the server's words, for status >= 400
    duration_ms: float | None = None
    judged: bool = False
    matched: bool = False  # consumed by an expect_response step

    @property
    def complete(self) -> bool:
        return self.status is not None or self.failure is not None

    @property
    def is_problem(self) -> bool:
        return (self.status or 0) >= 400 or (self.failure is not None and not _aborted(self.failure))


@dataclass
class Message:
    """A console error or an uncaught page error."""

    kind: str  # "console" or "page_error"
    text: str
    step: int
    url: str | None = None
    judged: bool = False


def _network_failure(message: str) -> str:
    """A net::ERR_ name for why Playwright's own fetch got no answer."""
    for needle, name in (("ECONNREFUSED", "net::ERR_CONNECTION_REFUSED"), ("ENOTFOUND", "net::ERR_NAME_NOT_RESOLVED"),
                         ("ECONNRESET", "net::ERR_CONNECTION_RESET"), ("Timeout", "net::ERR_TIMED_OUT"),
                         ("CERT", "net::ERR_CERT_INVALID")):
        if needle in message:
            return name
    return "net::ERR_FAILED"


def _aborted(failure: str) -> bool:
    # A request the page itself cancelled (navigation away, AbortController): not a failure.
    return "ERR_ABORTED" in failure


@dataclass
class Capture:
    """Collects the events of one browser context. `step` is set by the journey runner."""

    secrets: frozenset[str] = frozenset()
    clock: Callable[[], float] = time.monotonic
    step: int = 0
    entries: list[NetworkEntry] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    crashed: bool = False

    def __post_init__(self) -> None:
        self._by_request: dict[Request, NetworkEntry] = {}
        self._inflight: set[Request] = set()
        self._reads: set[asyncio.Task[Any]] = set()      # routes fetching, error bodies being read
        self._bodies: dict[Request, str | None] = {}     # error text read by the route
        self._failures: dict[Request, str] = {}          # why the route got no answer
        self._fetch_timeout_ms = 30_000.0
        self._changed = asyncio.Event()                  # set whenever the two sets above change

    async def attach(self, context: BrowserContext, fetch_timeout: float = 30.0) -> None:
        self._fetch_timeout_ms = max(1.0, fetch_timeout * 1000)
        await context.route("**/*", self._route)
        context.on("request", self._on_request)
        context.on("response", self._on_response)
        context.on("requestfinished", self._on_finished)
        context.on("requestfailed", self._on_failed)
        context.on("console", self._on_console)
        context.on("weberror", self._on_page_error)
        context.on("page", lambda page: page.on("crash", self._on_crash))

    async def settle(self, limit: float, quiet: float = QUIET) -> None:
        """Wait until no request has been in flight for `quiet` seconds and every
        error body is read; give up after `limit` seconds (long polls never settle).

        After an action, `quiet` covers the requests it caused that have not
        announced themselves yet (Playwright reports them a little later);
        after an assertion, `quiet = 0` waits only for what is in flight.
        Woken by the request events, so a settled page costs `quiet`, not a poll.
        """
        deadline = self.clock() + max(0.0, limit)
        while (left := deadline - self.clock()) > 0:
            self._changed.clear()
            busy = bool(self._inflight or self._reads)
            if not busy and quiet <= 0:
                return
            try:
                # Not wait_for: on Python 3.11 it can swallow a cancellation that arrives as the event is set.
                async with asyncio.timeout(left if busy else min(quiet, left)):
                    await self._changed.wait()
            except TimeoutError:
                if not busy:
                    return

    def take_unjudged(self) -> tuple[list[NetworkEntry], list[Message]]:
        """Complete requests and messages not judged by an earlier step; marks them judged."""
        entries = [e for e in self.entries if e.complete and not e.judged]
        messages = [m for m in self.messages if not m.judged]
        for entry in entries:
            entry.judged = True
        for message in messages:
            message.judged = True
        return entries, messages

    def problems(self) -> list[NetworkEntry]:
        return [e for e in self.entries if e.is_problem]

    async def close(self) -> None:
        for task in list(self._reads):
            task.cancel()

    # -- event handlers (called by Playwright on the event loop) --

    def _on_request(self, request: Request) -> None:
        entry = NetworkEntry(request.method, request.url, request.resource_type, self.step, self.clock())
        self._by_request[request] = entry
        self._inflight.add(request)
        self._changed.set()
        self.entries.append(entry)
        if len(self.entries) > MAX_ENTRIES:  # drop the oldest request that was fine
            for i, old in enumerate(self.entries):
                if old.complete and not old.is_problem:
                    del self.entries[i]
                    break

    async def _route(self, route: Route) -> None:
        request = route.request
        if request.resource_type not in API_TYPES:
            await route.fallback()
            return
        task = asyncio.current_task()
        assert task is not None, "Playwright runs route handlers in a task"
        self._reads.add(task)
        self._changed.set()
        try:
            try:
                response = await route.fetch(max_redirects=0, timeout=self._fetch_timeout_ms)
            except Exception as exc:  # no answer: the page must see a network error too
                self._failures[request] = _network_failure(str(exc))
                await route.abort("connectionrefused" if "ECONNREFUSED" in str(exc) else "failed")
                return
            if response.status >= 400:
                self._bodies[request] = extract_error_text(
                    await response.body(), response.headers.get("content-type"), secrets=self.secrets)
            await route.fulfill(response=response)
        except Exception:  # the page or context closed meanwhile
            pass
        finally:
            self._reads.discard(task)
            self._changed.set()

    def _on_response(self, response: Response) -> None:
        request = response.request
        entry = self._by_request.get(request)
        if entry is None:
            return
        entry.status = response.status
        # Answered is settled, for us: the body may never be read by the page.
        self._inflight.discard(request)
        self._changed.set()
        if response.status >= 400:
            if request in self._bodies:
                entry.error_text = self._bodies.pop(request)
            else:
                task = asyncio.ensure_future(self._read_error_text(entry, response))
                self._reads.add(task)
                task.add_done_callback(self._read_done)

    async def _read_error_text(self, entry: NetworkEntry, response: Response) -> None:
        try:
            body = await asyncio.wait_for(response.body(), 2.0)
        except Exception:  # the page moved on or closed: the status alone has to do
            return
        entry.error_text = extract_error_text(body, response.headers.get("content-type"), secrets=self.secrets)

    def _read_done(self, task: asyncio.Task[Any]) -> None:
        self._reads.discard(task)
        self._changed.set()

    def _on_finished(self, request: Request) -> None:
        self._done(request)

    def _on_failed(self, request: Request) -> None:
        entry = self._done(request)
        if entry is not None and entry.status is None:
            entry.failure = self._failures.pop(request, None) or request.failure or "net::ERR_FAILED"

    def _done(self, request: Request) -> NetworkEntry | None:
        if request in self._inflight:  # else answered already: nothing changed for settle()
            self._inflight.discard(request)
            self._changed.set()
        entry = self._by_request.pop(request, None)
        if entry is not None:
            entry.duration_ms = round((self.clock() - entry.started) * 1000, 3)
        return entry

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        location = message.location or {}
        self._add(Message("console", message.text, self.step, location.get("url") or None))

    def _on_page_error(self, web_error: WebError) -> None:
        error = web_error.error
        self._add(Message("page_error", getattr(error, "message", None) or str(error), self.step))

    def _on_crash(self, page: Page) -> None:
        self.crashed = True

    def _add(self, message: Message) -> None:
        if sum(m.kind == message.kind for m in self.messages) < MAX_PROBLEMS:
            message.text = redact(message.text[:10_000], self.secrets)[:MAX_TEXT]
            self.messages.append(message)


def http_problems(entries: list[NetworkEntry]) -> list[NetworkEntry]:
    """Requests of the page's own code (fetch/XHR) that answered 5xx or got no answer."""
    return [e for e in entries if e.resource_type in API_TYPES and (
        (e.status or 0) >= 500 or (e.status is None and e.failure and not _aborted(e.failure)))]


def most_related(entries: list[NetworkEntry], step: int) -> NetworkEntry | None:
    """The failed request that explains a failure at `step` best.

    Sent during the step beats sent before it; the page's own API calls and
    documents beat images and scripts; 5xx beats 4xx; a later step beats an
    earlier one; within all that, the first failure (the cause, not its echoes).
    """
    candidates = [e for e in entries if e.is_problem and e.step <= step]
    if not candidates:
        return None
    return max(candidates, key=lambda e: (
        e.step == step, e.resource_type in API_TYPES + ("document",), (e.status or 0) >= 500,
        e.error_text is not None, e.step, -e.started))


def stuck_request(entries: list[NetworkEntry], step: int, *, failed_too: bool = True) -> NetworkEntry | None:
    """The request a step that timed out was most likely waiting on, or None.

    A request sent during the step or the one before it (the click that
    started it) that got no response yet, or, with `failed_too`, whose
    page-made call failed (5xx, no answer: `http_problems`). Streams that
    stay open by design never count. Of several, the page's own calls and
    documents beat images and scripts, and the earliest beats its echoes.
    """
    recent = [e for e in entries if e.step >= step - 1 and e.resource_type not in STREAMING_TYPES]
    failed = http_problems(recent) if failed_too else []
    candidates = [e for e in recent if not e.complete] + failed
    if not candidates:
        return None
    return min(candidates, key=lambda e: (e.resource_type not in API_TYPES + ("document",), e.started))


def describe_stuck(entry: NetworkEntry, page_url: str, now: float) -> str:
    """ "POST /api/threads: no response after 5s", or `describe_entry` for one that did end."""
    if entry.complete:
        return describe_entry(entry, page_url)
    waited = max(0.0, now - entry.started)
    # Whole seconds: the same hang reads the same from run to run (alerts compare the words).
    return f"{entry.method} {short_url(entry.url, page_url)}: no response after " \
           f"{format_duration(round(waited) if waited >= 1 else waited)}"


def choose_error_text(step: int, entries: list[NetworkEntry], related: NetworkEntry | None = None) -> str | None:
    """The `error_text` of a journey that failed at `step`: only what a server sent.

    The server's words from `related` (the request the failure names), else
    from the failed request most related to the step; None when no server
    said anything (see `choose_browser_said`).
    """
    if related is not None and related.error_text:
        return related.error_text
    best = most_related([e for e in entries if e.error_text], step)
    return best.error_text if best is not None else None


def choose_browser_said(step: int, messages: list[Message], playwright_message: str | None) -> str | None:
    """What the browser said about a journey that failed at `step`, for when no server said anything.

    The latest page error ("page error: Failed to fetch"), else the latest
    console error, at or before the step; else Playwright's own message.
    """
    for kind, label in (("page_error", "page error"), ("console", "console error")):
        texts = [m.text for m in messages if m.kind == kind and m.step <= step]
        if texts:
            return f"{label}: {texts[-1]}"
    return playwright_message


def describe_entry(entry: NetworkEntry, page_url: str) -> str:
    """ "POST /api/threads answered 500", "GET https://cdn.x/app.js failed: net::ERR_NAME_NOT_RESOLVED" """
    what = f"{entry.method} {short_url(entry.url, page_url)}"
    if entry.status is not None:
        return f"{what} answered {entry.status}"
    return f"{what} failed: {entry.failure}"


def short_url(url: str, page_url: str) -> str:
    """The path (and query) when `url` is on the page's own origin, else the whole URL."""
    a, b = urlsplit(url), urlsplit(page_url)
    if (a.scheme, a.netloc) == (b.scheme, b.netloc):
        return a.path + (f"?{a.query}" if a.query else "") or "/"
    return url


class EntryRow(TypedDict):
    """A request as the journey's log and a result's `details` show it."""

    method: str
    url: str
    type: str
    status: int | None
    failure: str | None
    error_text: str | None
    duration_ms: float | None
    step: str | None


class MessageRow(TypedDict):
    """A console or page error as the journey's log and a result's `details` show it."""

    text: str
    step: str | None
    url: NotRequired[str]


def entry_dict(entry: NetworkEntry, step_names: list[str], secrets: Iterable[str]) -> EntryRow:
    return {
        "method": entry.method, "url": redact(entry.url, secrets)[:2000], "type": entry.resource_type,
        "status": entry.status, "failure": entry.failure, "error_text": entry.error_text,
        "duration_ms": entry.duration_ms, "step": _step_name(step_names, entry.step),
    }


def message_dict(message: Message, step_names: list[str], secrets: Iterable[str]) -> MessageRow:
    data: MessageRow = {"text": message.text, "step": _step_name(step_names, message.step)}
    if message.url:
        data["url"] = redact(message.url, secrets)[:2000]
    return data


def _step_name(step_names: list[str], index: int) -> str | None:
    return step_names[index] if 0 <= index < len(step_names) else None
