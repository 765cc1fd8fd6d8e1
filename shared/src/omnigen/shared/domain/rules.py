"""Job-store rules that are not about one job: which id a create writes, and how a listing
pages. Pure functions; the DynamoDB repository and the in-memory fake both obey them (the rules
about one job's writes are methods of `Job`: `refusal`, `lease_free_for`, ...)."""

from __future__ import annotations

import base64
import binascii
import json
import math
import uuid
from dataclasses import dataclass
from typing import Any, Final

from omnigen.shared.domain.errors import InvalidCursor, MonthlyQuotaExceeded, RunningJobsLimit
from omnigen.shared.domain.jobs import Job

IDEMPOTENCY_NAMESPACE: Final = uuid.UUID("5b0c3d4e-9f61-4c1a-8d0e-6f6d6e696765")
MAX_PAGE: Final = 100


def job_id_for_key(user_id: str, idempotency_key: str) -> str:
    """Same user and key -> same job id, so concurrent creates collide on the table key."""
    return uuid.uuid5(IDEMPOTENCY_NAMESPACE, f"{user_id}\x00{idempotency_key}").hex


def new_job_id(user_id: str, idempotency_key: str | None) -> str:
    """The id a create writes: derived from the user's key when there is one, else random."""
    return job_id_for_key(user_id, idempotency_key) if idempotency_key else uuid.uuid4().hex


def check_page_limit(limit: int) -> int:
    """`limit` when a listing may return that many jobs a page (1..100), else ValueError."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1..{MAX_PAGE}, got {limit}")
    return limit


@dataclass(frozen=True)
class PagePosition:
    """The last job a page returned: the next page starts after it (newest first)."""

    user_id: str
    job_id: str
    created_at: float

    def admits(self, job: Job) -> bool:
        """True when `job` belongs after this position in a newest-first listing."""
        return (job.created_at, job.job_id) < (self.created_at, self.job_id)


def encode_cursor(user_id: str, last: Job) -> str:
    """An opaque cursor for the page after `last` in `user_id`'s listing."""
    key = {"job_id": last.job_id, "user_id": last.user_id, "created_at": repr(last.created_at)}
    payload = json.dumps({"u": user_id, "k": key}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


# A cursor's created_at is an epoch the service wrote: finite, not before 1970 nor after 2286.
_CURSOR_EPOCH_MIN: Final = 0.0
_CURSOR_EPOCH_MAX: Final = 9_999_999_999.0
_CURSOR_TEXT_MAX: Final = 200


def decode_cursor(cursor: str, user_id: str) -> PagePosition:
    """Where `cursor` resumes `user_id`'s listing; InvalidCursor (naming the part that is
    wrong) for anything this service did not issue to this user: garbage, a tampered field of
    the wrong type or out of range (NaN, inf, 1e300), another user's cursor."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("not a cursor issued by this service") from exc
    if not isinstance(payload, dict) or not isinstance(payload.get("k"), dict):
        raise InvalidCursor("not a cursor issued by this service")
    key: dict[str, Any] = payload["k"]
    owner = _cursor_text(payload.get("u"), "owner")
    job_id = _cursor_text(key.get("job_id"), "job_id")
    key_user = _cursor_text(key.get("user_id"), "user_id")
    created_at = _cursor_epoch(key.get("created_at"))
    if owner != user_id or key_user != user_id:
        raise InvalidCursor("the cursor belongs to another listing")
    return PagePosition(user_id=user_id, job_id=job_id, created_at=created_at)


def _cursor_text(value: object, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= _CURSOR_TEXT_MAX:
        raise InvalidCursor(f"{name} must be a non-empty string")
    return value


def _cursor_epoch(value: object) -> float:
    """The cursor's created_at: the repr of a float, as `encode_cursor` writes it."""
    if not isinstance(value, str) or len(value) > 40:
        raise InvalidCursor("created_at must be a timestamp string")
    try:
        epoch = float(value)
    except ValueError:
        raise InvalidCursor("created_at is not a number") from None
    if not math.isfinite(epoch) or not _CURSOR_EPOCH_MIN <= epoch <= _CURSOR_EPOCH_MAX:
        raise InvalidCursor("created_at is not a timestamp this service wrote")
    return epoch


# -- the running-jobs cap: one counter per user, changed with the job's own writes ------------

RUNNING_COUNTER_ATTRIBUTE: Final = "running"  # never `user_id`/`created_at`: not in any listing


def running_counter_key(user_id: str) -> str:
    """The table key of `user_id`'s running-jobs counter; no job id (32 hex digits) looks so."""
    return f"user#{user_id}#running"


def admit_running(user_id: str, running: int, cap: int | None) -> None:
    """A new job may start when the user has fewer than `cap` running (no cap: always), else
    `RunningJobsLimit`. The store states the same rule as `running < cap` on the counter."""
    if cap is not None and running >= cap:
        raise RunningJobsLimit(user_id, cap, running)


def admit_quota(
    user_id: str, month: str, requested_s: int, asked_s: int, limit_s: int | None
) -> None:
    """A job asking `asked_s` seconds may start when the month's requested seconds stay within
    `limit_s` (no limit: always), else `MonthlyQuotaExceeded`. The store states the same rule
    as `requested_seconds <= limit - asked` on the month's usage item."""
    if limit_s is not None and requested_s + asked_s > limit_s:
        raise MonthlyQuotaExceeded(user_id, month, limit_s, requested_s, asked_s)


# -- the shared rate limit's windows, counted by the create itself when it can ----------------

RATE_HITS_ATTRIBUTE: Final = "hits"
EXPIRY_GRACE_S: Final = 60  # a window's item outlives it a little: clocks of tasks differ


def window_key(key: str, index: int) -> str:
    """The table key of `key`'s request counter in window number `index`; no job id looks so."""
    return f"rate#{key}#{index}"


@dataclass(frozen=True)
class RateWindow:
    """One request to count in a fixed window: the counter's key, how many it admits, when its
    item may expire (epoch seconds) and how long until the window ends."""

    key: str
    limit: int
    expires_at: int
    retry_after_s: float


def current_window(key: str, *, limit: int, window_s: float, now: float) -> RateWindow:
    """The window `now` falls in, for a write that counts the request itself (the job's
    create: `JobRepository.create_job(rate=...)`), so the count costs no request of its own."""
    index = math.floor(now / window_s)
    ends = (index + 1) * window_s
    return RateWindow(
        key=window_key(key, index),
        limit=limit,
        expires_at=math.ceil(ends) + EXPIRY_GRACE_S,
        retry_after_s=max(ends - now, 0.0),
    )
