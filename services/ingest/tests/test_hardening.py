"""Hardening of every answer: security headers (HSTS only over https, also behind a proxy),
no caching of answers that carry a presigned URL, a per-user cap on open event streams and a
maximum stream lifetime."""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import AsyncExitStack

import httpx
import pytest

from omnigen.shared.ports import video_key
from omnigen.testing.queues import eventually

from .helpers import Api, ApiFactory, job_body

API_CSP = "default-src 'none'; frame-ancestors 'none'"


def assert_secured(response: httpx.Response, csp: str = API_CSP) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    assert response.headers["X-Content-Type-Options"] == "nosniff", where
    assert response.headers["Referrer-Policy"] == "no-referrer", where
    assert response.headers["Content-Security-Policy"] == csp, where


async def answers_of_every_kind(api: Api) -> list[httpx.Response]:
    auth = api.auth("alice")
    submitted = await api.submit("alice")
    job = submitted.headers["Location"]
    return [
        submitted,
        await api.client.get(job, headers=auth),
        await api.client.get("/v1/jobs", headers=auth),
        await api.client.get("/v1/jobs", params={"cursor": "garbage"}, headers=auth),
        await api.client.get("/v1/jobs"),  # 401
        await api.client.get(f"/v1/jobs/{'0' * 32}", headers=auth),  # 404
        await api.client.post("/v1/jobs", json=job_body(duration="30"), headers=auth),  # 422
        await api.client.get(f"{job}/video", headers=auth),  # 409
        await api.client.get("/healthz"),
        await api.client.get("/readyz"),
        await api.client.get("/openapi.json"),
        await api.client.get("/no/such/path"),
    ]


async def test_every_answer_carries_the_security_headers_and_no_hsts_over_http(api: Api) -> None:
    answers = await answers_of_every_kind(api)

    assert {r.status_code for r in answers} >= {200, 202, 400, 401, 404, 409, 422}
    for response in answers:
        assert_secured(response)
        assert "Strict-Transport-Security" not in response.headers
    docs = await api.client.get("/docs")
    assert_secured(docs, csp="frame-ancestors 'none'")


