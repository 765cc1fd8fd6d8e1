"""Choose the script writer from settings: OpenAI when a key is configured, else the planner."""

from __future__ import annotations

import structlog

from omnigen.scripter.errors import PROVIDER, ProviderFailed
from omnigen.scripter.openai_writer import OpenAIScriptWriter
from omnigen.scripter.planner import OfflinePlanner
from omnigen.scripter.ports import ScriptWriter
from omnigen.scripter.settings import WriterSettings
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.media import unwritable_language
from omnigen.shared.domain.scripts import Script

log = structlog.get_logger()


def build_writer(settings: WriterSettings) -> ScriptWriter:
    if settings.uses_openai:
        log.info("script_writer_selected", writer="openai", model=settings.openai_model)
        return OpenAIScriptWriter.from_settings(settings)
    log.info("script_writer_selected", writer="planner")
    return EnglishPlanner()


class EnglishPlanner(OfflinePlanner):
    """The offline planner writes English: a job in another language (one that came past
    ingest's check, e.g. queued while ingest believed a model was configured) fails saying
    what it needs rather than getting English words."""

    async def write(self, request: JobRequest) -> Script:
        problem = unwritable_language(request.options.language, model_configured=False)
        if problem is not None:
            raise ProviderFailed(problem, provider=PROVIDER)
        return await super().write(request)
