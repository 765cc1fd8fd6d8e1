"""A fake Replicate API on 127.0.0.1 for driving the real `replicate` client in tests.

It speaks the HTTP API the client uses (bearer auth, problem-details errors, prediction objects
with starting/processing/succeeded/failed/canceled) and makes real outputs with ffmpeg: a test
pattern MP4 for video models, a sine WAV for music models, a test pattern JPEG for image models
(keyframes), served under `/files/`. Each model
(or version) gets a scripted `Behaviour`; every request and prediction is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import imageio_ffmpeg
from aiohttp import web

from omnigen.testing.http_server import ThreadedServer

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()  # the ffmpeg the renderer runs (imageio-ffmpeg wheel)
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
NO_VERSION = (
    "The specified version does not exist (or perhaps you don't have permission to use it?)"
)
ASPECT_SIZES = {"16:9": (256, 144), "9:16": (144, 256), "1:1": (160, 160)}


@dataclass(frozen=True)
class CreateError:
    """One create request answered with an error (e.g. 429 with Retry-After)."""

    status: int
    detail: str
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Behaviour:
    """How predictions of one model go."""

    outcome: Literal["succeed", "fail", "never"] = "succeed"
    polls: int = 1  # GETs answered starting/processing before the outcome
    error: str = "the model crashed"
    output: Literal["video", "audio", "image"] = "video"
    video_size: tuple[int, int] | None = None  # None: a small size matching input aspect_ratio
    video_fps: int = 24
    output_duration_s: float | None = None  # None: input "duration" (seconds), else 5
    output_as_list: bool = False
    create_errors: tuple[CreateError, ...] = ()  # answered in order before creates succeed
    by_version_only: bool = False  # a community model: 404 by name, runs by version id
    run_s: float = 0.0  # a prediction is not finished before this long after its create


@dataclass
class FakePrediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    behaviour: Behaviour
    status: str = "starting"
    output: Any = None
    error: str | None = None
    polls: int = 0
    cancel_requests: int = 0
    created_at: str = field(default_factory=lambda: _now())
    created_monotonic: float = field(default_factory=time.monotonic)
    started_at: str | None = None
    completed_at: str | None = None
    output_task: asyncio.Task[str] | None = None  # made while it "runs", as Replicate does


@dataclass(frozen=True)
class ReceivedRequest:
    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeReplicate(ThreadedServer):
    """Point `replicate.Client(base_url=fake.base_url)` at it; outputs are written to `workdir`."""

    def __init__(self, workdir: Path, *, api_token: str | None = None) -> None:
        super().__init__()
        self._workdir = workdir
        self._token = api_token
        self._lock = threading.Lock()
        self._behaviours: dict[str, Behaviour] = {}
        self._default = Behaviour()
        self._create_errors: dict[str, list[CreateError]] = {}
        self._predictions: dict[str, FakePrediction] = {}
        self._throttled_until = 0.0  # time.monotonic(): every create is a 429 until then
        self._throttle_retry_after_s = 1.0
        self.throttled = 0  # creates answered 429 by `throttle_for`
        self.requests: list[ReceivedRequest] = []
        # One encode per distinct output (kind, size, length, seed); predictions get links to
        # it, so the fake's own ffmpeg time does not add to what it serves.
        self._made: dict[tuple[str, ...], asyncio.Task[Path]] = {}

    @property
    def base_url(self) -> str:
        return self.origin

    def behave(self, model: str, behaviour: Behaviour) -> None:
        """Script predictions of `model` ("owner/name" or a version id)."""
        with self._lock:
            self._behaviours[model] = behaviour
            self._create_errors[model] = list(behaviour.create_errors)

    def throttle_for(self, seconds: float, *, retry_after_s: float) -> None:
        """From now, for `seconds`, answer every create with 429 and `Retry-After`, as
        Replicate does while an account is rate limited."""
        with self._lock:
            self._throttled_until = time.monotonic() + seconds
            self._throttle_retry_after_s = retry_after_s

    def behave_by_default(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._default = behaviour

    @property
    def predictions(self) -> list[FakePrediction]:
        with self._lock:
            return list(self._predictions.values())

    def unsettled(self) -> list[FakePrediction]:
        """Predictions still running: what a client that gave up without cancelling leaves."""
        return [p for p in self.predictions if p.status not in TERMINAL]

    def requests_to(self, method: str, path_prefix: str) -> list[ReceivedRequest]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    def setup(self, app: web.Application) -> None:
        self._workdir.mkdir(parents=True, exist_ok=True)
        app.router.add_post("/v1/predictions", self._create_by_version)
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self._create_by_model)
        app.router.add_get("/v1/models/{owner}/{name}", self._model)
        app.router.add_get("/v1/predictions/{id}", self._get)
        app.router.add_post("/v1/predictions/{id}/cancel", self._cancel)
        app.router.add_get("/files/{name}", self._file)

    async def _create_by_version(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if (denied := self._denied(request)) is not None:
            return denied
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            return _problem(422, "Invalid request", "version is required")
        version: str = body["version"]
        model = next((m for m in self._known_models() if version_id(m) == version), None)
        return self._create(model or version, body)

    async def _create_by_model(self, request: web.Request) -> web.Response:
        body = await self._record(request)
        if (denied := self._denied(request)) is not None:
            return denied
        model = f"{request.match_info['owner']}/{request.match_info['name']}"
        if self._behaviour(model).by_version_only:
            return _problem(404, "Not found", NO_VERSION)
        return self._create(model, body)

    async def _model(self, request: web.Request) -> web.Response:
        """A model's page in the API: enough for the client's Model, with its latest version."""
        await self._record(request)
        if (denied := self._denied(request)) is not None:
            return denied
        owner, name = request.match_info["owner"], request.match_info["name"]
        model = f"{owner}/{name}"
        if model not in self._known_models():
            return _problem(404, "Not found", "The requested resource could not be found.")
        return web.json_response({
            "url": f"{self.origin}/{model}",
            "owner": owner,
            "name": name,
            "description": "a fake model",
            "visibility": "public",
            "run_count": len(self.predictions),
            "latest_version": {
                "id": version_id(model),
                "created_at": "2025-01-01T00:00:00Z",
                "cog_version": "0.9.0",
                "openapi_schema": {},
            },
        })  # fmt: skip

    def _known_models(self) -> list[str]:
        with self._lock:
            return list(self._behaviours)

    def _behaviour(self, key: str) -> Behaviour:
        with self._lock:
            return self._behaviours.get(key, self._default)

    def _create(self, key: str, body: Any) -> web.Response:
        if not isinstance(body, dict) or not isinstance(body.get("input"), dict):
            return _problem(422, "Input validation failed", "input: input is required")
        inputs: dict[str, Any] = body["input"]
        if not isinstance(inputs.get("prompt"), str) or not inputs["prompt"]:
            return _problem(422, "Input validation failed", "input: prompt is required")
        with self._lock:
            if time.monotonic() < self._throttled_until:
                self.throttled += 1
                retry_after = {"Retry-After": f"{self._throttle_retry_after_s:g}"}
                detail = "Request was throttled. Expected available in a few seconds."
                return _problem(429, "Request failed", detail, retry_after)
            pending = self._create_errors.get(key)
            if pending:
                failure = pending.pop(0)
                headers = {}
                if failure.retry_after_s is not None:
                    headers["Retry-After"] = f"{failure.retry_after_s:g}"
                return _problem(failure.status, "Request failed", failure.detail, headers)
            behaviour = self._behaviours.get(key, self._default)
            prediction = FakePrediction(
                id=uuid.uuid4().hex[:20],
                model=key if "/" in key else "fake/unknown",
                version=body.get("version") or version_id(key),
                input=inputs,
                behaviour=behaviour,
            )
            self._predictions[prediction.id] = prediction
        if behaviour.outcome == "succeed":
            prediction.output_task = asyncio.get_running_loop().create_task(
                self._make_output(prediction)
            )
        return web.json_response(self._json(prediction), status=201)

    async def _get(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (denied := self._denied(request)) is not None:
            return denied
        prediction = self._find(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        if prediction.status not in TERMINAL:
            prediction.polls += 1
            prediction.started_at = prediction.started_at or _now()
            prediction.status = "processing"
            behaviour = prediction.behaviour
            ran = time.monotonic() - prediction.created_monotonic >= behaviour.run_s
            if behaviour.outcome != "never" and prediction.polls >= behaviour.polls and ran:
                await self._finish(prediction)
        return web.json_response(self._json(prediction))

    async def _cancel(self, request: web.Request) -> web.Response:
        await self._record(request)
        if (denied := self._denied(request)) is not None:
            return denied
        prediction = self._find(request.match_info["id"])
        if prediction is None:
            return _problem(404, "Not found", "The requested resource could not be found.")
        prediction.cancel_requests += 1
        if prediction.status not in TERMINAL:
            prediction.status = "canceled"
            prediction.completed_at = _now()
        return web.json_response(self._json(prediction))

    async def _file(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        path = self._workdir / request.match_info["name"]
        if "/" in request.match_info["name"] or not path.is_file():
            return web.Response(status=404, text="not found")
        return web.FileResponse(path)

    async def _finish(self, prediction: FakePrediction) -> None:
        behaviour = prediction.behaviour
        prediction.completed_at = _now()
        if behaviour.outcome == "fail":
            prediction.status = "failed"
            prediction.error = behaviour.error
            return
        task = prediction.output_task
        url = await task if task is not None else await self._make_output(prediction)
        prediction.output = [url] if behaviour.output_as_list else url
        prediction.status = "succeeded"

    async def _make_output(self, prediction: FakePrediction) -> str:
        behaviour = prediction.behaviour
        seconds = behaviour.output_duration_s or float(prediction.input.get("duration") or 5)
        if behaviour.output == "audio":
            name = f"{prediction.id}.wav"
            source = f"sine=frequency=440:sample_rate=32000:duration={seconds:g}"
            encode = ["-ac", "2", "-c:a", "pcm_s16le"]
        elif behaviour.output == "image":
            name = f"{prediction.id}.jpg"
            aspect = str(prediction.input.get("aspect_ratio", "16:9"))
            width, height = behaviour.video_size or ASPECT_SIZES.get(aspect, (256, 144))
            seed = int(prediction.input.get("seed") or 0) % 1000  # the seed shows in the image
            source = f"testsrc2=size={width}x{height}:rate=1:duration=1,hue=h={seed}"
            encode = ["-frames:v", "1", "-q:v", "3"]
        else:
            name = f"{prediction.id}.mp4"
            aspect = str(prediction.input.get("aspect_ratio", "16:9"))
            width, height = behaviour.video_size or ASPECT_SIZES.get(aspect, (256, 144))
            source = (
                f"testsrc2=size={width}x{height}:rate={behaviour.video_fps}:duration={seconds:g}"
            )
            encode = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
        suffix = Path(name).suffix
        made_key = (source, *encode, suffix)
        made = self._made.get(made_key)
        if made is None:
            target = self._workdir / f"made-{len(self._made)}{suffix}"
            made = self._made[made_key] = asyncio.ensure_future(_encode(source, encode, target))
        await asyncio.to_thread(os.link, await made, self._workdir / name)
        return f"{self.origin}/files/{name}"

    async def _record(self, request: web.Request) -> Any:
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        with self._lock:
            self.requests.append(
                ReceivedRequest(time.monotonic(), request.method, request.path,
                                dict(request.headers), body)
            )  # fmt: skip
        return body

    def _denied(self, request: web.Request) -> web.Response | None:
        presented = request.headers.get("Authorization", "")
        if not presented.startswith("Bearer ") or (
            self._token is not None and presented != f"Bearer {self._token}"
        ):
            return _problem(401, "Unauthenticated", "You did not pass a valid authentication token")
        return None

    def _find(self, prediction_id: str) -> FakePrediction | None:
        with self._lock:
            return self._predictions.get(prediction_id)

    def _json(self, prediction: FakePrediction) -> dict[str, Any]:
        url = f"{self.origin}/v1/predictions/{prediction.id}"
        return {
            "id": prediction.id,
            "model": prediction.model,
            "version": prediction.version,
            "input": prediction.input,
            "logs": "",
            "output": prediction.output,
            "data_removed": False,
            "error": prediction.error,
            "status": prediction.status,
            "created_at": prediction.created_at,
            "started_at": prediction.started_at,
            "completed_at": prediction.completed_at,
            "metrics": {"predict_time": 0.1} if prediction.status in TERMINAL else {},
            "urls": {
                "get": url,
                "cancel": f"{url}/cancel",
                "web": f"{self.origin}/p/{prediction.id}",
            },
        }


async def _encode(source: str, encode: list[str], target: Path) -> Path:
    proc = await asyncio.create_subprocess_exec(
        FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
        *encode, str(target),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"fake output failed: {stderr.decode(errors='replace')}")
    return target


def version_id(model: str) -> str:
    """The fake's one version of `model`: a stable 64-hex id, like Replicate's."""
    return hashlib.sha256(model.encode()).hexdigest()


def decode_data_uri(uri: str) -> tuple[str, bytes]:
    """The media type and bytes of a `data:<type>;base64,...` input, as Replicate decodes it."""
    header, _, payload = uri.partition(",")
    if not header.startswith("data:") or not header.endswith(";base64"):
        raise ValueError("not a base64 data URI")
    return header[len("data:") : -len(";base64")], base64.b64decode(payload, validate=True)


def _problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return web.json_response(
        body, status=status, headers=headers, content_type="application/problem+json"
    )


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")
