"""Job-store rules that are not about one job: which id a create writes, and how a listing
pages. Pure functions; the DynamoDB repository and the in-memory fake both obey them (the rules
about one job's writes are methods of `Job`: `refusal`, `lease_free_for`, ...)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Final

from omnigen.shared.domain.errors import InvalidCursor, RunningJobsLimit
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


def decode_cursor(cursor: str, user_id: str) -> PagePosition:
    """Where `cursor` resumes `user_id`'s listing; InvalidCursor for garbage or another's."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        key = payload["k"]
        owner = payload["u"]
        created_at = float(key["created_at"])
        job_id, key_user = str(key["job_id"]), str(key["user_id"])
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidCursor("not a cursor issued by this service") from exc
    if owner != user_id or key_user != user_id:
        raise InvalidCursor("the cursor belongs to another listing")
    return PagePosition(user_id=user_id, job_id=job_id, created_at=created_at)


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
