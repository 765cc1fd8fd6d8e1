"""Why a hosted provider could not deliver a clip, a narration or a music bed.

Every failure is the shared `ProviderFailed` (re-exported here for the renderer's handler);
`str(error)` is what the job's error_message says and `transient` whether the same request
later might succeed. Replicate's failures name the prediction, for an operator to look up.
"""

from __future__ import annotations

from omnigen.shared.domain.errors import ProviderFailed

__all__ = ["PredictionFailed", "ProviderDeadlineExceeded", "ProviderFailed"]


class PredictionFailed(ProviderFailed):
    """A Replicate prediction ran (or was being started) and gave nothing usable."""

    def __init__(
        self,
        reason: str,
        *,
        provider: str,
        prediction_id: str | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(reason, provider=provider, status_code=status_code)
        self.prediction_id = prediction_id


class ProviderDeadlineExceeded(PredictionFailed):
    """The provider did not finish within the configured deadline; the work was cancelled.

    Not transient: the deadline is the whole budget the operator gave this step, so retrying
    would double the user's wait for the same likely outcome.
    """
