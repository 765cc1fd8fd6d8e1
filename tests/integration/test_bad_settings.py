"""Each service, started from its console script with a bad setting, says which setting and
what is wrong, never the value given (it may be a secret), and exits 2 before touching AWS."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SECRET = "sk-do-not-print-me-0123456789abcdefghijkl"
NO_AWS = {"OMNIGEN_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "test"}

CASES = {
    "ingest: a JWKS URL without an issuer, beside an HS256 secret": (
        "omnigen-ingest",
        {
            "OMNIGEN_AUTH_JWKS_URL": "https://issuer.example/jwks.json",
            "OMNIGEN_AUTH_HS256_SECRET": SECRET,
        },
        "OMNIGEN_AUTH_ISSUER",
    ),
    "ingest: a port that is not a number": (
        "omnigen-ingest",
        {"OMNIGEN_AUTH_HS256_SECRET": SECRET, "OMNIGEN_PORT": SECRET},
        "OMNIGEN_PORT",
    ),
    "scripter: an unknown script writer, beside an API key": (
        "omnigen-scripter",
        {"OMNIGEN_SCRIPT_WRITER": SECRET, "OMNIGEN_OPENAI_API_KEY": SECRET},
        "OMNIGEN_SCRIPT_WRITER",
    ),
    "scripter: worker concurrency that is not a number": (
        "omnigen-scripter",
        {"OMNIGEN_WORKER_CONCURRENCY": SECRET},
        "OMNIGEN_WORKER_CONCURRENCY",
    ),
    "renderer: Replicate chosen with an empty token, beside a speech key": (
        "omnigen-renderer",
        {
            "OMNIGEN_CLIP_PROVIDER": "replicate",
            "OMNIGEN_REPLICATE_API_TOKEN": "",
            "OMNIGEN_SPEECH_API_KEY": SECRET,
        },
        "OMNIGEN_REPLICATE_API_TOKEN",
    ),
    "webhooks: a delivery timeout that is not a number": (
        "omnigen-webhooks",
        {"OMNIGEN_WEBHOOKS_TIMEOUT_S": SECRET},
        "OMNIGEN_WEBHOOKS_TIMEOUT_S",
    ),
    "renderer: a render scale out of range": (
        "omnigen-renderer",
        {"OMNIGEN_RENDER_SCALE": "7", "OMNIGEN_SPEECH_API_KEY": SECRET},
        "OMNIGEN_RENDER_SCALE",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_setting_is_named_without_its_value_and_exits_2(case: str) -> None:
    script, settings, named = CASES[case]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OMNIGEN_")},
        **NO_AWS,
        **settings,
    }
    result = subprocess.run(
        [str(BIN / script)], env=env, capture_output=True, text=True, timeout=60
    )
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert "invalid_setting" in output and named in output, output[-2000:]
    assert SECRET not in output
    assert "Traceback" not in output
