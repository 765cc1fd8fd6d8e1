"""Keyframe continuity: one keyframe image per scene, drawn in parallel from one shared look,
then every scene's clip in parallel from its keyframe (image-to-video).

A keyframe is a piece of its own (its own `keyframe.requested` message, lease, attempt count
and state), so a keyframe whose provider fails transiently is retried alone and a finished one
is never drawn again. Each finished keyframe is recorded by ONE conditional write that expects
only its own state (keyframes finishing together never race each other) and returns the job as
it left it: the one write after which every keyframe is recorded is the one that requests every
scene's clip, so no clip starts before every keyframe exists. Keyframes do not move the job's
stage (it stays `scene_1_generating` until the first clip is recorded); their state sits
beside the scenes'.

Keys (per render version, see `scenes.key`): `keyframe_look` (its presence means the render
has keyframes), and per scene `scene_N_keyframe_state`, `scene_N_keyframe_key`,
`scene_N_keyframe_attempts`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from omnigen.shared.domain.scenes import Piece, PieceState, PieceWrite, key
from omnigen.shared.domain.scripts import ColorGrade, Mood, Script

_T = TypeVar("_T")


@dataclass(frozen=True)
class Look:
    """What every keyframe of a render shares, so the scenes belong together: the visual style,
    one palette (a mood) and colour grade, and one seed for the image model."""

    style: str
    mood: Mood
    grade: ColorGrade
    seed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "mood": self.mood.value,
            "grade": self.grade.value,
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Look:
        return cls(
            style=str(raw["style"]),
            mood=Mood(raw["mood"]),
            grade=ColorGrade(raw["grade"]),
            seed=int(raw["seed"]),
        )


def shared_look(job_id: str, script: Script, style: str | None = None) -> Look:
    """The render's look: the job's style (else the first scene's), the script's most common
    mood and grade (ties: the earliest), a seed derived from the job (stable across retries)."""
    scenes = script.scenes
    digest = hashlib.sha256(f"keyframes|{job_id}".encode()).digest()
    return Look(
        style=(style or scenes[0].visual_style).strip(),
        mood=_most_common(s.mood for s in scenes),
        grade=_most_common(s.color_grade for s in scenes),
        seed=int.from_bytes(digest[:4], "big") % 2_147_483_647,
    )


def _most_common(values: Iterable[_T]) -> _T:
    counts = Counter(values)
    return max(counts, key=lambda v: counts[v])  # max keeps the first of equal counts


def keyframe_name(number: int) -> str:
    return f"scene_{number}_keyframe"


def keyframe_step(number: int, version: int = 1) -> str:
    """The lease step of scene `number`'s keyframe."""
    return key(version, keyframe_name(number))


@dataclass(frozen=True)
class KeyframeState:
    """The keyframes of one render version as recorded in the job's metadata."""

    version: int
    look: Look | None
    keyframes: dict[int, Piece] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        metadata: Mapping[str, Any],
        scenes: Iterable[int],
        *,
        version: int = 1,
        leases: Mapping[str, Any] | None = None,
        now: float = 0.0,
    ) -> KeyframeState | None:
        """The keyframes of `version` for the scene numbers `scenes` (those whose clip is still
        to make); None when the render was not planned with keyframes. A keyframe whose lease
        is live (`leases` at `now`) is `generating`."""
        raw_look = metadata.get(key(version, "keyframe_look"))
        if not isinstance(raw_look, Mapping):
            return None
        look = Look.from_dict(raw_look)

        def piece(number: int) -> Piece:
            name = keyframe_name(number)
            raw = metadata.get(key(version, f"{name}_state"))
            state = PieceState(raw) if raw in set(PieceState) else PieceState.PENDING
            lease = (leases or {}).get(keyframe_step(number, version)) or {}
            if state is PieceState.PENDING and float(lease.get("until", 0)) >= now > 0:
                state = PieceState.GENERATING
            stored = metadata.get(key(version, f"{name}_key"))
            return Piece(
                number,
                state,
                int(metadata.get(key(version, f"{name}_attempts"), 0) or 0),
                str(stored) if stored and state is PieceState.COMPLETE else None,
            )

        return cls(version, look, {n: piece(n) for n in scenes})

    @property
    def ready(self) -> bool:
        """Every keyframe recorded: the clips may start."""
        return all(p.state is PieceState.COMPLETE for p in self.keyframes.values())

    def outstanding(self) -> list[int]:
        return [n for n, p in sorted(self.keyframes.items()) if p.state is not PieceState.COMPLETE]

    def completion(self, number: int, image_key: str) -> PieceWrite | None:
        """The write recording scene `number`'s keyframe at `image_key`, expecting only its
        own state; None when recorded already. (Whether it was the last one shows in the job
        the write returns: `ready` here says so only as far as this state knows.)"""
        current = self.keyframes[number]
        if current.state is PieceState.COMPLETE:
            return None
        name = keyframe_name(number)
        stored = None if current.state is not PieceState.FAILED else current.state.value
        others = (p for n, p in self.keyframes.items() if n != number)
        return PieceWrite(
            metadata={
                key(self.version, f"{name}_state"): PieceState.COMPLETE.value,
                key(self.version, f"{name}_key"): image_key,
            },
            expect={key(self.version, f"{name}_state"): stored},
            stage=None,
            ready=all(p.state is PieceState.COMPLETE for p in others),
        )

    def failure(self, number: int) -> dict[str, Any]:
        return {key(self.version, f"{keyframe_name(number)}_state"): PieceState.FAILED.value}

    def summary(self) -> dict[int, dict[str, Any]]:
        """Scene number -> its keyframe's state and attempts, for the API."""
        return {
            n: {"state": p.state.value, "attempts": p.attempts}
            for n, p in sorted(self.keyframes.items())
        }


def keyframe_plan(look: Look, *, version: int = 1) -> dict[str, Any]:
    """The metadata planning keyframes: one per scene whose clip is still to make (a reused
    clip needs none), all in `look`."""
    return {key(version, "keyframe_look"): look.as_dict()}


__all__ = [
    "KeyframeState",
    "Look",
    "keyframe_name",
    "keyframe_plan",
    "keyframe_step",
    "shared_look",
]
