"""What the shared limits cost a POST /v1/jobs: the real ingest app, in two configurations in
one run on one embedded moto server (127.0.0.1 only), and the ratio.

    .venv/bin/python tests/benchmarks/bench_ingest_limits.py [--posts 360] [--concurrency 8]

- `limits`: as deployed. The create is one TransactWriteItems of the job's Put, the user's
  running-jobs counter (`running < cap`), the month's usage item (`requested_seconds` within
  the quota) and the rate limit's window counter (`hits < limit`): every limit is set high
  enough never to refuse, but each is checked on every create.
- `baseline`: without them. The in-process token bucket (`OMNIGEN_RATE_LIMIT_STORE=memory`)
  and a create that is the job's conditional PutItem alone (no counter, no cap).
- `previous`: what the limits replace. The in-process token bucket, and the cap as it was
  checked before: a count Query of the user's unfinished jobs (6 h window), then the PutItem.

moto's own TransactWriteItems deep-copies every table it names, once per item, for its
rollback, so there a four-item transaction's cost grows with the table (the limits' ratio was
over 3 with it); the launcher (`omnigen.cli.localaws.moto_app.ItemRollback`) rolls back the
named items instead, as cheap as DynamoDB's whatever the table holds. moto also parses each
condition and update expression every time it looks at one (a transaction's Update: its update
expression three times, its condition twice), which made the four-item transaction cost moto
about 2.8x a PutItem's CPU while every other part of the POST is the same in both
configurations (3 AWS calls each, client-side difference under 0.3 ms); the launcher
(`moto_app.ParsedExpressions`) parses each expression once. What was left (p50 ratio
1.18-1.43 over three quiet runs) was moto validating each Update's expression: a deep copy
of its tree and ten walks of it, each rebuilding its processor's map and asking
`isinstance` of abstract classes at every node, twice for an item not there yet (the rate
window's item is new every window); the launcher (`moto_app.FastValidation`) copies a
parsed tree from its pickle, answers the kind tests once per class and does not walk the
three checks of an expression's structure alone again for the same text, names and table,
which took a four-item transaction's moto-side CPU from 2.1-2.5 ms to 1.1-1.4 ms over a
PutItem's (in-process, `time.thread_time`, a loaded host). Each round still runs on
a fresh table by default, shared by both configurations, and `--growing` keeps one table for
the whole run (the table then grows to a few thousand items).

Both run the same app (`create_app(open_context(...))`, HS256 auth, the SNS publish of
`job.accepted` and its record) over `httpx.ASGITransport`, ten users, `--concurrency`
concurrent submitters, 12 alternating rounds so drift in the emulator (and the load of the
machine) hits both alike; a warm-up round of each is not counted. Latency is client-side per
POST; every POST must answer 202. Besides the ratio of all POSTs' p50/p95, it prints the
median of the rounds' own ratios, which a burst of load on a shared machine moves less (on
a busy host a whole round can be slow for one configuration only).
AWS calls are counted per configuration by a botocore `before-call` hook on its own session.
Prints figures; asserts nothing but the 202s. Stops by itself (a 600 s overall deadline).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import secrets
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import httpx
import jwt
from aiobotocore.session import get_session

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS
from omnigen.ingest.api.app import create_app
from omnigen.ingest.context import IngestContext, open_context
from omnigen.ingest.settings import IngestSettings
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.codec import job_to_item
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.jobs import Job, JobRequest, LeaseClaim
from omnigen.shared.domain.rules import RateWindow, new_job_id
from omnigen.shared.domain.stages import JobStatus
from omnigen.shared.logging import configure_logging
from omnigen.shared.ports import CreatedJob
from omnigen.shared.settings import AwsSettings

USERS: Final = 10
ROUNDS: Final = 12
DEADLINE_S: Final = 600.0
CONFIGS: Final = ("limits", "baseline", "previous")
BODY: Final = {"prompt": "A lighthouse keeper's last night on a stormy island", "duration": 20}


class CallCounter:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def before_call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1


class UncountedRepository(DynamoJobRepository):
    """The baseline's create: the job's conditional PutItem alone, as before the counter."""

    async def create_job(
        self,
        *,
        user_id: str,
        request: JobRequest,
        idempotency_key: str | None = None,
        trace_id: str | None = None,
        lease: LeaseClaim | None = None,
        running_cap: int | None = None,
        video_quota_s: int | None = None,
        rate: RateWindow | None = None,
    ) -> CreatedJob:
        job_id = new_job_id(user_id, idempotency_key)
        job = Job.new(
            job_id=job_id,
            user_id=user_id,
            request=request,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
            lease=lease,
        ).model_copy(update={"running_slot": False})
        await self.client.put_item(
            TableName=self.table,
            Item=job_to_item(job),
            ConditionExpression="attribute_not_exists(job_id)",
        )
        return CreatedJob(job, created=True)

    @property
    def client(self) -> Any:
        return self.__dict__["_client"]

    @property
    def table(self) -> str:
        return str(self.__dict__["_table"])


class CountThenCreateRepository(UncountedRepository):
    """The previous cap: count the user's unfinished jobs (one Query), then create."""

    async def create_job(self, **kwargs: Any) -> CreatedJob:
        active = (JobStatus.PENDING, JobStatus.PROCESSING)
        window = time.time() - 6 * 3600.0
        await self.count_jobs(kwargs["user_id"], statuses=active, created_after=window)
        return await super().create_job(**kwargs)


