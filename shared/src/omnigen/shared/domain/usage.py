"""What a job used and what it is estimated to cost, and the per-user monthly totals.

- `JobUsage`: one job's use (seconds of video; provider calls by kind: LLM tokens in/out, clip
  seconds, speech characters, music seconds) and its cost estimated from a `PriceTable`, whose
  version the job records. Stored as the job's `usage` attribute.
- `UsageMeter`: what the provider adapters count while one job's step runs (`metering()`
  makes one current for the running task and the tasks it starts).
- `MonthlyUsage`: one user's totals for one calendar month (UTC), kept by atomic counters on
  the item `user#<user>#usage#<YYYY-MM>`: the create adds the job and its requested seconds
  (and enforces the quota on them), the completing write adds what the job used. Both are the
  job's own conditional writes, so a replay or a redelivery counts nothing twice.
- A regenerated version (`domain.versions`) is counted the same way, in the month it was asked
  for: the write that starts it adds `versions 1` and its requested seconds (and enforces the
  quota on them), the write that completes it adds what it used (`VersionUsage`). Its "seconds
  of video" are the seconds of the scenes it renders anew (rounded up to whole seconds when
  requested), not the length of the whole video again: that is the provider work it costs.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from pydantic import BaseModel, ConfigDict, Field

USAGE_COUNTER_PREFIX: Final = "user#"
MONTH_PATTERN: Final = r"^[0-9]{4}-(0[1-9]|1[0-2])$"
_MONTH = re.compile(MONTH_PATTERN)
COST_PLACES: Final = Decimal("0.000001")


class InvalidMonth(ValueError):
    """A month that is not `YYYY-MM`."""


def usage_month(epoch_s: float) -> str:
    """The calendar month (UTC) an instant falls in, as `YYYY-MM`."""
    return dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC).strftime("%Y-%m")


def parse_month(text: str) -> str:
    """`text` when it is a month `YYYY-MM` (01..12), else `InvalidMonth`."""
    if not _MONTH.fullmatch(text):
        raise InvalidMonth(f"month must be YYYY-MM, got {text[:20]!r}")
    return text


def seconds_until_next_month(epoch_s: float) -> int:
    """Whole seconds from `epoch_s` to the first instant of the next calendar month (UTC)."""
    now = dt.datetime.fromtimestamp(epoch_s, tz=dt.UTC)
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    start = dt.datetime(year, month, 1, tzinfo=dt.UTC)
    return max(1, int((start - now).total_seconds()) + 1)


def usage_counter_key(user_id: str, month: str) -> str:
    """The table key of `user_id`'s totals for `month`; no job id (32 hex digits) looks so."""
    return f"{USAGE_COUNTER_PREFIX}{user_id}#usage#{month}"


