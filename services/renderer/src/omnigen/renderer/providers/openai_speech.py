"""Narrator on any OpenAI-compatible `audio.speech` endpoint, WAV out.

The endpoint takes at most 4096 characters, so longer narration is spoken in sentence-aligned
parts and joined. Streamed WAVs carry placeholder sizes in their header, so every answer is
rewritten by ffmpeg into one proper 24 kHz mono WAV, and its duration is measured from it.
Retries (429, 5xx, timeouts, lost connections) are ours: the client's own are switched off so
a long Retry-After is capped and every attempt is logged.
"""

from __future__ import annotations

import asyncio
import re
import wave
from pathlib import Path

import anyio
import openai
import structlog
from openai import AsyncOpenAI

from omnigen.renderer.media.errors import FfmpegFailed
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.probe import probe
from omnigen.renderer.ports import NarrationResult
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.renderer.providers.retry import Backoff, is_retryable_status, parse_retry_after, redact
from omnigen.renderer.providers.settings import OPENAI_VOICES, ProviderSettings

log = structlog.get_logger()

PROVIDER = "speech"
MAX_INPUT_CHARS = 4096
SAMPLE_RATE = 24_000
SILENCE_S = 0.25
DETAIL_MAX_CHARS = 300
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


class OpenAISpeechNarrator:
    """The hosted Narrator; gives no word timings (`words` is empty)."""

    def __init__(
        self,
        *,
        client: AsyncOpenAI,
        model: str,
        default_voice: str = "alloy",
        voices: tuple[str, ...] = OPENAI_VOICES,
        timeout_s: float = 120.0,
        backoff: Backoff | None = None,
    ) -> None:
        self._client = client
        self._model = model
        self._default_voice = default_voice
        self._voices = frozenset(voices)
        self._timeout_s = timeout_s
        self._backoff = backoff or Backoff()

    @classmethod
    def from_settings(cls, settings: ProviderSettings) -> OpenAISpeechNarrator:
        key = settings.speech_api_key.get_secret_value() if settings.speech_api_key else ""
        if not key:
            raise ValueError("OMNIGEN_SPEECH_API_KEY is required for the OpenAI speech narrator")
        client = AsyncOpenAI(
            api_key=key,
            base_url=settings.speech_base_url,
            timeout=settings.speech_timeout_s,
            max_retries=0,
        )
        return cls(
            client=client,
            model=settings.speech_model,
            default_voice=settings.speech_voice,
            voices=settings.speech_voices,
            timeout_s=settings.speech_timeout_s,
            backoff=Backoff(
                max_retries=settings.speech_max_retries,
                base_delay_s=settings.speech_retry_base_delay_s,
                max_delay_s=settings.speech_retry_max_delay_s,
            ),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def voice_for(self, voice: str | None) -> str:
        """The job's voice when the endpoint offers it, else the configured default."""
        return voice if voice in self._voices else self._default_voice

    async def synthesize(self, text: str, *, voice: str | None, out_path: Path) -> NarrationResult:
        await anyio.Path(out_path.parent).mkdir(parents=True, exist_ok=True)
        parts = speech_parts(text)
        if not parts:
            await asyncio.to_thread(_write_silence, out_path, SILENCE_S)
            return NarrationResult(path=out_path, duration_s=SILENCE_S)
        chosen = self.voice_for(voice)
        part_paths = [out_path.with_name(f"{out_path.stem}.part{i}") for i in range(len(parts))]
        try:
            for part, part_path in zip(parts, part_paths, strict=True):
                audio = await self._speak(part, chosen)
                await anyio.Path(part_path).write_bytes(audio)
            await _join_as_wav(part_paths, out_path)
        finally:
            for part_path in part_paths:
                await anyio.Path(part_path).unlink(missing_ok=True)
        duration = (await probe(out_path)).duration_s
        log.info("narration_synthesized", provider=PROVIDER, model=self._model, voice=chosen,
                 parts=len(parts), seconds=round(duration, 2))  # fmt: skip
        return NarrationResult(path=out_path, duration_s=duration, text=text)

    async def _speak(self, text: str, voice: str) -> bytes:
        """One speech request, retried on rate limits, server errors and transport failures."""
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer = await self._client.audio.speech.create(
                        model=self._model, voice=voice, input=text, response_format="wav"
                    )
                    return await answer.aread()
            except openai.APIStatusError as err:
                status: int | None = err.status_code
                retry_after = parse_retry_after(err.response.headers)
                reason = (
                    f"the speech provider answered HTTP {status}: "
                    f"{self._redact(_error_message(err))[:DETAIL_MAX_CHARS]}"
                )
            except (openai.APITimeoutError, TimeoutError):
                status = None
                reason = f"the speech provider did not answer within {self._timeout_s:g} s"
            except openai.APIConnectionError as err:
                status = None
                reason = (
                    f"could not reach the speech provider: {type(err.__cause__ or err).__name__}"
                )
            transient = status is None or is_retryable_status(status)
            if not transient:
                raise ProviderFailed(reason, provider=PROVIDER, status_code=status)
            if attempt >= self._backoff.max_attempts:
                raise ProviderFailed(
                    f"{reason} ({attempt} attempts)",
                    provider=PROVIDER,
                    transient=True,
                    status_code=status,
                )
            delay = self._backoff.delay(attempt, retry_after)
            log.warning(
                "speech_retry", attempt=attempt, status_code=status, delay_s=round(delay, 2)
            )
            await asyncio.sleep(delay)

    def _redact(self, text: str) -> str:
        return redact(text, self._client.api_key)


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


def _error_message(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
    return err.message


def _write_silence(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(b"\0\0" * int(SAMPLE_RATE * seconds))
