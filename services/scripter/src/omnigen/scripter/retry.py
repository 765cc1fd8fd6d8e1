"""When to call the script provider again, and how long to wait first.

The openai client's own retries are switched off: it also retries 408 and 409 and gives up
silently on long Retry-After values, where this writer retries only 429, 5xx, timeouts and
connection failures, and fails with a clear reason when asked to wait too long.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass


def is_retryable_status(status: int) -> bool:
    """Rate limits and server errors pass; any other 4xx will fail the same way again."""
    return status == 429 or status >= 500


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
class RetryPolicy:
    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    @property
    def max_attempts(self) -> int:
        return self.max_retries + 1

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """The server's Retry-After when given, else exponential backoff with up to 25 % jitter."""
        if retry_after is not None:
            return retry_after
        backoff = min(self.base_delay_s * 2.0 ** (attempt - 1), self.max_delay_s)
        return backoff * (1 - 0.25 * random.random())  # noqa: S311 - jitter, not security
