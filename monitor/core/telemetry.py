"""What the monitor reports about itself, behind one small interface.

Parts of the service (scheduler, store, alert outbox, browser) call these
methods; they do nothing here. `monitor.app.metrics` implements them with
Prometheus. Passing a `Telemetry` in, rather than importing a global
registry, keeps every test's counters its own.
"""

from __future__ import annotations


class Telemetry:
    def scheduler_lag(self, seconds: float) -> None:
        """A scheduled run started `seconds` after its planned time."""

    def admission_wait(self, seconds: float) -> None:
        """A run waited `seconds` to start because the event loop was behind (monitor/app/admission.py)."""

    def store_error(self, error: Exception) -> None:
        """The monitor's own database refused a write (it is held and tried again)."""

    def store_lost(self, writes: int) -> None:
        """The store writer gave up `writes` writes (backlog full, out of patience, stopping)."""

    def alert_sent(self, channel: str, kind: str) -> None:
        """A notification (`kind`: firing, reminder, resolved, test) reached `channel`."""

    def alert_delivery_failed(self, channel: str, reason: str) -> None:
        """A delivery attempt failed (`reason`: rate_limited, server_error, network, permanent...)."""

    def outbox_pending(self, count: int) -> None:
        """How many notifications wait in the outbox."""

    def incident_state(self, check: str, open: bool, consecutive_failures: int) -> None:
        """A check's incident state after its latest run."""

    def browser_restarted(self) -> None:
        """The shared browser crashed or disconnected and was launched again."""


NO_TELEMETRY = Telemetry()
