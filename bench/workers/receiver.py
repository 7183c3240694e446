"""A webhook receiver that answers 200 at once (`ok`) or never answers (`hang`).

`python -m bench.workers.receiver PORT ok|hang`: plain asyncio HTTP/1.1 with keep-alive, so the
receiver costs little next to the publisher it serves. `ok` counts each request in `Progress`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from bench.progress import Progress

ANSWER = (
    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
)


async def serve(port: int, hang: bool) -> None:
    """Serve until SIGTERM."""
    progress = Progress()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                if hang:
                    await stop.wait()
                    return
                progress.tick()
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    server = await asyncio.start_server(connection, "127.0.0.1", port, backlog=1024)
    async with server:
        await stop.wait()


def main() -> None:
    """Parse the arguments and serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("mode", choices=["ok", "hang"])
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.mode == "hang"))


if __name__ == "__main__":
    main()
