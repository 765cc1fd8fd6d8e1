"""Reading an HTTP provider's answer for retries: which statuses may pass on a later try, and
how long the server asked us to wait. Shared by every adapter that calls a hosted API."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping


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
