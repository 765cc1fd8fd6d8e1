"""POST /v1/jobs:batch: one result per item, each item treated as its own POST (validation,
idempotency, the running-jobs cap, the rate limit), a refused item never undoing an accepted one.
On moto and on the LocalStack leg where SNS matters."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import httpx

from omnigen.shared.domain.events import EventType
from omnigen.testing.fixtures import Stack

from .helpers import Api, drain_events, hs_token, job_body, serve_api, settings_for

PATH = "/v1/jobs:batch"
OMNIGEN = str(Path(sys.executable).parent / "omnigen")


async def _batch(api: Api, user: str, items: list[Any]) -> httpx.Response:
    return await api.client.post(PATH, json={"jobs": items}, headers=api.auth(user))


def _item(key: str, **overrides: Any) -> dict[str, Any]:
    return {"idempotency_key": key, "request": job_body(**overrides)}


async def test_a_mixed_batch_gets_one_result_per_item_in_order(stack: Stack) -> None:
    async with serve_api(stack, settings_for(stack)) as api:
        first = await api.submit("ann", key="already-there", duration=12)
        assert first.status_code == 202
        items = [
            _item("new-1", duration=10),
            _item("bad-duration", duration="30"),  # strict: a string is not a number
            _item("already-there", duration=12),  # replay of the POST above
            _item("already-there", duration=40),  # the same key, another request
            {"request": job_body()},  # no key
            _item("new-2", duration=11, style="x" * 500),  # not a style
            _item("new-3", duration=13, aspect_ratio="4:3"),
            _item("new-2b", duration=11),
            "not an object",
        ]
        response = await _batch(api, "ann", items)
        assert response.status_code == 200, response.text
        body = response.json()
        results = body["results"]
        assert [r["index"] for r in results] == list(range(len(items)))
        assert [(r["status"], r["outcome"]) for r in results] == [
            (202, "accepted"),
            (422, "invalid"),
            (200, "replayed"),
            (409, "conflict"),
            (422, "invalid"),
            (422, "invalid"),
            (422, "invalid"),
            (202, "accepted"),
            (422, "invalid"),
        ]
        assert results[1]["error"]["field"] == "request.duration"
        assert results[2]["job_id"] == first.json()["job_id"]
        assert results[3]["error"] == {
            "code": "idempotency_conflict",
            "message": results[3]["error"]["message"],
            "field": "idempotency_key",
            "request_id": response.headers["X-Trace-Id"],
        }
        assert results[4]["error"]["field"] == "idempotency_key"
        assert results[5]["error"]["field"] == "request.style"
        assert "cinematic" in results[5]["error"]["message"]  # the allowed values, listed
        assert all(results[i]["estimated_completion_seconds"] >= 1 for i in (0, 2, 7))
        assert results[1]["estimated_completion_seconds"] is None
        assert results[6]["error"]["field"] == "request.aspect_ratio"
        assert (body["accepted"], body["replayed"], body["refused"]) == (2, 1, 6)

        # What was accepted exists, is the user's, and was announced once each.
        for result in (results[0], results[7]):
            job = await api.client.get(result["links"]["self"], headers=api.auth("ann"))
            assert job.status_code == 200 and job.json()["job_id"] == result["job_id"]
            other = await api.client.get(result["links"]["self"], headers=api.auth("bob"))
            assert other.status_code == 404
        events = await drain_events(stack, stack.spec.scripter_queue.name, expect=3)
        announced = sorted(e.job_id or "" for e in events if e.event_type is EventType.JOB_ACCEPTED)
        assert announced == sorted(
            [results[0]["job_id"], results[7]["job_id"], first.json()["job_id"]]
        )

        # The same batch again: every accepted item is a replay of its job, nothing new.
        again = (await _batch(api, "ann", items)).json()
        assert [r["outcome"] for r in again["results"]][:3] == ["replayed", "invalid", "replayed"]
        assert again["results"][0]["job_id"] == results[0]["job_id"]
        assert again["accepted"] == 0
        assert await drain_events(stack, stack.spec.scripter_queue.name) == []


async def test_the_running_jobs_cap_refuses_the_later_items_and_keeps_the_earlier(
    stack: Stack,
) -> None:
    settings = settings_for(stack, max_running_jobs=3)
    async with serve_api(stack, settings) as api:
        response = await _batch(api, "cap", [_item(f"k{i}", duration=10 + i) for i in range(8)])
        results = response.json()["results"]
        assert [r["outcome"] for r in results] == ["accepted"] * 3 + ["limited"] * 5
        assert {r["error"]["code"] for r in results[3:]} == {"too_many_running_jobs"}
        repository = await stack.repository()
        assert await repository.running_jobs(api.user_id("cap")) == 3
        # Two batches at once still make no more than the cap allows.
        more = await asyncio.gather(
            _batch(api, "cap2", [_item(f"a{i}", duration=10 + i) for i in range(4)]),
            _batch(api, "cap2", [_item(f"b{i}", duration=20 + i) for i in range(4)]),
        )
        outcomes = [r["outcome"] for m in more for r in m.json()["results"]]
        assert outcomes.count("accepted") == 3 and outcomes.count("limited") == 5
        assert await repository.running_jobs(api.user_id("cap2")) == 3


async def test_every_item_counts_against_the_rate_limit(stack_now: Stack) -> None:
    # burst 5 per window: the batch request itself takes one, its items the next four.
    settings = settings_for(stack_now, rate_limit_per_minute=5, rate_limit_burst=5)
    async with serve_api(stack_now, settings) as api:
        response = await _batch(api, "fast", [_item(f"r{i}", duration=10 + i) for i in range(6)])
        results = response.json()["results"]
        assert [r["outcome"] for r in results] == ["accepted"] * 4 + ["limited"] * 2
        assert results[4]["error"]["code"] == "rate_limited"
        # and the next request of any kind is limited too
        listed = await api.client.get("/v1/jobs", headers=api.auth("fast"))
        assert listed.status_code == 429


async def test_a_malformed_batch_is_one_422_naming_the_field(stack_now: Stack) -> None:
    async with serve_api(stack_now, settings_for(stack_now)) as api:
        cases = {
            "jobs": {"jobs": []},
            "body": [],
        }
        for field, payload in cases.items():
            response = await api.client.post(PATH, json=payload, headers=api.auth("m"))
            assert response.status_code == 422, response.text
            assert response.json()["error"]["field"] == field
        too_many = {"jobs": [_item(f"k{i}") for i in range(101)]}
        response = await api.client.post(PATH, json=too_many, headers=api.auth("m"))
        assert response.status_code == 422 and response.json()["error"]["field"] == "jobs"
        unknown = {"jobs": [_item("k")], "priority": "high"}
        response = await api.client.post(PATH, json=unknown, headers=api.auth("m"))
        assert response.status_code == 422 and response.json()["error"]["field"] == "priority"
        unauthenticated = await api.client.post(PATH, json={"jobs": [_item("k")]})
        assert unauthenticated.status_code == 401
        assert await drain_events(stack_now, stack_now.spec.scripter_queue.name) == []


async def test_a_full_batch_fits_its_own_body_limit_and_more_is_a_413(stack_now: Stack) -> None:
    settings = settings_for(stack_now, max_batch_body_bytes=300_000)
    async with serve_api(stack_now, settings) as api:
        prompt = "A harbour town at sunrise, " * 60  # ~2 KB each: 100 of them exceed 64 KiB
        items = [_item(f"big-{i}", prompt=prompt[:1990], duration=10) for i in range(100)]
        response = await _batch(api, "big", items)
        assert response.status_code == 200, response.text[:300]
        assert response.json()["accepted"] == 100
        single = await api.client.post(
            "/v1/jobs",
            json={**job_body(), "prompt": "x" * 70_000},
            headers=api.auth("big"),
        )
        assert single.status_code == 413  # the single POST keeps its own limit
        huge = [_item(f"h-{i}", prompt="y" * 1990, duration=10) for i in range(200)]
        response = await api.client.post(PATH, json={"jobs": huge}, headers=api.auth("big"))
        assert response.status_code == 413
        assert response.json()["error"]["message"] == "request body exceeds 300000 bytes"


async def test_the_cli_submits_a_jsonl_file_and_a_second_run_replays_it(
    stack_now: Stack, tmp_path: Path
) -> None:
    lines = [
        json.dumps(job_body(duration=10)),
        "",
        json.dumps(job_body(duration=11, aspect_ratio="1:1")),
        json.dumps({**job_body(duration=12), "idempotency_key": "my-own-key"}),
        json.dumps(job_body(duration=99)),
        "{not json",
    ]
    (tmp_path / "spring.jsonl").write_text("\n".join(lines) + "\n")
    async with serve_api(stack_now, settings_for(stack_now)) as api:
        env = {
            **os.environ,
            "COLUMNS": "200",
            "OMNIGEN_API_URL": api.url,
            "OMNIGEN_TOKEN": hs_token(api.user_id("cli")),
        }

        async def run() -> tuple[int, str]:
            process = await asyncio.create_subprocess_exec(
                OMNIGEN,
                *("submit", "--batch", str(tmp_path / "spring.jsonl")),
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
            return process.returncode or 0, output.decode()

        code, output = await run()
        assert code == 1, output  # two lines made no job
        rows = {
            int(cells[1]): (cells[2], cells[3])
            for cells in ([c.strip() for c in line.split("│")] for line in output.splitlines())
            if len(cells) > 3 and cells[1].isdigit()
        }
        assert sorted(rows) == [1, 3, 4, 5, 6]
        assert [rows[n][0] for n in (1, 3, 4, 5, 6)] == [
            *("accepted", "accepted", "accepted", "invalid", "invalid"),
        ]
        assert "(request.duration)" in rows[5][1] and "not JSON" in rows[6][1]
        assert "3 of 5 line(s) are jobs" in output
        listed = await api.client.get("/v1/jobs", headers=api.auth("cli"))
        assert len(listed.json()["jobs"]) == 3
        made = {rows[n][1] for n in (1, 3, 4)}

        code, output = await run()
        assert code == 1, output
        again = {
            cells[3]
            for cells in ([c.strip() for c in line.split("│")] for line in output.splitlines())
            if len(cells) > 3 and cells[2] == "replayed"
        }
        assert again == made
        listed = await api.client.get("/v1/jobs", headers=api.auth("cli"))
        assert len(listed.json()["jobs"]) == 3  # nothing new
