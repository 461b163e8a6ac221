"""Ask blackbox_exporter for probes at a steady rate, as Prometheus would.

A pacer queues `/probe` requests at `rate` per second; a pool of keep-alive
connections sends them. The driver is raw asyncio so that it stays cheap:
it shares the machine with the process it measures. Each answer's
`probe_duration_seconds` and `probe_success` are read from the exposition
text.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import quote


@dataclass
class DriveResult:
    sent: int = 0
    answered: int = 0
    succeeded: int = 0
    seconds: float = 0.0
    # Target URL -> probe_duration_seconds of each answer, in seconds.
    durations: dict[str, list[float]] = field(default_factory=dict)


def parse_probe(body: str) -> tuple[bool, float | None]:
    """(probe_success, probe_duration_seconds) from blackbox_exporter's /probe text."""
    success, duration = False, None
    for line in body.splitlines():
        if line.startswith("probe_success "):
            success = line.split()[1] == "1"
        elif line.startswith("probe_duration_seconds "):
            duration = float(line.split()[1])
    return success, duration


async def _request(reader, writer, path: str) -> str:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).lower()
    if b"transfer-encoding: chunked" in head:
        chunks = []
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")  # the empty trailer
        return b"".join(chunks).decode()
    length = 0
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    return (await reader.readexactly(length)).decode()


async def drive(port: int, mix: list[tuple[str, float]], seconds: float, connections: int = 64,
                module: str = "http_2xx") -> DriveResult:
    """Probe each (target URL, probes/s) of `mix` through the exporter on `port` for `seconds`."""
    out = DriveResult(durations={url: [] for url, _ in mix})
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while (url := await queue.get()) is not None:
                body = await _request(reader, writer, f"/probe?module={module}&target={quote(url, safe='')}")
                ok, duration = parse_probe(body)
                out.answered += 1
                out.succeeded += ok
                if duration is not None:
                    out.durations[url].append(duration)
        finally:
            writer.close()

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    start = time.monotonic()
    sent = {url: 0 for url, _ in mix}
    while (elapsed := time.monotonic() - start) < seconds:
        for url, rate in mix:
            due = int(rate * elapsed) - sent[url]
            for _ in range(due):
                queue.put_nowait(url)
            sent[url] += due
        await asyncio.sleep(0.005)
    out.sent = sum(sent.values())
    # Answers still queued after the window are not waited for: the rate is what was achieved in it.
    out.seconds = time.monotonic() - start
    answered_in_window = out.answered
    while not queue.empty():
        queue.get_nowait()
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.wait(workers, timeout=10)
    for task in workers:
        task.cancel()
    out.answered = answered_in_window
    return out
