"""Calling hosted providers (OpenAI-compatible APIs, Replicate) with one patience.

`RetryPolicy.call` retries what may pass (429, 5xx, timeouts, lost connections) while a time
budget lasts and fails with `ProviderFailed`; adapters only say how to read their client's
errors (`Failure`). `openai_compat` holds the reading for OpenAI-compatible clients (install
`omnigen-shared[openai]`); it is not imported here, so this package needs no provider client.
"""

from omnigen.shared.providers.retry import (
    Failure,
    ReadFailure,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from omnigen.shared.providers.settings import ProviderRetrySettings

__all__ = [
    "Failure",
    "ProviderRetrySettings",
    "ReadFailure",
    "RetryPolicy",
    "is_retryable_status",
    "parse_retry_after",
]
