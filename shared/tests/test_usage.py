"""The usage domain: months, the price table's arithmetic, the meter."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from omnigen.shared.domain.usage import (
    DEFAULT_PRICE_TABLE,
    InvalidMonth,
    JobUsage,
    PriceTable,
    count_usage,
    metering,
    parse_month,
    seconds_until_next_month,
    usage_counter_key,
    usage_month,
)

PRICES = PriceTable(
    version="t-1",
    llm_input_per_million_tokens=Decimal("0.15"),
    llm_output_per_million_tokens=Decimal("0.60"),
    clip_per_second=Decimal("0.05"),
    speech_per_million_characters=Decimal("15"),
    music_per_second=Decimal("0.0023"),
)


def _epoch(*parts: int) -> float:
    return dt.datetime(*parts, tzinfo=dt.UTC).timestamp()


def test_months_are_utc_calendar_months() -> None:
    assert usage_month(_epoch(2026, 12, 31, 23, 59, 59)) == "2026-12"
    assert usage_month(_epoch(2027, 1, 1)) == "2027-01"
    assert seconds_until_next_month(_epoch(2026, 12, 31, 23, 59, 0)) == 61
    assert seconds_until_next_month(_epoch(2026, 2, 1)) == 28 * 86400 + 1
    assert usage_counter_key("u-1", "2026-12") == "user#u-1#usage#2026-12"


@pytest.mark.parametrize("bad", ["2026-13", "2026-00", "2026-1", "26-01", "2026-01-01", "", " "])
def test_a_month_is_yyyy_mm(bad: str) -> None:
    with pytest.raises(InvalidMonth, match="YYYY-MM"):
        parse_month(bad)
    assert parse_month("2026-01") == "2026-01"


def test_the_cost_of_a_job_is_each_unit_at_its_price() -> None:
    used = JobUsage(
        llm_tokens_in=2_000, llm_tokens_out=1_000, clip_seconds=15, speech_characters=400,
        music_seconds=30,
    )  # fmt: skip
    costed = used.costed(PRICES, video_seconds=14.9876)
    # 0.0003 + 0.0006 + 0.75 + 0.006 + 0.069
    assert costed.cost_usd == 0.8259
    assert (costed.price_version, costed.video_seconds) == ("t-1", 14.988)
    assert PRICES.cost(JobUsage(llm_tokens_in=1)) == Decimal("0.000000")  # to a millionth


def test_a_price_table_needs_a_version_and_every_price() -> None:
    with pytest.raises(ValidationError):
        PriceTable.model_validate({"version": "x", "clip_per_second": 1})
    with pytest.raises(ValidationError):
        PriceTable.model_validate({**DEFAULT_PRICE_TABLE.model_dump(), "clip_per_second": -1})
    with pytest.raises(ValidationError):
        PriceTable.model_validate({**DEFAULT_PRICE_TABLE.model_dump(), "surprise": 1})


async def test_the_meter_counts_the_tasks_a_step_starts_and_nothing_outside() -> None:
    count_usage(clip_calls=1)  # no meter: nothing, no error

    async def clip() -> None:
        await asyncio.sleep(0)
        count_usage(clip_calls=1, clip_seconds=5)

    with metering() as meter:
        await asyncio.gather(clip(), clip(), clip())
        count_usage(speech_calls=1, speech_characters=42)
    count_usage(clip_calls=1)
    assert (meter.usage.clip_calls, meter.usage.clip_seconds) == (3, 15)
    assert meter.usage.speech_characters == 42
    with metering() as meter, pytest.raises(ValueError, match="not a usage counter"):
        count_usage(cost_usd=1)