async def test_hsts_is_sent_when_a_trusted_proxy_says_the_client_used_https(api: Api) -> None:
    proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    responses = [
        await api.client.get("/healthz", headers=proxied),
        await api.client.get("/v1/jobs", headers={**proxied, **api.auth("alice")}),
        await api.client.get("/v1/jobs", headers=proxied),
    ]

    for response in responses:
        assert_secured(response)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_an_unhandled_error_is_a_500_with_the_security_headers_and_the_request_id(
    api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Starlette answers an exception no handler took from outside every middleware; ours is
    answered inside them, so it is secured and traceable like any other answer."""

    async def broken(job_id: str) -> None:
        raise RuntimeError("a bug in the job store adapter")

    monkeypatch.setattr(api.context.ports.repository, "get_job", broken)
    proxied = {"X-Forwarded-Proto": "https", **api.auth("alice")}
    response = await api.client.get(f"/v1/jobs/{'0' * 32}", headers=proxied)

    assert response.status_code == 500, response.text
    assert_secured(response)
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")
    error = response.json()["error"]
    assert error["code"] == "internal"
    assert error["request_id"] == response.headers["X-Trace-Id"]
    assert "a bug in the job store" not in response.text
    # The server saw no unhandled exception: one logged failure, no second traceback.
    logged = capsys.readouterr()
    assert "Exception in ASGI application" not in logged.out + logged.err


async def test_answers_carrying_a_presigned_url_are_not_stored(api: Api) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    await (await api.stack.assets()).put_bytes(video_key(job_id, "r1"), b"mp4", "video/mp4")
    await (await api.stack.repository()).mark_job_complete(job_id, video_key(job_id, "r1"))
    auth = api.auth("alice")

    detail = await api.client.get(f"/v1/jobs/{job_id}", headers=auth)
    redirect = await api.client.get(f"/v1/jobs/{job_id}/video", headers=auth)
    async with api.client.stream("GET", f"/v1/jobs/{job_id}/events", headers=auth) as stream:
        stream_headers = stream.headers

    assert detail.json()["video_url"]
    assert redirect.status_code == 307
    for headers in (detail.headers, redirect.headers, stream_headers):
        assert headers["Cache-Control"] == "no-store"


async def open_stream(api: Api, exits: AsyncExitStack, job_id: str, user: str) -> httpx.Response:
    """A stream held open until `exits` closes, its first event read."""
    client = await exits.enter_async_context(httpx.AsyncClient(base_url=api.url, timeout=30))
    response = await exits.enter_async_context(
        client.stream("GET", f"/v1/jobs/{job_id}/events", headers=api.auth(user))
    )
    if response.status_code == 200:
        # One iterator, kept until `exits` closes: a dropped one closes the stream when
        # collected.
        lines = response.aiter_lines()
        exits.push_async_callback(lines.aclose)
        while not (await anext(lines)).startswith("event: "):
            pass
    return response


async def test_a_user_may_hold_five_streams_the_sixth_is_a_429_with_retry_after(
    api: Api,
) -> None:
    job_id = (await api.submit("alice")).json()["job_id"]
    bobs_job = (await api.submit("bob")).json()["job_id"]
    async with AsyncExitStack() as exits:
        held = [await open_stream(api, exits, job_id, "alice") for _ in range(5)]
        assert [r.status_code for r in held] == [200] * 5
        assert api.context.streams.open_count(api.user_id("alice")) == 5

        sixth = await api.client.get(f"/v1/jobs/{job_id}/events", headers=api.auth("alice"))
        bobs = await open_stream(api, exits, bobs_job, "bob")

        assert sixth.status_code == 429
        assert sixth.json()["error"]["code"] == "too_many_streams"
        assert int(sixth.headers["Retry-After"]) >= 1
        assert bobs.status_code == 200
        assert api.context.streams.open_count(api.user_id("alice")) == 5

    await eventually(
        lambda: api.context.streams.open_count(api.user_id("alice")) == 0,
        timeout=10,
        what="closed streams to give their slots back",
    )
    async with AsyncExitStack() as exits:
        again = await open_stream(api, exits, job_id, "alice")
        assert again.status_code == 200


async def test_the_stream_cap_is_a_setting(make_api: ApiFactory) -> None:
    api = await make_api(sse_max_streams_per_user=1)
    job_id = (await api.submit("alice")).json()["job_id"]
    async with AsyncExitStack() as exits:
        first = await open_stream(api, exits, job_id, "alice")
        second = await api.client.get(f"/v1/jobs/{job_id}/events", headers=api.auth("alice"))

    assert (first.status_code, second.status_code) == (200, 429)


@pytest.mark.parametrize("max_duration_s", [0.5, 1.5])
async def test_a_stream_ends_with_reconnect_at_its_maximum_lifetime(
    make_api: ApiFactory, max_duration_s: float
) -> None:
    api = await make_api(sse_max_duration_s=max_duration_s, sse_heartbeat_s=0.2)
    job_id = (await api.submit("alice")).json()["job_id"]  # stays pending: no scripter runs
    began = time.monotonic()
    names: list[str] = []
    last_data: dict[str, str] = {}

    async def read() -> None:
        url = f"/v1/jobs/{job_id}/events"
        async with api.client.stream("GET", url, headers=api.auth("alice")) as response:
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    names.append(line.removeprefix("event: "))
                elif line.startswith("data: "):
                    last_data.update(json.loads(line.removeprefix("data: ")))

    await asyncio.wait_for(read(), timeout=max_duration_s + 10)
    lasted = time.monotonic() - began

    assert names == ["update", "reconnect"]
    assert "maximum duration" in last_data["reason"]
    assert max_duration_s <= lasted < max_duration_s + 5
    await eventually(
        lambda: api.context.streams.open_count(api.user_id("alice")) == 0,
        timeout=5,
        what="the ended stream to give its slot back",
    )
