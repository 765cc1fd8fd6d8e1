"""A user's own photos through the real services, on both backends: uploaded with presigned
POSTs, checked on arrival (the bucket's notification to the renderer's checker), rendered
with no clip model into a video whose frames show them; deleting a job keeps its uploads."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from omnigen.cli import media as cli_media
from omnigen.cli.api import ApiClient
from omnigen.cli.app import app as cli_app
from omnigen.testing import upload_samples as samples
from omnigen.testing.e2e import api, download_video, running_pipeline, wait_for_end
from omnigen.testing.fixtures import Stack

NARRATION = "Our first morning by the sea. The harbour at noon. Lights over the bay at night."


async def test_photos_become_a_video_that_shows_them(stack: Stack, tmp_path: Path) -> None:
    photos = [samples.photo(tmp_path / f"p{i}.jpg", 1600, 900, seed=i) for i in range(3)]
    fake = tmp_path / "notes.jpg"
    fake.write_text("a text file renamed .jpg\n" * 40)
    async with running_pipeline(stack, tmp_path / "services") as pipeline, api(pipeline) as client:
        cli = ApiClient(pipeline.api_url, pipeline.mint_token("e2e-user"))

        def upload_and_check(path: Path) -> dict[str, object]:
            created = cli.upload(path, cli_media.content_type_of(path) or "")
            return cli.wait_checked(str(created["id"]), timeout_s=60)

        checked = [await asyncio.to_thread(upload_and_check, p) for p in [*photos, fake]]
        assert [c["status"] for c in checked] == ["ready", "ready", "ready", "rejected"]
        assert checked[0]["width"] == 1600 and checked[0]["height"] == 900
        assert checked[3]["reason"] == "the file is not a readable JPEG, PNG or WebP image"
        ids = {number: str(c["id"]) for number, c in enumerate(checked[:3], start=1)}
        body = {
            "script": cli_media.media_script(NARRATION, 12, ids),
            "aspect_ratio": "16:9",
            "captions": {"mode": "none"},
        }
        first = await client.post("/v1/jobs", json=body)
        assert first.status_code == 202, first.text
        job = await wait_for_end(client, first.json()["job_id"])
        assert job["status"] == "completed", job.get("error_message")
        video = await download_video(client, job["job_id"], tmp_path / "video.mp4")

        deleted = await client.delete(f"/v1/jobs/{job['job_id']}")
        assert deleted.status_code in (200, 202, 204), deleted.text
        for upload_id in ids.values():
            kept = await client.get(f"/v1/uploads/{upload_id}")
            assert kept.json()["status"] == "ready"
        again = await client.post("/v1/jobs", json=body)
        assert again.status_code == 202, again.text
        env = {
            "OMNIGEN_API_URL": pipeline.api_url,
            "OMNIGEN_TOKEN": pipeline.mint_token("cli-user"),
        }
        runner = CliRunner()
        uploaded = await asyncio.to_thread(
            runner.invoke, cli_app, ["upload", str(photos[0]), str(photos[1])], env=env
        )
        assert uploaded.exit_code == 0, uploaded.output
        cli_ids = uploaded.output.split()
        assert len(cli_ids) == 2 and all(i.startswith("up_") for i in cli_ids)
        media = f"1={cli_ids[0]},2={cli_ids[1]}"
        submitted = await asyncio.to_thread(
            runner.invoke,
            cli_app,
            ["submit", NARRATION, "--duration", "10", "--scene-media", media],
            env=env,
        )
        assert submitted.exit_code == 0, submitted.output
        refused = await asyncio.to_thread(runner.invoke, cli_app, ["upload", str(fake)], env=env)
        assert refused.exit_code == 1
        assert "rejected: the file is not a readable JPEG" in refused.output.replace("\n", " ")
        bob = api(pipeline, "bob")
        async with bob:
            theirs = await bob.post("/v1/jobs", json=body)
        assert theirs.status_code == 422
        assert theirs.json()["error"]["field"] == "script.scenes[0].media"
        cli.close()

    for number in range(len(photos)):
        frame = samples.frame_at(video, number * 4 + 2.0, tmp_path / f"f{number}.jpg")
        distances = [samples.hash_distance(samples.ahash(frame), samples.ahash(p)) for p in photos]
        assert distances.index(min(distances)) == number, distances
        assert distances[number] <= 10, distances
