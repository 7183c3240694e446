"""A small TCP fault proxy between the services and the broker (no toxiproxy here).

It runs on the test's event loop: while a test blocks that loop (a synchronous subprocess call,
`time.sleep`), nothing is forwarded, so tests run blocking work in threads.
"""

from __future__ import annotations

import asyncio
import contextlib


class FaultProxy:
    """Forwards 127.0.0.1:<port> to an upstream; can reset, refuse and blackhole traffic."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.refusing = False
        self.blackholed = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.accepted = 0  # connections forwarded so far (a reconnect shows as one more)

    async def start(self) -> FaultProxy:
        """Listen on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close everything."""
        self.reset()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def reset(self) -> None:
        """Cut every open connection (both directions), as a crashed peer would."""
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    def refuse(self, refusing: bool = True) -> None:
        """Refuse (close at once) new connections while set; existing ones are cut too."""
        self.refusing = refusing
        if refusing:
            self.reset()

    def blackhole(self, silent: bool = True) -> None:
        """Keep connections open but forward nothing, like a dead network path."""
        self.blackholed = silent

    def switch(self, host: str, port: int, *, cut: bool = True) -> None:
        """Send new connections to another upstream (say, a surviving cluster node).

        With `cut`, open connections are reset too, so clients reconnect through the new one.
        """
        self.upstream = (host, port)
        if cut:
            self.reset()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update({writer, up_writer})
        self.accepted += 1
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                if self.blackholed:
                    continue
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(Exception):
                sink.transport.abort()
            self._writers.discard(sink)
