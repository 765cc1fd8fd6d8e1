"""The `omnigen` CLI as a user runs it: the one-command demo, and the operator DLQ commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from omnigen.cli.localaws.ports import free_port
from omnigen.ingest.auth import AuthError, JwtVerifier
from omnigen.renderer.media.probe import probe
from omnigen.shared.domain.events import Event, parse_event
from omnigen.shared.domain.jobs import CANCELLED_REASON, JobRequest
from omnigen.shared.domain.stages import JobStatus
from omnigen.testing.e2e import run_cli
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, receive_all, send_raw
from omnigen.testing.samples import accepted_json


async def test_demo_turns_a_prompt_into_an_mp4_and_cleans_up(tmp_path: Path) -> None:
    code, output = await run_cli(
        "demo",
        "A paper boat drifting down a rainy city street",
        "--duration", "10",
        "--aspect-ratio", "1:1",
        "--scale", "0.25",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, output
    [video] = list(tmp_path.glob("*.mp4"))
    assert f"Video saved: {video.resolve()}" in output.replace("\n", "")
    assert "services that did not exit cleanly" not in output
    info = await probe(video)
    assert abs(info.duration_s - 10.0) <= 0.2
    assert info.video is not None and (info.video.width, info.video.height) == (270, 270)


async def test_dlq_list_shows_why_and_redrive_reports_every_letter(moto_stack: Stack) -> None:
    stack = moto_stack
    queue = stack.spec.scripter_queue
    jobs = await stack.repository()
    request = JobRequest(prompt="A lighthouse keeper's last night on a stormy island", duration=10)

    async def job(end: str | None = None) -> str:
        made = (await jobs.create_job(user_id="u", request=request)).job
        await jobs.update_job_stage_with_metadata(made.job_id, "script_generating")
        if end == "failed":
            await jobs.mark_job_failed(made.job_id, "writing the script was interrupted 5 times")
        elif end == "cancelled":
            await jobs.mark_job_failed(made.job_id, CANCELLED_REASON)
        elif end == "completed":
            await jobs.mark_job_complete(made.job_id, "jobs/x/renders/r/video.mp4")
        return made.job_id

    running, failed, cancelled, completed = (
        await job(),
        await job("failed"),
        await job("cancelled"),
        await job("completed"),
    )
    await send_raw(stack, queue.dlq_name, '{"event_type": "job.accepted"')
    for job_id in (running, failed, cancelled, completed, "0" * 32):
        await send_raw(stack, queue.dlq_name, accepted_json(job_id, user_id="u"))
    env = {
        "OMNIGEN_ENDPOINT_URL": stack.settings.endpoint_url or "",
        "OMNIGEN_RESOURCE_PREFIX": stack.settings.resource_prefix,
    }
    code, overview = await run_cli("dlq", "list", env=env, timeout=60)
    assert code == 0, overview
    cells = [[c.strip() for c in line.split("│")] for line in overview.splitlines()]
    assert [queue.name, queue.dlq_name, "6"] in [row[1:4] for row in cells if len(row) > 3]

    code, letters = await run_cli("dlq", "list", "scripter", env=env, timeout=60)
    assert code == 0, letters
    assert "not JSON" in letters and "interrupted 5 times" in letters and "deleted" in letters
    # listing hid nothing: a redrive right after it sees every letter
    code, report = await run_cli("dlq", "redrive", "scripter", env=env, timeout=60)
    assert code == 0, report
    rows = {
        row[2]: row[3]
        for row in ([c.strip() for c in line.split("│")] for line in report.splitlines())
        if len(row) > 4
    }
    assert rows[running] == "requeued" and rows[failed] == "recovered"
    assert rows[cancelled] == "kept" and rows[completed] == "removed"
    assert rows["0" * 32] == "removed"
    assert "moved 2 message(s) (1 recovered); 2 removed, 2 kept" in report
    assert await depth(stack, queue.dlq_name) == 2  # the unparseable and the cancelled stay
    back = await receive_all(stack, queue.name, expect=2, wait_s=10)
    assert sorted(parse_event(m["Body"]).job_id or "" for m in back) == sorted([running, failed])
    reopened = await jobs.get_job(failed)
    assert reopened.status is JobStatus.PROCESSING and reopened.attempt == 2
    # the redriven letter announced the attempt: nothing left for ingest's outbox sweeper
    assert reopened.outbox is None and reopened.announced


async def test_token_mints_what_a_standalone_ingest_accepts() -> None:
    secret = "a-standalone-ingest-secret-of-40-characters"
    env = {
        "OMNIGEN_AUTH_HS256_SECRET": secret,
        "OMNIGEN_AUTH_ISSUER": "https://omnigen.example",
        "OMNIGEN_AUTH_AUDIENCE": "omnigen-api",
    }
    code, output = await run_cli("token", "--user", "alice", env=env, timeout=60)
    assert code == 0, output
    token = output.strip()
    assert token.count(".") == 2 and "\n" not in token  # one line, for export OMNIGEN_TOKEN=$(...)
    verifier = JwtVerifier(
        algorithm="HS256",
        issuer="https://omnigen.example",
        audience="omnigen-api",
        leeway_s=0,
        secret=secret,
    )
    assert (await verifier.verify(token)).user_id == "alice"
    wrong = JwtVerifier(
        algorithm="HS256", issuer=None, audience=None, leeway_s=0, secret=secret + "x"
    )
    with pytest.raises(AuthError):
        await wrong.verify(token)


async def test_token_without_a_secret_says_what_to_set() -> None:
    code, output = await run_cli("token", "--user", "alice", env={"OMNIGEN_AUTH_HS256_SECRET": ""})
    assert code == 2 and "OMNIGEN_AUTH_HS256_SECRET" in output and "Traceback" not in output


def _deployment_env(stack: Stack) -> dict[str, str]:
    """What points the CLI at the stack's emulator and resources."""
    return {
        "OMNIGEN_ENDPOINT_URL": stack.settings.endpoint_url or "",
        "OMNIGEN_RESOURCE_PREFIX": stack.settings.resource_prefix,
    }


