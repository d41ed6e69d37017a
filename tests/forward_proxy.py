"""A forward proxy on loopback, as a corporate network has one: CONNECT tunnels (https) and
absolute-form requests (http), each counted by destination. A thread of its own, so that
blocking tests and subprocesses can use it."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from urllib.parse import urlsplit


class ForwardProxy:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        """"CONNECT host:port" or "GET host:port" → how many."""
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def start() -> None:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()

        self._thread = threading.Thread(
            target=lambda: (self._loop.run_until_complete(start()), self._loop.run_forever()),
            daemon=True,
        )
        self._thread.start()
        ready.wait(10)
        self.url = f"http://127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            writer.close()
            return
        method, target, rest = head.split(b" ", 2)
        if method == b"CONNECT":
            host, _, port = target.decode().rpartition(":")
            self.seen[f"CONNECT {host}:{port}"] += 1
            up_reader, up_writer = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urlsplit(target.decode())
            self.seen[f"{method.decode()} {url.hostname}:{url.port}"] += 1
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port or 80)
            path = (url.path or "/") + (f"?{url.query}" if url.query else "")
            up_writer.write(method + b" " + path.encode() + b" " + rest)
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            for w in (writer, up_writer):
                w.close()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _shutdown(self) -> None:
        self._server.close()
        await self._server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
