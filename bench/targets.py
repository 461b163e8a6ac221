"""A small, fast HTTP/1.1 target on loopback, for the benchmarks.

`GET /` answers 200 "ok" at once; `GET /delay/<ms>` answers after `ms`
milliseconds, the known delay the timing benchmark compares reports to.
It runs in its own process (`python -m bench.targets --port N`) so its CPU
is nobody else's. Written on raw asyncio protocols because a slow target
would measure itself, not the monitor.
"""

from __future__ import annotations

import argparse
import asyncio

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"


def delay_of(request_line: bytes) -> float:
    """Seconds to wait before answering this request line (0 unless `/delay/<ms>`)."""
    parts = request_line.split(b" ")
    if len(parts) >= 2 and parts[1].startswith(b"/delay/"):
        try:
            return max(0.0, float(parts[1][7:].split(b"?")[0])) / 1000
        except ValueError:
            return 0.0
    return 0.0


class Target(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        if b"\r\n\r\n" not in self.buffer:
            return
        delay = delay_of(self.buffer.split(b"\r\n", 1)[0])
        self.buffer = b""
        if delay:
            asyncio.get_running_loop().call_later(delay, self._answer)
        else:
            self._answer()

    def _answer(self):
        if not self.transport.is_closing():
            self.transport.write(OK)
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Target, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()
