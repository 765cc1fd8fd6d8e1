"""The typed errors of a failed store call (DynamoDB): which are worth retrying later, and
what is logged of them (the details stay out of the errors' messages)."""

from __future__ import annotations

from typing import Final

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.aws import error_code
from omnigen.shared.domain.errors import RepositoryError, RepositoryUnavailable

log = structlog.get_logger()

# Errors worth retrying later: the store is throttling or failed on its side.
_TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def storage_error(operation: str, exc: BotoCoreError | ClientError) -> RepositoryError:
    """The typed error for a failed store call; the details (table, endpoint, AWS text) are
    logged here and kept out of the error's message."""
    code = error_code(exc)
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    transient = isinstance(exc, BotoCoreError) or code in _TRANSIENT_CODES or status >= 500
    log.error(
        "job_store_failed",
        operation=operation,
        code=code or type(exc).__name__,
        transient=transient,
        error=str(exc),
    )
    return RepositoryUnavailable(operation) if transient else RepositoryError(operation)
