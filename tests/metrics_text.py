"""What a monitor's /metrics says, as {(sample name, frozenset of its labels): value}.

    samples = scrape(running)           # anything with a `url`: a ServiceThread, a MonitorProcess
    samples[("synthetic_store_healthy", frozenset())] == 1.0
"""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def metric_samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def scrape(monitor) -> dict[tuple[str, frozenset], float]:
    """GET `monitor.url`/metrics, parsed."""
    return metric_samples(httpx.get(f"{monitor.url}/metrics", timeout=5).text)
