"""The scene as the unit of work: planning, piece states, and the one write per finished piece."""

from __future__ import annotations

import pytest

from omnigen.shared.domain.scenes import (
    AUDIO,
    Continuity,
    PieceState,
    RenderState,
    default_continuity,
    plan_metadata,
)
from omnigen.shared.domain.stages import AUDIO_GENERATING, COMPOSING, stage_seq


def _apply(metadata: dict, number: int, key: str = "k") -> tuple[dict, object]:
    state = RenderState.of(metadata)
    assert state is not None
    write = state.completion(number, key)
    assert write is not None
    for name, expected in write.expect.items():
        assert metadata.get(name) == expected, name
    return {**metadata, **write.metadata}, write


def test_unplanned_job_has_no_render_state() -> None:
    assert RenderState.of({}) is None
    assert RenderState.of({"scenes_total": 3}) is None


def test_plan_counts_scenes_and_audio_and_reuses_clips() -> None:
    state = RenderState.of(plan_metadata(4, Continuity.NONE, reused={2: "jobs/j/s2"}))
    assert state is not None
    assert (state.total, state.missing, state.done) == (4, 4, 1)
    assert state.outstanding() == [1, 3, 4, AUDIO]
    assert state.scenes[2].state is PieceState.COMPLETE
    assert state.continuity is Continuity.NONE


@pytest.mark.parametrize("order", [[1, 2, 3, AUDIO], [AUDIO, 3, 1, 2], [2, AUDIO, 1, 3]])
def test_any_order_moves_stage_forward_and_exactly_the_last_write_is_ready(order: list) -> None:
    metadata = plan_metadata(3, Continuity.NONE)
    seqs = [stage_seq("scene_1_generating")]
    readies = []
    for number in order:
        metadata, write = _apply(metadata, number)
        readies.append(write.ready)
        if write.stage is not None:
            seqs.append(stage_seq(write.stage))
    assert readies == [False, False, False, True]
    assert seqs == sorted(seqs)
    assert write.stage == COMPOSING
    state = RenderState.of(metadata)
    assert state is not None and state.ready and state.done == 3


def test_scene_n_complete_counts_finished_scenes_not_their_numbers() -> None:
    metadata = plan_metadata(3, Continuity.NONE)
    metadata, write = _apply(metadata, 3)
    assert write.stage == "scene_1_complete"
    metadata, write = _apply(metadata, 1)
    assert write.stage == "scene_2_complete"
    metadata, write = _apply(metadata, 2)
    assert write.stage == AUDIO_GENERATING  # every scene done, the audio is not


def test_a_recorded_piece_is_not_recorded_again() -> None:
    metadata, _ = _apply(plan_metadata(2, Continuity.CHAIN), 1)
    state = RenderState.of(metadata)
    assert state is not None and state.completion(1, "other") is None


def test_two_writers_from_the_same_read_expect_the_same_count() -> None:
    """Both last pieces read missing=2: whichever writes first changes the count, so the
    other's expectation fails and it must read again (then it records the last piece)."""
    metadata = plan_metadata(1, Continuity.NONE)
    state = RenderState.of(metadata)
    assert state is not None
    scene, audio = state.completion(1, "a"), state.completion(AUDIO, "b")
    assert scene is not None and audio is not None
    assert not scene.ready and not audio.ready
    after = {**metadata, **scene.metadata}
    assert any(after.get(k) != v for k, v in audio.expect.items())
    _, last = _apply(after, AUDIO)
    assert last.ready


def test_live_lease_shows_generating_and_summary_hides_keys() -> None:
    metadata = plan_metadata(2, Continuity.CHAIN)
    leases = {"scene_2": {"holder": "h", "until": 200.0}}
    state = RenderState.of(metadata, leases=leases, now=100.0)
    assert state is not None
    assert state.scenes[2].state is PieceState.GENERATING
    assert state.scenes[1].state is PieceState.PENDING
    summary = state.summary()
    assert summary["scenes"][1] == {"scene_number": 2, "state": "generating", "attempts": 0}


def test_versions_keep_their_own_keys() -> None:
    metadata = plan_metadata(2, Continuity.NONE, version=2)
    assert RenderState.of(metadata) is None
    state = RenderState.of(metadata, version=2)
    assert state is not None and "v2_pieces_missing" in metadata


def test_default_continuity_follows_the_provider() -> None:
    assert default_continuity(True) is Continuity.CHAIN
    assert default_continuity(False) is Continuity.NONE
