"""`omnigen-renderer`: script.ready from its queue -> the render step. Wiring only."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from omnigen.renderer import workdir
from omnigen.renderer.handlers import RendererDeps, handle_script_ready
from omnigen.renderer.providers.factory import build_providers
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.domain.events import ScriptReady
from omnigen.shared.messages import Handler
from omnigen.shared.runtime.service import WorkerContext, run_worker


class RenderSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_RENDER_", extra="ignore")

    scale: float = Field(default=1.0, gt=0, le=1, description="< 1 renders smaller frames")
    work_dir: Path = Field(
        default_factory=lambda: Path(tempfile.gettempdir()) / "omnigen-render",
        description="the root of renders' work directories, shared by the renderers of a host",
    )


@asynccontextmanager
async def renderer(
    context: WorkerContext, settings: tuple[ProviderSettings, RenderSettings]
) -> AsyncIterator[Handler[ScriptReady]]:
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
        )
        yield partial(handle_script_ready, deps=deps)
    finally:
        try:
            await providers.aclose()
        finally:
            await asyncio.to_thread(own.release)


def main() -> int:
    return run_worker(
        "renderer",
        settings=lambda: (ProviderSettings(), RenderSettings()),
        queue=lambda spec: spec.renderer_queue,
        event=ScriptReady,
        handler=renderer,
        work="rendering",
    )


if __name__ == "__main__":
    sys.exit(main())
