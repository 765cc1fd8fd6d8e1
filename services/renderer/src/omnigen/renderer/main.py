"""`omnigen-renderer`: the renderer's queues -> its handlers. Wiring only.

Roles (`OMNIGEN_RENDER_ROLE`): `all` (the default) consumes the renderer queue (script.ready
plans a render, audio.requested, compose.requested) and the scenes queue (scene.requested:
clip work; keyframe.requested: keyframe images); `clips` consumes only the scenes queue, so
clip workers deploy and scale on that queue's backlog alone; `coordinator` only the renderer
queue."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnigen.renderer import workdir
from omnigen.renderer.handlers import (
    RendererDeps,
)
from omnigen.renderer.local_pieces import LocalPieces
from omnigen.renderer.providers.factory import build_providers
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.renderer.routing import renderer_handlers
from omnigen.renderer.uploads.checker import CheckerDeps, UploadChecker
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.upload_store import DynamoUploadStore
from omnigen.shared.domain.events import (
    AudioRequested,
    ComposeRequested,
    Event,
    KeyframeRequested,
    SceneRequested,
    ScriptReady,
)
from omnigen.shared.runtime.service import (
    Handlers,
    Route,
    Service,
    WorkerContext,
    run_routes,
)


class RenderRole(StrEnum):
    ALL = "all"
    CLIPS = "clips"
    COORDINATOR = "coordinator"


class RenderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_RENDER_", extra="ignore")

    scale: float = Field(default=1.0, gt=0, le=1, description="< 1 renders smaller frames")
    work_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "omnigen-render",
        description="the root of renders' work directories, shared by the renderers of a host",
    )
    role: RenderRole = Field(
        default=RenderRole.ALL,
        description="all: every renderer queue; clips: only scene requests (clip work); "
        "coordinator: only plan, audio and compose",
    )


def _scene_work(event: Event) -> str:
    number = getattr(event.data, "scene_number", None)
    if isinstance(event, KeyframeRequested):
        return f"drawing the keyframe of scene {number}"
    return f"rendering scene {number}" if number is not None else "rendering a scene"


def _coordinator_work(event: Event) -> str:
    """What a dead letter of the renderer queue tells the user was interrupted."""
    return {
        ScriptReady: "planning the render",
        AudioRequested: "rendering the audio",
        ComposeRequested: "composing the video",
    }.get(type(event), "rendering")


def routes(settings: tuple[ProviderSettings, RenderSettings]) -> Sequence[Route]:
    role = settings[1].role
    coordinator = Route(
        lambda spec: spec.renderer_queue,
        (ScriptReady, AudioRequested, ComposeRequested),
        _coordinator_work,
    )
    clips = Route(lambda spec: spec.scenes_queue, (SceneRequested, KeyframeRequested), _scene_work)
    return {
        RenderRole.ALL: [coordinator, clips],
        RenderRole.CLIPS: [clips],
        RenderRole.COORDINATOR: [coordinator],
    }[role]


@asynccontextmanager
async def renderer(
    context: WorkerContext, settings: tuple[ProviderSettings, RenderSettings]
) -> AsyncIterator[Handlers]:
    provider_settings, render = settings
    # What renderers killed on this host (kill -9, OOM) left behind goes first; then this
    # process claims a directory of its own, held until it exits (see `workdir`).
    await asyncio.to_thread(workdir.sweep, render.work_dir)
    own = await asyncio.to_thread(workdir.claim, render.work_dir)
    providers = build_providers(provider_settings)
    try:
        deps = RendererDeps(
            jobs=context.jobs,
            publisher=context.publisher,
            assets=S3AssetStore(await context.aws.s3(), context.spec.bucket.name),
            clips=providers.clips,
            narrator=providers.narrator,
            music=providers.music,
            scale=render.scale,
            lease_s=context.lease_s,
            work_dir=own.path,
            prices=provider_settings.prices,
            uploads=DynamoUploadStore(await context.aws.dynamodb(), context.spec.table),
            keyframes=providers.keyframes,
            pieces=LocalPieces(own.path),
        )
        yield renderer_handlers(deps)
    finally:
        try:
            await providers.aclose()
        finally:
            await asyncio.to_thread(own.release)


async def upload_checkers(
    context: WorkerContext, settings: tuple[ProviderSettings, RenderSettings]
) -> Sequence[Service]:
    """Uploads are checked where plans are made (`all`, `coordinator`), not by clip workers."""
    if settings[1].role is RenderRole.CLIPS:
        return []
    deps = CheckerDeps(
        store=DynamoUploadStore(await context.aws.dynamodb(), context.spec.table),
        assets=S3AssetStore(await context.aws.s3(), context.spec.bucket.name),
    )
    queue = context.spec.uploads_queue.name
    return [UploadChecker(await context.aws.sqs(), queue, deps)]


def main() -> int:
    return run_routes(
        "renderer",
        settings=lambda: (ProviderSettings(), RenderSettings()),
        routes=routes,
        handlers=renderer,
        services=upload_checkers,
    )


if __name__ == "__main__":
    sys.exit(main())
