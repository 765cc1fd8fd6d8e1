"""The hosted provider adapters, driven through their real clients against fake servers on
127.0.0.1: the `replicate` client against FakeReplicate, the `openai` client against FakeSpeech,
with real ffmpeg normalising what comes back."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from omnigen.renderer.media.clips import LocalClipGenerator
from omnigen.renderer.media.ffmpeg import run_ffmpeg
from omnigen.renderer.media.music import SynthMusicSource
from omnigen.renderer.media.narration import EspeakNarrator
from omnigen.renderer.media.probe import count_video_frames, loudness, probe
from omnigen.renderer.providers.errors import PredictionFailed, ProviderDeadlineExceeded
from omnigen.renderer.providers.factory import Providers, build_providers
from omnigen.renderer.providers.openai_speech import OpenAISpeechNarrator, speech_parts
from omnigen.renderer.providers.replicate_clips import (
    DATA_URI_MAX_BYTES,
    ReplicateClipGenerator,
    image_data_uri,
)
from omnigen.renderer.providers.replicate_music import ReplicateMusicSource
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.shared.domain.errors import ProviderFailed
from omnigen.shared.domain.scripts import Mood, Scene
from omnigen.shared.domain.usage import metering
from omnigen.testing.fake_replicate import (
    Behaviour,
    CreateError,
    FakeReplicate,
    decode_data_uri,
    version_id,
)
from omnigen.testing.fake_speech import FakeSpeech, SpeechReply, speech_seconds
from omnigen.testing.samples import sample_script

VIDEO_MODEL = "kwaivgi/kling-v2.1"
MUSIC_MODEL = "meta/musicgen"
SMALL = (320, 180)
FPS = 30


@pytest.fixture(scope="module")
def token() -> str:
    return "r8_" + secrets.token_hex(16)


@pytest.fixture
def fake_replicate(tmp_path_factory: pytest.TempPathFactory, token: str) -> Iterator[FakeReplicate]:
    with FakeReplicate(tmp_path_factory.mktemp("replicate-files"), api_token=token) as fake:
        yield fake


@pytest.fixture
def fake_speech(token: str) -> Iterator[FakeSpeech]:
    with FakeSpeech(api_key=token) as fake:
        yield fake


ProvidersFactory = Callable[..., Providers]


@pytest.fixture
async def make_providers(
    fake_replicate: FakeReplicate, fake_speech: FakeSpeech, token: str
) -> AsyncIterator[ProvidersFactory]:
    """Hosted providers on the fakes with test timings; overrides are ProviderSettings fields."""
    built: list[Providers] = []

    def make(**overrides: Any) -> Providers:
        fields: dict[str, Any] = {
            "clip_provider": "replicate",
            "narration_provider": "openai",
            "music_provider": "replicate",
            "replicate_api_token": token,
            "replicate_base_url": fake_replicate.base_url,
            "replicate_video_model": VIDEO_MODEL,
            "replicate_music_model": MUSIC_MODEL,
            "replicate_poll_interval_s": 0.05,
            "replicate_poll_max_interval_s": 0.2,
            "replicate_deadline_s": 30.0,
            "provider_retry_budget_s": 0.5,
            "provider_retry_base_delay_s": 0.05,
            "provider_retry_max_delay_s": 1.0,
            "speech_api_key": token,
            "speech_base_url": fake_speech.base_url,
            "speech_model": "fake-tts",
            "speech_timeout_s": 10.0,
            **overrides,
        }
        providers = build_providers(ProviderSettings(**fields))
        built.append(providers)
        return providers

    yield make
    for providers in built:
        await providers.aclose()


def scenes(*durations: float) -> list[Scene]:
    return sample_script(durations).scenes


def files_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


async def eventually(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    for _ in range(int(timeout_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def gave_up(message: str, reason: str, budget_s: float) -> tuple[int, float]:
    """The attempts and seconds a budget-exhausted failure reports after `reason`."""
    found = re.fullmatch(
        re.escape(reason) + r" \(gave up after (\d+) attempts? over (\d+\.\d) s; "
        rf"the retry budget is {budget_s:g} s\)",
        message,
    )
    assert found is not None, message
    return int(found[1]), float(found[2])


def creates(fake: FakeReplicate) -> list[Any]:
    return fake.requests_to("POST", "/v1/models/") + [
        r for r in fake.requests_to("POST", "/v1/predictions") if not r.path.endswith("/cancel")
    ]


# --- Replicate clips -------------------------------------------------------------------------


async def test_replicate_clip_is_fitted_to_size_fps_and_exact_duration(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path, token: str
) -> None:
    scene = scenes(2.0)[0]
    clips = make_providers().clips

    with metering() as meter:
        result = await clips.generate(
            scene, size=SMALL, fps=FPS, start_image=None, out_dir=tmp_path
        )

    # billed as the 5 s the model made, not the 2 s the scene keeps
    assert (meter.usage.clip_calls, meter.usage.clip_seconds) == (1, 5.0)
    info = await probe(result.path)
    assert info.video is not None
    assert (info.video.width, info.video.height) == SMALL
    assert info.video.fps == FPS
    assert abs(info.duration_s - 2.0) <= 0.05
    assert await count_video_frames(result.path) == 2 * FPS
    assert info.audio is None
    last = await probe(result.last_frame_path)
    assert last.video is not None and last.video.codec == "mjpeg"
    assert (last.video.width, last.video.height) == SMALL
    assert files_in(tmp_path) == [
        "scene_01.mp4", "scene_01_last.jpg"
    ]  # the raw download is gone  # fmt: skip
    (created,) = fake_replicate.predictions
    assert created.status == "succeeded"
    assert created.input["duration"] == 5  # the shortest length kling offers that covers 2 s
    assert created.input["aspect_ratio"] == "16:9"
    assert scene.generation_prompt in created.input["prompt"]
    assert "camera move: pan right" in created.input["prompt"]
    assert "Lighting: golden hour" in created.input["prompt"]
    (create,) = creates(fake_replicate)
    assert create.path == f"/v1/models/{VIDEO_MODEL}/predictions"
    assert create.headers["Authorization"] == f"Bearer {token}"


async def test_short_model_output_is_padded_to_the_scene_length_in_portrait(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.behave(VIDEO_MODEL, Behaviour(video_fps=24, output_duration_s=1.0))
    clips = make_providers(replicate_video_durations=(1,)).clips
    scene = scenes(1.6)[0]

    result = await clips.generate(
        scene, size=(180, 320), fps=FPS, start_image=None, out_dir=tmp_path
    )

    info = await probe(result.path)
    assert info.video is not None and (info.video.width, info.video.height) == (180, 320)
    assert abs(info.duration_s - 1.6) <= 0.05
    assert await count_video_frames(result.path) == 48
    assert fake_replicate.predictions[0].input["aspect_ratio"] == "9:16"


async def test_scene_two_starts_from_scene_ones_last_frame(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.behave(VIDEO_MODEL, Behaviour(output_duration_s=1.0))
    clips = make_providers().clips
    first, second = scenes(1.0, 1.0)

    one = await clips.generate(first, size=SMALL, fps=FPS, start_image=None, out_dir=tmp_path)
    two = await clips.generate(
        second, size=SMALL, fps=FPS, start_image=one.last_frame_path, out_dir=tmp_path
    )

    sent_first, sent_second = fake_replicate.predictions
    assert "start_image" not in sent_first.input
    media_type, image = decode_data_uri(sent_second.input["start_image"])
    assert media_type == "image/jpeg"
    assert image == one.last_frame_path.read_bytes()
    assert two.path.name == "scene_02.mp4" and two.last_frame_path.is_file()


async def test_large_start_image_is_sent_as_a_smaller_jpeg(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    await run_ffmpeg(
        ["-f", "lavfi", "-i", "nullsrc=s=1920x1080,geq=lum='random(1)*255':cb=128:cr=128",
         "-frames:v", "1", "-q:v", "1", big],
        what="noise frame",
    )  # fmt: skip
    assert big.stat().st_size > DATA_URI_MAX_BYTES

    media_type, image = decode_data_uri(await image_data_uri(big))

    sent = tmp_path / "sent.jpg"
    sent.write_bytes(image)
    info = await probe(sent)
    assert media_type == "image/jpeg" and len(image) <= DATA_URI_MAX_BYTES
    assert info.video is not None and (info.video.width, info.video.height) == (1280, 720)


async def test_failed_prediction_fails_with_replicates_error_text(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    error = "CUDA out of memory. Tried to allocate 2.00 GiB"
    fake_replicate.behave(VIDEO_MODEL, Behaviour(outcome="fail", polls=2, error=error))
    clips = make_providers().clips

    with pytest.raises(PredictionFailed) as caught:
        await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                             out_dir=tmp_path)  # fmt: skip

    (prediction,) = fake_replicate.predictions
    assert str(caught.value) == (
        f"replicate prediction {prediction.id} (scene 1 clip) failed: {error}"
    )
    assert not caught.value.transient
    assert caught.value.prediction_id == prediction.id
    assert fake_replicate.unsettled() == []
    assert files_in(tmp_path) == []


async def test_prediction_past_its_deadline_is_cancelled_not_orphaned(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.behave(VIDEO_MODEL, Behaviour(outcome="never"))
    clips = make_providers(replicate_deadline_s=0.6).clips
    started = time.monotonic()

    with pytest.raises(ProviderDeadlineExceeded) as caught:
        await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                             out_dir=tmp_path)  # fmt: skip

    elapsed = time.monotonic() - started
    (prediction,) = fake_replicate.predictions
    assert str(caught.value) == (
        f"replicate prediction {prediction.id} (scene 1 clip) did not finish within 0.6 s; "
        "cancelled"
    )
    assert isinstance(caught.value, ProviderFailed) and not caught.value.transient
    assert prediction.status == "canceled" and prediction.cancel_requests == 1
    assert prediction.polls >= 2  # it was watched, with backoff, until the deadline
    assert fake_replicate.unsettled() == []
    assert 0.6 <= elapsed < 3.0


async def test_cancelled_render_cancels_its_prediction(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.behave(VIDEO_MODEL, Behaviour(outcome="never"))
    clips = make_providers().clips
    task = asyncio.create_task(
        clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None, out_dir=tmp_path)
    )
    await eventually(lambda: bool(fake_replicate.predictions) and
                     fake_replicate.predictions[0].polls >= 2)  # fmt: skip

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    (prediction,) = fake_replicate.predictions
    assert prediction.status == "canceled"
    assert fake_replicate.unsettled() == []


async def test_rate_limited_create_is_retried_after_retry_after(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.behave(
        VIDEO_MODEL,
        Behaviour(
            output_duration_s=1.0,
            create_errors=(CreateError(429, "Request was throttled.", retry_after_s=0.3),),
        ),
    )
    clips = make_providers().clips

    result = await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                                  out_dir=tmp_path)  # fmt: skip

    assert result.path.is_file()
    first, second = creates(fake_replicate)
    assert second.at - first.at >= 0.3
    assert [p.status for p in fake_replicate.predictions] == ["succeeded"]


async def test_a_burst_of_rate_limits_on_create_is_waited_out_in_one_call(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    """Six 429s (more than the old five attempts) cost time inside the budget, not the job."""
    burst = tuple(CreateError(429, "Request was throttled.", retry_after_s=0.05) for _ in range(6))
    fake_replicate.behave(VIDEO_MODEL, Behaviour(output_duration_s=1.0, create_errors=burst))
    clips = make_providers(provider_retry_budget_s=5).clips

    result = await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                                  out_dir=tmp_path)  # fmt: skip

    assert result.path.is_file()
    arrivals = [r.at for r in creates(fake_replicate)]
    assert len(arrivals) == 7
    assert all(later - earlier >= 0.045 for earlier, later in itertools.pairwise(arrivals))
    assert [p.status for p in fake_replicate.predictions] == ["succeeded"]


async def test_rate_limits_past_the_budget_give_a_transient_failure_saying_how_long(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    limited = tuple(
        CreateError(429, "Request was throttled.", retry_after_s=0.1) for _ in range(50)
    )
    fake_replicate.behave(VIDEO_MODEL, Behaviour(create_errors=limited))
    clips = make_providers(provider_retry_budget_s=0.35).clips

    with pytest.raises(ProviderFailed) as caught:
        await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                             out_dir=tmp_path)  # fmt: skip

    message = str(caught.value)
    found = re.fullmatch(
        rf"replicate refused to start scene 1 clip with {VIDEO_MODEL} \(HTTP 429\): Request was "
        r"throttled\. \(gave up after (\d) attempts over (\d\.\d) s; the provider asked to wait "
        r"0\.1 s more, past the 0\.35 s retry budget\)",
        message,
    )
    assert found is not None, message
    assert int(found[1]) == len(creates(fake_replicate)) == caught.value.attempts >= 3
    assert 0.2 <= float(found[2]) <= 0.4
    assert caught.value.transient and caught.value.status_code == 429
    assert fake_replicate.predictions == []


async def test_server_errors_on_create_give_a_transient_failure_once_the_budget_is_spent(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    outage = tuple(CreateError(503, "Service Unavailable") for _ in range(50))
    fake_replicate.behave(VIDEO_MODEL, Behaviour(create_errors=outage))
    clips = make_providers(provider_retry_budget_s=0.3).clips

    with pytest.raises(ProviderFailed) as caught:
        await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                             out_dir=tmp_path)  # fmt: skip

    assert caught.value.transient and caught.value.status_code == 503
    attempts, waited = gave_up(
        str(caught.value),
        f"replicate refused to start scene 1 clip with {VIDEO_MODEL} (HTTP 503): "
        "Service Unavailable",
        0.3,
    )
    assert attempts == len(creates(fake_replicate)) == caught.value.attempts >= 3
    assert 0.1 <= waited <= 0.4
    assert fake_replicate.predictions == []


async def test_rejected_input_is_not_retried(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    detail = "input.duration: duration must be one of the following: 5, 10"
    fake_replicate.behave(VIDEO_MODEL, Behaviour(create_errors=(CreateError(422, detail),)))
    clips = make_providers().clips

    with pytest.raises(ProviderFailed) as caught:
        await clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                             out_dir=tmp_path)  # fmt: skip

    assert not caught.value.transient and caught.value.status_code == 422
    assert str(caught.value) == (
        f"replicate refused to start scene 1 clip with {VIDEO_MODEL} (HTTP 422): {detail}"
    )
    assert len(creates(fake_replicate)) == 1


# --- Replicate music -------------------------------------------------------------------------


async def test_replicate_music_is_a_wav_bed_at_least_as_long_as_asked(
    make_providers: ProvidersFactory, fake_replicate: FakeReplicate, tmp_path: Path
) -> None:
    fake_replicate.behave(MUSIC_MODEL, Behaviour(output="audio", by_version_only=True))
    music = make_providers(replicate_music_max_duration_s=4).music
    out = tmp_path / "music.wav"

    with metering() as meter:
        path = await music.generate(Mood.CALM, "warm strings and piano", 9.5, out)

    info = await probe(path)
    assert path == out
    assert info.audio is not None and info.audio.codec.startswith("pcm_s16le")
    assert info.audio.sample_rate == 44_100
    assert 9.5 <= info.duration_s <= 9.6  # the 4 s the model gave, looped
    assert (await loudness(path)).mean_volume_db > -40
    (prediction,) = fake_replicate.predictions
    assert prediction.input["duration"] == 4
    assert (meter.usage.music_calls, meter.usage.music_seconds) == (1, 4)  # billed: 4 s made
    assert prediction.input["prompt"].startswith("warm strings and piano, calm mood")
    # meta/musicgen is a community model: by name it 404s, so its latest version runs.
    assert prediction.version == version_id(MUSIC_MODEL)
    assert [r.path for r in creates(fake_replicate)] == [
        f"/v1/models/{MUSIC_MODEL}/predictions", "/v1/predictions"
    ]  # fmt: skip
    assert files_in(tmp_path) == ["music.wav"]


# --- OpenAI-compatible speech ----------------------------------------------------------------


async def test_speech_narration_is_a_wav_with_its_measured_duration(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path, token: str
) -> None:
    narrator = make_providers().narrator
    text = "The keeper climbs the spiral stair as the storm rolls in from the sea."

    with metering() as meter:
        result = await narrator.synthesize(text, voice="nova", out_path=tmp_path / "voice.wav")

    assert (meter.usage.speech_calls, meter.usage.speech_characters) == (1, len(text))
    info = await probe(result.path)
    assert info.audio is not None and info.audio.sample_rate == 24_000
    assert abs(result.duration_s - speech_seconds(text)) <= 0.05
    assert abs(info.duration_s - result.duration_s) <= 0.01
    assert result.words == ()
    (request,) = fake_speech.requests
    assert request.body == {
        "model": "fake-tts", "voice": "nova", "input": text, "response_format": "wav"
    }  # fmt: skip
    assert request.headers["Authorization"] == f"Bearer {token}"


async def test_speech_uses_the_default_voice_for_one_it_does_not_offer(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    narrator = make_providers(speech_voice="coral").narrator

    await narrator.synthesize("Hello there.", voice="en-gb", out_path=tmp_path / "v.wav")

    assert fake_speech.requests[0].body["voice"] == "coral"


async def test_long_narration_is_spoken_in_parts_and_joined(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    sentence = "Waves break white against the rocks below the old lighthouse tonight. "
    text = sentence * 70  # about 4,800 characters: more than one request may carry
    narrator = make_providers().narrator

    result = await narrator.synthesize(text, voice=None, out_path=tmp_path / "long.wav")

    sent = [r.body["input"] for r in fake_speech.requests]
    assert len(sent) == 2 and all(len(part) <= 4096 for part in sent)
    assert " ".join(sent) == " ".join(text.split())
    expected = sum(speech_seconds(part) for part in sent)
    assert abs(result.duration_s - expected) <= 0.05
    assert files_in(tmp_path) == ["long.wav"]


async def test_speech_rate_limit_is_retried_then_succeeds(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    fake_speech.reply(SpeechReply.error(429, "Rate limit reached", retry_after_s=0.2))
    narrator = make_providers().narrator

    result = await narrator.synthesize("A calm sea.", voice=None, out_path=tmp_path / "v.wav")

    first, second = fake_speech.requests
    assert second.at - first.at >= 0.2
    assert abs(result.duration_s - speech_seconds("A calm sea.")) <= 0.05


async def test_a_burst_of_speech_rate_limits_is_waited_out_in_one_call(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    """Six 429s (more than the old four attempts) cost time inside the budget, not the job."""
    fake_speech.reply(*[SpeechReply.error(429, "Rate limit reached", retry_after_s=0.05)] * 6)
    narrator = make_providers(provider_retry_budget_s=5).narrator

    result = await narrator.synthesize("A calm sea.", voice=None, out_path=tmp_path / "v.wav")

    arrivals = [r.at for r in fake_speech.requests]
    assert len(arrivals) == 7
    assert all(later - earlier >= 0.045 for earlier, later in itertools.pairwise(arrivals))
    assert abs(result.duration_s - speech_seconds("A calm sea.")) <= 0.05


async def test_speech_rate_limits_past_the_budget_give_a_transient_failure(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    fake_speech.reply_always(SpeechReply.error(429, "Rate limit reached", retry_after_s=0.1))
    narrator = make_providers(provider_retry_budget_s=0.35).narrator

    with pytest.raises(ProviderFailed) as caught:
        await narrator.synthesize("A calm sea.", voice=None, out_path=tmp_path / "v.wav")

    message = str(caught.value)
    found = re.fullmatch(
        r"the speech provider answered HTTP 429: Rate limit reached \(gave up after (\d) "
        r"attempts over (\d\.\d) s; the provider asked to wait 0\.1 s more, past the 0\.35 s "
        r"retry budget\)",
        message,
    )
    assert found is not None, message
    assert int(found[1]) == len(fake_speech.requests) == caught.value.attempts >= 3
    assert 0.2 <= float(found[2]) <= 0.4
    assert caught.value.transient and caught.value.status_code == 429
    assert files_in(tmp_path) == []


async def test_speech_server_errors_give_a_transient_failure_once_the_budget_is_spent(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    fake_speech.reply_always(SpeechReply.error(500, "The server had an error"))
    narrator = make_providers(provider_retry_budget_s=0.3).narrator

    with pytest.raises(ProviderFailed) as caught:
        await narrator.synthesize("A calm sea.", voice=None, out_path=tmp_path / "v.wav")

    assert caught.value.transient and caught.value.status_code == 500
    attempts, waited = gave_up(
        str(caught.value), "the speech provider answered HTTP 500: The server had an error", 0.3
    )
    # Retried until the 0.3 s budget is spent: at least one retry, and no wait past the budget
    # beyond one round trip (which a loaded host stretches, hence the slack).
    assert attempts == len(fake_speech.requests) == caught.value.attempts >= 2
    assert 0.1 <= waited <= 1.0
    assert files_in(tmp_path) == []


async def test_speech_client_error_is_permanent_and_not_retried(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    fake_speech.reply_always(SpeechReply.error(400, "Invalid voice"))
    narrator = make_providers().narrator

    with pytest.raises(ProviderFailed) as caught:
        await narrator.synthesize("A calm sea.", voice=None, out_path=tmp_path / "v.wav")

    assert not caught.value.transient and caught.value.attempts == 1
    assert str(caught.value) == "the speech provider answered HTTP 400: Invalid voice"
    assert len(fake_speech.requests) == 1


def test_speech_parts_split_between_sentences() -> None:
    text = "One two three. Four five six! Seven eight nine?"
    assert speech_parts(text, limit=30) == ["One two three. Four five six!", "Seven eight nine?"]
    assert speech_parts("a" * 25 + " " + "b" * 10, limit=20) == ["a" * 20, "aaaaa " + "b" * 10]
    assert speech_parts("   ") == []


# --- secrets ---------------------------------------------------------------------------------


async def test_credentials_never_reach_logs_or_error_messages(
    make_providers: ProvidersFactory,
    fake_replicate: FakeReplicate,
    fake_speech: FakeSpeech,
    tmp_path: Path,
    token: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failing calls whose answers even echo the token: it stays out of logs and reasons."""
    caplog.set_level(logging.DEBUG)
    fake_replicate.behave(
        VIDEO_MODEL, Behaviour(create_errors=(CreateError(422, f"bad token {token}"),))
    )
    fake_replicate.behave(MUSIC_MODEL, Behaviour(outcome="fail", error=f"leaked {token}"))
    fake_speech.reply(SpeechReply.error(429, "slow down"))
    fake_speech.reply_always(SpeechReply.error(401, f"Incorrect API key provided: {token}"))
    providers = make_providers()
    failures: list[ProviderFailed] = []

    with capture_logs() as events:
        for call in (
            providers.clips.generate(scenes(1.0)[0], size=SMALL, fps=FPS, start_image=None,
                                     out_dir=tmp_path),
            providers.music.generate(Mood.CALM, "piano", 2.0, tmp_path / "m.wav"),
            providers.narrator.synthesize("Hi.", voice=None, out_path=tmp_path / "v.wav"),
        ):  # fmt: skip
            with pytest.raises(ProviderFailed) as caught:
                await call
            failures.append(caught.value)

    assert [f.status_code for f in failures] == [422, None, 401]
    assert all("[REDACTED]" in str(f) for f in failures)
    assert any(e["event"] == "provider_retry" and e["provider"] == "speech" for e in events)
    assert "HTTP Request" in caplog.text  # the clients' own request logs were captured too
    everything = repr(events) + caplog.text + "".join(repr(f.__dict__) for f in failures)
    assert token not in everything


