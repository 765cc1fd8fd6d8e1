"""How long until a job is done: `estimated_completion_seconds` in the API and the event stream.

The estimate counts the work left in seconds of a reference pace, then corrects that pace by
what this job has shown:

- Work is what the pipeline does, from what the job says: writing the script (`SCRIPT_S`),
  each scene's clip (`SCENE_BASE_S` plus `SCENE_S_PER_SECOND` per second of the scene, since
  clip generation scales with length), the narration and music (`AUDIO_S`), and composing
  (`COMPOSE_S_PER_SECOND` per second of video: one encode of the whole). Before the script
  exists the scenes are assumed `TYPICAL_SCENE_S` long each.
- Scenes chained (each from the previous one's last frame) run one after another; otherwise
  they run at once, so only the slowest outstanding scene counts.
- The reference pace is the offline providers' (embedded clips, espeak, ffmpeg on 2 cores),
  measured on the demo. A hosted model is slower; once a fifth of the work is done the job's
  own pace (seconds since it was created / work done) scales the providers' work left (not the
  composing, which runs here), so a job on a slow provider soon gets its real figure.

The figure only moves toward 0 while a job advances at a steady pace, is at least 1 while it
runs, and is None once it has finished (completed or failed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.scenes import Continuity, PieceState, RenderState
from omnigen.shared.domain.stages import COMPOSING, SCRIPT_COMPLETE, stage_seq

SCRIPT_S: Final = 8.0
SCENE_BASE_S: Final = 2.0
SCENE_S_PER_SECOND: Final = 0.4
AUDIO_S: Final = 4.0
COMPOSE_S_PER_SECOND: Final = 0.5
TYPICAL_SCENE_S: Final = 6.0
# The share of the work done after which the job's own pace replaces the reference pace.
OWN_PACE_AFTER: Final = 0.2


@dataclass(frozen=True)
class _Work:
    """Reference-pace seconds: the whole job's, what is done, and the wall time left (the
    providers' part, then the composing)."""

    total: float
    done: float
    left: float
    compose: float


def estimated_completion_seconds(job: Job, now: float) -> int | None:
    """Seconds until `job` is likely complete, judged at `now`; None when it has finished."""
    if job.is_terminal:
        return None
    work = _work(job, now)
    left = work.left
    elapsed = now - job.created_at
    share_done = work.done / work.total if work.total else 0.0
    if job.attempt == 1 and share_done >= OWN_PACE_AFTER and elapsed > 0:
        pace = elapsed / work.done  # wall seconds per reference second, as this job went
        left *= pace
    return max(1, math.ceil(left + work.compose))


def _scene_s(duration: float) -> float:
    return SCENE_BASE_S + SCENE_S_PER_SECOND * duration


def _work(job: Job, now: float) -> _Work:
    durations = (
        [scene.duration for scene in job.scenes]
        if job.scenes
        else [TYPICAL_SCENE_S] * max(1, round(job.duration / TYPICAL_SCENE_S))
    )
    compose = COMPOSE_S_PER_SECOND * job.duration
    scenes = [_scene_s(d) for d in durations]
    total = SCRIPT_S + sum(scenes) + AUDIO_S + compose
    if stage_seq(job.stage) < stage_seq(SCRIPT_COMPLETE):
        return _Work(total, 0.0, total - compose - sum(scenes) + _wall(scenes, True), compose)
    if stage_seq(job.stage) >= stage_seq(COMPOSING):
        return _Work(total, total - compose, 0.0, compose)
    render = RenderState.of(job.metadata, leases=job.leases, now=now)
    if render is None:  # scripted, render not planned yet
        return _Work(total, SCRIPT_S, AUDIO_S + _wall(scenes, True), compose)
    outstanding = [
        scenes[n - 1]
        for n, piece in render.scenes.items()
        if piece.state is not PieceState.COMPLETE and n <= len(scenes)
    ]
    audio_left = 0.0 if render.audio.state is PieceState.COMPLETE else AUDIO_S
    chained = render.continuity is Continuity.CHAIN
    done = total - sum(outstanding) - audio_left - compose
    return _Work(total, done, max(_wall(outstanding, chained), audio_left), compose)


def _wall(scenes: list[float], chained: bool) -> float:
    """Wall time of rendering `scenes`: one after another when chained, else at once."""
    if not scenes:
        return 0.0
    return sum(scenes) if chained else max(scenes)


__all__ = ["estimated_completion_seconds"]
