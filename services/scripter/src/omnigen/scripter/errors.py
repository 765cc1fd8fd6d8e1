"""Why a script could not be written: `ProviderFailed` (shared by every hosted provider) and the
two ways a model's answer itself fails; each message is what the job's error_message says."""

from __future__ import annotations

from omnigen.shared.domain.errors import ProviderFailed

PROVIDER = "script"

# The name the scripter's handler used to catch; every writer failure is a ProviderFailed.
ScriptWriterError = ProviderFailed

__all__ = ["PROVIDER", "ProviderFailed", "ScriptRefused", "ScriptRejected", "ScriptWriterError"]


class ScriptRefused(ProviderFailed):
    """The model declined to write the script; its own words are the reason."""

    def __init__(self, refusal: str) -> None:
        reason = f"the script model refused: {refusal.strip() or 'no reason given'}"
        super().__init__(reason, provider=PROVIDER)
        self.refusal = refusal


class ScriptRejected(ProviderFailed):
    """The model's answer was still unusable after the repair attempt."""

    def __init__(self, problems: list[str]) -> None:
        shown = "; ".join(problems[:8])
        more = f" (and {len(problems) - 8} more)" if len(problems) > 8 else ""
        reason = f"the script model's answer is invalid after one repair: {shown}{more}"
        super().__init__(reason, provider=PROVIDER)
        self.problems = problems