# --- settings and factory --------------------------------------------------------------------


def test_local_providers_are_the_default() -> None:
    providers = build_providers(ProviderSettings())

    assert isinstance(providers.clips, LocalClipGenerator)
    assert isinstance(providers.narrator, EspeakNarrator)
    assert isinstance(providers.music, SynthMusicSource)


def test_hosted_providers_need_their_credentials() -> None:
    with pytest.raises(ValidationError, match="OMNIGEN_REPLICATE_API_TOKEN is required"):
        ProviderSettings(clip_provider="replicate")
    with pytest.raises(ValidationError, match="OMNIGEN_SPEECH_API_KEY is required"):
        ProviderSettings(narration_provider="openai")


async def test_settings_come_from_omnigen_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGEN_CLIP_PROVIDER", "replicate")
    monkeypatch.setenv("OMNIGEN_REPLICATE_API_TOKEN", "r8_from_env_0123456789")
    monkeypatch.setenv("OMNIGEN_REPLICATE_VIDEO_MODEL", "google/veo-3")
    monkeypatch.setenv("OMNIGEN_REPLICATE_VIDEO_DURATIONS", "[4, 6, 8]")
    monkeypatch.setenv("OMNIGEN_REPLICATE_VIDEO_START_IMAGE_FIELD", "image")
    monkeypatch.setenv("OMNIGEN_REPLICATE_DEADLINE_S", "600")

    settings = ProviderSettings()
    providers = build_providers(settings)

    assert isinstance(providers.clips, ReplicateClipGenerator)
    assert isinstance(providers.music, SynthMusicSource)
    assert isinstance(providers.narrator, EspeakNarrator)
    assert settings.replicate_video_durations == (4, 6, 8)
    assert settings.replicate_deadline_s == 600
    assert "r8_from_env" not in repr(settings)
    await providers.aclose()


