"""The scripter's port: something that turns a job request into a valid Script."""

from __future__ import annotations

from typing import Protocol

from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.scripts import Script


class ScriptWriter(Protocol):
    """Writes a script that passes `script_problems` for the request, or raises a
    `ProviderFailed` whose message says why not."""

    async def write(self, request: JobRequest) -> Script: ...

    async def aclose(self) -> None:
        """Release connections; the handler calls it once at shutdown."""
        ...
