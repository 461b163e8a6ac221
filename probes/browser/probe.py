"""Browser journeys (`type = "browser"`): do what a user does, and watch the network while doing it.

One run: take a slot of the shared browser (`BrowserRuntime`), open a fresh
context with tracing on, open the check's `url` (the first step, "open
<url>"), then do the configured steps or the Python script, each as a step
with a name, a duration and an error.

When a step fails:
* a step's action failed or timed out (its own `timeout`, or what is left
  of the journey's);
* with `fail_on_http_errors` (the default), a fetch/XHR answered 5xx or got
  no answer at all, even though every action "worked": the silent failure;
* with `fail_on_console_errors`, a console error or uncaught page error.
After each action the step waits for the page's requests to settle (at most
`SETTLE_LIMIT`), then judges what arrived. Requests the page makes on its own
while it opens are judged with the first step after the open: they often
finish after the load event, and the user meets them at their first action.

The failure names the step ("step 'open New chat': POST /api/threads
answered 500"). A step that times out while a request the page sent is
still unanswered (or failed) names that request first: "step 'expect
li.thread visible': POST /api/threads: no response after 5s; li.thread was
not visible within 5s". `error_text` is only ever what a server sent
(`choose_error_text`); what the browser or Playwright said goes to
`browser_said` (`choose_browser_said`). A failing run keeps
a trace, a screenshot and a redacted JSON log (`journey_artifacts`); a passing
run keeps nothing unless the probe was built with `keep="always"` (replay).
A browser that dies mid-run fails that run with "browser crashed"; the
runtime launches a new one for the next.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path

from playwright.async_api import BrowserContext, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from monitor.core.config import Check
from monitor.core.durations import format_duration, parse_duration
from monitor.core.redact import redact
from monitor.core.results import Result, StepResult, utcnow
from monitor.core.terminal import one_line
from probes.base import TRY, ProbeContext
from probes.browser.artifacts import ArtifactFolder, redact_trace
from probes.browser.capture import (
    MAX_PROBLEMS,
    QUIET,
    Capture,
    NetworkEntry,
    choose_browser_said,
    choose_error_text,
    describe_entry,
    describe_stuck,
    entry_dict,
    http_problems,
    message_dict,
    most_related,
    stuck_request,
)
from probes.browser.runtime import BrowserError, BrowserRuntime, first_line
from probes.browser.settings import BrowserSettings, JourneyOptions, Step
from probes.browser.steps import (
    POKING_ACTIONS,
    PlaywrightError,
    StepFailed,
    call_script,
    expect,
    load_script,
    open_page,
    perform,
    playwright_words,
)

log = logging.getLogger("monitor.browser")

SETTLE_LIMIT = 2.0     # seconds a step waits for the requests it caused
GRACE = 1.0            # backstop over Playwright's own timeouts
ARTIFACT_TIMEOUT = 10.0

# on_event(kind, payload): "step-start" (name) and "step-end" (dict: step, network, messages).
EventSink = Callable[[str, object], None]


class BrowserProbe:
    """Runs browser checks on one shared `BrowserRuntime`."""

    def __init__(self, ctx: ProbeContext, runtime: BrowserRuntime | None = None, *,
                 keep: str = "failure", on_event: EventSink | None = None):
        self._ctx = ctx
        self.runtime = runtime or BrowserRuntime(ctx.sections.get("browser") or BrowserSettings(), ctx.telemetry)
        self.keep_always = keep == "always"
        self.on_event = on_event

    async def run(self, check: Check) -> Result:
        async with self.runtime.slot():
            mode = self.runtime.settings.trace
            tracing = self.keep_always or mode == "retain-on-failure" or (mode == "on-first-retry" and TRY.get() == 1)
            return await Journey(check, self._ctx, self.runtime, self.on_event, tracing).run(self.keep_always)

    async def close(self) -> None:
        await self.runtime.close()


class JourneyStopped(Exception):
    """A script's step failed; the failure is already recorded."""


