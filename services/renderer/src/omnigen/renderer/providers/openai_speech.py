"""Narrator on any OpenAI-compatible `audio.speech` endpoint, WAV out.

The endpoint takes at most 4096 characters, so longer narration is spoken in sentence-aligned
parts and joined. Streamed WAVs carry placeholder sizes in their header, so every answer is
rewritten by ffmpeg into one proper 24 kHz mono WAV, and its duration is measured from it.
Retries (429, 5xx, timeouts, lost connections) follow the shared `RetryPolicy`, through the
same OpenAI-compatible caller as the script writer's.
"""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path

import anyio
import structlog
from openai import omit

from omnigen.renderer.media.errors import FfmpegFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.probe import probe
from omnigen.renderer.ports import NarrationResult
from omnigen.renderer.providers.settings import OPENAI_VOICES, ProviderSettings
from omnigen.shared.domain.errors import ProviderFailed
from omnigen.shared.domain.usage import count_usage
from omnigen.shared.providers.openai_compat import OpenAICompatible

log = structlog.get_logger()

PROVIDER = "speech"
MAX_INPUT_CHARS = 4096
SAMPLE_RATE = 24_000
SILENCE_S = 0.25
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


class OpenAISpeechNarrator:
    """The hosted Narrator; gives no word timings (`words` is empty)."""

    def __init__(
        self,
        *,
        api: OpenAICompatible,
        model: str,
        default_voice: str = "alloy",
        voices: tuple[str, ...] = OPENAI_VOICES,
        language_field: str | None = None,
    ) -> None:
        self._api = api
        self._model = model
        self._default_voice = default_voice
        self._voices = frozenset(voices)
        self._language_field = language_field

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> OpenAISpeechNarrator:
        api = OpenAICompatible.connect(
            api_key=settings.speech_api_key,
            key_setting="OMNIGEN_SPEECH_API_KEY",
            base_url=settings.speech_base_url,
            provider=PROVIDER,
            policy=settings.retry_policy,
            timeout_s=settings.speech_timeout_s,
        )
        return cls(
            api=api,
            model=settings.speech_model,
            default_voice=settings.speech_voice,
            voices=settings.speech_voices,
            language_field=settings.speech_language_field,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    def voice_for(self, voice: str | None) -> str:
        """The job's voice when the endpoint offers it, else the configured default."""
        return voice if voice in self._voices else self._default_voice

    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None,
        out_path: Path,
        language: str | None = None,
        rate: float = 1.0,
    ) -> NarrationResult:
        """The endpoint's `speed` carries the rate; the language goes in the configured field
        (OpenAI itself reads it from the text)."""
        await anyio.Path(out_path.parent).mkdir(parents=True, exist_ok=True)
        parts = speech_parts(text)
        if not parts:
            await asyncio.to_thread(_write_silence, out_path, SILENCE_S)
            return NarrationResult(path=out_path, duration_s=SILENCE_S)
        chosen = self.voice_for(voice)
        part_paths = [out_path.with_name(f"{out_path.stem}.part{i}") for i in range(len(parts))]
        try:
            for part, part_path in zip(parts, part_paths, strict=True):
                audio = await self._speak(part, chosen, language, rate)
                await anyio.Path(part_path).write_bytes(audio)
            await _join_as_wav(part_paths, out_path)
        finally:
            for part_path in part_paths:
                await anyio.Path(part_path).unlink(missing_ok=True)
        duration = (await probe(out_path)).duration_s
        log.info("narration_synthesized", provider=PROVIDER, model=self._model, voice=chosen,
                 language=language, rate=rate, parts=len(parts),
                 seconds=round(duration, 2))  # fmt: skip
        return NarrationResult(path=out_path, duration_s=duration, text=text)

    async def _speak(self, text: str, voice: str, language: str | None, rate: float) -> bytes:
        """One speech request, retried by the shared policy while its budget lasts."""
        extra = {self._language_field: language} if self._language_field and language else None

        async def attempt() -> bytes:
            answer = await self._api.client.audio.speech.create(
                model=self._model,
                voice=voice,
                input=text,
                response_format="wav",
                speed=rate if rate != 1.0 else omit,
                extra_body=extra,
            )
            return await answer.aread()

        audio = await self._api.call(attempt)
        count_usage(speech_calls=1, speech_characters=len(text))  # billed per input character
        return audio


def speech_parts(text: str, limit: int = MAX_INPUT_CHARS) -> list[str]:
    """`text` in pieces of at most `limit` characters, split between sentences where possible."""
    spoken = " ".join(text.split())
    parts: list[str] = []
    current = ""
    for sentence in _SENTENCE_END.split(spoken):
        while len(sentence) > limit:
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            parts, current = _flush(parts, current), ""
            parts.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            parts, current = _flush(parts, current), ""
        current = f"{current} {sentence}".strip()
    return _flush(parts, current)


def _flush(parts: list[str], current: str) -> list[str]:
    return [*parts, current] if current else parts


async def _join_as_wav(inputs: list[Path], out_path: Path) -> None:
    """Decode each answer (whatever its header says) and write one 24 kHz mono 16-bit WAV."""
    args: list[str | Path] = []
    for path in inputs:
        args += ["-i", path]
    fmt = f"aformat=sample_fmts=s16:sample_rates={SAMPLE_RATE}:channel_layouts=mono"
    chains = [f"[{i}:a:0]{fmt}[a{i}]" for i in range(len(inputs))]
    joined = "".join(f"[a{i}]" for i in range(len(inputs)))
    graph = ";".join([*chains, f"{joined}concat=n={len(inputs)}:v=0:a=1[out]"])
    try:
        await run_ffmpeg(
            [*args, "-filter_complex", graph, "-map", "[out]", "-c:a", "pcm_s16le", out_path],
            what="joining the narration",
            timeout_s=300.0,
        )
    except FfmpegFailed as err:
        raise ProviderFailed(
            f"the speech provider's audio could not be read: {err.reason}", provider=PROVIDER
        ) from err


def _write_silence(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"\0\0" * int(SAMPLE_RATE * seconds))
