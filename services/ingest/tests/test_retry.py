"""POST /v1/jobs/{id}/retry against real queues: a failed job runs again as its next attempt,
resumed by the event for the step where it failed, with ids of its own."""

from __future__ import annotations

from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import JobStatus

from .helpers import Api, drain_events
from .test_jobs_api import assert_error


async def test_a_failed_job_runs_again_from_where_it_failed(
    api: Api, sample_script: Script
) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    stack = api.stack
    first = await drain_events(stack, stack.spec.scripter_queue.name, expect=1)
    repository = await stack.repository()
    await repository.update_job_stage_with_metadata(job_id, "script_generating")
    await repository.embed_script(job_id, sample_script)
    await repository.update_job_stage_with_metadata(job_id, "scene_2_generating")
    await repository.mark_job_failed(job_id, "rendering was interrupted 4 times")
    await drain_events(stack, stack.spec.outcomes_queue.name, expect=0)

    response = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("alice"))

    assert response.status_code == 202, response.text
    assert response.json()["status"] == "processing"
    assert response.json()["stage"] == "scene_2_generating"
    (resumed,) = await drain_events(stack, stack.spec.renderer_queue.name, expect=1)
    assert resumed.event_type.value == "script.ready" and resumed.job_id == job_id
    assert resumed.event_id != first[0].event_id
    job = await repository.get_job(job_id)
    assert job.attempt == 2 and job.status is JobStatus.PROCESSING
    assert job.attempts[0]["error_message"] == "rendering was interrupted 4 times"
    # the attempt's announcement again (e.g. its first publish failed): the same event id
    again = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("alice"))
    assert again.status_code == 202, again.text
    (repeat,) = await drain_events(stack, stack.spec.renderer_queue.name, expect=1)
    assert repeat.event_id == resumed.event_id


async def test_a_job_without_a_script_resumes_at_the_scripter(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    stack = api.stack
    (accepted,) = await drain_events(stack, stack.spec.scripter_queue.name, expect=1)
    await (await stack.repository()).mark_job_failed(job_id, "cancelled")
    response = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("alice"))
    assert response.status_code == 202, response.text
    (resumed,) = await drain_events(stack, stack.spec.scripter_queue.name, expect=1)
    assert resumed.event_type.value == "job.accepted" and resumed.event_id != accepted.event_id


async def test_running_completed_and_other_users_jobs_are_not_retried(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    running = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("alice"))
    assert_error(running, 409, "not_retryable", "job_id")
    assert "still running" in running.json()["error"]["message"]
    await (await api.stack.repository()).mark_job_failed(job_id, "x")
    stranger = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("mallory"))
    assert_error(stranger, 404, "not_found", "job_id")
    await (await api.stack.repository()).reopen_job(
        await (await api.stack.repository()).get_job(job_id)
    )
    await (await api.stack.repository()).mark_job_complete(job_id, "jobs/x/renders/r/video.mp4")
    done = await api.client.post(f"/v1/jobs/{job_id}/retry", headers=api.auth("alice"))
    assert_error(done, 409, "not_retryable", "job_id")
    assert "completed" in done.json()["error"]["message"]