class PriceTable(BaseModel):
    """Prices in US dollars per unit of what the providers bill. `version` names the table; a
    job records the version it was costed with, so a later table does not rewrite history."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    llm_input_per_million_tokens: Decimal = Field(ge=0)
    llm_output_per_million_tokens: Decimal = Field(ge=0)
    clip_per_second: Decimal = Field(ge=0)
    speech_per_million_characters: Decimal = Field(ge=0)
    music_per_second: Decimal = Field(ge=0)

    def cost(self, usage: JobUsage) -> Decimal:
        """The estimated cost of `usage`, rounded to a millionth of a dollar."""
        million = Decimal(1_000_000)
        total = (
            Decimal(usage.llm_tokens_in) * self.llm_input_per_million_tokens / million
            + Decimal(usage.llm_tokens_out) * self.llm_output_per_million_tokens / million
            + Decimal(str(usage.clip_seconds)) * self.clip_per_second
            + Decimal(usage.speech_characters) * self.speech_per_million_characters / million
            + Decimal(str(usage.music_seconds)) * self.music_per_second
        )
        return total.quantize(COST_PLACES, rounding=ROUND_HALF_UP)


# The table shipped with the package (list prices of the default models, per unit billed);
# an operator overrides it whole with OMNIGEN_PRICE_TABLE (JSON) and a new version name.
DEFAULT_PRICE_TABLE: Final = PriceTable(
    version="2026-01-default",
    llm_input_per_million_tokens=Decimal("0.15"),
    llm_output_per_million_tokens=Decimal("0.60"),
    clip_per_second=Decimal("0.05"),
    speech_per_million_characters=Decimal("15"),
    music_per_second=Decimal("0.0023"),
)


class JobUsage(BaseModel):
    """What one job used (the attempt that completed it, plus its script)."""

    model_config = ConfigDict(extra="ignore")

    video_seconds: float = Field(default=0.0, ge=0)
    llm_calls: int = Field(default=0, ge=0)
    llm_tokens_in: int = Field(default=0, ge=0)
    llm_tokens_out: int = Field(default=0, ge=0)
    clip_calls: int = Field(default=0, ge=0)
    clip_seconds: float = Field(default=0.0, ge=0)
    speech_calls: int = Field(default=0, ge=0)
    speech_characters: int = Field(default=0, ge=0)
    music_calls: int = Field(default=0, ge=0)
    music_seconds: float = Field(default=0.0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0, description="estimated, to a millionth of a dollar")
    price_version: str | None = None

    def plus(self, other: JobUsage) -> JobUsage:
        """Both uses added up (video seconds, cost and price version are left to `costed`)."""
        counted = {
            name: getattr(self, name) + getattr(other, name)
            for name in COUNTED_FIELDS
            if name != "video_seconds"
        }
        return self.model_copy(update=counted)

    def costed(self, prices: PriceTable, *, video_seconds: float) -> JobUsage:
        """This use with the video's length and its cost under `prices`."""
        priced = self.model_copy(update={"video_seconds": round(video_seconds, 3)})
        return priced.model_copy(
            update={"cost_usd": float(prices.cost(priced)), "price_version": prices.version}
        )


# The numeric fields of a job's use; each is also a counter of the monthly totals.
COUNTED_FIELDS: Final = (
    "video_seconds",
    "llm_calls",
    "llm_tokens_in",
    "llm_tokens_out",
    "clip_calls",
    "clip_seconds",
    "speech_calls",
    "speech_characters",
    "music_calls",
    "music_seconds",
)


@dataclass(frozen=True)
class VersionUsage:
    """What one regenerated version used (its re-rendered scenes' seconds and provider calls,
    costed), counted in the totals of `month`, the month the version was asked for."""

    month: str
    usage: JobUsage


class MonthlyUsage(BaseModel):
    """One user's totals for one month. `jobs`/`versions`/`requested_seconds` count accepted
    jobs and started regenerations (what the quota limits); the rest count what completed jobs
    and versions used."""

    month: str
    jobs: int = 0
    versions: int = 0
    requested_seconds: int = 0
    completed_jobs: int = 0
    completed_versions: int = 0
    video_seconds: float = 0.0
    llm_calls: int = 0
    llm_tokens_in: int = 0
    llm_tokens_out: int = 0
    clip_calls: int = 0
    clip_seconds: float = 0.0
    speech_calls: int = 0
    speech_characters: int = 0
    music_calls: int = 0
    music_seconds: float = 0.0
    cost_usd: float = 0.0


class UsageMeter:
    """Counts provider calls while one job's step runs; the adapters add to the current one."""

    def __init__(self) -> None:
        self.usage = JobUsage()

    def add(self, **counts: float) -> None:
        """Add `counts` (JobUsage field names) to what was counted."""
        for name in counts:
            if name not in COUNTED_FIELDS:
                raise ValueError(f"not a usage counter: {name}")
        self.usage = self.usage.model_copy(
            update={name: getattr(self.usage, name) + value for name, value in counts.items()}
        )


_CURRENT: contextvars.ContextVar[UsageMeter | None] = contextvars.ContextVar(
    "omnigen_usage_meter", default=None
)


@contextlib.contextmanager
def metering() -> Iterator[UsageMeter]:
    """A fresh meter, current for this task and the tasks it starts, until the block ends."""
    meter = UsageMeter()
    token = _CURRENT.set(meter)
    try:
        yield meter
    finally:
        _CURRENT.reset(token)


def count_usage(**counts: float) -> None:
    """Adapters call this after a billed provider call; outside `metering()` it does nothing."""
    meter = _CURRENT.get()
    if meter is not None:
        meter.add(**counts)
