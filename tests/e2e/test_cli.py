"""The `omnigen` CLI as a user runs it: the one-command demo, and the operator DLQ commands."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from omnigen.renderer.media.probe import probe
from omnigen.testing.fixtures import Stack
from omnigen.testing.queues import depth, receive_all, send_raw
from omnigen.testing.samples import accepted_json

OMNIGEN = str(Path(sys.executable).parent / "omnigen")


async def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        OMNIGEN,
        *args,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=timeout)
    return process.returncode or 0, output.decode(errors="replace")


async def test_demo_turns_a_prompt_into_an_mp4_and_cleans_up(tmp_path: Path) -> None:
    code, output = await run_cli(
        "demo",
        "A paper boat drifting down a rainy city street",
        "--duration", "10",
        "--aspect-ratio", "1:1",
        "--scale", "0.25",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, output
    [video] = list(tmp_path.glob("*.mp4"))
    assert f"Video saved: {video.resolve()}" in output.replace("\n", "")
    assert "services that did not exit cleanly" not in output
    info = await probe(video)
    assert abs(info.duration_s - 10.0) <= 0.2
    assert info.video is not None and (info.video.width, info.video.height) == (270, 270)


async def test_dlq_list_shows_why_and_redrive_moves_letters_back(moto_stack: Stack) -> None:
    stack = moto_stack
    queue = stack.spec.scripter_queue
    await send_raw(stack, queue.dlq_name, '{"event_type": "job.accepted"')
    await send_raw(stack, queue.dlq_name, accepted_json("job-in-the-dlq"))
    env = {
        "OMNIGEN_ENDPOINT_URL": stack.settings.endpoint_url or "",
        "OMNIGEN_RESOURCE_PREFIX": stack.settings.resource_prefix,
    }
    code, overview = await run_cli("dlq", "list", env=env, timeout=60)
    assert code == 0, overview
    cells = [[c.strip() for c in line.split("│")] for line in overview.splitlines()]
    assert [queue.name, queue.dlq_name, "2"] in [row[1:4] for row in cells if len(row) > 3]

    code, letters = await run_cli("dlq", "list", "scripter", env=env, timeout=60)
    assert code == 0, letters
    assert "job-in-the-dlq" in letters and "not JSON" in letters

    code, moved = await run_cli("dlq", "redrive", "scripter", env=env, timeout=60)
    assert code == 0 and "moved 2 message(s)" in moved, moved
    assert await depth(stack, queue.dlq_name) == 0
    back = await receive_all(stack, queue.name, expect=2, wait_s=10)
    assert len(back) == 2
