"""Usage and the monthly quota over HTTP: thirty concurrent POSTs at the quota's edge get
exactly what fits (one atomic decision in the create's transaction), on moto and on the
LocalStack leg; GET /v1/usage reports the caller's own month; a bad month is a 400."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

from omnigen.shared.domain.usage import JobUsage, usage_month
from omnigen.testing.fixtures import Stack

from .helpers import hs_token, serve_api, settings_for


async def test_thirty_concurrent_posts_at_the_quota_edge_get_what_fits(stack: Stack) -> None:
    settings = settings_for(stack, monthly_video_seconds_quota=100)
    async with serve_api(stack, settings) as api:
        warm = await api.submit("edge", key="warm", duration=30)  # 70 s left
        assert warm.status_code == 202, warm.text
        keys = [f"edge-{i}" for i in range(30)]
        responses = await asyncio.gather(
            *(api.submit("edge", key=key, duration=10) for key in keys)
        )
        statuses = [r.status_code for r in responses]
        assert sorted(statuses) == [202] * 7 + [429] * 23, statuses
        month = usage_month(time.time())
        for refused in (r for r in responses if r.status_code == 429):
            error = refused.json()["error"]
            assert error["code"] == "monthly_quota_exceeded"
            assert error["field"] == "duration"
            assert f"monthly quota of 100 s of video for {month}" in error["message"]
            assert int(refused.headers["Retry-After"]) >= 1

        report = await api.client.get("/v1/usage", headers=api.auth("edge"))
        assert report.status_code == 200, report.text
        body = report.json()
        assert (body["month"], body["jobs"], body["requested_seconds"]) == (month, 8, 100)
        assert body["quota"] == {"video_seconds": 100, "remaining_seconds": 0}

        # a replay at the quota gets its job back; another user has a quota of their own
        accepted = next(i for i, r in enumerate(responses) if r.status_code == 202)
        replay = await api.submit("edge", key=keys[accepted], duration=10)
        assert replay.status_code == 202
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert (await api.submit("other", duration=10)).status_code == 202
        again = (await api.client.get("/v1/usage", headers=api.auth("edge"))).json()
        assert (again["jobs"], again["requested_seconds"]) == (8, 100)

        # a completion with its usage shows in the month's totals, once
        repository = await stack.repository()
        job_id = responses[accepted].json()["job_id"]
        used = JobUsage(clip_calls=2, clip_seconds=10, cost_usd=0.5, price_version="t")
        await repository.mark_job_complete(job_id, f"jobs/{job_id}/video.mp4", usage=used)
        done = (await api.client.get("/v1/usage", headers=api.auth("edge"))).json()
        assert (done["completed_jobs"], done["clip_seconds"], done["cost_usd"]) == (1, 10, 0.5)
        detail = (await api.client.get(f"/v1/jobs/{job_id}", headers=api.auth("edge"))).json()
        assert detail["usage"]["price_version"] == "t"


async def test_usage_is_the_callers_own_and_a_bad_month_is_a_400(stack: Stack) -> None:
    async with serve_api(stack, settings_for(stack)) as api:
        assert (await api.submit("mine", duration=25)).status_code == 202
        month = usage_month(time.time())
        mine = await api.client.get(f"/v1/usage?month={month}", headers=api.auth("mine"))
        theirs = await api.client.get(f"/v1/usage?month={month}", headers=api.auth("theirs"))
        assert (mine.json()["jobs"], mine.json()["requested_seconds"]) == (1, 25)
        assert mine.json()["quota"] is None
        assert (theirs.json()["jobs"], theirs.json()["requested_seconds"]) == (0, 0)
        for bad in ("2026-13", "2026-1", "26-01", "2026-01-01", "x" * 20, ""):
            answer = await api.client.get(
                "/v1/usage", params={"month": bad}, headers=api.auth("mine")
            )
            assert answer.status_code == 400, (bad, answer.text)
            assert answer.json()["error"]["code"] == "invalid_month"
            assert answer.json()["error"]["field"] == "month"
        assert (await api.client.get("/v1/usage")).status_code == 401


async def test_the_cli_prints_the_month_and_names_a_bad_one(moto_stack: Stack) -> None:
    settings = settings_for(moto_stack, monthly_video_seconds_quota=600)
    async with serve_api(moto_stack, settings) as api:
        assert (await api.submit("cli", duration=40)).status_code == 202
        env = {
            **os.environ,
            "OMNIGEN_API_URL": api.url,
            "OMNIGEN_TOKEN": hs_token(api.user_id("cli")),
            "COLUMNS": "200",
        }
        month = usage_month(time.time())
        code, output = await _omnigen(env, "usage", "--month", month)
        assert code == 0, output
        assert f"usage {month}" in output
        assert "seconds of video requested" in output and " 40 " in output
        assert "560 of 600 s of video left" in output
        code, output = await _omnigen(env, "usage", "--month", "2026-13")
        assert code == 1 and "month must be YYYY-MM" in output, output


async def _omnigen(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "omnigen"),
        *args,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode(errors="replace")
