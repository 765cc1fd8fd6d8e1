"""`omnigen submit` sends the creative options as the API takes them, and refuses values
outside their vocabularies before sending anything."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from omnigen.shared.domain.creative import CREATIVE_ENUMS
from omnigen.testing.http_server import ThreadedServer

OMNIGEN = str(Path(sys.executable).parent / "omnigen")


class RecordingApi(ThreadedServer):
    """Answers `POST /v1/jobs` as ingest does (202 and the job's id) and keeps each body."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[dict[str, Any]] = []

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/jobs", self._submit)

    async def _submit(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.json())
        body = {"job_id": "0" * 32, "status": "pending", "stage": "queued"}
        return web.json_response(body, status=202)


async def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        OMNIGEN,
        *args,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode or 0, output.decode(errors="replace")


async def test_submit_sends_every_creative_option() -> None:
    with RecordingApi() as api:
        code, output = await run_cli(
            "submit", "Three tips for keeping houseplants alive through winter",
            "--title", "Winter plant care", "--style", "documentary", "--tone", "friendly",
            "--tempo", "slow", "--platform", "instagram", "--audience", "new plant owners",
            "--goal", "engagement", "--cta", "Share your plant",
            env={"OMNIGEN_API_URL": api.origin, "OMNIGEN_TOKEN": "t"},
        )  # fmt: skip

    assert code == 0, output
    assert api.bodies == [
        {
            "prompt": "Three tips for keeping houseplants alive through winter",
            "duration": 20,
            "aspect_ratio": "16:9",
            "title": "Winter plant care",
            "style": "documentary",
            "tone": "friendly",
            "tempo": "slow",
            "platform": "instagram",
            "audience": "new plant owners",
            "goal": "engagement",
            "call_to_action": "Share your plant",
        }
    ]
    assert json.dumps(api.bodies[0])  # plain JSON strings, not enum reprs


async def test_help_lists_each_options_values_and_a_bad_one_is_refused() -> None:
    code, help_text = await run_cli("submit", "--help")
    assert code == 0, help_text
    flat = " ".join(help_text.replace("│", " ").split())
    for vocabulary in CREATIVE_ENUMS.values():
        assert "|".join(m.value for m in vocabulary) in flat.replace(" ", "")
    assert "--cta" in flat

    with RecordingApi() as api:
        code, output = await run_cli(
            "submit", "A paper boat drifting down a rainy street", "--style", "moody noir",
            env={"OMNIGEN_API_URL": api.origin, "OMNIGEN_TOKEN": "t"},
        )  # fmt: skip
        assert code == 2, output
        assert "moody noir" in output
        assert api.bodies == []
