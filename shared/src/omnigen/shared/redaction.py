"""Keeping credentials out of what we write: log lines and error messages alike.

Known secrets (the key a client was given) are replaced wherever they appear, and so is
anything shaped like an OpenAI key, a Replicate token, a bearer token or an AWS access key id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

REDACTED: Final = "[REDACTED]"
SECRET_NAME: Final = re.compile(
    r"(api[_-]?key|secret|token|password|authorization|credential)", re.I
)
_SECRET_VALUE = re.compile(
    r"(sk-[A-Za-z0-9_\-]{8,}|r8_[A-Za-z0-9]{8,}|Bearer\s+[A-Za-z0-9._\-]{8,}|AKIA[0-9A-Z]{16})"
)


def redact_text(text: str, *secrets: str) -> str:
    """`text` with every non-empty secret in `secrets`, and every secret-looking value, replaced."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return _SECRET_VALUE.sub(REDACTED, text)


def redact(value: Any, *secrets: str) -> Any:
    """`redact_text` through strings, mappings (a secret-named key hides its whole value) and
    sequences; anything else is returned as it is."""
    if isinstance(value, str):
        return redact_text(value, *secrets)
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and SECRET_NAME.search(k) else redact(v, *secrets)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return type(value)(redact(v, *secrets) for v in value)
    return value
