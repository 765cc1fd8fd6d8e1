"""The shared provider policy's pure parts: Retry-After, backoff, which statuses may pass, and
redaction. The retry loop itself is tested through real clients against the fake servers, in
the scripter's and the renderer's provider tests."""

from __future__ import annotations

import email.utils
import time

import pytest

from omnigen.shared.domain.errors import OmnigenError, ProviderFailed
from omnigen.shared.providers import (
    Failure,
    ProviderRetrySettings,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from omnigen.shared.redaction import REDACTED, redact, redact_text


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_header_forms(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)

    delay = parse_retry_after({"retry-after": when})

    assert delay is not None and 28 <= delay <= 30


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(budget_s=60, base_delay_s=1.0, max_delay_s=4.0)

    delays = [policy.backoff(attempt) for attempt in (1, 2, 3, 4)]

    assert 0.75 <= delays[0] <= 1.0
    assert 1.5 <= delays[1] <= 2.0
    assert 3.0 <= delays[2] <= 4.0 and 3.0 <= delays[3] <= 4.0


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(429, True), (500, True), (503, True), (None, True), (400, False), (404, False)],
)
def test_rate_limits_server_errors_and_unknown_statuses_may_pass(
    status: int | None, retryable: bool
) -> None:
    failure = Failure.answered(status, "why", retry_after_s=2.0)

    assert failure.retryable is retryable
    assert (failure.status_code, failure.retry_after_s) == (status, 2.0)
    assert is_retryable_status(status) is (retryable and status is not None)


def test_settings_give_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIGEN_PROVIDER_RETRY_BUDGET_S", "42")

    policy = ProviderRetrySettings().retry_policy

    assert policy == RetryPolicy(budget_s=42, base_delay_s=1.0, max_delay_s=30.0)
    assert RetryPolicy().budget_s == 300


def test_every_omnigen_error_says_whether_it_is_transient() -> None:
    assert OmnigenError("x").transient is False
    assert ProviderFailed("outage", provider="speech", transient=True).transient is True
    assert ProviderFailed("bad input").transient is False


def test_known_secrets_and_secret_looking_values_are_redacted() -> None:
    key = "plain-key-without-a-prefix"

    text = redact_text(f"key {key}, token r8_0123456789abcdef, Bearer abcdefghijk", key)

    assert text == f"key {REDACTED}, token {REDACTED}, {REDACTED}"
    assert redact_text("nothing secret", "") == "nothing secret"
    assert redact({"api_key": "x", "detail": [f"echo {key}"]}, key) == {
        "api_key": REDACTED,
        "detail": [f"echo {REDACTED}"],
    }
