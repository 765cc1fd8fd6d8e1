"""Playing the renderer's queues by hand: each event handled as `omnigen-renderer` would take
it from its queue (`omnigen.renderer.routing`), as a message of its own."""

from __future__ import annotations

import dataclasses
from typing import Any

from omnigen.renderer.handlers import RendererDeps
from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.routing import renderer_handlers
from omnigen.shared.domain.events import Event
from omnigen.shared.messages import MessageContext
from omnigen.testing.fakes import InMemoryAssetStore, InMemoryJobRepository, RecordingPublisher

SCALE = 0.25  # 1920x1080 -> 480x270: real encodes, quick


def renderer_deps(**changes: Any) -> RendererDeps:
    """A renderer on in-memory fakes (jobs, events, S3) with the embedded providers (local
    clips, espeak-ng, synthesised music) at `SCALE`; `changes` replace any of them."""
    deps = RendererDeps(
        jobs=InMemoryJobRepository(),
        publisher=RecordingPublisher(),
        assets=InMemoryAssetStore(),
        clips=LocalClipGenerator(),
        narrator=EspeakNarrator(),
        music=SynthMusicSource(),
        scale=SCALE,
    )
    return dataclasses.replace(deps, **changes)


def message_of(event: Event, *, receive: int = 1, copy: str = "") -> MessageContext:
    """`event` received (for the `receive`-th time) as a message of its own, whose id is made
    from the event's; another `copy` is another message carrying the same event (a
    duplicate)."""
    message = f"m-{copy}{event.event_id}"
    token = f"r-{message}" if receive == 1 else f"r-{message}-{receive}"
    return MessageContext(message, token, receive, 4, "{}")


async def deliver(event: Event, ctx: MessageContext, deps: RendererDeps) -> None:
    """Hand `event` to the renderer's handler of its type; an event the renderer does not
    consume (`job.completed`, ...) is left alone, as its queues' filters leave it out."""
    handler = renderer_handlers(deps).get(type(event))
    if handler is not None:
        await handler(event, ctx)
