"""A fake OpenAI-compatible speech server on 127.0.0.1 for driving the real `openai` client.

`POST /v1/audio/speech` answers with a real WAV: a tone whose length is proportional to the
text, written with the placeholder sizes a streamed OpenAI WAV carries. Errors are OpenAI error
objects; scripted `SpeechReply`s (429 then OK, 500 forever) are used one per request.
"""

from __future__ import annotations

import math
import struct
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from omnigen.testing.http_server import ThreadedServer

SAMPLE_RATE = 24_000
CHARS_PER_SECOND = 15.0
MIN_SECONDS = 0.3
MAX_INPUT_CHARS = 4096
FORMATS = frozenset({"wav"})


@dataclass(frozen=True)
class SpeechReply:
    status: int = 200
    message: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int, message: str, *, retry_after_s: float | None = None) -> SpeechReply:
        headers = {} if retry_after_s is None else {"retry-after": f"{retry_after_s:g}"}
        return cls(status=status, message=message, headers=headers)


@dataclass(frozen=True)
class SpeechRequest:
    at: float
    headers: dict[str, str]
    body: dict[str, Any]


def speech_seconds(text: str) -> float:
    """How long the fake speaks `text`: proportional to its length, like a real voice."""
    return max(MIN_SECONDS, len(text) / CHARS_PER_SECOND)


def streamed_wav(seconds: float, *, frequency: int = 220) -> bytes:
    """16-bit mono PCM WAV whose RIFF and data sizes are 0xFFFFFFFF, as a streamed answer has."""
    step = 2 * math.pi * frequency / SAMPLE_RATE
    one_second = array("h", (int(8000 * math.sin(step * n)) for n in range(SAMPLE_RATE)))
    whole, part = divmod(round(seconds * SAMPLE_RATE), SAMPLE_RATE)
    pcm = one_second.tobytes() * whole + one_second[:part].tobytes()
    header = b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, SAMPLE_RATE, SAMPLE_RATE * 2, 2, 16)
    header += b"data" + struct.pack("<I", 0xFFFFFFFF)
    return header + pcm


class FakeSpeech(ThreadedServer):
    """Point `AsyncOpenAI(base_url=fake.base_url)` at it."""

    def __init__(self, *, api_key: str | None = None) -> None:
        super().__init__()
        self._key = api_key
        self._lock = threading.Lock()
        self._replies: deque[SpeechReply] = deque()
        self._default = SpeechReply()
        self.requests: list[SpeechRequest] = []

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def reply(self, *replies: SpeechReply) -> None:
        """Queue replies, used one per request before the default."""
        with self._lock:
            self._replies.extend(replies)

    def reply_always(self, reply: SpeechReply) -> None:
        with self._lock:
            self._default = reply

    def setup(self, app: web.Application) -> None:
        app.router.add_post("/v1/audio/speech", self._speech)

    async def _speech(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(
                SpeechRequest(time.monotonic(), dict(request.headers),
                              body if isinstance(body, dict) else {})
            )  # fmt: skip
            reply = self._replies.popleft() if self._replies else self._default
        presented = request.headers.get("Authorization", "")
        if not presented.startswith("Bearer ") or (
            self._key is not None and presented != f"Bearer {self._key}"
        ):
            return _error(401, "Incorrect API key provided.", "invalid_request_error")
        if problem := _invalid(body):
            return _error(400, problem, "invalid_request_error")
        if reply.status != 200:
            kind = "rate_limit_error" if reply.status == 429 else "server_error"
            return _error(reply.status, reply.message, kind, reply.headers)
        assert isinstance(body, dict)
        audio = streamed_wav(speech_seconds(body["input"]) / float(body.get("speed", 1.0)))
        return web.Response(body=audio, content_type="audio/wav")


def _invalid(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "We could not parse the JSON body of your request."
    for name in ("model", "input", "voice"):
        if not isinstance(body.get(name), str) or not body[name]:
            return f"Missing required parameter: '{name}'."
    if len(body["input"]) > MAX_INPUT_CHARS:
        return f"'input' is too long: at most {MAX_INPUT_CHARS} characters."
    if body.get("response_format", "mp3") not in FORMATS:
        return "This fake speaks wav only."
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0:
        return "'speed' must be a number from 0.25 to 4.0."
    return None


def _error(
    status: int, message: str, kind: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return web.json_response(body, status=status, headers=headers)