async def _published(stack: Stack) -> tuple[dict[str, Any], Event]:
    """The one message the CLI published, as ingest's queue gets it: SNS's envelope (it names
    the topic) and the event inside."""
    (message,) = await receive_all(stack, stack.spec.ingest_queue.name, expect=1, wait_s=10)
    envelope = json.loads(message["Body"])
    return envelope, parse_event(envelope["Message"])


async def test_publish_sends_a_job_request_an_upstream_system_would_send(
    moto_stack: Stack,
) -> None:
    stack = moto_stack
    env = _deployment_env(stack)
    code, output = await run_cli(
        *("publish", "job.requested", "--prompt", "A quiet harbour at sunrise"),
        *("--request-id", "campaign-7", "--user", "crm-user", "--duration", "12"),
        *("--style", "cinematic", "--trace-id", "ab" * 16),
        env=env,
        timeout=60,
    )
    assert code == 0, output
    assert f"to {stack.spec.requests_topic.name}" in output and "ab" * 16 in output
    envelope, event = await _published(stack)
    assert event.event_type.value == "job.requested" and event.user_id == "crm-user"
    assert event.trace_id == "ab" * 16
    assert event.data.model_dump() == {
        "request_id": "campaign-7",
        "request": {
            "prompt": "A quiet harbour at sunrise",
            "duration": 12,
            "aspect_ratio": "16:9",
            "options": {"style": "cinematic"},
        },
    }
    JobRequest.model_validate(event.data.request)  # what ingest will take
    assert envelope["MessageAttributes"]["event_type"]["Value"] == "job.requested"
    assert f"published job.requested {event.event_id}" in output

    code, output = await run_cli(
        *("publish", "job.requested", "--prompt", "x", "--request-id", ""),
        *("--user", "crm-user"),
        env=env,
        timeout=60,
    )
    assert code == 2 and "request_id" in output, output
    assert await depth(stack, stack.spec.ingest_queue.name) == 0


async def test_publish_sends_a_regeneration_request_an_upstream_system_would_send(
    moto_stack: Stack,
) -> None:
    stack = moto_stack
    env = _deployment_env(stack)
    code, output = await run_cli(
        *("publish", "regeneration.requested", "--job-id", "job-41", "--scene", "2"),
        *("--request-id", "fix-2", "--user", "crm-user", "--narration", "The tide turns."),
        env=env,
        timeout=60,
    )
    assert code == 0, output
    _, event = await _published(stack)
    assert (event.event_type.value, event.job_id) == ("regeneration.requested", "job-41")
    assert event.data.model_dump(exclude_none=True) == {
        "request_id": "fix-2",
        "scene_number": 2,
        "changes": {"narration": "The tide turns."},
    }
    assert f"published regeneration.requested {event.event_id}" in output
    assert f"to {stack.spec.requests_topic.name}" in output

    code, output = await run_cli(
        *("publish", "regeneration.requested", "--job-id", "job-41", "--scene", "0"),
        *("--request-id", "fix-3", "--user", "crm-user"),
        env=env,
        timeout=60,
    )
    assert code == 2 and "scene_number" in output, output
    assert await depth(stack, stack.spec.ingest_queue.name) == 0


def _no_deployment_env() -> dict[str, str]:
    from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS

    return {
        **EMULATOR_CREDENTIALS,
        "OMNIGEN_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "AWS_MAX_ATTEMPTS": "1",
    }


@pytest.mark.parametrize(
    "command",
    [
        ("dlq", "list"),
        ("dlq", "redrive", "renderer"),
        ("publish", "regeneration.requested", "--job-id", "job-41", "--scene", "2",
         "--request-id", "fix-2", "--user", "crm-user"),
    ],
)  # fmt: skip
async def test_aws_commands_without_a_deployment_name_what_to_check(
    command: tuple[str, ...],
) -> None:
    code, output = await run_cli(*command, env=_no_deployment_env(), timeout=60)
    assert code == 1, output
    assert "the AWS deployment could not be reached" in output, output
    assert "OMNIGEN_ENDPOINT_URL" in output and "Traceback" not in output, output


async def test_dlq_list_against_another_deployments_names_says_it_was_refused(
    moto_stack: Stack,
) -> None:
    env = {**_deployment_env(moto_stack), "OMNIGEN_RESOURCE_PREFIX": "not-deployed"}
    code, output = await run_cli("dlq", "list", env=env, timeout=60)
    assert code == 1, output
    assert "the AWS deployment refused the call" in output, output
    assert "OMNIGEN_RESOURCE_PREFIX" in output and "Traceback" not in output, output


@pytest.mark.parametrize(
    "command", [("status", "job-41"), ("list",), ("regenerate", "job-41", "--scene", "2")]
)
async def test_api_commands_without_an_api_name_the_url_to_check(
    command: tuple[str, ...],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {"OMNIGEN_API_URL": url, "OMNIGEN_TOKEN": "a-token"}
    code, output = await run_cli(*command, env=env, timeout=60)
    assert code == 1, output
    assert f"could not reach the omnigen API at {url}" in output, output
    assert "OMNIGEN_API_URL" in output and "Traceback" not in output, output
