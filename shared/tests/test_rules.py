"""The job rules as pure functions: what a write may do, who holds a lease, which id a key
names, and what a cursor resumes."""

from __future__ import annotations

import base64
import json

import pytest

from omnigen.shared.domain.errors import (
    IdempotencyConflict,
    InvalidCursor,
    JobAlreadyFinished,
    LeaseHeld,
    StageRegression,
)
from omnigen.shared.domain.jobs import Job, JobRequest, LeaseClaim
from omnigen.shared.domain.rules import (
    decode_cursor,
    encode_cursor,
    job_id_for_key,
    new_job_id,
)
from omnigen.shared.domain.stages import JobStatus

REQUEST = JobRequest(prompt="a lighthouse at the end of the world", duration=20)


def job_at(stage: str = "scene_2_generating", **changes: object) -> Job:
    job = Job.new(job_id="j1", user_id="u1", request=REQUEST, now=1000.0)
    return job.model_copy(update={"stage": stage, "stage_seq": 1_200, **changes})


def test_a_write_forward_on_an_active_job_may_apply() -> None:
    assert job_at().refusal(stage="scene_2_generating") is None
    assert job_at().refusal(stage="composing") is None
    assert job_at().refusal() is None


def test_a_write_backwards_is_a_regression_carrying_the_job() -> None:
    job = job_at()
    refusal = job.refusal(stage="script_complete")
    assert isinstance(refusal, StageRegression) and refusal.job == job
    assert (refusal.requested, refusal.current) == ("script_complete", "scene_2_generating")


def test_a_finished_job_refuses_every_write_first() -> None:
    job = job_at(status=JobStatus.FAILED, error_message="boom", leases={"s": {"holder": "x"}})
    refusal = job.refusal(stage="queued", claim=LeaseClaim("s", "me", 30), now=0)
    assert isinstance(refusal, JobAlreadyFinished) and refusal.job == job
    assert str(refusal) == "job j1 is already failed (boom)"


def test_a_live_lease_of_another_holder_blocks_before_the_stage_is_judged() -> None:
    job = job_at(leases={"render": {"holder": "a", "until": 2000.0}})
    refusal = job.refusal(stage="queued", claim=LeaseClaim("render", "b", 30), now=2000.0)
    assert isinstance(refusal, LeaseHeld)
    assert (refusal.step, refusal.holder, refusal.until) == ("render", "a", 2000.0)


def test_a_lease_is_free_when_absent_expired_or_already_ours() -> None:
    job = job_at(leases={"render": {"holder": "a", "until": 2000.0}})
    assert job.lease_holder("render", now=2000.0) == "a"
    assert job.lease_holder("render", now=2000.5) is None
    assert job.lease_free_for("render", "a", now=1500.0)
    assert not job.lease_free_for("render", "b", now=1500.0)
    assert job.lease_free_for("render", "b", now=2000.5)
    assert job.lease_free_for("script", "b", now=0)


def test_only_the_recorded_holder_releases_even_after_expiry() -> None:
    job = job_at(leases={"render": {"holder": "a", "until": 1.0}})
    assert job.lease_released_by("render", "a")
    assert not job.lease_released_by("render", "b")
    assert not job.lease_released_by("script", "a")


def test_the_creator_holds_its_lease_from_creation() -> None:
    job = Job.new(job_id="j", user_id="u", request=REQUEST, now=10.0, lease=LeaseClaim("p", "c", 5))
    assert job.leases == {"p": {"holder": "c", "until": 15.0}}


def test_a_retried_create_is_no_conflict_but_another_payload_or_user_is() -> None:
    job = job_at()
    assert job.creation_conflict("u1", REQUEST, "k") is None
    other = REQUEST.model_copy(update={"duration": 30})
    assert isinstance(job.creation_conflict("u1", other, "k"), IdempotencyConflict)
    assert isinstance(job.creation_conflict("u2", REQUEST, "k"), IdempotencyConflict)


def test_a_key_names_one_job_per_user() -> None:
    assert job_id_for_key("u", "k") == job_id_for_key("u", "k") == new_job_id("u", "k")
    assert job_id_for_key("u", "k") != job_id_for_key("v", "k")
    assert new_job_id("u", None) != new_job_id("u", None)


def test_a_cursor_resumes_after_its_job_for_its_user_only() -> None:
    last = job_at()
    position = decode_cursor(encode_cursor("u1", last), "u1")
    assert (position.job_id, position.created_at) == ("j1", last.created_at)
    older = last.model_copy(update={"job_id": "j0", "created_at": last.created_at - 1})
    assert position.admits(older) and not position.admits(last)
    with pytest.raises(InvalidCursor, match="another listing"):
        decode_cursor(encode_cursor("u1", last), "u2")
    for garbage in ("", "j1", "e30", "W10"):
        with pytest.raises(InvalidCursor, match="not a cursor"):
            decode_cursor(garbage, "u1")


def _forged(key: dict[str, object], owner: object = "u1") -> str:
    payload = json.dumps({"u": owner, "k": key}).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


@pytest.mark.parametrize(
    ("created_at", "named"),
    [
        ("nan", "created_at"),
        ("NaN", "created_at"),
        ("inf", "created_at"),
        ("-inf", "created_at"),
        ("1e300", "created_at"),
        ("-1", "created_at"),
        ("soon", "created_at"),
        (1700000000.0, "created_at"),
        (True, "created_at"),
        (None, "created_at"),
        (["1700000000.0"], "created_at"),
    ],
)
def test_a_tampered_cursor_timestamp_is_refused_naming_it(created_at: object, named: str) -> None:
    key = {"job_id": "j1", "user_id": "u1", "created_at": created_at}
    with pytest.raises(InvalidCursor, match=named):
        decode_cursor(_forged(key), "u1")


@pytest.mark.parametrize(
    ("key", "owner", "named"),
    [
        ({"job_id": 7, "user_id": "u1", "created_at": "1.5"}, "u1", "job_id"),
        ({"job_id": "j1", "user_id": None, "created_at": "1.5"}, "u1", "user_id"),
        ({"job_id": "j1", "user_id": "u1", "created_at": "1.5"}, {"u": 1}, "owner"),
        ({"job_id": "", "user_id": "u1", "created_at": "1.5"}, "u1", "job_id"),
    ],
)
def test_a_cursor_field_of_the_wrong_type_is_refused_naming_it(
    key: dict[str, object], owner: object, named: str
) -> None:
    with pytest.raises(InvalidCursor, match=named):
        decode_cursor(_forged(key, owner), "u1")
