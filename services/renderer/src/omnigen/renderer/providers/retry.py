"""When to call a hosted provider again and how long to wait first; shared by every adapter."""

from __future__ import annotations

import random
from dataclasses import dataclass

from omnigen.shared.http_retry import is_retryable_status, parse_retry_after

__all__ = ["Backoff", "is_retryable_status", "parse_retry_after", "redact"]


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
