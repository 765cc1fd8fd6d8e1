"""Choose the script writer from settings: OpenAI when a key is configured, else the planner."""

from __future__ import annotations

import structlog

from omnigen.scripter.openai_writer import OpenAIScriptWriter
from omnigen.scripter.planner import OfflinePlanner
from omnigen.scripter.ports import ScriptWriter
from omnigen.scripter.settings import WriterSettings

log = structlog.get_logger()


def build_writer(settings: WriterSettings) -> ScriptWriter:
    if settings.uses_openai:
        log.info("script_writer_selected", writer="openai", model=settings.openai_model)
        return OpenAIScriptWriter.from_settings(settings)
    log.info("script_writer_selected", writer="planner")
    return OfflinePlanner()
