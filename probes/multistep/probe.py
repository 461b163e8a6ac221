"""Runs `type = "multistep"` checks: the steps in order, each sent and judged by the HTTP kind's own code.

The first failing step stops the run; the steps after it are not sent,
except the teardown steps (`always = true`). A step that raises (a value
httpx cannot send, a bug of ours) fails as "monitor error: ..." like any
other failing step, so the teardown still runs. A teardown step that needs a
value the run never extracted (the create step failed, so there is no `id`
to delete) is not sent either. Steps that are not sent are left out of
`Result.steps` and listed in `Result.details["steps"]` with `"ran": false`.

The check's `timeout` covers the whole run. A teardown step still gets
`TEARDOWN_GRACE` seconds (at most the check's timeout) when the run has used
up its budget, so that a slow failure does not leave its test data behind.

A failing teardown after passing steps fails the run: the data it was meant
to remove is still there. Everything the run keeps is redacted with the
config's secrets and the values it extracted as secret (`settings.py`),
including the exchanges `monitor replay` prints.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import Any

from monitor.core.config import Check
from monitor.core.durations import format_duration
from monitor.core.redact import redact
from monitor.core.results import Result, StepResult, utcnow
from probes.base import ProbeContext
from probes.error_text import extract_error_text
from probes.exchange import Exchange, ExchangeSink
from probes.http.probe import Answer, HttpProbe
from probes.http.settings import HttpOptions
from probes.multistep.extract import ExtractionFailed, extract
from probes.multistep.settings import MultistepOptions, Step, summary
from probes.multistep.template import Value, as_text, fill, fill_json, fill_url

TEARDOWN_GRACE = 5.0
# A step that raised instead of answering (`_send`): no response, no time measured.
_NO_ANSWER = Answer(status=None, headers=(), body=b"", duration=0.0, phases={}, cert_expires_at=None,
                    failure=None, error_text=None)


@dataclass
class _Outcome:
    """One step that was sent: what came back, and why it failed (None when it passed)."""

    step: Step
    request: HttpOptions
    answer: Answer
    failure: str | None


@dataclass
class _Run:
    """What one run has gathered so far."""

    values: dict[str, Value] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # name -> the URL of the step that extracted it
    secrets: set[str] = field(default_factory=set)
    outcomes: list[_Outcome] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    failed: _Outcome | None = None
    timed_out: str | None = None  # the step the budget ran out before
    timeout: float = 10.0  # the check's, for the whole run


class MultistepProbe:
    """Runs `type = "multistep"` checks through one `HttpProbe` (its clients and TLS contexts)."""

    def __init__(self, ctx: ProbeContext, *, on_exchange: ExchangeSink | None = None):
        self._ctx = ctx
        self._http = HttpProbe(ctx)
        self._on_exchange = on_exchange

    async def close(self) -> None:
        await self._http.close()

    async def run(self, check: Check) -> Result:
        options: MultistepOptions = check.settings
        started_at = utcnow()
        t0 = time.perf_counter()
        deadline = t0 + check.timeout
        run = _Run(secrets=set(self._ctx.secrets), timeout=check.timeout)
        for step in options.steps:
            if (run.failed is not None or run.timed_out is not None) and not step.always:
                why = "an earlier step failed" if run.failed is not None else "the check's timeout ran out"
                run.records.append(_not_run(step, why))
                continue
            missing = [name for name in step.needs if name not in run.values]
            if missing:
                run.records.append(_not_run(step, f"no earlier step extracted {', '.join(missing)} in this run"))
                continue
            remaining = deadline - time.perf_counter()
            if step.always:
                remaining = max(remaining, min(TEARDOWN_GRACE, check.timeout))
            elif remaining <= 0:
                run.timed_out = step.name
                run.records.append(_not_run(step, f"the check's timeout ({format_duration(check.timeout)}) ran out"))
                continue
            await self._send(step, remaining, options, run)
        return _result(check, self._ctx, options, run, started_at, time.perf_counter() - t0)

    async def _send(self, step: Step, timeout: float, options: MultistepOptions, run: _Run) -> None:
        """Send `step` and record how it went; a step never raises, so the teardown steps still run."""
        try:
            await self._send_step(step, timeout, options, run)
        except Exception as exc:  # a bug of ours, or a value nobody foresaw: this step's failure, not the run's end
            failure = f"monitor error: {type(exc).__name__}: {exc}"  # redacted with the run's secrets in _result
            _record(run, _Outcome(step, step.http, _NO_ANSWER, failure))

    async def _send_step(self, step: Step, timeout: float, options: MultistepOptions, run: _Run) -> None:
        request = _filled(step, run)
        heard: list[Exchange] = []
        answer = await self._http.send(request, timeout, secrets=run.secrets, on_exchange=heard.append)
        failure = None if answer.failure is None else _sentence(request, answer)
        if answer.timed_out and not step.always:
            # The step had what was left of the check's timeout, not a timeout of its own.
            failure = f"timed out after {format_duration(run.timeout)} (the check's timeout, for all its steps)"
        if failure is None:
            for name, extractor in step.extract.items():
                try:
                    value = extract(extractor, answer.headers, answer.body)
                except ExtractionFailed as exc:
                    failure = f"could not extract {name} ({extractor.describe()}): {exc}"
                    # A 200 maintenance page, say: what it says is why there is no id.
                    answer = replace(answer, error_text=extract_error_text(
                        answer.body, _content_type(answer.headers), secrets=run.secrets))
                    break
                run.values[name] = value
                run.sources[name] = request.url
                if name in options.secret_names:
                    run.secrets.add(as_text(value))
        # Only now, with this step's secrets known, may its exchanges be shown.
        if self._on_exchange is not None:
            for exchange in heard:
                self._on_exchange(_redacted(exchange, run.secrets))
        _record(run, _Outcome(step, request, answer, failure))


def _record(run: _Run, outcome: _Outcome) -> None:
    """Keep a step that was sent (or tried): in the run's outcomes and records, and as its failure if first."""
    request, answer = outcome.request, outcome.answer
    run.outcomes.append(outcome)
    run.records.append({"name": outcome.step.name, "ran": True, "ok": outcome.failure is None,
                        "method": request.method, "url": request.url, "status": answer.status,
                        "duration_ms": round(answer.duration * 1000, 3), "failure": outcome.failure,
                        "error_text": answer.error_text, "always": outcome.step.always})
    if outcome.failure is not None and run.failed is None:
        run.failed = outcome


