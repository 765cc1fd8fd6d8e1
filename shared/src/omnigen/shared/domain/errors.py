"""Typed errors; each carries the reason a user or operator will read."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omnigen.shared.domain.jobs import Job


class OmnigenError(Exception):
    """Base of every error the domain raises on purpose. `transient` says whether the same work
    later might succeed (an outage, a rate limit) rather than fail the same way again."""

    transient: bool = False


class ProviderFailed(OmnigenError):
    """A hosted provider (script model, speech, Replicate) did not deliver. `str(error)` is what
    the job's error_message says and never carries credentials; `attempts` counts the calls."""

    def __init__(
        self,
        reason: str,
        *,
        provider: str | None = None,
        transient: bool = False,
        status_code: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider = provider
        self.transient = transient
        self.status_code = status_code
        self.attempts = attempts


class JobNotFound(OmnigenError):
    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class IdempotencyConflict(OmnigenError):
    """The idempotency key was already used for a different request."""

    def __init__(self, key: str, job_id: str) -> None:
        super().__init__(
            f"idempotency key {key!r} was already used for job {job_id} with a different payload"
        )
        self.key = key
        self.job_id = job_id


class StageRegression(OmnigenError):
    """A write that would move a job backwards was refused; the job is further along."""

    def __init__(self, job_id: str, requested: str, current: str, job: Job | None = None) -> None:
        super().__init__(
            f"job {job_id} is already at {current!r}; refusing to go back to {requested!r}"
        )
        self.job_id = job_id
        self.requested = requested
        self.current = current
        self.job = job  # the job as the refused write found it, when the store returned it


class PieceRaced(OmnigenError):
    """A piece's write expected values that changed under it (another piece was recorded in
    between, or this one was recorded already): read `job` (as the write found it) and decide
    again."""

    def __init__(self, job_id: str, job: Job) -> None:
        super().__init__(f"job {job_id} changed under a piece's write; read it again")
        self.job_id = job_id
        self.job = job


class JobAlreadyFinished(OmnigenError):
    """The job reached a terminal status; terminal states are final."""

    def __init__(
        self,
        job_id: str,
        status: str,
        error_message: str | None = None,
        job: Job | None = None,
    ) -> None:
        detail = f" ({error_message})" if error_message else ""
        super().__init__(f"job {job_id} is already {status}{detail}")
        self.job_id = job_id
        self.status = status
        self.error_message = error_message
        self.job = job  # the finished job, when the store returned it


class MonthlyQuotaExceeded(OmnigenError):
    """The user's accepted jobs this month would request more seconds of video than the
    monthly quota allows; the quota renews at the start of the next month (UTC)."""

    def __init__(self, user_id: str, month: str, limit_s: int, used_s: int | None, asked_s: int):
        used = f"{used_s} s requested already; " if used_s is not None else ""
        super().__init__(
            f"the monthly quota of {limit_s} s of video for {month} is reached "
            f"({used}this job asks {asked_s} s)"
        )
        self.user_id = user_id
        self.month = month
        self.limit_s = limit_s
        self.used_s = used_s
        self.asked_s = asked_s


class RateWindowFull(OmnigenError):
    """The user's request window is full (counted by the create itself); `retry_after_s`."""

    transient = True

    def __init__(self, retry_after_s: float) -> None:
        super().__init__("too many requests; slow down")
        self.retry_after_s = retry_after_s


class RunningJobsLimit(OmnigenError):
    """The user already has `cap` unfinished jobs; a new one may start when one of them ends."""

    transient = True

    def __init__(self, user_id: str, cap: int, running: int | None = None) -> None:
        counted = f"{running} jobs are still running; " if running is not None else ""
        super().__init__(f"{counted}at most {cap} may run at once")
        self.user_id = user_id
        self.cap = cap
        self.running = running


class InvalidCursor(OmnigenError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid cursor: {reason}")


class InvalidEvent(OmnigenError):
    """A message that is not a valid event of a known type and version."""


class UnknownSchemaVersion(InvalidEvent):
    pass


class LeaseHeld(OmnigenError):
    """Another worker holds the job's lease for this step and it has not expired."""

    def __init__(
        self, job_id: str, step: str, holder: str, until: float, message: str | None = None
    ) -> None:
        super().__init__(f"job {job_id} step {step} is held by {holder} until {until:.0f}")
        self.job_id = job_id
        self.step = step
        self.holder = holder
        self.until = until
        self.message = message  # the message whose receive holds it


class JobNotRetryable(OmnigenError):
    """Only a failed job can be run again; `reason` says why this one cannot."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id} cannot be retried: {reason}")
        self.job_id = job_id
        self.reason = reason


class LeaseLost(OmnigenError):
    """The step's lease is no longer this holder's: it expired and another receive took it."""

    def __init__(self, job_id: str, step: str, holder: str) -> None:
        super().__init__(f"job {job_id} step {step} is no longer held by {holder}")
        self.job_id = job_id
        self.step = step
        self.holder = holder


class RepositoryError(OmnigenError):
    """The job store failed a request. The message names only the operation: the table, the
    endpoint and the store's own error text go to the log, never to a caller."""

    def __init__(self, operation: str, reason: str = "the job store refused the request") -> None:
        super().__init__(f"{operation}: {reason}")
        self.operation = operation


class RepositoryUnavailable(RepositoryError):
    """The job store could not be reached, is throttling, or failed on its side; retrying
    later may succeed."""

    transient = True

    def __init__(self, operation: str) -> None:
        super().__init__(operation, "the job store is unavailable; try again later")


class WriteRaced(RepositoryError):
    """A conditional write was refused although the job as the store found it allowed it (it
    changed under the write); retrying may succeed."""

    transient = True

    def __init__(self, operation: str, job_id: str) -> None:
        super().__init__(operation, f"job {job_id} changed during the write; try again")
        self.job_id = job_id


class NotInReview(OmnigenError):
    """The job's script can only be edited or approved while it awaits review; it does not."""

    def __init__(self, job_id: str, stage: str, status: str) -> None:
        super().__init__(f"job {job_id} is not awaiting review (it is {status}, {stage})")
        self.job_id = job_id
        self.stage = stage


class ScriptChanged(OmnigenError):
    """The script changed since the version the edit was based on (its ETag)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(
            f"job {job_id}'s script changed since you read it; GET it again and re-apply the edit"
        )
        self.job_id = job_id
