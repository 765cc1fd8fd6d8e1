"""/v1/webhooks, the callback signing secret, callback_url on a job and /v1/jobs/{id}/deliveries
over the real app on moto. SSRF: every refused URL is a 422 naming the field."""

from __future__ import annotations

import time

import pytest

from omnigen.shared.domain.webhooks import Attempt, Delivery, DeliveryStatus

from .helpers import Api, ApiFactory, drain, drain_events, job_body

UNSAFE = [
    "http://hooks.example.com/x",
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/",
    "https://127.0.0.1/hook",
    "https://10.0.0.1/hook",
    "https://192.168.0.10/hook",
    "https://[fe80::1]/hook",
    "https://localhost/hook",  # resolves to loopback
    "https://user:secret@hooks.example.com/",
]


async def test_register_list_get_rotate_delete(api: Api) -> None:
    alice = api.auth("alice")
    created = await api.client.post(
        "/v1/webhooks",
        json={"url": "https://1.1.1.1/hooks", "event_types": ["job.completed"]},
        headers=alice,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["event_types"] == ["job.completed"]
    assert created.headers["cache-control"] == "no-store"
    hook_id = body["id"]
    listed = (await api.client.get("/v1/webhooks", headers=alice)).json()["webhooks"]
    assert [h["id"] for h in listed] == [hook_id] and "secret" not in listed[0]
    # Another user sees nothing of it.
    bob = api.auth("bob")
    assert (await api.client.get("/v1/webhooks", headers=bob)).json() == {"webhooks": []}
    assert (await api.client.get(f"/v1/webhooks/{hook_id}", headers=bob)).status_code == 404
    rotated = await api.client.post(
        f"/v1/webhooks/{hook_id}/rotate-secret", json={"grace_period_s": 3600}, headers=alice
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["secret"] not in (body["secret"],)
    [expires] = rotated.json()["previous_secrets_expire_at"]
    one = (await api.client.get(f"/v1/webhooks/{hook_id}", headers=alice)).json()
    assert one["secrets_expiring_at"] == [expires]
    assert (await api.client.delete(f"/v1/webhooks/{hook_id}", headers=alice)).status_code == 204
    assert (await api.client.get(f"/v1/webhooks/{hook_id}", headers=alice)).status_code == 404


@pytest.mark.parametrize("url", UNSAFE)
async def test_every_unsafe_url_is_a_422_naming_the_field(api: Api, url: str) -> None:
    answer = await api.client.post("/v1/webhooks", json={"url": url}, headers=api.auth("alice"))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["field"] == "url" and error["message"].startswith("url: the URL")
    submitted = await api.submit("alice", callback_url=url)
    assert submitted.status_code == 422, submitted.text
    assert submitted.json()["error"]["field"] == "callback_url"


@pytest.mark.parametrize("grace", ["3600", 3600.0, True, None, [3600]], ids=repr)
async def test_a_mistyped_grace_period_is_a_422_naming_it_and_rotates_nothing(
    api: Api, grace: object
) -> None:
    alice = api.auth("alice")
    created = await api.client.post(
        "/v1/webhooks", json={"url": "https://1.1.1.1/hooks"}, headers=alice
    )
    assert created.status_code == 201, created.text
    hook_id = created.json()["id"]
    for path in (f"/v1/webhooks/{hook_id}/rotate-secret", "/v1/webhooks/signing-secret"):
        answer = await api.client.post(path, json={"grace_period_s": grace}, headers=alice)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == "grace_period_s"
    one = (await api.client.get(f"/v1/webhooks/{hook_id}", headers=alice)).json()
    assert one["secrets_expiring_at"] == []
    wrong = await api.client.post(
        "/v1/webhooks",
        json={"url": "https://1.1.1.1/hooks", "event_types": "job.failed"},
        headers=alice,
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "event_types"


async def test_bad_event_types_and_too_many_webhooks(api: Api) -> None:
    alice = api.auth("alice")
    answer = await api.client.post(
        "/v1/webhooks",
        json={"url": "https://1.1.1.1/", "event_types": ["job.accepted"]},
        headers=alice,
    )
    assert answer.status_code == 422
    for _ in range(10):
        ok = await api.client.post("/v1/webhooks", json={"url": "https://1.1.1.1/"}, headers=alice)
        assert ok.status_code == 201
    over = await api.client.post("/v1/webhooks", json={"url": "https://1.1.1.1/"}, headers=alice)
    assert over.status_code == 409 and "at most 10" in over.json()["error"]["message"]


async def test_a_callback_needs_a_signing_secret_then_is_kept_on_the_job(
    make_api: ApiFactory,
) -> None:
    api = await make_api(webhooks_allow_loopback=True)
    url = "http://127.0.0.1:9/hooks"
    refused = await api.submit("carol", callback_url=url)
    assert refused.status_code == 422 and "signing-secret" in refused.json()["error"]["message"]
    key = await api.client.post("/v1/webhooks/signing-secret", json={}, headers=api.auth("carol"))
    assert key.status_code == 200 and key.json()["secret"].startswith("whsec_")
    accepted = await api.submit("carol", callback_url=url)
    assert accepted.status_code == 202, accepted.text
    job = await api.context.ports.repository.get_job(accepted.json()["job_id"])
    assert job.callback_url == url


async def test_an_upstream_request_with_an_unsafe_callback_is_rejected_naming_it(
    api: Api,
) -> None:
    from omnigen.ingest.handlers import handle_job_requested
    from omnigen.shared.domain.events import JobRequested, JobRequestedData

    event = JobRequested.create(
        job_id=None,
        user_id=api.user_id("dave"),
        data=JobRequestedData(
            request_id="req-1",
            request=job_body(callback_url="https://169.254.169.254/"),
        ),
    )
    assert await handle_job_requested(api.context.ports, event) is None
    events = await drain_events(api.stack, api.stack.spec.outcomes_queue.name, expect=1)
    [rejected] = [e for e in events if e.event_type.value == "job.rejected"]
    [reason] = rejected.data.reasons  # type: ignore[attr-defined]
    assert reason.field == "request.callback_url" and "metadata" in reason.message


async def test_deliveries_are_listed_for_the_owner_and_a_resend_requeues_the_event(
    api: Api,
) -> None:
    submitted = await api.submit("erin")
    job_id = submitted.json()["job_id"]
    ports = api.context.ports
    assert ports.webhooks is not None
    store = ports.webhooks.store
    event_body = '{"event":"as published"}'
    delivery = Delivery(
        delivery_id="dl_" + "b" * 32,
        job_id=job_id,
        owner=api.user_id("erin"),
        event_id="e1",
        event_type="job.completed",
        target="job",
        url="https://1.1.1.1/",
        created_at=time.time(),
        updated_at=time.time(),
        event_body=event_body,
    )
    opened = await store.open_delivery(delivery)
    assert await store.open_delivery(delivery.model_copy(update={"url": "x"})) == opened
    await store.record_attempt(
        opened,
        Attempt(at=time.time(), status_code=503, latency_ms=12),
        DeliveryStatus.DEAD_LETTERED,
    )
    listed = await api.client.get(f"/v1/jobs/{job_id}/deliveries", headers=api.auth("erin"))
    assert listed.status_code == 200
    [one] = listed.json()["deliveries"]
    assert one["status"] == "dead_lettered"
    assert one["attempts"][0]["status_code"] == 503 and one["attempts"][0]["latency_ms"] == 12
    other = await api.client.get(f"/v1/jobs/{job_id}/deliveries", headers=api.auth("frank"))
    assert other.status_code == 404
    resent = await api.client.post(
        f"/v1/jobs/{job_id}/deliveries/{delivery.delivery_id}/resend", headers=api.auth("erin")
    )
    assert resent.status_code == 202 and resent.json()["status"] == "pending"
    [message] = await drain(api.stack, api.stack.spec.webhooks_queue.name, expect=1)
    assert message["Body"] == event_body
    missing = await api.client.post(
        f"/v1/jobs/{job_id}/deliveries/dl_{'c' * 32}/resend", headers=api.auth("erin")
    )
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "delivery_id"


async def test_a_batch_item_with_an_unsafe_callback_is_a_422_naming_it(api: Api) -> None:
    items = [
        {"idempotency_key": "cb-bad", "request": job_body(callback_url="https://10.0.0.1/x")},
        {"idempotency_key": "cb-none", "request": job_body()},
    ]
    response = await api.client.post(
        "/v1/jobs:batch", json={"jobs": items}, headers=api.auth("gina")
    )
    assert response.status_code == 200, response.text
    bad, good = response.json()["results"]
    assert (bad["status"], bad["outcome"]) == (422, "invalid")
    assert bad["error"]["field"] == "request.callback_url"
    assert "private" in bad["error"]["message"]
    assert (good["status"], good["outcome"]) == (202, "accepted")
