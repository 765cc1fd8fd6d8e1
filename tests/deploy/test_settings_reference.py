"""docs/settings.md is what the settings classes say today."""

from __future__ import annotations

from pathlib import Path

from omnigen.testing.settings_reference import SECTIONS, render

DOC = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def test_the_settings_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render(), (
        "docs/settings.md is stale: .venv/bin/python -m omnigen.testing.settings_reference "
        "> docs/settings.md"
    )


def test_every_setting_of_every_class_is_in_the_reference() -> None:
    text = render()
    for _title, _who, cls, inherited in SECTIONS:
        own = set(cls.model_fields) - set(inherited.model_fields if inherited else ())
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name in own:
            alias = cls.model_fields[name].alias
            variable = (alias if isinstance(alias, str) else f"{prefix}{name}").upper()
            assert f"`{variable}`" in text, variable
