"""Pipeline stages and their total order.

A job only moves forward: every stage has a sequence number and the repository refuses a
write whose sequence number is lower than the one stored. `failed` keeps the stage where the
job failed, so it is a status, not a stage.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

MAX_SCENES: Final = 500

QUEUED: Final = "queued"
SCRIPT_GENERATING: Final = "script_generating"
SCRIPT_COMPLETE: Final = "script_complete"
# A job asked with `review: true` waits here for its owner (status pending: nobody is working
# on it) until POST /v1/jobs/{id}/render (or an upstream `job.render_requested`) approves it.
AWAITING_REVIEW: Final = "awaiting_review"
SCRIPT_APPROVED: Final = "script_approved"  # approved: its script.ready is owed or on its way
AUDIO_GENERATING: Final = "audio_generating"
AUDIO_COMPLETE: Final = "audio_complete"
COMPOSING: Final = "composing"
COMPLETED: Final = "completed"

_FIXED: Final[dict[str, int]] = {
    QUEUED: 0,
    SCRIPT_GENERATING: 10,
    SCRIPT_COMPLETE: 20,
    AWAITING_REVIEW: 30,
    SCRIPT_APPROVED: 40,
    AUDIO_GENERATING: 100_000,
    AUDIO_COMPLETE: 100_010,
    COMPOSING: 100_020,
    COMPLETED: 100_030,
}
_SCENE = re.compile(r"^scene_([1-9][0-9]{0,2})_(generating|complete)$")


class JobStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


class InvalidStage(ValueError):
    """A stage name that is not part of the pipeline."""


def scene_generating(scene_number: int) -> str:
    return _scene_stage(scene_number, "generating")


def scene_complete(scene_number: int) -> str:
    return _scene_stage(scene_number, "complete")


def _scene_stage(scene_number: int, phase: str) -> str:
    if not 1 <= scene_number <= MAX_SCENES:
        raise InvalidStage(f"scene number must be 1..{MAX_SCENES}, got {scene_number}")
    return f"scene_{scene_number}_{phase}"


def stage_seq(stage: str) -> int:
    """Position of `stage` in the pipeline; later stages have larger numbers."""
    if stage in _FIXED:
        return _FIXED[stage]
    match = _SCENE.match(stage)
    if match is None:
        raise InvalidStage(f"unknown stage {stage!r}")
    number = int(match.group(1))
    if number > MAX_SCENES:
        raise InvalidStage(f"scene number must be 1..{MAX_SCENES}, got {number}")
    return 1_000 + number * 100 + (50 if match.group(2) == "complete" else 0)


def is_valid_stage(stage: str) -> bool:
    try:
        stage_seq(stage)
    except InvalidStage:
        return False
    return True


def status_for_stage(stage: str) -> JobStatus:
    """The status a job has while it is in `stage` (failure is recorded separately)."""
    if stage in (QUEUED, AWAITING_REVIEW):  # waiting for a worker, or for its owner
        return JobStatus.PENDING
    if stage == COMPLETED:
        return JobStatus.COMPLETED
    stage_seq(stage)
    return JobStatus.PROCESSING


def progress_percent(stage: str, scene_count: int | None) -> int:
    """A rough, monotonic progress figure for clients (0..100)."""
    seq = stage_seq(stage)
    if stage == COMPLETED:
        return 100
    if seq <= _FIXED[SCRIPT_APPROVED]:
        return {QUEUED: 0, SCRIPT_GENERATING: 5}.get(stage, 10)
    if seq < _FIXED[AUDIO_GENERATING]:
        match = _SCENE.match(stage)
        assert match is not None
        total = max(scene_count or 1, int(match.group(1)))
        done = int(match.group(1)) - (0 if match.group(2) == "complete" else 1)
        return 10 + int(70 * done / total)
    return {AUDIO_GENERATING: 80, AUDIO_COMPLETE: 88, COMPOSING: 92}[stage]
