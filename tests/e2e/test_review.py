"""Review before render through the real services (moto, and LocalStack with DynamoDB on moto):
a job asked with `review: true` stops at awaiting_review and says so on the outcomes path; its
owner edits the script (ETag) and approves it (twice, at once); the video speaks the edited
words, and the job completes once. The upstream path does the same with events."""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from pathlib import Path

import yaml

from omnigen.shared.domain.events import (
    JobRenderRequested,
    JobRenderRequestedData,
    JobRequested,
    JobRequestedData,
)
from omnigen.testing.e2e import (
    api,
    log_events,
    run_cli,
    running_pipeline,
    wait_for_end,
    wait_for_stage,
)
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import received_events
from omnigen.testing.samples import given_script

EDITED = "Keep every pot well away from hot radiators."


async def test_review_edit_and_render_speaks_the_edited_script(
    stack: Stack, tmp_path: Path
) -> None:
    async with running_pipeline(stack, tmp_path / "services") as pipeline, api(pipeline) as client:
        body = {"script": given_script(), "aspect_ratio": "9:16", "review": True}
        response = await client.post("/v1/jobs", json=body)
        assert response.status_code == 202, response.text
        job_id = response.json()["job_id"]
        waiting = await wait_for_stage(client, job_id, lambda j: j["stage"] == "awaiting_review")
        assert waiting["status"] == "pending"
        await asyncio.sleep(2)  # nothing renders it meanwhile
        assert (await client.get(f"/v1/jobs/{job_id}")).json()["stage"] == "awaiting_review"

        read = await client.get(f"/v1/jobs/{job_id}/script")
        assert read.status_code == 200, read.text
        script = copy.deepcopy(read.json()["script"])
        script["scenes"][2]["narration"] = EDITED
        stale = await client.put(
            f"/v1/jobs/{job_id}/script", json={"script": script}, headers={"If-Match": '"old"'}
        )
        assert stale.status_code == 412, stale.text
        saved = await client.put(
            f"/v1/jobs/{job_id}/script",
            json={"script": script},
            headers={"If-Match": read.headers["ETag"]},
        )
        assert saved.status_code == 200, saved.text

        approvals = await asyncio.gather(
            client.post(f"/v1/jobs/{job_id}/render"), client.post(f"/v1/jobs/{job_id}/render")
        )
        assert [a.status_code for a in approvals] == [202, 202], [a.text for a in approvals]
        job = await wait_for_end(client, job_id)
        assert job["status"] == "completed", job.get("error_message")

        expected = [s["narration"] for s in given_script()["scenes"][:2]] + [EDITED]
        assert [s["narration"] for s in job["scenes"]] == expected
        outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=2)
        assert sorted((e.event_type.value, e.job_id) for e in outcomes) == [
            ("job.completed", job_id),
            ("script.awaiting_review", job_id),
        ]
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1


async def test_an_upstream_job_with_review_waits_for_an_upstream_approval(
    stack: Stack, tmp_path: Path
) -> None:
    async with running_pipeline(stack, tmp_path / "services") as pipeline:
        publisher = await stack.requests_publisher()
        request = JobRequested.create(
            job_id=None,
            user_id="upstream-user",
            data=JobRequestedData(
                request_id="crm-review-1",
                request={"script": given_script(), "review": True},
            ),
        )
        await publisher.publish(request)
        (waiting,) = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
        assert waiting.event_type.value == "script.awaiting_review"
        assert waiting.data.title == given_script()["title"]  # type: ignore[attr-defined]
        approval = JobRenderRequested.create(
            job_id=waiting.job_id, user_id="upstream-user", data=JobRenderRequestedData()
        )
        await publisher.publish(approval)
        async with api(pipeline, user="upstream-user") as client:
            job = await wait_for_end(client, str(waiting.job_id))
        assert job["status"] == "completed", job.get("error_message")
        outcomes = await received_events(stack, stack.spec.outcomes_queue.name, expect=1)
        assert [(e.event_type.value, e.job_id) for e in outcomes] == [
            ("job.completed", waiting.job_id)
        ]
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1


EDITOR_SCRIPT = """
import os, sys, yaml
path = sys.argv[1]
script = yaml.safe_load(open(path, encoding="utf-8"))
script["scenes"][2]["narration"] = os.environ["NEW_NARRATION"]
open(path, "w", encoding="utf-8").write(yaml.safe_dump(script, sort_keys=False))
"""


async def test_the_cli_submits_a_script_for_review_edits_it_and_renders_it(
    moto_stack: Stack, tmp_path: Path
) -> None:
    script_file = tmp_path / "script.yaml"
    script_file.write_text(yaml.safe_dump(given_script(), sort_keys=False), encoding="utf-8")
    editor = tmp_path / "edit.py"
    editor.write_text(EDITOR_SCRIPT, encoding="utf-8")
    async with running_pipeline(moto_stack, tmp_path / "services") as pipeline:
        env = {
            "OMNIGEN_API_URL": pipeline.api_url,
            "OMNIGEN_TOKEN": pipeline.mint_token("cli-user"),
            "EDITOR": f"{sys.executable} {editor}",
        }
        code, output = await run_cli("submit", "--script", str(script_file), "--review", env=env)
        assert code == 0, output
        job_id = output.strip().splitlines()[-1]
        code, output = await run_cli("status", job_id, "--watch", env=env)
        assert code == 0 and "awaiting_review" in output, output

        code, output = await run_cli("script", job_id, env=env)
        assert code == 0 and given_script()["scenes"][2]["narration"] in output, output
        too_long = " ".join(["word"] * 40)
        code, output = await run_cli(
            "script", job_id, "--edit", env={**env, "NEW_NARRATION": too_long}
        )
        assert code == 1 and "script.scenes[2].narration" in output, output
        code, output = await run_cli(
            "script", job_id, "--edit", env={**env, "NEW_NARRATION": EDITED}
        )
        assert code == 0 and "saved" in output, output

        code, output = await run_cli("render", job_id, "--watch", env=env)
        assert code == 0 and "completed" in output, output
        code, output = await run_cli("script", job_id, "--format", "json", env=env)
        shown = json.loads(output[output.index("{") :])
        assert shown["scenes"][2]["narration"] == EDITED
