"""docs/settings.md, generated from the settings classes themselves, so the operator's
reference cannot drift from the code (a test compares the checked-in file with this output).

    .venv/bin/python -m omnigen.testing.settings_reference > docs/settings.md
"""

from __future__ import annotations

import sys
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from omnigen.cli.tokens import TokenSettings
from omnigen.ingest.settings import IngestSettings
from omnigen.renderer.main import RenderSettings
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.scripter.settings import WriterSettings
from omnigen.shared.settings import AwsSettings, LogSettings, TelemetrySettings, WorkerSettings
from omnigen.webhooks.settings import DeliverySettings

SECTIONS: list[tuple[str, str, type[BaseSettings], type[BaseSettings] | None]] = [
    ("Every service: where AWS is", "ingest, scripter, renderer, webhooks", AwsSettings, None),
    ("Every service: logs", "ingest, scripter, renderer, webhooks", LogSettings, None),
    ("Every service: traces and metrics", "ingest, scripter, renderer, webhooks",
     TelemetrySettings, None),
    ("Every worker: consuming its queue", "ingest (its consumer), scripter, renderer, webhooks",
     WorkerSettings, None),
    ("Ingest", "omnigen-ingest", IngestSettings, AwsSettings),
    ("Scripter: the script writer", "omnigen-scripter", WriterSettings, None),
    ("Renderer: providers", "omnigen-renderer", ProviderSettings, None),
    ("Renderer: rendering", "omnigen-renderer", RenderSettings, None),
    ("Webhooks: delivery", "omnigen-webhooks", DeliverySettings, None),
    ("CLI: `omnigen token`", "omnigen", TokenSettings, None),
]  # fmt: skip


def render() -> str:
    lines = [
        "# Settings",
        "",
        "Every setting is an environment variable, read once at start-up (pydantic-settings).",
        "A bad value stops the service with exit code 2 and a log line naming the variable and",
        "what is wrong, never the value. Generated from the settings classes by",
        "`python -m omnigen.testing.settings_reference`; a test fails when this file is stale.",
    ]
    for title, who, cls, inherited in SECTIONS:
        lines += ["", f"## {title}", "", f"Read by: {who}.", ""]
        lines += ["| variable | default | meaning |", "|---|---|---|"]
        skip = set(inherited.model_fields) if inherited else set()
        for name, info in cls.model_fields.items():
            if name in skip:
                continue
            lines.append(
                f"| `{_variable(cls, name, info)}` | {_default(info)} | {_meaning(info)} |"
            )
        if inherited:
            lines += ["", f"…and every variable of {inherited.__name__} above."]
    return "\n".join(lines) + "\n"


def _variable(cls: type[BaseSettings], name: str, info: FieldInfo) -> str:
    if isinstance(info.alias, str):
        return info.alias.upper()
    return f"{cls.model_config.get('env_prefix', '')}{name}".upper()


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined:
        return "(required)" if info.default_factory is None else "(computed)"
    value: Any = info.default
    if value is None:
        return "unset"
    if hasattr(value, "get_secret_value"):
        return "(secret)"
    return f"`{value}`"


def _meaning(info: FieldInfo) -> str:
    parts = [info.description or ""]
    constraints = [
        f"{label} {getattr(meta, attr)}"
        for meta in info.metadata
        for attr, label in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<"))
        if getattr(meta, attr, None) is not None
    ]
    if constraints:
        parts.append("(" + ", ".join(constraints) + ")")
    return " ".join(p for p in parts if p).replace("|", "\\|") or "—"


if __name__ == "__main__":
    sys.stdout.write(render())
