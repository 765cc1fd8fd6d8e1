"""The origin's creative options: closed at the edge, tolerant of what older jobs stored."""

from __future__ import annotations

import hashlib
import json

import pytest
from pydantic import ValidationError

from omnigen.shared.adapters.codec import item_to_job, job_to_item, serialize
from omnigen.shared.domain.creative import (
    CREATIVE_ENUMS,
    Platform,
    Style,
    loudness_target,
)
from omnigen.shared.domain.jobs import Job, JobOptions, JobRequest

PROMPT = "A lighthouse keeper's last night on duty"


@pytest.mark.parametrize("field", sorted(CREATIVE_ENUMS))
def test_a_value_outside_the_vocabulary_is_refused_listing_the_allowed_ones(field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        JobRequest.model_validate(
            {"prompt": PROMPT, "duration": 20, "options": {field: "moody noir"}}
        )

    error = caught.value.errors()[0]
    assert error["loc"] == ("options", field)
    for member in CREATIVE_ENUMS[field]:
        assert f"'{member.value}'" in error["msg"]


@pytest.mark.parametrize(("field", "limit"), [("title", 100), ("call_to_action", 100)])
def test_free_text_options_have_their_origin_limits(field: str, limit: int) -> None:
    JobOptions.model_validate({field: "x" * limit})
    with pytest.raises(ValidationError):
        JobOptions.model_validate({field: "x" * (limit + 1)})


def test_every_vocabulary_value_is_accepted_as_its_string() -> None:
    for field, vocabulary in CREATIVE_ENUMS.items():
        for member in vocabulary:
            options = JobOptions.model_validate({field: member.value})
            assert getattr(options, field) is member


def _stored_job(options: dict[str, object]) -> Job:
    """A job as an older version stored it, options and all, read back from its item."""
    job = Job.new(job_id="j-old", user_id="u1", request=JobRequest(prompt=PROMPT, duration=20))
    item = job_to_item(job)
    item["options"] = serialize(options, "options")
    return item_to_job(item)


def test_a_stored_job_with_free_text_options_still_loads() -> None:
    job = _stored_job(
        {
            "style": "moody noir",
            "tone": "wistful",
            "tempo": "steady",
            "platform": "TikTok ",
            "goal": "drive store visits",
            "call_to_action": "c" * 150,
            "audience": "night owls",
        }
    )

    options = job.options
    assert (options.style, options.tone, options.tempo, options.goal) == (None,) * 4
    assert options.platform is Platform.TIKTOK  # the same value in another case still counts
    assert options.call_to_action is None  # longer than a request may send now
    assert options.audience == "night owls"
    assert job.request.options == options  # and it runs as a request with those options


def test_a_stored_job_with_vocabulary_values_keeps_them() -> None:
    job = _stored_job({"style": "cinematic", "platform": "youtube"})

    assert (job.options.style, job.options.platform) == (Style.CINEMATIC, Platform.YOUTUBE)


def test_the_fingerprint_of_an_older_request_is_unchanged() -> None:
    """A request without the newer `title` hashes as it did before the option existed."""
    request = JobRequest.model_validate(
        {"prompt": PROMPT, "duration": 20, "options": {"style": "cinematic", "tone": "premium"}}
    )
    before_title = {
        "prompt": PROMPT,
        "duration": 20,
        "aspect_ratio": "16:9",
        "options": {
            "style": "cinematic",
            "tone": "premium",
            "tempo": None,
            "platform": None,
            "audience": None,
            "goal": None,
            "call_to_action": None,
            "voice": None,
            "start_image_key": None,
        },
    }
    canonical = json.dumps(before_title, sort_keys=True, separators=(",", ":"))

    assert request.fingerprint() == hashlib.sha256(canonical.encode()).hexdigest()
    titled = request.model_copy(
        update={"options": request.options.model_copy(update={"title": "Last light"})}
    )
    assert titled.fingerprint() != request.fingerprint()


def test_platforms_set_the_loudness_target() -> None:
    assert [loudness_target(p.value) for p in Platform] == [-14.0] * len(Platform)
    assert loudness_target(None) == -16.0
    assert loudness_target("myspace") == -16.0
