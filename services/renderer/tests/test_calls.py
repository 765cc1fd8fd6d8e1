"""What a render costs in AWS calls beyond its work (issue 12): a process reads back nothing it
uploaded itself, and "ready to compose" is announced without a write of its own, yet never lost
nor doubled."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.local_pieces import LocalPieces
from omnigen.shared.domain.events import (
    Event,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.messages import MessageContext
from omnigen.shared.ports import scene_clip_key
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher
from omnigen.testing.renderer import deliver, message_of, renderer_deps
from omnigen.testing.samples import sample_script

CTX = MessageContext("m-1", "r-1", 1, 4, "{}")


class ReadCountingAssets(InMemoryAssetStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def get_file(self, key: str, path: Path) -> None:
        self.reads.append(key)
        await super().get_file(key, path)


class LosesOneCompose(RecordingPublisher):
    """Fails the first publish of compose.requested, as a crash right after the write would."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = False

    async def publish(self, event: Event) -> str:
        if event.event_type.value == "compose.requested" and not self.lost:
            self.lost = True
            raise ConnectionError("publish lost")
        return await super().publish(event)


def deps_with(**changes: object) -> RendererDeps:
    return renderer_deps(**{"assets": ReadCountingAssets(), **changes})


async def make_job(deps: RendererDeps, scenes: tuple[float, ...], continuity: str) -> Job:
    jobs: InMemoryJobRepository = deps.jobs  # type: ignore[assignment]
    request = JobRequest(
        prompt="A lighthouse keeper's last night",
        duration=10,
        options=JobOptions(continuity=continuity),
    )
    job = (await jobs.create_job(user_id="u1", request=request, trace_id="trace-r")).job
    await jobs.embed_script(job.job_id, sample_script(scenes), {"scene_count": len(scenes)})
    return await jobs.get_job(job.job_id)


def ready(job: Job) -> ScriptReady:
    data = ScriptReadyData(title="t", scene_count=len(job.scenes or []))
    return ScriptReady.create(job_id=job.job_id, user_id=job.user_id, data=data)


async def drive(deps: RendererDeps, first: Event, *, fresh_process: bool = False) -> None:
    """Deliver `first`, then every work item published since, each a message of its own (with
    `fresh_process`, each in a process of its own: nothing kept from the others)."""
    events: list[Event] = deps.publisher.events  # type: ignore[attr-defined]
    seen = len(events)
    await deliver(first, CTX, deps)
    while seen < len(events):
        event, seen = events[seen], seen + 1
        if event.event_type.value.endswith(".requested"):
            step = dataclasses.replace(deps, pieces=LocalPieces()) if fresh_process else deps
            await deliver(event, message_of(event), step)


def announced(deps: RendererDeps, event_type: str) -> list[Event]:
    return deps.publisher.of_type(event_type)  # type: ignore[attr-defined,no-any-return]


async def test_one_process_renders_a_chain_without_reading_back_what_it_uploaded() -> None:
    deps = deps_with()
    job = await make_job(deps, (2.5, 2.5, 2.5), "chain")
    await drive(deps, ready(job))
    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    assert deps.assets.reads == []  # type: ignore[attr-defined]


async def test_each_step_in_a_process_of_its_own_downloads_what_it_needs() -> None:
    """A fresh process per message (nothing kept): the chain starts each scene from the
    previous clip, downloaded, and the composition downloads every piece."""
    deps = deps_with()
    job = await make_job(deps, (2.5, 2.5), "chain")
    await drive(deps, ready(job), fresh_process=True)
    done = await deps.jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED
    reads = deps.assets.reads  # type: ignore[attr-defined]
    first, second = (scene_clip_key(job.job_id, n, 1) for n in (1, 2))
    assert reads.count(first) == 2  # scene 2's start, then the composition
    assert reads.count(second) == 1


async def test_a_lost_ready_to_compose_is_announced_by_the_redelivery_and_only_by_it() -> None:
    deps = deps_with(publisher=LosesOneCompose())
    job = await make_job(deps, (2.5, 2.5), "none")
    await deliver(ready(job), CTX, deps)
    requests = list(deps.publisher.events)  # type: ignore[attr-defined]
    last = requests[-1]
    for event in requests[:-1]:
        await deliver(event, MessageContext(f"m-{event.event_id}", "r-1", 1, 4, "{}"), deps)
    message = f"m-{last.event_id}"
    with pytest.raises(ConnectionError):  # the message comes back
        await deliver(last, MessageContext(message, "r-1", 1, 4, "{}"), deps)
    assert deps.publisher.of_type("compose.requested") == []  # type: ignore[attr-defined]
    await deliver(last, MessageContext("m-copy", "r-copy", 1, 4, "{}"), deps)  # a duplicate
    assert deps.publisher.of_type("compose.requested") == []  # type: ignore[attr-defined]
    await deliver(last, MessageContext(message, "r-2", 2, 4, "{}"), deps)  # the redelivery
    (compose,) = announced(deps, "compose.requested")
    await drive(deps, compose)
    assert (await deps.jobs.get_job(job.job_id)).status is JobStatus.COMPLETED
    assert len(announced(deps, "job.completed")) == 1


async def test_kept_pieces_are_bounded_and_a_copy_outlives_its_eviction(tmp_path: Path) -> None:
    pieces = LocalPieces(tmp_path / "work", max_files=2)
    for name in ("a", "b", "c"):
        made = tmp_path / f"{name}.bin"
        made.write_bytes(name.encode() * 10)
        await pieces.keep(f"jobs/x/{name}", made)
        made.unlink()  # the render's directory goes; the kept copy stays
    assert not await pieces.copy_to("jobs/x/a", tmp_path / "a-again")  # the oldest, dropped
    assert await pieces.copy_to("jobs/x/b", tmp_path / "b-again")
    await pieces.keep("jobs/x/d", tmp_path / "b-again")  # b was read last: c goes
    assert not await pieces.copy_to("jobs/x/c", tmp_path / "c-again")
    assert (tmp_path / "b-again").read_bytes() == b"b" * 10
    assets = ReadCountingAssets()
    assets.objects["jobs/x/c"] = b"from s3"
    await pieces.fetch(assets, "jobs/x/c", tmp_path / "c-again")
    assert (tmp_path / "c-again").read_bytes() == b"from s3" and assets.reads == ["jobs/x/c"]


async def test_pieces_kept_at_the_same_moment_are_all_kept(tmp_path: Path) -> None:
    pieces = LocalPieces(tmp_path / "work")
    made = []
    for n in range(8):
        made.append(tmp_path / f"{n}.bin")
        made[-1].write_bytes(bytes([n]) * 100)
    await asyncio.gather(*(pieces.keep(f"k{n}", path) for n, path in enumerate(made)))
    for n in range(8):
        assert await pieces.copy_to(f"k{n}", tmp_path / f"back{n}")
        assert (tmp_path / f"back{n}").read_bytes() == bytes([n]) * 100
