"""The renderer's event types -> its handlers, bound to one set of dependencies: what
`omnigen-renderer` consumes from its queues, and what tests deliver by hand."""

from __future__ import annotations

from functools import partial

from omnigen.renderer.handlers import (
    RendererDeps,
    handle_audio_requested,
    handle_compose_requested,
    handle_scene_requested,
    handle_script_ready,
)
from omnigen.renderer.keyframing import handle_keyframe_requested
from omnigen.shared.domain.events import (
    AudioRequested,
    ComposeRequested,
    KeyframeRequested,
    SceneRequested,
    ScriptReady,
)
from omnigen.shared.runtime.service import Handlers


def renderer_handlers(deps: RendererDeps) -> Handlers:
    return {
        ScriptReady: partial(handle_script_ready, deps=deps),
        SceneRequested: partial(handle_scene_requested, deps=deps),
        KeyframeRequested: partial(handle_keyframe_requested, deps=deps),
        AudioRequested: partial(handle_audio_requested, deps=deps),
        ComposeRequested: partial(handle_compose_requested, deps=deps),
    }
