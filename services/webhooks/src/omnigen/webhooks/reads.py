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
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")

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
            _start(self._reading, self._read(key, waiting, read))
        # shield: one caller cancelled (its heartbeat lost the message) must not cancel the
        # read the others wait for.
        result: T = await asyncio.shield(waiting)
        return result

    async def _read(
        self, key: Hashable, waiting: asyncio.Future[Any], read: Callable[[], Awaitable[Any]]
    ) -> None:
        # From the window's end on, a new request starts a new read: this one may be under way.
        await _after_window(self._window_s, lambda: self._waiting.pop(key))
        self.reads += 1
        await _answer({key: waiting}, read, lambda found, _key: found)


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
            _start(self._reading, self._read(gathering))
        waiting = gathering.get(key)
        if waiting is None:
            waiting = gathering[key] = asyncio.get_running_loop().create_future()
        result: V | None = await asyncio.shield(waiting)  # see SharedReads.get
        return result

    async def _read(self, gathering: dict[K, asyncio.Future[V | None]]) -> None:
        await _after_window(self._window_s, self._stop_gathering)  # later keys: the next read
        self.reads += 1
        await _answer(gathering, lambda: self._read_many(list(gathering)), _found)

    def _stop_gathering(self) -> None:
        self._gathering = None


def _found(found: Mapping[K, V], key: K) -> V | None:
    return found.get(key)


def _start(running: set[asyncio.Task[None]], read: Coroutine[Any, Any, None]) -> None:
    """Run `read` as a task kept in `running` until it ends."""
    task = asyncio.create_task(read)
    running.add(task)
    task.add_done_callback(running.discard)


async def _after_window(window_s: float, close: Callable[[], object]) -> None:
    """Wait out the window in which requests join, then `close` it (even when cancelled)."""
    try:
        if window_s > 0:
            await asyncio.sleep(window_s)
    finally:
        close()


async def _answer(
    waiting: Mapping[K, asyncio.Future[Any]],
    read: Callable[[], Awaitable[R]],
    answer: Callable[[R, K], Any],
) -> None:
    """Run the one `read` and settle every request waiting for it: each its `answer`, or all
    the read's failure, or all cancelled with it."""
    try:
        found = await read()
    except asyncio.CancelledError:
        for future in waiting.values():
            future.cancel()
        raise
    except Exception as exc:
        for future in waiting.values():
            future.set_exception(exc)
            future.exception()  # retrieved here: nobody may be left waiting for it
        return
    for key, future in waiting.items():
        future.set_result(answer(found, key))
