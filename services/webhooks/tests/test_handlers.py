"""The delivery handler over fakes of the stores and the real sender, against a real receiver
on 127.0.0.1 that verifies every signature with the Standard Webhooks library."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from omnigen.cli.webhook_listener import Received, WebhookListener
from omnigen.shared.adapters.netguard import UrlGuard
from omnigen.shared.domain.events import (
    JobCompleted,
    JobCompletedData,
    JobCompletedDataV2,
    JobCompletedV2,
    JobFailed,
    JobFailedData,
    ScriptAwaitingReview,
    ScriptAwaitingReviewData,
)
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.webhooks import (
    DeliveryStatus,
    SigningKey,
    SigningSecret,
    WebhookEndpoint,
    new_secret,
    rotated,
)
from omnigen.shared.messages import MessageContext, RetryLater
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository
from omnigen.testing.webhook_fakes import InMemoryWebhookStore
from omnigen.webhooks.handlers import WebhookDeps, handle_outcome, signed_headers
from omnigen.webhooks.sender import HttpSender
from omnigen.webhooks.settings import DeliverySettings

USER = "webhook-user"


def context(receive: int, max_receives: int = 13) -> MessageContext:
    return MessageContext("m1", f"r{receive}", receive, max_receives, "{}")


@pytest.fixture
def listener() -> Iterator[WebhookListener]:
    with WebhookListener([]) as running:
        yield running


async def make_deps(store: InMemoryWebhookStore, **settings: object) -> WebhookDeps:
    return WebhookDeps(
        jobs=InMemoryJobRepository(),
        store=store,
        assets=InMemoryAssetStore(),
        sender=HttpSender(UrlGuard(allow_loopback=True), timeout_s=2.0, user_agent="test"),
        settings=DeliverySettings(**{"allow_loopback": True, "retry_base_s": 1, **settings}),  # type: ignore[arg-type]
        rng=random.Random(7),
    )


async def job_with(deps: WebhookDeps, callback_url: str | None = None) -> str:
    request = JobRequest(prompt="A quiet harbour at dawn", duration=20, callback_url=callback_url)
    created = await deps.jobs.create_job(user_id=USER, request=request)
    return created.job.job_id


def completed(job_id: str) -> JobCompleted:
    data = JobCompletedData(video_key=f"jobs/{job_id}/v.mp4", thumbnail_key=None, duration=20.0)
    return JobCompleted.create(job_id=job_id, user_id=USER, data=data)


def endpoint(url: str, secret: str, events: list[str] | None = None) -> WebhookEndpoint:
    return WebhookEndpoint(
        endpoint_id="wh_" + "a" * 32,
        owner=USER,
        url=url,
        event_types=events or ["job.completed", "job.failed"],
        secrets=[SigningSecret(secret=secret, created_at=time.time())],
        created_at=time.time(),
    )


async def signing_user(listener: WebhookListener) -> tuple[InMemoryWebhookStore, WebhookDeps]:
    """A store where USER has a callback signing secret the listener verifies with."""
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.set_signing_key(
        SigningKey(owner=USER, secrets=[SigningSecret(secret=secret, created_at=time.time())])
    )
    return store, await make_deps(store)


async def test_a_job_callback_is_signed_and_verified_by_the_library(
    listener: WebhookListener,
) -> None:
    store, deps = await signing_user(listener)
    job_id = await job_with(deps, callback_url=listener.url)
    event = completed(job_id)
    await handle_outcome(event, context(1), deps=deps)
    [got] = listener.received
    assert got.verified_with == 0 and got.status == 204
    assert got.webhook_id == str(event.event_id)  # the event's stable id: receivers dedupe on it
    assert got.payload is not None and got.payload["type"] == "job.completed"
    assert got.payload["data"]["job_id"] == job_id
    assert got.payload["data"]["video_url"].startswith("memory://jobs/")
    assert got.payload["data"]["captions_srt_url"] is None  # burned only: no sidecars
    [delivery] = await store.deliveries(job_id)
    assert delivery.status is DeliveryStatus.SUCCEEDED and delivery.attempts[0].status_code == 204
    # The same message again (a redelivery): nothing is sent twice.
    await handle_outcome(event, context(2), deps=deps)
    assert len(listener.received) == 1


async def test_a_completed_webhook_links_the_sidecar_captions(listener: WebhookListener) -> None:
    _store, deps = await signing_user(listener)
    job_id = await job_with(deps, callback_url=listener.url)
    keys = {"captions_srt_key": f"jobs/{job_id}/c.srt", "captions_vtt_key": f"jobs/{job_id}/c.vtt"}
    await deps.jobs.update_job_stage_with_metadata(job_id, "composing", keys)
    await handle_outcome(completed(job_id), context(1), deps=deps)
    [got] = listener.received
    assert got.payload is not None and got.verified_with == 0
    assert got.payload["data"]["captions_srt_url"].startswith(f"memory://jobs/{job_id}/c.srt?")
    assert got.payload["data"]["captions_vtt_url"].startswith(f"memory://jobs/{job_id}/c.vtt?")


async def test_a_regenerated_version_is_delivered_again_naming_its_version(
    listener: WebhookListener,
) -> None:
    _store, deps = await signing_user(listener)
    job_id = await job_with(deps, callback_url=listener.url)
    await handle_outcome(completed(job_id), context(1), deps=deps)
    data = JobCompletedDataV2(
        video_key=f"jobs/{job_id}/v2.mp4", thumbnail_key=None, duration=20.0, version=2
    )
    second = JobCompletedV2.create(job_id=job_id, user_id=USER, data=data)
    await handle_outcome(second, context(1), deps=deps)
    first, again = listener.received
    assert first.payload is not None and again.payload is not None
    assert (first.payload["data"]["version"], again.payload["data"]["version"]) == (1, 2)
    assert again.webhook_id == str(second.event_id) != first.webhook_id
    assert again.payload["data"]["video_url"].startswith(f"memory://jobs/{job_id}/v2.mp4")


async def test_failures_retry_later_with_growing_delays_then_one_success(
    listener: WebhookListener,
) -> None:
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.add_endpoint(endpoint(listener.url, secret), limit=10)
    answers = iter([500, 503, 502])
    listener.respond = lambda _r: next(answers, 200)
    deps = await make_deps(store, retry_base_s=10)
    job_id = await job_with(deps)
    event = completed(job_id)
    delays = []
    for receive in (1, 2, 3):
        with pytest.raises(RetryLater) as retry:
            await handle_outcome(event, context(receive), deps=deps)
        delays.append(retry.value.delay_s)
    assert 5 <= delays[0] <= 10 and 10 <= delays[1] <= 20 and 20 <= delays[2] <= 40
    await handle_outcome(event, context(4), deps=deps)
    await handle_outcome(event, context(5), deps=deps)  # a stray redelivery sends nothing
    assert [r.status for r in listener.received] == [500, 503, 502, 200]
    assert listener.delivered_ids() == [str(event.event_id)]
    [delivery] = await store.deliveries(job_id)
    assert [a.status_code for a in delivery.attempts] == [500, 503, 502, 200]
    assert all(a.latency_ms >= 0 for a in delivery.attempts)


async def test_410_disables_the_endpoint(listener: WebhookListener) -> None:
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.add_endpoint(endpoint(listener.url, secret), limit=10)
    listener.respond = lambda _r: 410
    deps = await make_deps(store)
    job_id = await job_with(deps)
    await handle_outcome(completed(job_id), context(1), deps=deps)  # no retry
    [stored] = await store.endpoints(USER)
    assert stored.disabled and "410" in (stored.disabled_reason or "")
    [delivery] = await store.deliveries(job_id)
    assert delivery.status is DeliveryStatus.GONE
    failed = JobFailed.create(
        job_id=job_id, user_id=USER, data=JobFailedData(stage="rendering", error_message="x")
    )
    await handle_outcome(failed, context(1), deps=deps)
    assert len(listener.received) == 1  # a disabled endpoint gets nothing more


async def test_other_4xx_are_not_retried_forever(listener: WebhookListener) -> None:
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.add_endpoint(endpoint(listener.url, secret), limit=10)
    listener.respond = lambda _r: 400
    deps = await make_deps(store, max_client_errors=2)
    job_id = await job_with(deps)
    event = completed(job_id)
    with pytest.raises(RetryLater):
        await handle_outcome(event, context(1), deps=deps)
    await handle_outcome(event, context(2), deps=deps)  # the second 400 ends it
    [delivery] = await store.deliveries(job_id)
    assert delivery.status is DeliveryStatus.FAILED and len(delivery.attempts) == 2


async def test_out_of_attempts_marks_the_delivery_dead_lettered(
    listener: WebhookListener,
) -> None:
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.add_endpoint(endpoint(listener.url, secret), limit=10)
    listener.respond = lambda _r: 503
    deps = await make_deps(store)
    job_id = await job_with(deps)
    with pytest.raises(RetryLater):
        await handle_outcome(completed(job_id), context(3, max_receives=3), deps=deps)
    [delivery] = await store.deliveries(job_id)
    assert delivery.status is DeliveryStatus.DEAD_LETTERED


async def test_an_endpoint_not_subscribed_to_the_type_gets_nothing(
    listener: WebhookListener,
) -> None:
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.add_endpoint(endpoint(listener.url, secret, ["job.failed"]), limit=10)
    deps = await make_deps(store)
    job_id = await job_with(deps)
    await handle_outcome(completed(job_id), context(1), deps=deps)
    assert listener.received == [] and await store.deliveries(job_id) == []


def test_during_a_rotation_both_secrets_verify_and_after_it_only_the_new() -> None:
    old, new = new_secret(), new_secret()
    now = time.time()
    secrets = rotated([SigningSecret(secret=old, created_at=now - 10)], new, now=now, grace_s=60)
    body = '{"type":"job.completed"}'
    at = datetime.now(UTC)
    live = [s.secret for s in secrets if s.live(now + 30)]
    headers = signed_headers("msg_1", body, live, at)
    assert Webhook(old).verify(body, headers) == {"type": "job.completed"}
    assert Webhook(new).verify(body, headers) == {"type": "job.completed"}
    after = signed_headers("msg_1", body, [s.secret for s in secrets if s.live(now + 61)], at)
    assert len(after["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(body, after)
    with pytest.raises(Exception, match="signature"):
        Webhook(old).verify(body, after)


def test_received_is_a_frozen_record() -> None:
    assert Received.__dataclass_params__.frozen  # type: ignore[attr-defined]


async def test_the_guard_runs_again_at_delivery_dns_may_have_changed(
    listener: WebhookListener,
) -> None:
    import ipaddress

    async def now_metadata(_host: str, _port: int) -> list[ipaddress.IPv4Address]:
        return [ipaddress.IPv4Address("169.254.169.254")]

    store = InMemoryWebhookStore()
    secret = new_secret()
    await store.add_endpoint(endpoint("https://hooks.example.com/x", secret), limit=10)
    deps = await make_deps(store)
    deps.sender = HttpSender(UrlGuard(resolver=now_metadata), timeout_s=2.0, user_agent="t")
    job_id = await job_with(deps)
    await handle_outcome(completed(job_id), context(1), deps=deps)  # failed: no retry
    [delivery] = await store.deliveries(job_id)
    assert delivery.status is DeliveryStatus.FAILED
    [attempt] = delivery.attempts
    assert attempt.status_code is None and "metadata" in (attempt.error or "")
    assert listener.received == []


async def test_a_script_awaiting_review_reaches_the_endpoints_that_ask_for_it(
    listener: WebhookListener,
) -> None:
    store = InMemoryWebhookStore()
    secret = new_secret()
    listener.secrets = [secret]
    await store.add_endpoint(endpoint(listener.url, secret, ["script.awaiting_review"]), limit=10)
    deps = await make_deps(store)
    job_id = await job_with(deps)
    waiting = ScriptAwaitingReview.create(
        job_id=job_id, user_id=USER, data=ScriptAwaitingReviewData(title="Dawn", scene_count=3)
    )
    await handle_outcome(waiting, context(1), deps=deps)
    await handle_outcome(completed(job_id), context(1), deps=deps)  # not asked for

    [got] = listener.received
    assert got.verified_with == 0 and got.payload is not None
    assert got.payload["type"] == "script.awaiting_review"
    assert got.payload["data"] == {
        "job_id": job_id,
        "status": "pending",
        "stage": "awaiting_review",
        "title": "Dawn",
        "scene_count": 3,
    }


class CountingStore(InMemoryWebhookStore):
    def __init__(self) -> None:
        super().__init__()
        self.endpoint_reads = 0

    async def endpoints(self, owner: str) -> list[WebhookEndpoint]:
        self.endpoint_reads += 1
        return await super().endpoints(owner)


async def test_deliveries_received_together_share_one_read_of_the_owners_endpoints(
    listener: WebhookListener,
) -> None:
    store = CountingStore()
    old, new = new_secret(), new_secret()
    listener.secrets = [old]
    hook = endpoint(listener.url, old)
    await store.add_endpoint(hook, limit=10)
    deps = await make_deps(store)
    jobs = [await job_with(deps) for _ in range(5)]
    store.endpoint_reads = 0  # adding the endpoint read them
    await asyncio.gather(*(handle_outcome(completed(j), context(1), deps=deps) for j in jobs))
    assert len(listener.delivered_ids()) == 5
    assert store.endpoint_reads == 1

    # Rotated after that read: the next delivery asks afresh and signs with the new secret too.
    secrets = rotated(hook.secrets, new, now=time.time(), grace_s=3600)
    await store.set_endpoint_secrets(USER, hook.endpoint_id, secrets)
    listener.secrets = [new]
    await handle_outcome(completed(await job_with(deps)), context(1), deps=deps)
    assert listener.received[-1].verified_with == 0 and listener.received[-1].status == 204
    assert store.endpoint_reads == 2
