"""/v1/voices: the narration voices a job may name, per provider, for a language."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from omnigen.ingest.api.deps import Context, UserId
from omnigen.ingest.api.errors import ApiError, ErrorBody
from omnigen.shared.domain.media import (
    DEFAULT_LANGUAGE,
    canonical_language,
    espeak_voices,
    speech_voices,
)

router = APIRouter(prefix="/v1/voices", tags=["voices"])


class VoiceEntry(BaseModel):
    id: str = Field(description="what a job's `voice` option names")
    description: str


class ProviderVoices(BaseModel):
    provider: str = Field(description="espeak: the offline narrator; openai: the speech provider")
    configured: bool = Field(description="the renderer narrates with this provider")
    voices: list[VoiceEntry]


class VoiceList(BaseModel):
    language: str
    providers: list[ProviderVoices]


@router.get(
    "",
    response_model=VoiceList,
    responses={status: {"model": ErrorBody} for status in (401, 422, 429)},
    summary="Narration voices for a language",
)
async def list_voices(
    ctx: Context,
    _user_id: UserId,
    language: Annotated[str, Query(max_length=35, description="BCP 47, e.g. ja")] = (
        DEFAULT_LANGUAGE
    ),
) -> VoiceList:
    try:
        tag = canonical_language(language)
    except ValueError as exc:
        raise ApiError(422, "invalid_language", str(exc), field="language") from None
    narrator = ctx.settings.narration_provider
    offline = [VoiceEntry(id=v.id, description=v.description) for v in espeak_voices(tag)]
    hosted = [
        VoiceEntry(id=v.id, description=v.description)
        for v in speech_voices(tag, ctx.settings.speech_voices)
    ]
    return VoiceList(
        language=tag,
        providers=[
            ProviderVoices(provider="espeak", configured=narrator == "local", voices=offline),
            ProviderVoices(provider="openai", configured=narrator == "openai", voices=hosted),
        ],
    )
