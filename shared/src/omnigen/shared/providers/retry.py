"""One patience for every hosted-provider call, measured in time rather than attempts.

A call is retried on answers that may pass later (429, 5xx, timeouts, lost connections),
sleeping the server's Retry-After or capped exponential backoff with jitter, while its time
budget lasts: a burst of rate limits costs the job nothing, and an outage longer than the budget
fails the call as transient, saying how long it waited, so the job's own retry takes over.
Anything else fails at once, not transient.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import structlog

from omnigen.shared.domain.errors import ProviderFailed
from omnigen.shared.redaction import redact_text

log = structlog.get_logger()

T = TypeVar("T")


def is_retryable_status(status: int | None) -> bool:
    """Rate limits and server errors may pass; any other 4xx will fail the same way again."""
    return status is not None and (status == 429 or status >= 500)


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, or `retry-after` as seconds or an
    HTTP date); None when it did not say."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class Failure:
    """One failed attempt as an adapter reads it; `reason` is what a user may read."""

    reason: str
    retryable: bool
    status_code: int | None = None
    retry_after_s: float | None = None

    @classmethod
    def answered(
        cls, status: int | None, reason: str, *, retry_after_s: float | None = None
    ) -> Failure:
        """The provider answered `status` (None: it did not say which); 429 and 5xx may pass,
        after `retry_after_s` when the provider asked for a wait."""
        return cls(reason, status is None or is_retryable_status(status), status, retry_after_s)

    @classmethod
    def unanswered(cls, reason: str) -> Failure:
        """No answer at all (a timeout, a lost connection): a later try may get one."""
        return cls(reason, retryable=True)


ReadFailure = Callable[[Exception], Failure | None]
"""An adapter's reading of its client's exception; None lets the exception through as it is."""


@dataclass(frozen=True)
class RetryPolicy:
    """How patient a provider call is: `budget_s` of retrying, backoff from `base_delay_s`
    doubling up to `max_delay_s` when the server gives no Retry-After."""

    budget_s: float = 300.0
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` (from 1), less up to 25 % jitter."""
        backoff = min(self.base_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not security

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        read_failure: ReadFailure,
        provider: str,
        secrets: Sequence[str] = (),
    ) -> T:
        """`attempt()`'s result, retried as the module says; failures are `ProviderFailed` whose
        message has `secrets` (and anything secret-looking) redacted."""
        started = time.monotonic()
        attempts = 0
        while True:
            attempts += 1
            try:
                return await attempt()
            except Exception as err:
                failure = read_failure(err)
                if failure is None:
                    raise
                reason = redact_text(failure.reason, *secrets)
                if not failure.retryable:
                    raise ProviderFailed(
                        reason,
                        provider=provider,
                        status_code=failure.status_code,
                        attempts=attempts,
                    ) from err
                waited = time.monotonic() - started
                delay = failure.retry_after_s
                delay = self.backoff(attempts) if delay is None else delay
                if waited + delay > self.budget_s:
                    raise ProviderFailed(
                        f"{reason} ({self._gave_up(attempts, waited, failure.retry_after_s)})",
                        provider=provider,
                        transient=True,
                        status_code=failure.status_code,
                        attempts=attempts,
                    ) from err
            log.warning(
                "provider_retry",
                provider=provider,
                attempt=attempts,
                status_code=failure.status_code,
                delay_s=round(delay, 3),
                reason=reason,
            )
            await asyncio.sleep(delay)

    def _gave_up(self, attempts: int, waited: float, retry_after: float | None) -> str:
        """Why the call stopped, for its message: how many tries over how long, against what."""
        tries = (
            f"gave up after {attempts} attempt{'s' if attempts != 1 else ''} over {waited:.1f} s"
        )
        if retry_after is not None:
            return (
                f"{tries}; the provider asked to wait {retry_after:g} s more, "
                f"past the {self.budget_s:g} s retry budget"
            )
        return f"{tries}; the retry budget is {self.budget_s:g} s"
