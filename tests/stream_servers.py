"""Real TCP (and TLS) servers on loopback for the tcp and tls kinds: one coroutine per connection.

    async with stream_server(greet(b"220 smtp.example ESMTP ready\\r\\n")) as port: ...
    async with stream_server(answer({b"PING\\r\\n": b"+PONG\\r\\n"}), tls=server_context(tmp_path)) as port: ...

They run on the test's own event loop, so an async test needs no thread.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def stream_server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    """Serve `handler` on a free loopback port (over TLS with `tls`); yield the port."""

    serving: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the probe hung up early: that is its right
        finally:
            writer.transport.abort()

    def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Our own task, known at once, so that leaving can wait for every one of them.
        task = asyncio.get_running_loop().create_task(serve(reader, writer))
        serving[task] = writer
        task.add_done_callback(lambda done: serving.pop(done, None))

    server = await asyncio.start_server(connected, "127.0.0.1", 0, ssl=tls)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        # Handlers still waiting for a client that left end now, not as tasks cancelled at the loop's close.
        for writer in list(serving.values()):
            writer.transport.abort()
        await asyncio.gather(*serving, return_exceptions=True)


def greet(banner: bytes) -> Handler:
    """A server that speaks first (SMTP, FTP, SSH style), then waits for the client to leave."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(banner)
        await writer.drain()
        await reader.read()

    return handler


def answer(replies: dict[bytes, bytes]) -> Handler:
    """A server that answers each line it knows (Redis `PING` style) and ignores the others."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line in replies:
                writer.write(replies[line])
                await writer.drain()

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accepts, says nothing, waits for the client to leave."""
    await reader.read()


def only_version(context: ssl.SSLContext, version: ssl.TLSVersion) -> ssl.SSLContext:
    """`context`, made to speak `version` only (old versions need OpenSSL's security level 0)."""
    with warnings.catch_warnings():  # ssl deprecates the old versions, which is the point of the test
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context
