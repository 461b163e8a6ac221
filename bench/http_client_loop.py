"""One bare HTTP client in a loop: `python -m bench.http_client_loop STACK URL COUNT CONCURRENCY`.

Sends COUNT GETs to URL, CONCURRENCY at a time, a fresh connection for each
(as every probe opens one), and prints one JSON line: requests, failures,
seconds and this process's CPU seconds, from the first request to the last
(imports and start-up excluded). It runs in a process of its own so that the
CPU figure is the client's alone and each stack gets a clean event loop.

STACK is `httpx`, `httpx-aiohttp` (httpx's API over aiohttp's transport) or
`aiohttp`, with `+uvloop` to run on uvloop's event loop.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable

from bench.procs import cpu_seconds

Get = Callable[[str], Awaitable[int]]
STACKS = ("httpx", "httpx-aiohttp", "aiohttp")


async def _with_client(stack: str, use: Callable[[Get], Awaitable[None]]) -> None:
    """Build `stack`'s client (no keep-alive), hand `use` a `get(url) -> status`, close the client."""
    if stack == "aiohttp":
        import aiohttp

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True, limit=0)) as session:
            async def get_aiohttp(url: str) -> int:
                async with session.get(url) as response:
                    await response.read()
                    return response.status

            await use(get_aiohttp)
        return
    import httpx

    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    transport: httpx.AsyncBaseTransport | None = None
    if stack == "httpx-aiohttp":
        import aiohttp
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(client=lambda: aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True, limit=0)))
    async with httpx.AsyncClient(limits=limits, transport=transport, trust_env=False) as client:
        async def get_httpx(url: str) -> int:
            response = await client.get(url)
            return response.status_code

        await use(get_httpx)


async def loop(stack: str, url: str, count: int, concurrency: int) -> dict:
    out = {"requests": 0, "failures": 0, "seconds": 0.0, "cpu_seconds": 0.0}
    remaining = iter(range(count))

    async def worker(get: Get) -> None:
        for _ in remaining:
            try:
                ok = 200 <= await get(url) < 400
            except Exception:
                ok = False
            out["requests"] += 1
            out["failures"] += 0 if ok else 1

    async def use(get: Get) -> None:
        await get(url)  # warm the imports and the TLS/connector set-up
        cpu0, t0 = cpu_seconds(), time.perf_counter()
        await asyncio.gather(*(worker(get) for _ in range(concurrency)))
        out["seconds"], out["cpu_seconds"] = time.perf_counter() - t0, cpu_seconds() - cpu0

    await _with_client(stack, use)
    return out


def main() -> None:
    stack, url, count, concurrency = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    base, _, loop_name = stack.partition("+")
    if base not in STACKS or loop_name not in ("", "uvloop"):
        raise SystemExit(f"unknown stack {stack!r}: choose from {', '.join(STACKS)}, each optionally +uvloop")
    if loop_name == "uvloop":
        import uvloop

        result = uvloop.run(loop(base, url, count, concurrency))
    else:
        result = asyncio.run(loop(base, url, count, concurrency))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
