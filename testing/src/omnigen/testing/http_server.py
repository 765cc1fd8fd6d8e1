"""An aiohttp app on 127.0.0.1 (a free port) with its own event loop in a thread, so a fake
provider behaves like a separate process to the client under test."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Self

from aiohttp import web

from omnigen.cli.localaws.process import Started


class ThreadedServer(Started):
    """Subclasses add routes in `setup`; use as `with Fake(...) as fake:`."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def setup(self, app: web.Application) -> None:
        raise NotImplementedError

    async def closing(self) -> None:
        """Runs in the server's loop before it shuts down (e.g. to release hung handlers)."""

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        self.setup(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def _stop(self) -> None:
        await self.closing()
        if self._runner is not None:
            await self._runner.cleanup()
