"""Choose the script writer from settings: OpenAI when a key is configured, else the planner;
either way a request that brings its own script gets that script, and no model is asked."""

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


class GivenScriptWriter:
    """The user's own script when the request has one (ingest judged it by the same rules as a
    written one), else what `inner` writes."""

    def __init__(self, inner: ScriptWriter) -> None:
        self.inner = inner

    async def write(self, request: JobRequest) -> Script:
        if request.script is None:
            return await self.inner.write(request)
        script = request.script.complete(style=request.options.style)
        log.info("script_given", title=script.title, scenes=len(script.scenes))
        return script

    async def aclose(self) -> None:
        await self.inner.aclose()


def build_writer(settings: WriterSettings) -> GivenScriptWriter:
    inner: ScriptWriter
    if settings.uses_openai:
        log.info("script_writer_selected", writer="openai", model=settings.openai_model)
        inner = OpenAIScriptWriter.from_settings(settings)
    else:
        log.info("script_writer_selected", writer="planner")
        inner = EnglishPlanner()
    return GivenScriptWriter(inner)


class EnglishPlanner(OfflinePlanner):
    """The offline planner writes English: a job in another language (one that came past
    ingest's check, e.g. queued while ingest believed a model was configured) fails saying
    what it needs rather than getting English words."""

    async def write(self, request: JobRequest) -> Script:
        problem = unwritable_language(request.options.language, model_configured=False)
        if problem is not None:
            raise ProviderFailed(problem, provider=PROVIDER)
        return await super().write(request)
