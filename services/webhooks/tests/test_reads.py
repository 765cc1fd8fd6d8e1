"""Reads shared by concurrent deliveries: one read for the requests made together (one batch
read for different keys), never an answer older than the request."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from omnigen.webhooks.reads import GatheredReads, SharedReads


class Stored:
    """A value behind a read that counts its calls and takes a while."""

    def __init__(self, value: int) -> None:
        self.value = value
        self.reads = 0
        self.fail: Exception | None = None

    async def read(self) -> int:
        self.reads += 1
        seen = self.value
        await asyncio.sleep(0.05)
        if self.fail is not None:
            raise self.fail
        return seen


async def test_requests_made_together_share_one_read() -> None:
    shared, stored = SharedReads(window_s=0.02), Stored(1)
    answers = await asyncio.gather(*(shared.get("owner", stored.read) for _ in range(10)))
    assert answers == [1] * 10
    assert stored.reads == 1
    assert (shared.requests, shared.reads) == (10, 1)


async def test_different_keys_are_read_apart() -> None:
    shared = SharedReads(window_s=0.02)
    one, two = Stored(1), Stored(2)
    assert await asyncio.gather(shared.get("a", one.read), shared.get("b", two.read)) == [1, 2]
    assert (one.reads, two.reads) == (1, 1)


async def test_a_request_made_after_the_read_began_gets_a_read_of_its_own() -> None:
    """A write between the first read's start and a later request (a rotated secret, a
    disabled endpoint) is seen by that request."""
    shared, stored = SharedReads(window_s=0.01), Stored(1)
    first = asyncio.create_task(shared.get("owner", stored.read))
    await asyncio.sleep(0.03)  # the window closed: the read is under way and saw 1
    stored.value = 2
    later = await shared.get("owner", stored.read)
    assert (await first, later) == (1, 2)
    assert stored.reads == 2


async def test_a_failed_read_fails_every_request_that_joined_it_and_the_next_reads_again() -> None:
    shared, stored = SharedReads(window_s=0.01), Stored(1)
    stored.fail = RuntimeError("the table is unreachable")
    answers = await asyncio.gather(
        *(shared.get("owner", stored.read) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(a, RuntimeError) for a in answers)
    stored.fail = None
    assert await shared.get("owner", stored.read) == 1
    assert stored.reads == 2


async def test_one_cancelled_request_leaves_the_others_their_answer() -> None:
    shared, stored = SharedReads(window_s=0.01), Stored(5)
    doomed = asyncio.create_task(shared.get("owner", stored.read))
    kept = asyncio.create_task(shared.get("owner", stored.read))
    await asyncio.sleep(0)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await kept == 5


class Table:
    """Items behind a batch read that records each call's keys and takes a while."""

    def __init__(self, items: dict[str, int]) -> None:
        self.items = items
        self.calls: list[list[str]] = []
        self.fail: Exception | None = None

    async def read_many(self, keys: list[str]) -> Mapping[str, int]:
        self.calls.append(sorted(keys))
        seen = {k: self.items[k] for k in keys if k in self.items}
        await asyncio.sleep(0.05)
        if self.fail is not None:
            raise self.fail
        return seen


async def test_different_keys_asked_together_are_read_in_one_batch() -> None:
    table = Table({"j1": 1, "j2": 2, "j3": 3})
    gathered = GatheredReads(table.read_many, window_s=0.02)
    keys = ["j1", "j2", "j1", "gone", "j3"]
    answers = await asyncio.gather(*(gathered.get(k) for k in keys))
    assert answers == [1, 2, 1, None, 3]  # a key the batch does not answer: None
    assert table.calls == [["gone", "j1", "j2", "j3"]]  # each key once, one call
    assert (gathered.requests, gathered.reads) == (5, 1)


async def test_a_key_asked_after_the_batch_began_gets_the_next_batch() -> None:
    table = Table({"j1": 1})
    gathered = GatheredReads(table.read_many, window_s=0.01)
    first = asyncio.create_task(gathered.get("j1"))
    await asyncio.sleep(0.03)  # the window closed: the batch is under way and saw 1
    table.items["j1"] = 2
    assert (await gathered.get("j1"), await first) == (2, 1)
    assert table.calls == [["j1"], ["j1"]]


async def test_a_failed_batch_fails_every_request_in_it_and_the_next_reads_again() -> None:
    table = Table({"j1": 1, "j2": 2})
    table.fail = RuntimeError("the table is unreachable")
    gathered = GatheredReads(table.read_many, window_s=0.01)
    answers = await asyncio.gather(gathered.get("j1"), gathered.get("j2"), return_exceptions=True)
    assert all(isinstance(a, RuntimeError) for a in answers)
    table.fail = None
    assert await gathered.get("j2") == 2
    assert len(table.calls) == 2


async def test_one_cancelled_request_leaves_the_batch_to_the_others() -> None:
    table = Table({"j1": 1, "j2": 2})
    gathered = GatheredReads(table.read_many, window_s=0.01)
    doomed = asyncio.create_task(gathered.get("j1"))
    kept = asyncio.create_task(gathered.get("j2"))
    await asyncio.sleep(0)
    doomed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert await kept == 2