def _filled(step: Step, run: _Run) -> HttpOptions:
    """The step's request with this run's values in its `{{ name }}` places."""
    http, values = step.http, run.values
    if not step.needs:
        return http
    body = http.body
    if body is not None and step.json_body:
        body = json.dumps(fill_json(json.loads(body), values)).encode()  # as the HTTP reader wrote it
    elif body is not None:
        body = fill(body.decode(), values).encode()
    return replace(http, url=fill_url(http.url, values, run.sources.__getitem__), body=body,
                   headers={name: fill(value, values) for name, value in http.headers.items()})


def _content_type(headers: tuple[tuple[str, str], ...]) -> str | None:
    return next((value for name, value in headers if name.lower() == "content-type"), None)


def _sentence(request: HttpOptions, answer: Answer) -> str:
    """Why a step failed, in on-call words: "POST /api/threads answered 500", else the HTTP kind's sentence."""
    assert answer.failure is not None, "asked only for a failing answer"
    expect = request.expect
    if answer.status is None or expect.status_ok(answer.status):
        return answer.failure
    said = f"{summary(request)} answered {answer.status}"
    # "answered 500" says it all when only success was expected; "answered 200, expected 201" does not.
    if answer.status >= 400 and all(high < 400 for _, high in expect.status):
        return said
    return f"{said}, expected {expect.describe_status()}"


def _not_run(step: Step, why: str) -> dict[str, Any]:
    return {"name": step.name, "ran": False, "why": why, "always": step.always}


def _result(check: Check, ctx: ProbeContext, options: MultistepOptions, run: _Run, started_at: Any,
            duration: float) -> Result:
    secrets = run.secrets

    def hide(text: str | None) -> str | None:
        return None if text is None else redact(text, secrets)

    failing = run.failed
    failure = None
    if failing is not None:
        failure = f"step {failing.step.name!r}: {failing.failure}"
    elif run.timed_out is not None:
        failure = (f"step {run.timed_out!r}: not sent, the check's timeout ({format_duration(check.timeout)}) "
                   f"ran out before it")
    shown = failing or (run.outcomes[-1] if run.outcomes else None)
    phases: dict[str, float] = {}
    for outcome in run.outcomes:
        for phase, seconds in outcome.answer.phases.items():
            phases[phase] = round(phases.get(phase, 0.0) + seconds, 6)
    expiries = [o.answer.cert_expires_at for o in run.outcomes if o.answer.cert_expires_at is not None]
    steps = [StepResult(o.step.name, o.failure is None, round(o.answer.duration * 1000, 3),
                        _step_error(hide(o.failure), o.answer.error_text)) for o in run.outcomes]
    # error_text is redacted already (by HttpProbe.send, with the secrets known then), and redacting twice
    # is not a no-op: "Bearer [REDACTED]" would lose its closing bracket.
    records = [{k: hide(v) if isinstance(v, str) and k != "error_text" else v for k, v in record.items()}
               for record in run.records]
    return Result(
        check=check.name, type=check.type, location=ctx.location, target=redact(options.target, secrets),
        started_at=started_at, duration_ms=round(duration * 1000, 3), ok=failure is None,
        status_code=shown.answer.status if shown else None, method=shown.request.method if shown else None,
        failure=hide(failure), error_text=failing.answer.error_text if failing else None,
        phases=phases, cert_expires_at=min(expiries) if expiries else None, steps=steps,
        failing_step=(failing.step.name if failing else run.timed_out), details={"steps": records},
    )


def _step_error(failure: str | None, said: str | None) -> str | None:
    """A step's error as `Result.steps` keeps it: our sentence, then the server's words."""
    if failure is None:
        return None
    return f"{failure}: {said}" if said else failure


def _redacted(exchange: Exchange, secrets: Collection[str]) -> Exchange:
    """`exchange` without the run's secrets; the rest stays raw for the printer to redact and escape."""
    def text(value: str) -> str:
        return redact(value, secrets)

    def data(value: bytes | None) -> bytes | None:
        return None if value is None else text(value.decode("utf-8", errors="replace")).encode()

    return replace(exchange, url=text(exchange.url),
                   request_headers=tuple((k, text(v)) for k, v in exchange.request_headers),
                   request_body=data(exchange.request_body),
                   response_headers=tuple((k, text(v)) for k, v in exchange.response_headers),
                   body=data(exchange.body) or b"", error=exchange.error and text(exchange.error))
