"""A failing dependency never leaks into an answer: a 5xx or a not-ready /readyz carries a
stable code and the request id, never AWS text, an endpoint, a resource name or a traceback
(those go to the log). On both backends."""

from __future__ import annotations

import socket

import httpx

from omnigen.testing.fixtures import Stack

from .helpers import Api, api_with, job_body, serve_api, settings_for


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def assert_nothing_leaks(
    response: httpx.Response, stack: Stack, *secrets: str, error: bool = True
) -> None:
    text = response.text
    spec = stack.spec
    for secret in (
        *secrets,
        stack.settings.resource_prefix,
        spec.table.name,
        spec.events_topic.name,
        spec.bucket.name,
        "botocore",
        "Traceback",
        "http://",
        "127.0.0.1",
        "arn:aws",
    ):
        assert secret not in text, f"{secret!r} leaked: {text}"
    request_id = response.headers["X-Trace-Id"]
    assert request_id
    if error:
        assert response.json()["error"]["request_id"] == request_id


async def test_a_job_whose_announcement_fails_is_accepted_without_aws_details(
    stack: Stack,
) -> None:
    sns = closed_port_url()
    async with api_with(stack, sns_endpoint_url=sns) as api:
        response = await api.submit("alice", key="leak-1")

    assert response.status_code == 202, response.text  # the outbox announces it later
    assert response.json()["status"] == "pending"
    assert_nothing_leaks(response, stack, sns, sns.rsplit(":", 1)[-1], error=False)


async def test_an_unreachable_job_store_is_a_503_without_aws_details(stack: Stack) -> None:
    dynamodb = closed_port_url()
    async with api_with(stack, dynamodb_endpoint_url=dynamodb) as api:
        answers = [
            await api.submit("alice"),
            await api.client.get(f"/v1/jobs/{'0' * 32}", headers=api.auth("alice")),
        ]

    for response in answers:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "unavailable"
        assert response.headers["Retry-After"]
        assert_nothing_leaks(response, stack, dynamodb, dynamodb.rsplit(":", 1)[-1])


async def test_readyz_names_the_failing_checks_and_nothing_of_aws(stack: Stack) -> None:
    dynamodb = closed_port_url()
    async with api_with(
        stack, dynamodb_endpoint_url=dynamodb, bucket_name="no-such-bkt", readiness_timeout_s=1.0
    ) as api:
        response = await api.client.get("/readyz")

    assert response.status_code == 503, response.text
    body = response.json()
    assert body["checks"]["table"] in ("unreachable", "timeout")  # refused, retried by botocore
    assert (body["checks"]["topic"], body["checks"]["bucket"]) == ("ok", "unreachable")
    assert body["error"]["code"] == "not_ready"
    assert_nothing_leaks(response, stack, dynamodb, "no-such-bkt", "ResourceNotFound", "NoSuch")


async def test_readyz_of_resources_never_created_names_no_resource(stack: Stack) -> None:
    settings = settings_for(stack, resource_prefix="never-bootstrapped")
    missing = "arn:aws:sns:us-east-1:000000000000:never-bootstrapped-job-events"
    async with serve_api(stack, settings, events_topic_arn=missing) as api:
        response = await api.client.get("/readyz")

    assert response.status_code == 503
    assert set(response.json()["checks"].values()) == {"unreachable"}
    assert_nothing_leaks(response, stack, "never-bootstrapped", "ResourceNotFound", "NotFound")


async def test_a_too_large_body_carries_the_request_id(backend_api: Api) -> None:
    big = job_body(prompt="x" * 100_000)
    response = await backend_api.client.post("/v1/jobs", json=big, headers=backend_api.auth("a"))

    assert response.status_code == 413
    assert response.json()["error"]["request_id"] == response.headers["X-Trace-Id"]
