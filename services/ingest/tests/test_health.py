"""/healthz and /readyz: ready only while table, topic and bucket answer, naming what does not."""

from __future__ import annotations

from omnigen.testing.fixtures import Stack

from .helpers import Api, ApiFactory, serve_api, settings_for


async def test_healthz_answers_without_auth(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_everything_is_reachable(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"table": "ok", "topic": "ok", "bucket": "ok"}


async def test_readyz_is_503_naming_the_missing_bucket(make_api: ApiFactory) -> None:
    api = await make_api(bucket_name="no-such-bucket-for-ingest")
    response = await api.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not_ready"
    assert body["checks"]["table"] == body["checks"]["topic"] == "ok"
    assert body["checks"]["bucket"] != "ok"
    assert body["error"]["code"] == "not_ready"
    assert "bucket" in body["error"]["message"]
    assert "table" not in body["error"]["message"]


async def test_readyz_is_503_naming_each_missing_resource(stack_now: Stack) -> None:
    settings = settings_for(stack_now, resource_prefix="never-bootstrapped")
    missing_topic = "arn:aws:sns:us-east-1:123456789012:never-bootstrapped-job-events"
    async with serve_api(stack_now, settings, events_topic_arn=missing_topic) as api:
        response = await api.client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks == {"table": "unreachable", "topic": "unreachable", "bucket": "unreachable"}
    message = response.json()["error"]["message"]
    assert all(name in message for name in ("table", "topic", "bucket"))
