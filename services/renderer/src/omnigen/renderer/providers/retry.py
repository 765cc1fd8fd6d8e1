"""When to call a hosted provider again and how long to wait first; shared by every adapter."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


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
class Backoff:
    """Exponential backoff with jitter; a server's Retry-After wins, capped at `max_delay_s`."""

    max_retries: int = 3
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before attempt `attempt + 1` (attempts count from 1)."""
        if retry_after is not None:
            return min(retry_after, self.max_delay_s)
        backoff = min(self.base_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not security


def redact(text: str, *secrets: str) -> str:
    """`text` with every non-empty secret replaced, for reasons built from provider answers."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[REDACTED]")
    return text
