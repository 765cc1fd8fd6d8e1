"""The four services as real processes (`omnigen local up`'s launcher, loopback allowed), on
moto and on LocalStack: a job submitted with a callback_url ends in one verified
job.completed webhook with working links, and the delivery log shows it."""

from __future__ import annotations

from pathlib import Path

import httpx

from omnigen.cli.webhook_listener import WebhookListener
from omnigen.testing.e2e import api, running_pipeline, submit, wait_for_end
from omnigen.testing.fixtures import Stack
from omnigen.testing.webhooks import eventually


async def test_a_callback_url_gets_one_signed_job_completed(stack: Stack, tmp_path: Path) -> None:
    async with (
        running_pipeline(stack, tmp_path / "services") as pipeline,
        api(pipeline) as client,
    ):
        key = await client.post("/v1/webhooks/signing-secret", json={})
        assert key.status_code == 200, key.text
        with WebhookListener([key.json()["secret"]]) as listener:
            registered = await client.post(
                "/v1/webhooks", json={"url": listener.url, "event_types": ["job.failed"]}
            )
            assert registered.status_code == 201  # wants job.failed only: gets nothing here
            job_id = await submit(client, callback_url=listener.url)
            job = await wait_for_end(client, job_id)
            assert job["status"] == "completed", job
            await eventually(lambda: listener.delivered_ids(), timeout=60)
            [received] = listener.received
            assert received.verified_with == 0
            assert received.payload is not None and received.payload["type"] == "job.completed"
            data = received.payload["data"]
            assert data["job_id"] == job_id
            async with httpx.AsyncClient() as plain:
                video = await plain.get(data["video_url"])
                assert video.status_code == 200 and len(video.content) > 1000

            async def settled() -> list[dict[str, object]] | None:
                # the worker records the attempt after the receiver has answered: poll
                url = f"/v1/jobs/{job_id}/deliveries"
                deliveries = (await client.get(url)).json()["deliveries"]
                return deliveries if deliveries and deliveries[0]["attempts"] else None

            [delivery] = await eventually(settled, timeout=10)
            assert delivery["target"] == "job" and delivery["status"] == "succeeded"
            assert delivery["attempts"][-1]["status_code"] == 204


async def test_omnigen_webhooks_listen_verifies_and_prints(tmp_path: Path) -> None:
    import asyncio
    import json
    import os
    import sys
    from datetime import UTC, datetime

    from omnigen.cli.localaws.ports import free_port
    from omnigen.shared.domain.webhooks import new_secret
    from omnigen.webhooks.handlers import signed_headers

    secret, port = new_secret(), free_port()
    omnigen = str(Path(sys.executable).parent / "omnigen")
    process = await asyncio.create_subprocess_exec(
        omnigen, "webhooks", "listen", "--port", str(port),
        env={**os.environ, "OMNIGEN_WEBHOOK_SECRET": secret, "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = await asyncio.wait_for(process.stdout.readline(), 30)
        assert b"listening on" in first
        body = json.dumps({"type": "job.failed", "data": {"job_id": "j1"}})
        headers = signed_headers("evt_1", body, [secret], datetime.now(UTC))
        async with httpx.AsyncClient() as client:
            url = f"http://127.0.0.1:{port}/hooks"
            good = await client.post(url, content=body, headers=headers)
            forged = await client.post(url, content=body.replace("j1", "j2"), headers=headers)
        assert (good.status_code, forged.status_code) == (204, 401)
        printed = ""
        stream = process.stdout

        async def until_printed() -> None:
            nonlocal printed
            while not ("evt_1  verified" in printed and '"job_id": "j1"' in printed):
                chunk = await stream.read(400)  # whatever has arrived, up to 400 bytes
                assert chunk, printed
                printed += chunk.decode()

        await asyncio.wait_for(until_printed(), 20)
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)
