"""The scene as the unit of work: how a render is split into pieces (one clip per scene, one
audio piece), what each piece's state is, and how recording a finished piece moves the job.

After `script.ready` the renderer plans the render (`plan_metadata`) and requests every piece
over SQS; each finished piece is recorded in the job by ONE conditional write (`completion`),
which expects the `pieces_missing` count it read: two pieces finishing at the same instant
cannot both see the same count, so exactly one write takes the count to zero, and that write
is the one that asks for the composition ("ready to compose").

Everything lives in the job's flat `metadata` map (a piece's write touches only its own keys
and the shared counters). Keys belong to a render version: version 1 uses the plain names
(`scene_3_clip_key` as before), a later version prefixes them (`v2_scene_3_clip_key`), so a
regenerated version can be planned beside a finished one.

Stages stay the seed's names and only move forward while scenes finish in any order:
`scene_1_generating` once the render is planned, then `scene_N_complete` means N scenes are
done (not "scene N"), `audio_generating` when every scene is done and the audio is not,
`composing` once the last missing piece is recorded, then `completed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from omnigen.shared.domain.stages import AUDIO_GENERATING, COMPOSING, scene_complete

AUDIO: Final = 0  # the audio piece's number beside scenes 1..N


class Continuity(StrEnum):
    """How scenes belong together: `chain` renders them in order, each from the previous
    scene's last frame; `keyframes` first draws one keyframe per scene from a shared look, then
    renders every clip from its keyframe in parallel; `none` renders them all in parallel."""

    CHAIN = "chain"
    KEYFRAMES = "keyframes"
    NONE = "none"


def default_continuity(takes_start_image: bool, prefers_keyframes: bool = False) -> Continuity:
    """The default for a clip provider: keyframes for a hosted image-to-video model (every clip
    in parallel, about one prediction's time instead of N, and the shared look keeps the scenes
    together), chain where it can start from an image, else none."""
    if takes_start_image and prefers_keyframes:
        return Continuity.KEYFRAMES
    return Continuity.CHAIN if takes_start_image else Continuity.NONE


class PieceState(StrEnum):
    PENDING = "pending"
    GENERATING = "generating"
    COMPLETE = "complete"
    FAILED = "failed"


def key(version: int, name: str) -> str:
    """The metadata key `name` of render version `version`."""
    return name if version == 1 else f"v{version}_{name}"


def piece_name(number: int) -> str:
    return "audio" if number == AUDIO else f"scene_{number}"


def piece_step(number: int, version: int = 1) -> str:
    """The lease step of a piece (one worker renders it at a time)."""
    return key(version, piece_name(number))


@dataclass(frozen=True)
class Piece:
    number: int  # 1..N for a scene, AUDIO for the audio
    state: PieceState
    attempts: int = 0
    key: str | None = None  # the clip's (or the audio archive's) S3 key once complete

    @property
    def label(self) -> str:
        return "audio" if self.number == AUDIO else f"scene {self.number}"

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state.value, "attempts": self.attempts, "key": self.key}


@dataclass(frozen=True)
class PieceWrite:
    """One conditional write recording a finished piece: `expect` holds the values it read
    (the write is refused if any changed), `metadata` what it sets, `stage` where the job goes
    (None: it stays), `ready` True when this write records the last missing piece."""

    metadata: dict[str, Any]
    expect: dict[str, Any]
    stage: str | None
    ready: bool


@dataclass(frozen=True)
class RenderState:
    """One render version as recorded in the job's metadata."""

    version: int
    total: int
    continuity: Continuity
    missing: int
    scenes: dict[int, Piece] = field(default_factory=dict)
    audio: Piece = field(default_factory=lambda: Piece(AUDIO, PieceState.PENDING))

    @classmethod
    def of(
        cls,
        metadata: Mapping[str, Any],
        *,
        version: int = 1,
        leases: Mapping[str, Any] | None = None,
        now: float = 0.0,
    ) -> RenderState | None:
        """The planned render of `version`, or None when it was not planned (yet). A piece
        whose lease is live (`leases` at `now`) is `generating`."""
        missing = metadata.get(key(version, "pieces_missing"))
        total = metadata.get(key(version, "scenes_total"))
        if missing is None or not total:
            return None
        total = int(total)

        def piece(number: int) -> Piece:
            name = piece_name(number)
            raw = metadata.get(key(version, f"{name}_state"))
            state = PieceState(raw) if raw in set(PieceState) else PieceState.PENDING
            lease = (leases or {}).get(piece_step(number, version)) or {}
            if state is PieceState.PENDING and float(lease.get("until", 0)) >= now > 0:
                state = PieceState.GENERATING
            clip_key = metadata.get(
                key(version, "audio_key" if number == AUDIO else f"{name}_clip_key")
            )
            return Piece(
                number,
                state,
                int(metadata.get(key(version, f"{name}_attempts"), 0) or 0),
                str(clip_key) if clip_key and state is PieceState.COMPLETE else None,
            )

        continuity = metadata.get(key(version, "continuity"), Continuity.CHAIN.value)
        return cls(
            version=version,
            total=total,
            continuity=Continuity(continuity)
            if continuity in set(Continuity)
            else Continuity.CHAIN,
            missing=int(missing),
            scenes={n: piece(n) for n in range(1, total + 1)},
            audio=piece(AUDIO),
        )

    def piece(self, number: int) -> Piece:
        return self.audio if number == AUDIO else self.scenes[number]

    @property
    def done(self) -> int:
        """How many scenes are complete."""
        return sum(p.state is PieceState.COMPLETE for p in self.scenes.values())

    @property
    def ready(self) -> bool:
        """Every piece recorded: the composition may run."""
        return self.missing == 0

    def outstanding(self) -> list[int]:
        """The pieces not complete (scenes in order, then the audio)."""
        pieces = [*self.scenes.values(), self.audio]
        return [p.number for p in pieces if p.state is not PieceState.COMPLETE]

    def completion(self, number: int, piece_key: str) -> PieceWrite | None:
        """The write that records piece `number` as finished with its S3 key; None when it is
        recorded already (a duplicate: nothing to write)."""
        current = self.piece(number)
        if current.state is PieceState.COMPLETE:
            return None
        name = piece_name(number)
        missing = self.missing - 1
        metadata: dict[str, Any] = {
            key(self.version, f"{name}_state"): PieceState.COMPLETE.value,
            key(self.version, "audio_key" if number == AUDIO else f"{name}_clip_key"): piece_key,
            key(self.version, "pieces_missing"): missing,
        }
        expect: dict[str, Any] = {
            key(self.version, "pieces_missing"): self.missing,
            key(self.version, f"{name}_state"): _stored(current.state),
        }
        stage: str | None = None
        if number != AUDIO:
            done = self.done + 1
            metadata[key(self.version, "scenes_complete")] = done
            expect[key(self.version, "scenes_complete")] = self.done
            stage = AUDIO_GENERATING if done == self.total else scene_complete(done)
        if missing == 0:
            stage = COMPOSING
        return PieceWrite(metadata=metadata, expect=expect, stage=stage, ready=missing == 0)

    def failure(self, number: int) -> dict[str, Any]:
        """The metadata that records piece `number` as failed for good."""
        return {key(self.version, f"{piece_name(number)}_state"): PieceState.FAILED.value}

    def summary(self) -> dict[str, Any]:
        """What the API and the event stream show about every piece."""
        return {
            "version": self.version,
            "continuity": self.continuity.value,
            "scenes_total": self.total,
            "scenes_complete": self.done,
            "scenes": [
                {"scene_number": n, **{k: v for k, v in p.as_dict().items() if k != "key"}}
                for n, p in sorted(self.scenes.items())
            ],
            "audio": {k: v for k, v in self.audio.as_dict().items() if k != "key"},
        }


def _stored(state: PieceState) -> str | None:
    """The stored value a piece in `state` has (a live lease is not stored)."""
    return None if state in (PieceState.PENDING, PieceState.GENERATING) else state.value


def plan_metadata(
    total: int,
    continuity: Continuity,
    *,
    version: int = 1,
    reused: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The metadata of a newly planned render: `total` scenes and the audio outstanding,
    except the scenes in `reused` (number -> clip key of a clip that exists already)."""
    reused = dict(reused or {})
    metadata: dict[str, Any] = {
        key(version, "scenes_total"): total,
        key(version, "continuity"): continuity.value,
        key(version, "pieces_missing"): total + 1 - len(reused),
        key(version, "scenes_complete"): len(reused),
    }
    for number, clip_key in reused.items():
        metadata[key(version, f"scene_{number}_state")] = PieceState.COMPLETE.value
        metadata[key(version, f"scene_{number}_clip_key")] = clip_key
    return metadata


__all__ = [
    "AUDIO",
    "Continuity",
    "Piece",
    "PieceState",
    "PieceWrite",
    "RenderState",
    "default_continuity",
    "key",
    "piece_name",
    "piece_step",
    "plan_metadata",
]
