"""The offline Narrator: espeak-ng from the espeakng-loader wheel (library and voice data bundled),
driven through its C API so each word's time comes back with the audio, for captions.
"""

from __future__ import annotations

import asyncio
import ctypes
import re
import threading
import wave
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import espeakng_loader
import structlog

from omnigen.renderer.media.errors import NarrationFailed
from omnigen.renderer.ports import NarrationResult, WordTiming
from omnigen.shared.domain.media import DEFAULT_LANGUAGE, espeak_voice_for, language_info

log = structlog.get_logger()

DEFAULT_VOICE = "en-us"
# Hosted-provider voice names mapped to espeak voices, so a job's `voice` option means something.
VOICE_ALIASES = {
    "alloy": "en-us",
    "echo": "en-us+m3",
    "fable": "en-gb",
    "onyx": "en-us+m7",
    "nova": "en-us+f3",
    "shimmer": "en-us+f4",
}
SILENCE_S = 0.1

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Capture:
    chunks: list[bytes] = field(default_factory=list)
    word_starts: list[tuple[int, int]] = field(default_factory=list)  # (char index, ms)


class _Espeak:
    """The process-wide espeak-ng engine; the library is global state, so calls are serialised."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib: ctypes.CDLL | None = None
        self._sample_rate = 0
        self._capture = _Capture()
        self._callback = _SynthCallback(self._on_audio)

    def synthesize(self, text: str, voice: str, rate_wpm: int) -> tuple[bytes, int, _Capture]:
        with self._lock:
            lib = self._load()
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                log.warning("narration_voice_unknown", voice=voice, fallback=DEFAULT_VOICE)
                lib.espeak_SetVoiceByName(DEFAULT_VOICE.encode())
            lib.espeak_SetParameter(_PARAM_RATE, rate_wpm, 0)
            self._capture = _Capture()
            encoded = text.encode("utf-8")
            status = lib.espeak_Synth(
                encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            lib.espeak_Synchronize()
            if status != 0:
                raise NarrationFailed(f"espeak-ng could not speak the text (error {status})")
            capture, self._capture = self._capture, _Capture()
            return b"".join(capture.chunks), self._sample_rate, capture

    def _load(self) -> ctypes.CDLL:
        if self._lib is None:
            try:
                lib = ctypes.CDLL(espeakng_loader.get_library_path())
                data_path = espeakng_loader.get_data_path().encode()
            except (OSError, RuntimeError) as exc:
                raise NarrationFailed(f"espeak-ng library is not available: {exc}") from exc
            _declare(lib)
            rate = lib.espeak_Initialize(
                _AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT
            )
            if rate <= 0:
                raise NarrationFailed("espeak-ng failed to initialise its voice data")
            lib.espeak_SetSynthCallback(self._callback)
            self._lib, self._sample_rate = lib, rate
        return self._lib

    def _on_audio(self, wav: Any, samples: int, events: Any) -> int:
        if samples > 0:
            self._capture.chunks.append(ctypes.string_at(wav, samples * 2))
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_WORD:
                self._capture.word_starts.append((event.text_position - 1, event.audio_position))
            index += 1
        return 0


def _declare(lib: ctypes.CDLL) -> None:
    """Exact C signatures: size_t and pointers must not be passed as 32-bit ints."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.POINTER(ctypes.c_uint),
        ctypes.c_void_p,
    ]
    lib.espeak_Synchronize.argtypes = []


_ENGINE = _Espeak()


class EspeakNarrator:
    """Narrator port over espeak-ng: text to a mono 16-bit WAV plus per-word timings."""

    def __init__(self, *, default_voice: str = DEFAULT_VOICE, rate_wpm: int = 165) -> None:
        self._default_voice = default_voice
        self._rate_wpm = rate_wpm

    async def synthesize(
        self,
        text: str,
        *,
        voice: str | None,
        out_path: Path,
        language: str | None = None,
        rate: float = 1.0,
    ) -> NarrationResult:
        chosen = self.voice_for(voice, language)
        rate_wpm = max(80, min(450, round(self._rate_wpm * rate)))
        return await asyncio.to_thread(self._synthesize, text, chosen, rate_wpm, out_path)

    def voice_for(self, voice: str | None, language: str | None) -> str:
        """English keeps its voices and the hosted-voice aliases; another language speaks with
        one of its own espeak voices: the job's when it names one, else the language's first
        (a hosted voice name picks the matching variant of it)."""
        if language_info(language).code == DEFAULT_LANGUAGE:
            return VOICE_ALIASES.get((voice or "").lower(), voice or self._default_voice)
        alias = VOICE_ALIASES.get((voice or "").lower())
        if alias is not None:
            variant = alias.partition("+")[2]
            base = espeak_voice_for(None, language)
            return f"{base}+{variant}" if variant else base
        return espeak_voice_for(voice, language)

    def _synthesize(self, text: str, chosen: str, rate_wpm: int, out_path: Path) -> NarrationResult:
        spoken = " ".join(text.split())
        out_path.parent.mkdir(parents=True, exist_ok=True)
        if not spoken:
            _write_wav(out_path, b"\0\0" * int(22050 * SILENCE_S), 22050)
            return NarrationResult(path=out_path, duration_s=SILENCE_S)
        pcm, sample_rate, capture = _ENGINE.synthesize(spoken, chosen, rate_wpm)
        if not pcm:
            raise NarrationFailed("espeak-ng produced no audio")
        _write_wav(out_path, pcm, sample_rate)
        duration = len(pcm) / 2 / sample_rate
        words = word_timings(spoken, capture.word_starts, duration)
        log.info("narration_synthesized", voice=chosen, wpm=rate_wpm,
                 seconds=round(duration, 2), words=len(words))  # fmt: skip
        return NarrationResult(path=out_path, duration_s=duration, text=spoken, words=words)


def word_timings(
    text: str, starts: Sequence[tuple[int, int]], duration_s: float
) -> tuple[WordTiming, ...]:
    """Give each whitespace-separated word of `text` the time espeak started speaking it.

    espeak reports word events by character position; a token it split (numbers, symbols)
    takes its first event, and a token it did not speak (a dash) takes the next word's time.
    """
    tokens = [(match.start(), match.end(), match.group()) for match in re.finditer(r"\S+", text)]
    begins: list[float | None] = []
    for start, end, _ in tokens:
        hits = [ms for position, ms in starts if start <= position < end]
        begins.append(min(hits) / 1000 if hits else None)
    following = duration_s
    for index in range(len(begins) - 1, -1, -1):
        known = begins[index]
        following = min(known, following) if known is not None else following
        begins[index] = following
    words: list[WordTiming] = []
    for index, (_, _, token) in enumerate(tokens):
        begin = begins[index] or 0.0
        end_s = begins[index + 1] if index + 1 < len(tokens) else duration_s
        words.append(WordTiming(text=token, start_s=begin, end_s=max(begin, end_s or 0.0)))
    return tuple(words)


def _write_wav(path: Path, pcm: bytes, sample_rate: int) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm)
