"""`estimated_completion_seconds`: it shrinks as the job advances and is gone once it ends."""

from __future__ import annotations

from omnigen.shared.domain.eta import estimated_completion_seconds
from omnigen.shared.domain.jobs import Job, JobRequest
from omnigen.shared.domain.scenes import Continuity, RenderState, plan_metadata
from omnigen.shared.domain.stages import JobStatus
from omnigen.testing.samples import sample_script

CREATED = 1_000_000.0


def _job(duration: int = 30) -> Job:
    request = JobRequest(prompt="A lighthouse keeper's last night on duty", duration=duration)
    return Job.new(job_id="j1", user_id="u1", request=request, now=CREATED)


def _at(job: Job, stage: str, **changes: object) -> Job:
    return job.model_copy(update={"stage": stage, "status": JobStatus.PROCESSING, **changes})


def _scripted(job: Job, durations: tuple[float, ...]) -> dict[str, object]:
    script = sample_script(durations)
    return {
        "title": script.title,
        "scenes": script.scenes,
        "audio_spec": script.audio_spec,
        "script_metadata": script.metadata,
    }


def _rendering(job: Job, done: int, continuity: Continuity, total: int = 4) -> Job:
    metadata = plan_metadata(total, continuity)
    for number in range(1, done + 1):
        state = RenderState.of(metadata)
        assert state is not None
        write = state.completion(number, f"clips/{number}")
        assert write is not None
        metadata = {**metadata, **write.metadata}
    stage = "scene_1_generating" if done == 0 else f"scene_{done}_complete"
    return _at(job, stage, metadata=metadata, **_scripted(job, (7.5,) * total))


def test_the_estimate_moves_toward_zero_as_the_job_advances() -> None:
    job = _job()
    now = CREATED + 1  # judged at a fixed instant: only the stage differs
    steps = [
        job,
        _at(job, "script_generating"),
        _at(job, "script_complete", **_scripted(job, (7.5,) * 4)),
        *(_rendering(job, done, Continuity.CHAIN) for done in range(4)),
        _at(_rendering(job, 4, Continuity.CHAIN), "audio_generating"),
        _at(_rendering(job, 4, Continuity.CHAIN), "composing"),
    ]

    estimates = [estimated_completion_seconds(step, now) for step in steps]

    assert all(isinstance(e, int) and e >= 1 for e in estimates), estimates
    assert estimates == sorted(estimates, reverse=True), estimates
    assert estimates[0] > estimates[-1]


def test_a_finished_job_has_no_estimate() -> None:
    job = _job()
    completed = job.model_copy(update={"status": JobStatus.COMPLETED, "stage": "completed"})
    failed = job.model_copy(update={"status": JobStatus.FAILED})

    assert estimated_completion_seconds(completed, CREATED + 5) is None
    assert estimated_completion_seconds(failed, CREATED + 5) is None


def test_a_longer_video_is_estimated_to_take_longer() -> None:
    assert estimated_completion_seconds(_job(60), CREATED) > estimated_completion_seconds(  # type: ignore[operator]
        _job(15), CREATED
    )


def test_scenes_rendered_at_once_finish_sooner_than_chained_ones() -> None:
    job = _job()
    chained = estimated_completion_seconds(_rendering(job, 0, Continuity.CHAIN), CREATED + 1)
    parallel = estimated_completion_seconds(_rendering(job, 0, Continuity.NONE), CREATED + 1)

    assert parallel is not None and chained is not None
    assert parallel < chained


def test_a_slow_job_is_judged_by_its_own_pace() -> None:
    """Half the scenes took ten minutes (a hosted model): the rest will not take seconds."""
    halfway = _rendering(_job(), 2, Continuity.CHAIN)

    quick = estimated_completion_seconds(halfway, CREATED + 20)
    slow = estimated_completion_seconds(halfway, CREATED + 600)

    assert quick is not None and slow is not None
    assert slow > 10 * quick
    assert slow < 600  # about as long again as it took, not more