@asynccontextmanager
async def ingest_app(
    name: str, settings: AwsSettings, secret: str, topic_arn: str, counter: CallCounter
) -> AsyncIterator[httpx.AsyncClient]:
    ingest = IngestSettings(
        **settings.model_dump(),
        auth_hs256_secret=secret,
        rate_limit_per_minute=1_000_000,  # never refuses, but every request is counted
        rate_limit_burst=100_000,
        rate_limit_store="dynamodb" if name == "limits" else "memory",
        max_running_jobs=1_000_000,
        monthly_video_seconds_quota=1_000_000_000,  # never refuses, but checked on every create
    )
    session = get_session()
    session.register("before-call", counter.before_call)
    async with (
        AwsClients(ingest, session=session) as aws,
        open_context(aws, ingest, events_topic_arn=topic_arn) as context,
    ):
        if name != "limits":
            kind = UncountedRepository if name == "baseline" else CountThenCreateRepository
            repository = kind(await aws.dynamodb(), ingest.resources.table)
            context = _with_repository(context, repository)
        transport = httpx.ASGITransport(app=create_app(context))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://ingest", timeout=60
        ) as http:
            yield http


def _with_repository(context: IngestContext, repository: DynamoJobRepository) -> IngestContext:
    return dataclasses.replace(
        context, ports=dataclasses.replace(context.ports, repository=repository)
    )


async def post_round(
    http: httpx.AsyncClient, tokens: list[str], posts: int, concurrency: int
) -> list[float]:
    """`posts` POSTs, `concurrency` at a time; each one's latency in seconds."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            began = time.perf_counter()
            response = await http.post(
                "/v1/jobs",
                json=BODY,
                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
            )
            latencies.append(time.perf_counter() - began)
            if response.status_code != 202:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text}")

    await asyncio.gather(*(one(i) for i in range(posts)))
    return latencies


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run(posts: int, concurrency: int, growing: bool) -> None:
    with MotoServer() as moto:
        if not moto.endpoint_url.startswith("http://127.0.0.1:"):
            raise SystemExit(f"refusing a non-loopback endpoint {moto.endpoint_url}")
        secret = secrets.token_urlsafe(48)
        now = int(time.time())
        tokens = {
            name: [
                str(jwt.encode({"sub": f"{name}-{u}", "exp": now + 3600}, secret, "HS256"))
                for u in range(USERS)
            ]
            for name in CONFIGS
        }
        counters = {name: CallCounter() for name in CONFIGS}
        latencies: dict[str, list[float]] = {name: [] for name in CONFIGS}
        rounds: list[dict[str, list[float]]] = []
        per_round = max(posts // ROUNDS, concurrency)
        for round_ in range(ROUNDS):
            # By default each round gets a fresh table (both configurations share it);
            # --growing keeps one for the whole run.
            prefix = "benchlimits" if growing else f"benchlimits{round_}"
            settings = AwsSettings(endpoint_url=moto.endpoint_url, resource_prefix=prefix)
            async with AwsClients(settings) as aws:
                applied = await apply_spec(aws, settings.resources)
            topic_arn = applied.topic_arns[settings.resources.events_topic.name]
            async with (
                ingest_app("limits", settings, secret, topic_arn, counters["limits"]) as limits,
                ingest_app("baseline", settings, secret, topic_arn, counters["baseline"]) as base,
                ingest_app("previous", settings, secret, topic_arn, counters["previous"]) as prev,
            ):
                apps = {"limits": limits, "baseline": base, "previous": prev}
                for name in CONFIGS:  # warm-up: connections, first items; not counted
                    before = Counter(counters[name].calls)
                    await post_round(apps[name], tokens[name], concurrency, concurrency)
                    counters[name].calls = before
                order = CONFIGS[round_ % 3 :] + CONFIGS[: round_ % 3]
                rounds.append({})
                for name in order:
                    rounds[-1][name] = await post_round(
                        apps[name], tokens[name], per_round, concurrency
                    )
                    latencies[name] += rounds[-1][name]
    table = "one table for the run" if growing else "a fresh table per round"
    print(
        f"moto on 127.0.0.1; POST /v1/jobs x {per_round * ROUNDS} per configuration, "
        f"{concurrency} concurrent, {USERS} users, {ROUNDS} alternating rounds, {table}"
    )
    figures = {}
    for name in CONFIGS:
        values = latencies[name]
        p50, p95 = percentile(values, 50), percentile(values, 95)
        figures[name] = (p50, p95)
        n = len(values)
        calls = counters[name].calls
        print(
            f"{name:<9} p50 {p50 * 1000:6.1f} ms  p95 {p95 * 1000:6.1f} ms  "
            f"AWS calls per POST {sum(calls.values()) / n:4.2f}"
        )
        for op, count in sorted(calls.items()):
            print(f"    {op:<30} {count / n:4.2f}/POST")
    (l50, l95) = figures["limits"]
    for other in ("baseline", "previous"):
        o50, o95 = figures[other]
        print(f"ratio limits/{other}: p50 {l50 / o50:.2f}, p95 {l95 / o95:.2f} (target <= 1.3)")
        r50, r95 = (
            statistics.median(percentile(r["limits"], q) / percentile(r[other], q) for r in rounds)
            for q in (50, 95)
        )
        print(f"  median of the {len(rounds)} rounds' ratios: p50 {r50:.2f}, p95 {r95:.2f}")
        added = sum(counters["limits"].calls.values()) / len(latencies["limits"]) - sum(
            counters[other].calls.values()
        ) / len(latencies[other])
        print(f"AWS calls per job added by the counters vs. {other}: {added:+.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=360, help="POSTs per configuration")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--growing", action="store_true", help="one table for the whole run")
    args = parser.parse_args()
    configure_logging("bench", level="WARNING", json_output=False)
    os.environ.update(EMULATOR_CREDENTIALS)  # the emulator only; never real credentials
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    asyncio.run(asyncio.wait_for(run(args.posts, args.concurrency, args.growing), DEADLINE_S))


if __name__ == "__main__":
    main()
