from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnigen.shared.domain.stages import (
    InvalidStage,
    JobStatus,
    progress_percent,
    scene_complete,
    scene_generating,
    stage_seq,
    status_for_stage,
)
from omnigen.testing.strategies import FIXED_STAGES, stages

PIPELINE_FOR_3_SCENES = [
    "queued",
    "script_generating",
    "script_complete",
    "scene_1_generating",
    "scene_1_complete",
    "scene_2_generating",
    "scene_2_complete",
    "scene_3_generating",
    "scene_3_complete",
    "audio_generating",
    "audio_complete",
    "composing",
    "completed",
]


def test_pipeline_order_is_strictly_increasing() -> None:
    seqs = [stage_seq(stage) for stage in PIPELINE_FOR_3_SCENES]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)


@given(st.integers(1, 499))
def test_scene_n_complete_comes_before_scene_n_plus_1(n: int) -> None:
    assert stage_seq(scene_generating(n)) < stage_seq(scene_complete(n))
    assert stage_seq(scene_complete(n)) < stage_seq(scene_generating(n + 1))
    assert stage_seq("script_complete") < stage_seq(scene_generating(n))
    assert stage_seq(scene_complete(n + 1)) < stage_seq("audio_generating")


@given(stages(), stages())
def test_stage_order_is_a_total_order_consistent_with_names(a: str, b: str) -> None:
    assert (stage_seq(a) == stage_seq(b)) == (a == b)


@given(stages())
def test_progress_is_monotonic_in_stage(stage: str) -> None:
    before = [s for s in PIPELINE_FOR_3_SCENES if stage_seq(s) <= stage_seq(stage)]
    values = [progress_percent(s, 3) for s in before]
    assert values == sorted(values)
    assert 0 <= progress_percent(stage, 3) <= 100


@pytest.mark.parametrize(
    "bad", ["", "scene_0_complete", "scene_x_generating", "scene_1_done", "failed", "Queued"]
)
def test_unknown_stages_are_rejected(bad: str) -> None:
    with pytest.raises(InvalidStage):
        stage_seq(bad)


def test_status_follows_stage() -> None:
    assert status_for_stage("queued") is JobStatus.PENDING
    assert status_for_stage("scene_2_generating") is JobStatus.PROCESSING
    assert status_for_stage("completed") is JobStatus.COMPLETED
    assert all(not status_for_stage(s).is_terminal for s in FIXED_STAGES[:-1])
