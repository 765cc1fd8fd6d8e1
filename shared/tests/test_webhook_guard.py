"""The SSRF guard: every refused case with its reason, at the URL and after resolution."""

from __future__ import annotations

import ipaddress
import random

import pytest

from omnigen.shared.adapters.netguard import Address, UrlGuard
from omnigen.shared.domain.webhooks import (
    UnsafeWebhookUrl,
    check_url,
    decide,
    retry_delay_s,
    schedule_s,
)

REFUSED_URLS = [
    ("http://example.com/hook", "must use https"),
    ("ftp://example.com/hook", "absolute https"),
    ("/relative", "absolute https"),
    ("https://user:pw@example.com/", "credentials"),
    ("https://169.254.169.254/latest/meta-data", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://127.0.0.1/", "loopback"),
    ("https://[::1]/", "loopback"),
    ("https://10.0.0.8/", "private"),
    ("https://172.16.3.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://169.254.10.10/", "link-local"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[::ffff:127.0.0.1]/", "loopback"),
    ("https://0.0.0.0/", "private"),
    ("https://example.com:99999/", "not a valid URL"),
    ("https://exa mple.com/", "spaces"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED_URLS)
def test_refused_urls_say_why(url: str, why: str) -> None:
    with pytest.raises(UnsafeWebhookUrl, match=why):
        check_url(url, allow_loopback=False)


def test_loopback_only_with_the_explicit_setting() -> None:
    assert check_url("http://127.0.0.1:8787/hooks", allow_loopback=True) == ("127.0.0.1", 8787)
    assert check_url("http://localhost/h", allow_loopback=True) == ("localhost", 80)
    with pytest.raises(UnsafeWebhookUrl, match="https"):
        check_url("http://10.0.0.1/", allow_loopback=True)  # only loopback gets plain http
    with pytest.raises(UnsafeWebhookUrl, match="metadata"):
        check_url("https://169.254.169.254/", allow_loopback=True)


def resolver_to(*addresses: str):  # type: ignore[no-untyped-def]
    async def resolve(_host: str, _port: int) -> list[Address]:
        return [ipaddress.ip_address(a) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    ("addresses", "why"),
    [
        (["169.254.169.254"], "metadata"),
        (["fd00:ec2::254"], "metadata"),
        (["127.0.0.1"], "loopback"),
        (["93.184.216.34", "10.1.2.3"], "private"),  # one bad address among good ones
        (["fe80::2"], "link-local"),
    ],
)
async def test_a_name_resolving_to_a_refused_address_is_refused(
    addresses: list[str], why: str
) -> None:
    guard = UrlGuard(resolver=resolver_to(*addresses))
    with pytest.raises(UnsafeWebhookUrl, match=f"resolves to .*{why}"):
        await guard.check("https://hooks.example.com/x")


async def test_a_public_name_passes_and_names_the_address_to_call() -> None:
    guard = UrlGuard(resolver=resolver_to("93.184.216.34"))
    checked = await guard.check("https://hooks.example.com:8443/x")
    assert (checked.host, checked.port, str(checked.address)) == (
        "hooks.example.com",
        8443,
        "93.184.216.34",
    )


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def nothing(_host: str, _port: int) -> list[Address]:
        raise OSError("no such host")

    with pytest.raises(UnsafeWebhookUrl, match="does not resolve"):
        await UrlGuard(resolver=nothing).check("https://nowhere.invalid/")


def test_decisions() -> None:
    assert decide(204, client_errors_so_far=0, max_client_errors=3) == "succeeded"
    assert decide(410, client_errors_so_far=0, max_client_errors=3) == "gone"
    assert decide(429, client_errors_so_far=5, max_client_errors=3) == "retry"
    assert decide(500, client_errors_so_far=5, max_client_errors=3) == "retry"
    assert decide(None, client_errors_so_far=0, max_client_errors=3) == "retry"
    assert decide(404, client_errors_so_far=1, max_client_errors=3) == "retry"
    assert decide(404, client_errors_so_far=3, max_client_errors=3) == "failed"


def test_backoff_doubles_with_jitter_and_is_capped_at_12_hours() -> None:
    rng = random.Random(1)
    for attempt in range(1, 20):
        step = min(60 * 2 ** (attempt - 1), 43200)
        delay = retry_delay_s(attempt, base_s=60, max_s=43200, rng=rng)
        assert step // 2 <= delay <= step
    schedule = schedule_s(13, base_s=60, max_s=43200)
    assert schedule[:3] == [60, 120, 240] and max(schedule) == 43200
    assert 20 * 3600 <= sum(schedule) * 0.75 <= 36 * 3600  # about a day, jitter's mean taken
