"""A regeneration whose work items could not be published (SNS down at the regenerate) is
completed all the same: ingest's use case starts the version (answering it as owed), the
outbox sweeper sends its work items once, and the renderer's handlers (in-memory ports, the
real local providers) render and compose the version."""

from __future__ import annotations

import time

from omnigen.ingest.handlers import IngestPorts
from omnigen.ingest.outbox import OutboxSweeper
from omnigen.ingest.versions import regenerate_scene
from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.shared.domain.events import (
    Event,
    ScriptReady,
    ScriptReadyData,
)
from omnigen.shared.domain.jobs import OUTBOX_EVENT, JobOptions, JobRequest
from omnigen.shared.domain.scenes import Continuity
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.domain.usage import usage_month
from omnigen.shared.domain.versions import SceneChanges
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher
from omnigen.testing.renderer import deliver, message_of
from omnigen.testing.samples import sample_script


class UnreachablePublisher:
    """SNS down: every publish fails, as the real publisher's would."""

    async def publish(self, event: Event) -> str:
        raise ConnectionError("Could not connect to the endpoint URL")


async def deliver_all(deps: RendererDeps, seen: int) -> int:
    """Deliver every event published from index `seen` on to the renderer, each once."""
    events = deps.publisher.events  # type: ignore[attr-defined]
    while seen < len(events):
        event = events[seen]
        seen += 1
        await deliver(event, message_of(event), deps)
    return seen


async def test_a_version_whose_work_items_were_lost_is_swept_once_and_completes() -> None:
    jobs, publisher = InMemoryJobRepository(), RecordingPublisher()
    deps = RendererDeps(
        jobs=jobs,
        publisher=publisher,
        assets=InMemoryAssetStore(),
        clips=LocalClipGenerator(),
        narrator=EspeakNarrator(),
        music=SynthMusicSource(),
        scale=0.25,
    )
    request = JobRequest(
        prompt="A lighthouse keeper's last night",
        duration=12,
        options=JobOptions(continuity=Continuity.NONE),
    )
    job = (await jobs.create_job(user_id="u1", request=request)).job
    await jobs.embed_script(job.job_id, sample_script((4.0, 4.0, 4.0)), {"scene_count": 3})
    ready = ScriptReady.create(
        job_id=job.job_id,
        user_id="u1",
        trace_id=None,
        data=ScriptReadyData(title="t", scene_count=3),
    )
    await publisher.publish(ready)
    seen = await deliver_all(deps, 0)
    first = await jobs.get_job(job.job_id)
    assert first.status is JobStatus.COMPLETED

    down = IngestPorts(repository=jobs, publisher=UnreachablePublisher(), assets=deps.assets)
    made = await regenerate_scene(
        down, first, 2, SceneChanges(camera_move="static"), request_id="api:k1", trace_id=None
    )
    assert made.created and not made.announced and made.version == 2
    owing = await jobs.get_job(job.job_id)
    assert owing.outbox == OUTBOX_EVENT and owing.status is JobStatus.PROCESSING
    assert len(publisher.events) == seen  # nothing was sent

    up = IngestPorts(repository=jobs, publisher=publisher, assets=deps.assets)
    sweeper = OutboxSweeper(up, interval_s=60, age_s=0)
    assert await sweeper.sweep() == 1
    assert await sweeper.sweep() == 0  # recorded: never sent twice
    sent = publisher.events[seen:]
    assert [(e.event_type.value, e.data.version) for e in sent] == [("scene.requested", 2)]  # type: ignore[attr-defined]
    await deliver_all(deps, seen)

    done = await jobs.get_job(job.job_id)
    assert done.status is JobStatus.COMPLETED and done.render_version == 2
    assert done.outbox is None and done.video_key != first.video_key
    completed = publisher.of_type("job.completed")
    assert [getattr(e.data, "version", 1) for e in completed] == [1, 2]
    totals = jobs.usage[("u1", usage_month(time.time()))]
    assert (totals.versions, totals.completed_versions, totals.requested_seconds) == (1, 1, 16)
