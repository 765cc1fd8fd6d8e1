"""When to call the script provider again, and how long to wait first.

The openai client's own retries are switched off: it also retries 408 and 409 and gives up
silently on long Retry-After values, where this writer retries only 429, 5xx, timeouts and
connection failures, and fails with a clear reason when asked to wait too long.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from omnigen.shared.http_retry import is_retryable_status, parse_retry_after

__all__ = ["RetryPolicy", "is_retryable_status", "parse_retry_after"]


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
