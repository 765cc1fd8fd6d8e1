"""One read for the deliveries that ask for the same thing at the same moment.

The messages of one receive usually belong to few owners (a bulk user's jobs end together), and
each delivery reads its owner's endpoints (two requests) or callback key. `SharedReads` lets the
requests for one key made within `window_s` wait for a single read that starts after the last
of them was made. So no caller ever gets an answer older than its own request: a secret rotated
or an endpoint disabled before a delivery asked is seen by it, exactly as with a read of its
own; there is no cache, nothing outlives the read. A failed read fails every request that
joined it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

WINDOW_S = 0.02


class SharedReads:
    def __init__(self, window_s: float = WINDOW_S) -> None:
        self._window_s = window_s
        self._waiting: dict[Hashable, asyncio.Future[Any]] = {}
        self._reading: set[asyncio.Task[None]] = set()
        self.reads = 0
        self.requests = 0

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s answer, shared with the requests for `key` made within the window."""
        self.requests += 1
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting[key] = waiting
            task = asyncio.create_task(self._read(key, waiting, read))
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)
        # shield: one caller cancelled (its heartbeat lost the message) must not cancel the
        # read the others wait for.
        result: T = await asyncio.shield(waiting)
        return result

    async def _read(
        self, key: Hashable, waiting: asyncio.Future[Any], read: Callable[[], Awaitable[Any]]
    ) -> None:
        try:
            if self._window_s > 0:
                await asyncio.sleep(self._window_s)
        finally:
            # From here on, a new request starts a new read: this one may already be under way.
            del self._waiting[key]
        self.reads += 1
        try:
            waiting.set_result(await read())
        except asyncio.CancelledError:
            waiting.cancel()
            raise
        except Exception as exc:
            waiting.set_exception(exc)
            waiting.exception()  # retrieved here: nobody may be left waiting for it


class GatheredReads(Generic[K, V]):
    """Like `SharedReads`, for reads that batch: the different keys asked for within the
    window are read together by one `read_many` call (the jobs of one receive: one
    BatchGetItem). The call starts after the last of them was asked, so again no answer is
    older than its request; a key the call does not answer is None."""

    def __init__(
        self, read_many: Callable[[list[K]], Awaitable[Mapping[K, V]]], window_s: float = WINDOW_S
    ) -> None:
        self._read_many = read_many
        self._window_s = window_s
        self._gathering: dict[K, asyncio.Future[V | None]] | None = None
        self._reading: set[asyncio.Task[None]] = set()
        self.reads = 0
        self.requests = 0

    async def get(self, key: K) -> V | None:
        self.requests += 1
        gathering = self._gathering
        if gathering is None:
            gathering = self._gathering = {}
            task = asyncio.create_task(self._read(gathering))
            self._reading.add(task)
            task.add_done_callback(self._reading.discard)
        waiting = gathering.get(key)
        if waiting is None:
            waiting = gathering[key] = asyncio.get_running_loop().create_future()
        result: V | None = await asyncio.shield(waiting)  # see SharedReads.get
        return result

    async def _read(self, gathering: dict[K, asyncio.Future[V | None]]) -> None:
        try:
            if self._window_s > 0:
                await asyncio.sleep(self._window_s)
        finally:
            self._gathering = None  # later requests gather for the next read
        self.reads += 1
        try:
            found = await self._read_many(list(gathering))
        except asyncio.CancelledError:
            for waiting in gathering.values():
                waiting.cancel()
            raise
        except Exception as exc:
            for waiting in gathering.values():
                waiting.set_exception(exc)
                waiting.exception()  # retrieved here: nobody may be left waiting for it
            return
        for key, waiting in gathering.items():
            waiting.set_result(found.get(key))