async def test_hosted_narrator_and_music_are_built_when_chosen(token: str) -> None:
    providers = build_providers(
        ProviderSettings(
            narration_provider="openai",
            music_provider="replicate",
            speech_api_key=token,
            replicate_api_token=token,
        )
    )

    assert isinstance(providers.narrator, OpenAISpeechNarrator)
    assert isinstance(providers.music, ReplicateMusicSource)
    assert isinstance(providers.clips, LocalClipGenerator)
    await providers.aclose()


async def test_speech_carries_the_rate_as_speed_and_the_language_in_its_field(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    narrator = make_providers(speech_language_field="lang_code").narrator
    text = "毎朝焼きたてのパンを、心を込めてお届けします。"

    normal = await narrator.synthesize(text, voice="nova", out_path=tmp_path / "a.wav")
    fast = await narrator.synthesize(
        text, voice="nova", out_path=tmp_path / "b.wav", language="ja", rate=1.6
    )

    first, second = (request.body for request in fake_speech.requests)
    assert "speed" not in first and "lang_code" not in first
    assert (second["speed"], second["lang_code"]) == (1.6, "ja")
    assert abs(fast.duration_s - normal.duration_s / 1.6) <= 0.05


async def test_without_a_language_field_the_language_is_not_sent(
    make_providers: ProvidersFactory, fake_speech: FakeSpeech, tmp_path: Path
) -> None:
    narrator = make_providers().narrator

    await narrator.synthesize("Hola.", voice="nova", out_path=tmp_path / "v.wav", language="es")

    assert set(fake_speech.requests[0].body) == {"model", "voice", "input", "response_format"}
