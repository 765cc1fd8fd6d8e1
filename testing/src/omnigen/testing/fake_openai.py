"""A fake OpenAI-compatible chat server on 127.0.0.1 for driving the real openai client in tests.

It speaks `POST /v1/chat/completions` as OpenAI does (bearer auth, JSON bodies, error objects,
Retry-After headers) and answers from a queue of scripted `Reply`s, recording every request.
It runs its own event loop in a thread, like a separate process would.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from omnigen.testing.http_server import ThreadedServer

HANG_LIMIT_S = 30.0


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # hold the request open until the server stops
    delay_s: float = 0.0  # think this long before answering, as a real model does

    def after(self, seconds: float) -> Reply:
        """The same answer, given `seconds` after the request arrived."""
        return Reply(self.status, self.body, self.headers, self.hang, seconds)

    @classmethod
    def answer(
        cls,
        content: str | None,
        *,
        refusal: str | None = None,
        finish_reason: str = "stop",
        tokens: tuple[int, int] = (10, 10),
    ) -> Reply:
        """A chat completion whose assistant message has `content` (or a refusal), stating
        `tokens` (prompt, completion) in its usage field."""
        return cls(
            body={
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "fake-model",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": refusal},
                        "logprobs": None,
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": {
                    "prompt_tokens": tokens[0],
                    "completion_tokens": tokens[1],
                    "total_tokens": sum(tokens),
                },
            }
        )

    @classmethod
    def json_answer(cls, payload: Any, *, tokens: tuple[int, int] = (10, 10)) -> Reply:
        return cls.answer(json.dumps(payload), tokens=tokens)

    @classmethod
    def error(cls, status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
        """An OpenAI-style error object."""
        kind = (
            "rate_limit_error"
            if status == 429
            else ("server_error" if status >= 500 else "invalid_request_error")
        )
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return cls(status=status, body=body, headers=headers or {})

    @classmethod
    def hanging(cls) -> Reply:
        return cls(hang=True)


@dataclass(frozen=True)
class ReceivedRequest:
    at: float  # time.monotonic() on arrival
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.body.get("messages", [])
        return messages


class FakeOpenAI(ThreadedServer):
    """Start with `with FakeOpenAI() as fake:`; point the client at `fake.base_url`."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[ReceivedRequest] = []
        self._replies: deque[Reply] = deque()
        self._default: Reply | None = None
        self._lock = threading.Lock()
        self._closing: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def reply(self, *replies: Reply) -> None:
        """Queue replies, used one per request in order."""
        with self._lock:
            self._replies.extend(replies)

    def reply_always(self, reply: Reply) -> None:
        """The reply for every request once the queue is empty."""
        with self._lock:
            self._default = reply

    def setup(self, app: web.Application) -> None:
        self._closing = asyncio.Event()
        app.router.add_post("/v1/chat/completions", self._chat_completions)

    async def closing(self) -> None:
        assert self._closing is not None
        self._closing.set()

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(
                ReceivedRequest(
                    at=time.monotonic(),
                    path=request.path,
                    headers=dict(request.headers),
                    body=body if isinstance(body, dict) else {},
                )
            )
            reply = self._replies.popleft() if self._replies else self._default
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            reply = Reply.error(401, "You didn't provide an API key.")
        elif not isinstance(body, dict) or "model" not in body or "messages" not in body:
            reply = Reply.error(400, "The request body must be JSON with model and messages.")
        elif reply is None:
            reply = Reply.error(500, "the fake server has no reply scripted for this request")
        if reply.hang:
            assert self._closing is not None
            await asyncio.wait_for(self._closing.wait(), timeout=HANG_LIMIT_S)
            return web.Response(status=504)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        return web.json_response(reply.body, status=reply.status, headers=reply.headers)
