"""Why a hosted provider could not deliver a clip, a narration or a music bed.

`str(error)` is what the job's `error_message` says; `transient` tells the handler whether the
same request later might succeed (an outage, a rate limit) or will fail the same way again.
"""

from __future__ import annotations

from omnigen.shared.domain.errors import OmnigenError


class ProviderFailed(OmnigenError):
    """A hosted provider failed; the reason never carries credentials."""

    def __init__(
        self,
        reason: str,
        *,
        provider: str,
        transient: bool = False,
        status_code: int | None = None,
        prediction_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.provider = provider
        self.transient = transient
        self.status_code = status_code
        self.prediction_id = prediction_id


class ProviderDeadlineExceeded(ProviderFailed):
    """The provider did not finish within the configured deadline; the work was cancelled.

    Not transient: the deadline is the whole budget the operator gave this step, so retrying
    would double the user's wait for the same likely outcome.
    """
