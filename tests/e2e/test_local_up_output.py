"""`omnigen local up` prints export lines that copy-paste whole, even on a narrow terminal."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from omnigen.cli.app import print_connection

TOKEN = "eyJhbGciOiJIUzI1NiJ9." + "a" * 150 + "." + "b" * 43


def test_the_token_export_line_is_not_wrapped_on_a_narrow_terminal(tmp_path: Path) -> None:
    buffer = io.StringIO()
    narrow = Console(file=buffer, width=40, force_terminal=False, color_system=None)

    print_connection(
        narrow,
        api_url="http://127.0.0.1:8000",
        token=TOKEN,
        endpoint_url="http://127.0.0.1:5000",
        prefix="omnigen",
        workdir=tmp_path,
    )

    lines = buffer.getvalue().splitlines()
    assert f"  export OMNIGEN_TOKEN={TOKEN}" in lines
    assert "  export OMNIGEN_API_URL=http://127.0.0.1:8000" in lines
    assert "  export OMNIGEN_ENDPOINT_URL=http://127.0.0.1:5000" in lines


def test_the_web_signin_link_is_printed_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    buffer = io.StringIO()
    narrow = Console(file=buffer, width=40, force_terminal=False, color_system=None)
    link = f"http://127.0.0.1:8000/#signin={TOKEN}"

    print_connection(
        narrow,
        api_url="http://127.0.0.1:8000",
        token=TOKEN,
        endpoint_url="http://127.0.0.1:5000",
        prefix="omnigen",
        workdir=tmp_path,
        signin_link=link,
    )

    lines = buffer.getvalue().splitlines()
    assert f"  {link}" in lines
    assert any(line.startswith("Web:") for line in lines)