class Journey:
    """The state of one run of one browser check."""

    def __init__(self, check: Check, ctx: ProbeContext, runtime: BrowserRuntime, on_event: EventSink | None,
                 tracing: bool = True):
        self.check = check
        self.tracing = tracing  # record a Playwright trace of this run
        self.options: JourneyOptions = check.settings
        self.ctx = ctx
        self.runtime = runtime
        self.on_event = on_event or (lambda kind, payload: None)
        self.capture = Capture(secrets=ctx.secrets)
        self.steps: list[StepResult] = []
        self.names: list[str] = []
        self.failure: str | None = None
        self.failing: int | None = None
        self.playwright_message: str | None = None
        self.related: NetworkEntry | None = None
        self.crashed = False
        self.status_code: int | None = None
        # Opened by `run`: the context before anything else, the page before the first step.
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self.deadline = 0.0
        self.finished: float | None = None

    @property
    def context(self) -> BrowserContext:
        """The run's browser context; `run` opens it before anything uses it."""
        if self._context is None:
            raise RuntimeError("the journey has no browser context before run() opens it")
        return self._context

    @property
    def page(self) -> Page:
        """The run's page; `run` opens it before the first step."""
        if self._page is None:
            raise RuntimeError("the journey has no page before run() opens it")
        return self._page

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    async def run(self, keep_always: bool) -> Result:
        started_at, t0 = utcnow(), time.monotonic()
        self.deadline = t0 + self.check.timeout
        artifacts: list[str] = []
        try:
            self._context = await asyncio.wait_for(self.runtime.new_context(), max(0.001, self.remaining()) + 30)
        except (BrowserError, PlaywrightError, TimeoutError) as exc:
            return self._result(started_at, t0, [], failure=str(exc) if isinstance(exc, BrowserError) else
                                f"could not start the browser: {first_line(exc)}")
        try:
            try:
                await self.capture.attach(self.context, self.check.timeout)
                if self.tracing:
                    await self.context.tracing.start(screenshots=True, snapshots=True, title=self.check.name)
                self._page = await self.context.new_page()
                await self._journey()
                if self.failure is None:
                    await self._final_judge()
            except Exception as exc:  # anything outside a step (tracing, new_page) fails the run too
                if self.failure is None:
                    await self._fail_outside_steps(exc)
            self.finished = time.monotonic()  # the journey's time, without keeping its evidence
            artifacts = await self._save(keep_always)
        finally:
            await self.capture.close()
            await BrowserRuntime._quietly(self.context.close())
        return self._result(started_at, t0, artifacts)

    # -- steps --

    async def _journey(self) -> None:
        url = self.options.url
        more = bool(self.options.steps) or self.options.script is not None

        async def open_(timeout: float) -> None:
            self.status_code = await open_page(self.page, url, timeout * 1000)

        if not await self._step(f"open {redact(url, self.ctx.secrets)}", None, open_, judge=not more):
            return
        if self.options.script is not None:
            await self._run_script(self.options.script)
            return
        for i, step in enumerate(self.options.steps):
            if not await self._step(step.name, step.timeout, partial(self._perform, step), quiet=self._quiet(i)):
                return

    def _quiet(self, i: int) -> float:
        """The quiet window configured step `i` settles with: an action's, or none for an assertion.
        The first step also settles what the page's own load started (the open did not wait)."""
        return QUIET if self.options.steps[i].action in POKING_ACTIONS or i == 0 else 0.0

    async def _perform(self, step: Step, timeout: float) -> int | None:
        """Do one configured step on the page (relative URLs against the check's `url`)."""
        return await perform(self.page, step, timeout, self.options.url, self.capture)

    async def _step(self, name: str, timeout: float | None, action: Callable[[float], Awaitable[object]],
                    judge: bool = True, quiet: float = QUIET) -> bool:
        """Run one step, `action(timeout in seconds)`; record it; return whether the journey goes on.

        A judged step first settles (`Capture.settle`) with `quiet`: 0 for an
        assertion, which starts no request of its own.
        """
        index = await self._begin(name)
        started = time.monotonic()
        step_timeout, from_journey = self._budget(timeout)
        sentence = None
        try:
            async with asyncio.timeout(step_timeout + GRACE):
                await action(step_timeout)
                if judge:  # unjudged requests are left to the next step's settling
                    await self.capture.settle(min(SETTLE_LIMIT, self.remaining()), quiet)
            if judge:
                sentence = self._judge(index)
        except Exception as exc:  # not CancelledError: a cancelled run must stop, not record
            sentence = await self._explain(exc, step_timeout, from_journey)
        finally:
            await self._group_end()
        self._end(index, name, started, sentence)
        return sentence is None

    def _budget(self, timeout: float | None) -> tuple[float, bool]:
        """A step's seconds, and whether the journey's own deadline (not the step's timeout) sets them."""
        limit = self.remaining()
        return max(0.001, min(timeout or limit, limit)), timeout is None or timeout >= limit

    @asynccontextmanager
    async def script_step(self, name: str, timeout: str | float | None = None) -> AsyncIterator[None]:
        """`async with step("open New chat", timeout="5s"):` inside a Python journey.

        The block is one step: recorded, judged on what the network and the
        console said meanwhile, and explained when it raises. A step judged
        failed stops the journey (`JourneyStopped`).
        """
        index, started = await self._begin(name), time.monotonic()
        step_timeout, from_journey = self._budget(parse_duration(timeout) if isinstance(timeout, str) else timeout)
        self.context.set_default_timeout(step_timeout * 1000)
        sentence = None
        try:
            yield
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            sentence = await self._explain(exc, step_timeout, from_journey)
            raise
        else:
            await self.capture.settle(min(SETTLE_LIMIT, self.remaining()))
            sentence = self._judge(index)
        finally:
            await self._group_end()
            self._end(index, name, started, sentence)
            self.context.set_default_timeout(max(1.0, self.remaining() * 1000))
        if sentence is not None:
            raise JourneyStopped(sentence)

    async def _begin(self, name: str) -> int:
        index = len(self.steps)
        self.names.append(name)
        self.capture.step = index
        self.on_event("step-start", name)
        if self.tracing:  # named groups make the trace viewer list the journey's steps
            await self._quiet_call(self.context.tracing.group(name))
        return index

    async def _group_end(self) -> None:
        if self.tracing:
            await self._quiet_call(self.context.tracing.group_end())

    def _end(self, index: int, name: str, started: float, sentence: str | None) -> None:
        sentence = sentence and redact(sentence, self.ctx.secrets)
        result = StepResult(name, sentence is None, round((time.monotonic() - started) * 1000, 3), sentence)
        self.steps.append(result)
        if sentence is not None and self.failure is None:
            self.failure, self.failing = f"step '{name}': {sentence}", index
        problems = [entry_dict(e, self.names, self.ctx.secrets) for e in self.capture.entries
                    if e.step == index and e.is_problem]
        messages = [dict(kind=m.kind, **message_dict(m, self.names, self.ctx.secrets))
                    for m in self.capture.messages if m.step == index]
        self.on_event("step-end", {"step": result, "network": problems, "messages": messages})

    def _judge(self, index: int) -> str | None:
        """What the requests and messages seen since the last judgement say about step `index`."""
        entries, messages = self.capture.take_unjudged()
        if self.options.fail_on_http_errors:
            related = most_related(http_problems(entries), index)
            if related is not None:
                self.related = related
                return describe_entry(related, self.options.url)
        if self.options.fail_on_console_errors and messages:
            first = messages[0]
            kind = "page error" if first.kind == "page_error" else "console error"
            return f"{kind}: {one_line(first.text, 300)}"
        return None

    async def _final_judge(self) -> None:
        """Requests still finishing after the last step count against it.

        After a last step that waited out the quiet window, only the requests
        still in flight are waited for. After an assertion, the window is
        waited out once: a view that just appeared often fetches what it shows.
        """
        steps = self.options.steps
        quiet = QUIET if steps and self._quiet(len(steps) - 1) == 0.0 else 0.0
        await self.capture.settle(min(SETTLE_LIMIT, max(0.0, self.remaining())), quiet)
        index = len(self.steps) - 1
        sentence = self._judge(index)
        if sentence is not None and index >= 0:
            step = self.steps[index]
            sentence = redact(sentence, self.ctx.secrets)
            self.steps[index] = StepResult(step.name, False, step.duration_ms, sentence)
            self.failure, self.failing = f"step '{step.name}': {sentence}", index

    async def _explain(self, exc: BaseException, step_timeout: float, from_journey: bool) -> str:
        """The sentence for a step that raised `exc`."""
        if isinstance(exc, JourneyStopped):
            last_error = self.steps[-1].error if self.steps else None
            return last_error if last_error is not None else "stopped"
        words = playwright_words(exc) if isinstance(exc, PlaywrightError) else None
        if await self._browser_gone(exc):
            self.crashed = True
            self.playwright_message = words
            return f"browser crashed ({words or first_line(exc)}); it is relaunched for the next run"
        timed_out = isinstance(exc, (TimeoutError, asyncio.CancelledError)) or getattr(exc, "timed_out", False)
        # A Python journey's own waits: Playwright's TimeoutError, and expect(...) failing as an AssertionError.
        waited = timed_out or isinstance(exc, (PlaywrightTimeoutError, AssertionError))
        if isinstance(exc, StepFailed):
            self.playwright_message, self.related = exc.playwright_message, exc.entry or self.related
        else:
            self.playwright_message = words or first_line(exc)
        if timed_out and from_journey:
            sentence = f"the journey timed out after {format_duration(self.check.timeout)}"
        elif isinstance(exc, StepFailed):
            sentence = str(exc)
        elif timed_out:
            sentence = f"timed out after {format_duration(step_timeout)}"
        else:
            sentence = words or f"{type(exc).__name__}: {first_line(exc)}"
        return self._waited_on(sentence) if waited else sentence

    def _waited_on(self, sentence: str) -> str:
        """`sentence` about a timeout, led by the request the step was waiting on, when there is one.

        The hung `POST /api/threads` is the cause; the element that never
        showed is only its symptom.
        """
        entry = stuck_request(self.capture.entries, self.capture.step,
                              failed_too=self.options.fail_on_http_errors)
        if entry is None or entry is self.related:
            return sentence
        cause = describe_stuck(entry, self.options.url, self.capture.clock())
        if entry.complete:
            self.related = entry  # its server words explain the run
        return f"{cause}; {sentence}"

    async def _browser_gone(self, exc: BaseException) -> bool:
        if self.capture.crashed:
            return True
        text = str(exc).lower()
        if not any(w in text for w in ("closed", "crash", "disconnected")):
            return not self.runtime.is_connected()
        # The error can arrive a moment before the "disconnected" event: give it a second.
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            if not self.runtime.is_connected():
                return True
            await asyncio.sleep(0.02)
        return False

    async def _fail_outside_steps(self, exc: Exception) -> None:
        sentence = await self._explain(exc, self.check.timeout, True)
        if not self.names:
            self.failure = sentence
            return
        self.failure, self.failing = f"step '{self.names[-1]}': {sentence}", len(self.names) - 1

    # -- Python journeys --

    async def _run_script(self, path: Path) -> None:
        name = f"run {path.name}"
        started, first = time.monotonic(), len(self.steps)
        try:
            run = load_script(path)
            self.context.set_default_timeout(max(1.0, self.remaining() * 1000))
            async with asyncio.timeout(max(0.001, self.remaining()) + GRACE):
                await call_script(run, self.page, step=self.script_step, url=self.options.url, expect=expect)
        except JourneyStopped:
            return
        except Exception as exc:
            if self.failure is not None:  # the step that failed already said why
                return
            index = await self._begin(name)
            self._end(index, name, started, await self._explain(exc, self.check.timeout, True))
            return
        if len(self.steps) == first:  # no step() in the script: it was one step
            index = await self._begin(name)
            await self.capture.settle(min(SETTLE_LIMIT, self.remaining()))
            self._end(index, name, started, self._judge(index))

    # -- artifacts and result --

    async def _save(self, keep_always: bool) -> list[str]:
        if self.failure is None and not keep_always:
            if self.tracing:
                await self._quiet_call(self.context.tracing.stop())  # recorded, kept only on failure
            return []
        folder = ArtifactFolder(self.ctx.artifacts_dir, self.check.name)
        if not self.crashed and self._page is not None:
            # Short: a page stuck mid-navigation has nothing to show and never will.
            await self._quiet_call(self._page.screenshot(path=folder.file("screenshot.png"), timeout=2000))
            folder.keep("screenshot.png")
            if self.tracing:
                trace = folder.file("trace.zip")
                await self._quiet_call(self.context.tracing.stop(path=trace))
                await self._redact_trace(trace)
                folder.keep("trace.zip")
        folder.write_json("log.json", self._log(), self.ctx.secrets)
        return folder.files

    async def _redact_trace(self, trace: Path) -> None:
        """Redact the kept trace's text (off the event loop: a trace can be megabytes); a trace that cannot be
        redacted is not kept."""
        if not trace.is_file():
            return
        try:
            await asyncio.to_thread(redact_trace, trace, self.ctx.secrets)
        except Exception as exc:  # noqa: BLE001 - whatever went wrong, an unredacted trace must not stay
            log.warning("%s: dropped the trace, which could not be redacted: %s", self.check.name, exc)
            trace.unlink(missing_ok=True)

    def _log(self) -> dict[str, object]:
        return {
            "check": self.check.name, "url": self.options.url, "failure": self.failure,
            "steps": [s.__dict__ for s in self.steps],
            "network": [entry_dict(e, self.names, ()) for e in self.capture.entries],
            "console": [message_dict(m, self.names, ()) for m in self.capture.messages if m.kind == "console"],
            "page_errors": [message_dict(m, self.names, ()) for m in self.capture.messages
                            if m.kind == "page_error"],
        }

    def _result(self, started_at: datetime, t0: float, artifacts: list[str], failure: str | None = None) -> Result:
        failure = failure or self.failure
        error_text = browser_said = None
        if failure is not None and self.failing is not None:
            error_text = choose_error_text(self.failing, self.capture.entries, self.related)
            if error_text is None:
                browser_said = choose_browser_said(self.failing, self.capture.messages, self.playwright_message)
        if browser_said and failure and browser_said.split(" at ")[0] in failure:
            browser_said = None  # Playwright's words that the failure already quotes
        secrets = self.ctx.secrets
        problems = self.capture.problems()[:MAX_PROBLEMS]
        details = {
            "requests": len(self.capture.entries),
            "network": [entry_dict(e, self.names, secrets) for e in problems],
            "console": [message_dict(m, self.names, secrets) for m in self.capture.messages
                        if m.kind == "console"],
            "page_errors": [message_dict(m, self.names, secrets) for m in self.capture.messages
                            if m.kind == "page_error"],
        }
        return Result(
            check=self.check.name, type=self.check.type, location=self.ctx.location,
            target=redact(self.options.url, secrets), started_at=started_at,
            duration_ms=round(((self.finished or time.monotonic()) - t0) * 1000, 3), ok=failure is None,
            status_code=self.status_code, method="GET", failure=failure and redact(failure, secrets),
            error_text=error_text and redact(error_text, secrets)[:500],
            browser_said=browser_said and redact(browser_said, secrets)[:500], steps=list(self.steps),
            failing_step=self.names[self.failing] if failure and self.failing is not None and self.names else None,
            artifacts=artifacts, details={k: v for k, v in details.items() if v},
        )

    @staticmethod
    async def _quiet_call(awaitable: Awaitable[object]) -> None:
        try:
            await asyncio.wait_for(awaitable, ARTIFACT_TIMEOUT)
        except Exception:  # evidence is best effort: a dead page cannot be photographed
            pass
