"""Why a script could not be written, as typed errors whose message a user can read."""

from __future__ import annotations

from omnigen.shared.domain.errors import OmnigenError


class ScriptWriterError(OmnigenError):
    """Base of every script-writer failure; `str(error)` is the job's error_message."""

    transient = False


class ScriptRefused(ScriptWriterError):
    """The model declined to write the script; its own words are the reason."""

    def __init__(self, refusal: str) -> None:
        super().__init__(f"the script model refused: {refusal.strip() or 'no reason given'}")
        self.refusal = refusal


class ScriptRejected(ScriptWriterError):
    """The model's answer was still unusable after the repair attempt."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:8])
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        super().__init__(f"the script model's answer is invalid after one repair: {shown}{more}")
        self.problems = problems


class ProviderFailed(ScriptWriterError):
    """The script provider could not be reached or kept failing; `transient` says if a later
    retry of the whole job might succeed."""

    def __init__(
        self,
        reason: str,
        *,
        status_code: int | None = None,
        attempts: int = 1,
        transient: bool = False,
    ) -> None:
        super().__init__(reason)
        self.status_code = status_code
        self.attempts = attempts
        self.transient = transient


class ProviderTimeout(ProviderFailed):
    """Every attempt ran past the configured timeout."""
