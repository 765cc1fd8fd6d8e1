"""docs/integrating.md's runnable example, run as an upstream system would run it: a separate
process with boto3 only, against the real services on each backend."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema

from omnigen.testing.e2e import log_events, running_pipeline
from omnigen.testing.fixtures import Stack

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "upstream_client.py"


def _example(stack: Stack, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": stack.settings.endpoint_for("sqs") or "",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return subprocess.run(
        [
            sys.executable,
            str(EXAMPLE),
            "--requests-topic-arn",
            stack.applied.topic_arns[stack.spec.requests_topic.name],
            "--events-topic-arn",
            stack.applied.topic_arns[stack.spec.events_topic.name],
            "--timeout",
            str(timeout - 30),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_the_example_event_is_what_the_published_schema_describes() -> None:
    printed = subprocess.run(
        [
            *(sys.executable, str(EXAMPLE), "--print-event", "--requests-topic-arn", "a"),
            *("--events-topic-arn", "b", "--user-id", "u", "--request-id", "r"),
            *("--prompt", "A quiet harbour at sunrise", "--duration", "12"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    schema = json.loads((ROOT / "docs" / "schemas" / "job.requested.v1.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    assert list(validator.iter_errors(json.loads(printed))) == []


async def test_an_upstream_system_gets_its_video_or_its_rejection(
    stack: Stack, tmp_path: Path
) -> None:
    async with running_pipeline(stack, tmp_path / "services") as pipeline:
        rejected, completed = await asyncio.gather(
            asyncio.to_thread(
                _example,
                stack,
                *("--user-id", "crm-user", "--request-id", "too-short"),
                *("--prompt", "A quiet harbour at sunrise", "--duration", "5"),
            ),
            asyncio.to_thread(
                _example,
                stack,
                *("--user-id", "crm-user", "--request-id", "campaign-7"),
                *("--prompt", "A quiet harbour at sunrise", "--duration", "10"),
            ),
        )
    assert rejected.returncode == 1, rejected.stderr
    (rejection,) = [json.loads(line) for line in rejected.stdout.splitlines()]
    assert rejection["event_type"] == "job.rejected"
    assert [p["field"] for p in rejection["data"]["reasons"]] == ["duration"]

    assert completed.returncode == 0, completed.stderr
    answers = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [a["event_type"] for a in answers] == ["job.accepted", "job.completed"]
    assert answers[0]["job_id"] == answers[1]["job_id"]
    assert answers[1]["data"]["video_key"].endswith(".mp4")
    assert len(log_events(pipeline, "renderer", "video_completed")) == 1
