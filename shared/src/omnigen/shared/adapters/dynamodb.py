"""The DynamoDB job repository: the only code that touches the jobs table.

Every write is a single conditional request, so concurrent writers cannot lose each other's
updates: creation is `attribute_not_exists`, stage moves require `stage_seq <= new`, terminal
states refuse every further status change, and metadata is merged key by key. The conditions
encode the domain's rules (`Job.refusal`, `Job.lease_free_for`); a refused write is explained
by those same rules from the item as the write found it (ALL_OLD), without another read.
Storage failures leave as `RepositoryError`/`RepositoryUnavailable`, never as botocore errors.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.codec import deserialize, item_to_job, job_to_item, serialize
from omnigen.shared.adapters.store_errors import storage_error
from omnigen.shared.adapters.table_items import batch_get_items
from omnigen.shared.domain.errors import (
    JobNotFound,
    JobNotRetryable,
    LeaseLost,
    NotInReview,
    OmnigenError,
    PieceRaced,
    RateWindowFull,
    RepositoryUnavailable,
    ScriptChanged,
    WriteRaced,
)
from omnigen.shared.domain.jobs import OUTBOX_EVENT, Job, JobRequest, LeaseClaim, clears_outbox
from omnigen.shared.domain.rules import (
    IDEMPOTENCY_NAMESPACE,
    RATE_HITS_ATTRIBUTE,
    RUNNING_COUNTER_ATTRIBUTE,
    PagePosition,
    RateWindow,
    admit_quota,
    admit_running,
    check_page_limit,
    decode_cursor,
    encode_cursor,
    job_id_for_key,
    new_job_id,
    running_counter_key,
)
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import (
    AWAITING_REVIEW,
    COMPLETED,
    SCRIPT_APPROVED,
    SCRIPT_COMPLETE,
    JobStatus,
    stage_seq,
    status_for_stage,
)
from omnigen.shared.domain.usage import (
    COUNTED_FIELDS,
    JobUsage,
    MonthlyUsage,
    VersionUsage,
    usage_counter_key,
    usage_month,
)
from omnigen.shared.domain.versions import VersionRaced, VersionStart
from omnigen.shared.ports import CreatedJob, JobPage
from omnigen.shared.resources import Table

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient

log = structlog.get_logger()

_P = ParamSpec("_P")
_R = TypeVar("_R")
_ACTIVE = {
    ":pending": {"S": JobStatus.PENDING.value},
    ":processing": {"S": JobStatus.PROCESSING.value},
}
_ACTIVE_CONDITION = "#status IN (:pending, :processing)"
OUTBOX_ATTRIBUTE: Final = "outbox"  # Table.outbox_hash_key: the sparse outbox index's hash key
_TRANSACTION_ATTEMPTS: Final = 4  # a transaction racing another on one counter is retried
# Cancellation reasons that say nothing about the items: the same transaction may pass later.
_RETRIED_CANCELLATIONS: Final = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
_SLOT_CACHE_SIZE: Final = 10_000  # job id -> owner of its running slot (never changes)


def _guarded(
    method: Callable[Concatenate[DynamoJobRepository, _P], Coroutine[Any, Any, _R]],
) -> Callable[Concatenate[DynamoJobRepository, _P], Coroutine[Any, Any, _R]]:
    """Turns a botocore failure escaping `method` into the repository's typed error."""

    @functools.wraps(method)
    async def guarded(self: DynamoJobRepository, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return await method(self, *args, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise storage_error(method.__name__, exc) from None

    return guarded


class _Update:
    """Builds one UpdateItem request: SET and REMOVE clauses, names and values, plus a metadata
    merge."""

    def __init__(self, now: float) -> None:
        self.sets: list[str] = ["updated_at = :now", "version = version + :one"]
        self.removes: list[str] = []
        self.names: dict[str, str] = {"#status": "status"}
        self.values: dict[str, Any] = {":now": serialize(now), ":one": {"N": "1"}, **_ACTIVE}

    def set(self, attribute: str, value: Any) -> _Update:
        self.names[f"#{attribute}"] = attribute
        self.values[f":{attribute}"] = serialize(value, attribute)
        self.sets.append(f"#{attribute} = :{attribute}")
        return self

    def set_in_map(self, map_attribute: str, entries: Mapping[str, Any]) -> _Update:
        for index, (key, value) in enumerate(entries.items()):
            name, placeholder = f"#{map_attribute}_{index}", f":{map_attribute}_{index}"
            self.names[f"#{map_attribute}"] = map_attribute
            self.names[name] = key
            self.values[placeholder] = serialize(value, f"{map_attribute}.{key}")
            self.sets.append(f"#{map_attribute}.{name} = {placeholder}")
        return self

    def remove(self, attribute: str) -> _Update:
        self.names[f"#{attribute}"] = attribute
        self.removes.append(f"#{attribute}")
        return self

    def ended(self) -> _Update:
        """A terminal write: the job owes no announcement any more (`Job.outbox_after`)."""
        return self.remove(OUTBOX_ATTRIBUTE)

    @property
    def expression(self) -> str:
        removes = f" REMOVE {', '.join(self.removes)}" if self.removes else ""
        return "SET " + ", ".join(self.sets) + removes


class DynamoJobRepository:
    def __init__(self, client: DynamoDBClient, table: Table, clock: Any = time.time) -> None:
        self._client = client
        self._table = table.name
        self._index = table.gsi_name
        self._outbox_index = table.outbox_index
        self._ttl = table.ttl_attribute
        self._clock = clock
        # A job's user, whether it holds a running slot and its month, learnt from what this
        # process read or wrote, so a terminal write knows its counters without a read.
        self._slots: OrderedDict[str, tuple[str, bool, str]] = OrderedDict()

    # -- creation and reads ---------------------------------------------------------------

    @_guarded
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
        """One transaction: the job's Put (`attribute_not_exists`), the user's counter
        `ADD running 1` (with a cap: only while `running < cap`), the month's usage item
        `ADD jobs 1, requested_seconds <duration>` (with a quota: only while it stays within
        it) and, with `rate`, the request window's `ADD hits 1` (only while `hits < limit`).
        So concurrent creates cannot overshoot a limit, and a replay, whose Put fails, counts
        nothing anywhere."""
        job_id = new_job_id(user_id, idempotency_key)
        job = Job.new(
            job_id=job_id,
            user_id=user_id,
            request=request,
            idempotency_key=idempotency_key,
            trace_id=trace_id,
            now=self._clock(),
            lease=lease,  # the creator holds it from the first write: no racer can take it
        )
        counter = self._take_slot(user_id, running_cap)
        month = usage_month(job.created_at)
        usage = self._count_request(user_id, month, request.duration, video_quota_s)
        put: dict[str, Any] = {
            "TableName": self._table,
            "Item": job_to_item(job),
            "ConditionExpression": "attribute_not_exists(job_id)",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        items: list[dict[str, Any]] = [{"Put": put}, {"Update": counter}, {"Update": usage}]
        if rate is not None:
            items.append({"Update": self._count_hit(rate)})
        reasons = await self._transact(
            "create_job",
            lambda: self._client.transact_write_items(TransactItems=items),  # type: ignore[arg-type]
        )
        if reasons is not None:
            job_refused, counter_refused, usage_refused = reasons[:3]
            if job_refused is not None:  # the key's job exists: a replay or a conflict
                existing = await self._existing(job_id, job_refused)
                conflict = existing.creation_conflict(user_id, request, idempotency_key or "")
                if conflict is not None:
                    raise conflict from None
                self._remember(existing)
                return CreatedJob(existing, created=False)
            if rate is not None and reasons[3] is not None:
                raise RateWindowFull(rate.retry_after_s)
            if counter_refused is not None:
                found = counter_refused.get(RUNNING_COUNTER_ATTRIBUTE, {"N": "0"})
                admit_running(user_id, int(deserialize(found)), running_cap)
                # it admits: the counter moved between the condition and now
            if usage_refused is not None:
                requested = usage_refused.get("requested_seconds", {"N": "0"})
                admit_quota(
                    user_id, month, int(deserialize(requested)), request.duration, video_quota_s
                )
            raise WriteRaced("create_job", job_id)  # the rules allow it; the store did not
        self._remember(job)
        log.info("job_created", job_id=job_id, user_id=user_id)
        return CreatedJob(job, created=True)

    @_guarded
    async def running_jobs(self, user_id: str) -> int:
        response = await self._client.get_item(
            TableName=self._table,
            Key={"job_id": {"S": running_counter_key(user_id)}},
            ConsistentRead=True,
        )
        value = response.get("Item", {}).get(RUNNING_COUNTER_ATTRIBUTE)
        return int(deserialize(value)) if value else 0

    @_guarded
    async def monthly_usage(self, user_id: str, month: str) -> MonthlyUsage:
        response = await self._client.get_item(
            TableName=self._table,
            Key={"job_id": {"S": usage_counter_key(user_id, month)}},
            ConsistentRead=True,
        )
        item = response.get("Item", {})
        fields = {name: deserialize(value) for name, value in item.items() if name != "job_id"}
        return MonthlyUsage.model_validate({**fields, "month": month})

    @_guarded
    async def get_job(self, job_id: str) -> Job:
        response = await self._client.get_item(
            TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        if "Item" not in response:
            raise JobNotFound(job_id)
        return self._remember(item_to_job(response["Item"]))

    async def get_jobs(self, job_ids: Collection[str]) -> dict[str, Job]:
        items = await batch_get_items(self._client, self._table, sorted(set(job_ids)), "get_jobs")
        jobs = (self._remember(item_to_job(item)) for item in items)
        return {job.job_id: job for job in jobs}

    @_guarded
    async def get_jobs_by_user(
        self,
        user_id: str,
        *,
        limit: int = 20,
        cursor: str | None = None,
        status: JobStatus | None = None,
    ) -> JobPage:
        check_page_limit(limit)
        start_key = _start_key(decode_cursor(cursor, user_id)) if cursor else None
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self._index,
            "KeyConditionExpression": "user_id = :user",
            "ExpressionAttributeValues": {":user": {"S": user_id}},
            "ScanIndexForward": False,
        }
        if status is not None:
            query["FilterExpression"] = "#status = :status"
            query["ExpressionAttributeNames"] = {"#status": "status"}
            query["ExpressionAttributeValues"][":status"] = {"S": status.value}
        jobs: list[Job] = []
        while True:
            # Unfiltered, a page is exactly what is missing; filtered, read wider pages so a
            # user with few matches among many jobs does not cost one query per `limit` items.
            page_args = dict(query, Limit=limit - len(jobs) if status is None else 100)
            if start_key:
                page_args["ExclusiveStartKey"] = start_key
            response = await self._client.query(**page_args)
            for item in response.get("Items", []):
                jobs.append(item_to_job(item))
                if len(jobs) == limit:
                    last = jobs[-1]
                    more = item is not response["Items"][-1] or "LastEvaluatedKey" in response
                    return JobPage(jobs, encode_cursor(user_id, last) if more else None)
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return JobPage(jobs, None)

    @_guarded
    async def count_jobs(
        self, user_id: str, *, statuses: Collection[JobStatus], created_after: float
    ) -> int:
        """Counted by the index itself (Select=COUNT, the window in the key condition), so no
        item crosses the wire and older history is never read."""
        wanted = {f":status{i}": {"S": status.value} for i, status in enumerate(statuses)}
        if not wanted:
            return 0
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self._index,
            "KeyConditionExpression": "user_id = :user AND created_at > :after",
            "FilterExpression": f"#status IN ({', '.join(wanted)})",
            "ExpressionAttributeNames": {"#status": "status"},
            "ExpressionAttributeValues": {
                ":user": {"S": user_id},
                ":after": serialize(created_after),
                **wanted,
            },
            "Select": "COUNT",
        }
        count = 0
        while True:
            response = await self._client.query(**query)
            count += int(response.get("Count", 0))
            if "LastEvaluatedKey" not in response:
                return count
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    # -- progress ---------------------------------------------------------------------------

    @_guarded
    async def update_job_stage_with_metadata(
        self, job_id: str, stage: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
        if stage == COMPLETED:
            raise ValueError("use mark_job_complete to complete a job")
        update = self._stage_update(stage).set_in_map("metadata", metadata or {})
        await self._write(job_id, update, stage=stage, returning=False)

    @_guarded
    async def record_piece(
        self,
        job_id: str,
        *,
        stage: str | None,
        metadata: Mapping[str, Any],
        expect: Mapping[str, Any],
    ) -> None:
        update = _Update(self._clock()) if stage is None else self._stage_update(stage)
        update.set_in_map("metadata", metadata)
        checks = []
        for index, (name, value) in enumerate(expect.items()):
            update.names["#metadata"] = "metadata"
            update.names[f"#expect_{index}"] = name
            if value is None:
                checks.append(f"attribute_not_exists(#metadata.#expect_{index})")
            else:
                update.values[f":expect_{index}"] = serialize(value, f"metadata.{name}")
                checks.append(f"#metadata.#expect_{index} = :expect_{index}")
        condition = _active_condition(update, stage, " AND ".join(checks) or None)
        try:
            await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=update.expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            item = getattr(exc, "response", {}).get("Item")
            refusal = _refusal(job_id, item, stage, None, 0.0)
            if isinstance(refusal, WriteRaced) and item:
                raise PieceRaced(job_id, item_to_job(item)) from None
            raise refusal from None

    @_guarded
    async def record_and_read_piece(
        self, job_id: str, *, metadata: Mapping[str, Any], expect: Mapping[str, Any]
    ) -> Job:
        update = _Update(self._clock()).set_in_map("metadata", metadata)
        checks = []
        for index, (name, value) in enumerate(expect.items()):
            update.names["#metadata"] = "metadata"
            update.names[f"#expect_{index}"] = name
            if value is None:
                checks.append(f"attribute_not_exists(#metadata.#expect_{index})")
            else:
                update.values[f":expect_{index}"] = serialize(value, f"metadata.{name}")
                checks.append(f"#metadata.#expect_{index} = :expect_{index}")
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=update.expression,
                ConditionExpression=_active_condition(update, None, " AND ".join(checks) or None),
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            item = getattr(exc, "response", {}).get("Item")
            refusal = _refusal(job_id, item, None, None, 0.0)
            if isinstance(refusal, WriteRaced) and item:
                raise PieceRaced(job_id, item_to_job(item)) from None
            raise refusal from None
        return item_to_job(response["Attributes"])

    @_guarded
    async def embed_script(
        self,
        job_id: str,
        script: Script,
        metadata: Mapping[str, Any] | None = None,
        *,
        usage: JobUsage | None = None,
        stage: str = SCRIPT_COMPLETE,
    ) -> None:
        update = _script_fields(self._stage_update(stage), script)
        update.set_in_map("metadata", metadata or {})
        if usage is not None:
            update.set("usage", usage.model_dump(mode="json", exclude_none=True))
        if stage == AWAITING_REVIEW:  # it waits for its owner: it leaves the running count
            await self._release_slot(job_id, update, stage=stage)
        else:
            await self._write(job_id, update, stage=stage, returning=False)

    @_guarded
    async def replace_script(self, job_id: str, script: Script, *, version: int) -> Job:
        update = _script_fields(_Update(self._clock()), script)
        update.values[":expected_version"] = {"N": str(version)}
        return await self._review_write(job_id, update, also="version = :expected_version")

    @_guarded
    async def approve_review(
        self, job: Job, lease: LeaseClaim, *, running_cap: int | None = None
    ) -> Job:
        now = self._clock()
        update = self._stage_update(SCRIPT_APPROVED).set(OUTBOX_ATTRIBUTE, OUTBOX_EVENT)
        update.sets.append("#leases.#step = :lease")
        update.names.update({"#leases": "leases", "#step": lease.step})
        update.values[":lease"] = serialize(lease.record(now))
        if job.running_slot:  # it kept its slot (a retried job back in review)
            update.values[":true"] = {"BOOL": True}
            return await self._review_write(job.job_id, update, also="running_slot = :true")
        update.set("running_slot", True)
        update.names["#stage"] = "stage"
        update.values[":awaiting_review"] = {"S": AWAITING_REVIEW}
        update.values[":no_slot"] = {"BOOL": False}
        job_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job.job_id}},
            "UpdateExpression": update.expression,
            "ConditionExpression": _active_condition(
                update,
                None,
                "#stage = :awaiting_review AND "
                "(attribute_not_exists(running_slot) OR running_slot = :no_slot)",
            ),
            "ExpressionAttributeNames": update.names,
            "ExpressionAttributeValues": update.values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        refused = await self._update_taking_slot("approve_review", job, job_update, running_cap)
        if refused is not None:
            found = await self._existing(job.job_id, refused)
            raise NotInReview(job.job_id, found.stage, found.status.value)
        return self._remember(await self.get_job(job.job_id))

    async def _review_write(self, job_id: str, update: _Update, also: str | None = None) -> Job:
        """One conditional write to a job awaiting review (and `also`), answering the job as it
        left it; a refusal says why from the item as the write found it."""
        update.names["#stage"] = "stage"
        update.values[":awaiting_review"] = {"S": AWAITING_REVIEW}
        condition = _active_condition(update, None, "#stage = :awaiting_review")
        if also is not None:
            condition += f" AND {also}"
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=update.expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            item = getattr(exc, "response", {}).get("Item")
            if not item:
                raise JobNotFound(job_id) from None
            found = item_to_job(item)
            if not found.in_review:
                raise NotInReview(job_id, found.stage, found.status.value) from None
            raise ScriptChanged(job_id) from None
        return item_to_job(response["Attributes"])

    @_guarded
    async def start_version(
        self,
        job: Job,
        start: VersionStart,
        *,
        lease: LeaseClaim | None = None,
        video_quota_s: int | None = None,
    ) -> Job:
        """One transaction: the job's UpdateItem guarded by the status and render version
        read (the job running again at `start.version`, its stage and stage_seq afresh for that
        version, the changed script, the version's render plan merged into `metadata`, the
        version records, owing the version's work items (the outbox marker; with `lease`, the
        caller holds the announcing step); the newest version's `video_key`, `completed_at`
        and `error_message` go) and the month's usage item `ADD versions 1,
        requested_seconds <the version's>` (with a quota: only while it stays within it)."""
        now = self._clock()
        update = (
            self._stage_update(start.stage)
            .set("render_version", start.version)
            .set("versions", start.records)
            .set("scenes", start.scenes)
            .set("audio_spec", start.audio_spec)
            .set("leases", {lease.step: lease.record(now)} if lease else {})
            .set(OUTBOX_ATTRIBUTE, OUTBOX_EVENT)
            .set_in_map("metadata", start.metadata)
            .remove("video_key")
            .remove("completed_at")
            .remove("error_message")
        )
        update.names["#render_version"] = "render_version"
        update.values.update(
            {
                ":from_status": {"S": start.from_status.value},
                ":from_version": {"N": str(start.version - 1)},
            }
        )
        job_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job.job_id}},
            "UpdateExpression": update.expression,
            "ConditionExpression": "attribute_exists(job_id) AND #status = :from_status AND "
            "(#render_version = :from_version OR "
            "(attribute_not_exists(#render_version) AND :from_version = :one))",
            "ExpressionAttributeNames": update.names,
            "ExpressionAttributeValues": {
                k: v for k, v in update.values.items() if k not in (":pending", ":processing")
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        month = usage_month(now)
        asked = start.requested_seconds
        usage = self._count_request(job.user_id, month, asked, video_quota_s, counter="versions")
        reasons = await self._transact(
            "start_version",
            lambda: self._client.transact_write_items(
                TransactItems=[{"Update": job_update}, {"Update": usage}]  # type: ignore[typeddict-item]
            ),
        )
        if reasons is not None:
            job_refused, usage_refused = reasons
            if job_refused is not None:
                if not job_refused:
                    raise JobNotFound(job.job_id)
                raise VersionRaced(item_to_job(job_refused))
            if usage_refused is not None:
                requested = usage_refused.get("requested_seconds", {"N": "0"})
                admit_quota(job.user_id, month, int(deserialize(requested)), asked, video_quota_s)
            raise WriteRaced("start_version", job.job_id)
        log.info("version_started", job_id=job.job_id, version=start.version)
        return await self.get_job(job.job_id)

    @_guarded
    async def mark_job_complete(
        self,
        job_id: str,
        video_key: str,
        metadata: Mapping[str, Any] | None = None,
        *,
        usage: JobUsage | None = None,
        version_usage: VersionUsage | None = None,
    ) -> None:
        """With `usage`, the same transaction records it on the job and adds it to the
        month's totals of the job's user (the month it was created in); with `version_usage`
        (a regenerated version's), it adds that to its month's totals as a completed version:
        a repeat finds the job ended and adds nothing."""
        now = self._clock()
        update = (
            _Update(now)
            .set("stage", COMPLETED)
            .set("stage_seq", stage_seq(COMPLETED))
            .set("video_key", video_key)
            .set("completed_at", now)
            .set_in_map("metadata", metadata or {})
        )
        update.sets.append("#status = :completed")
        update.values[":completed"] = {"S": JobStatus.COMPLETED.value}
        if usage is not None:
            update.set("usage", usage.model_dump(mode="json", exclude_none=True))
        await self._end(
            job_id, update.ended(), stage=COMPLETED, usage=usage, version_usage=version_usage
        )

    @_guarded
    async def mark_job_failed(self, job_id: str, error_message: str) -> Job:
        now = self._clock()
        update = _Update(now).set("error_message", error_message[:2000]).set("completed_at", now)
        update.sets.append("#status = :failed")
        update.values[":failed"] = {"S": JobStatus.FAILED.value}
        ended = await self._end(job_id, update.ended(), stage=None)
        job = item_to_job(ended["Attributes"]) if ended else await self.get_job(job_id)
        log.warning("job_failed", job_id=job_id, stage=job.stage, error_message=error_message)
        return job

    @_guarded
    async def reopen_job(
        self, job: Job, *, running_cap: int | None = None, lease: LeaseClaim | None = None
    ) -> Job:
        """One transaction: the job back to running at its next attempt (only while it is the
        failed attempt that was read), owing its announcement (the outbox marker; with `lease`,
        the caller holds the announcing step), and its user's counter `ADD running 1` (with a
        cap)."""
        refusal = job.retry_refusal()
        if refusal is not None:
            raise refusal
        changes = job.reopened(self._clock(), lease)
        update = _Update(changes["updated_at"])
        for name in ("status", "attempt", "attempts", "leases", "running_slot", "outbox"):
            update.set(name, changes[name])
        update.names.update({"#error_message": "error_message", "#completed_at": "completed_at"})
        update.values.update(
            {":failed": {"S": JobStatus.FAILED.value}, ":was": {"N": str(job.attempt)}}
        )
        job_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job.job_id}},
            "UpdateExpression": update.expression + " REMOVE #error_message, #completed_at",
            "ConditionExpression": "attribute_exists(job_id) AND #status = :failed AND "
            "(#attempt = :was OR (attribute_not_exists(#attempt) AND :was = :one))",
            "ExpressionAttributeNames": update.names,
            "ExpressionAttributeValues": {
                k: v for k, v in update.values.items() if k not in (":pending", ":processing")
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        refused = await self._update_taking_slot("reopen_job", job, job_update, running_cap)
        if refused is not None:
            current = await self._existing(job.job_id, refused)
            raise current.retry_refusal() or JobNotRetryable(
                job.job_id, f"attempt {current.attempt} was started already"
            )
        log.info("job_reopened", job_id=job.job_id, attempt=changes["attempt"])
        return self._remember(await self.get_job(job.job_id))

    async def _update_taking_slot(
        self, operation: str, job: Job, job_update: dict[str, Any], running_cap: int | None
    ) -> dict[str, Any] | None:
        """One transaction: `job_update` on the job and one of its user's running slots
        (`_take_slot`). None when it applied; the job's item as the refusal found it when the
        job's condition refused. A full cap raises the running limit's refusal; a counter that
        moved between the condition and now, `WriteRaced`."""
        reasons = await self._transact(
            operation,
            lambda: self._client.transact_write_items(
                TransactItems=[
                    {"Update": job_update},  # type: ignore[typeddict-item]
                    {"Update": self._take_slot(job.user_id, running_cap)},  # type: ignore[typeddict-item]
                ]
            ),
        )
        if reasons is None:
            return None
        job_refused, counter_refused = reasons
        if job_refused is not None:
            return job_refused
        if counter_refused is not None:
            found = counter_refused.get(RUNNING_COUNTER_ATTRIBUTE, {"N": "0"})
            admit_running(job.user_id, int(deserialize(found)), running_cap)
        raise WriteRaced(operation, job.job_id)

    def _take_slot(self, user_id: str, running_cap: int | None) -> dict[str, Any]:
        """The counter half of a transaction that starts a job: `ADD running 1`, with a cap
        only while `running < cap`."""
        counter: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": running_counter_key(user_id)}},
            "UpdateExpression": "ADD #running :one",
            "ExpressionAttributeNames": {"#running": RUNNING_COUNTER_ATTRIBUTE},
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
        if running_cap is not None:
            counter["ConditionExpression"] = "attribute_not_exists(#running) OR #running < :cap"
            counter["ExpressionAttributeValues"][":cap"] = {"N": str(running_cap)}
            counter["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return counter

    def _count_request(
        self, user_id: str, month: str, asked_s: int, quota_s: int | None, counter: str = "jobs"
    ) -> dict[str, Any]:
        """The usage half of a create (or of a version's start, `counter` "versions"): the
        month's `ADD jobs 1, requested_seconds asked`, with a quota only while
        `requested_seconds + asked <= quota`."""
        update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": usage_counter_key(user_id, month)}},
            "UpdateExpression": "ADD #jobs :one, #requested :asked",
            "ExpressionAttributeNames": {"#jobs": counter, "#requested": "requested_seconds"},
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":asked": {"N": str(asked_s)}},
        }
        if quota_s is not None:
            room = quota_s - asked_s  # below 0 nothing is room enough, not even a first job
            update["ConditionExpression"] = (
                "#requested <= :room"
                if room < 0
                else "attribute_not_exists(#requested) OR #requested <= :room"
            )
            update["ExpressionAttributeValues"][":room"] = {"N": str(room)}
            update["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return update

    def _count_hit(self, rate: RateWindow) -> dict[str, Any]:
        """The rate half of a create: the window's `ADD hits 1` while `hits < limit`."""
        return {
            "TableName": self._table,
            "Key": {"job_id": {"S": rate.key}},
            "UpdateExpression": "ADD #hits :one SET #ttl = if_not_exists(#ttl, :expires)",
            "ConditionExpression": "attribute_not_exists(#hits) OR #hits < :limit",
            "ExpressionAttributeNames": {"#hits": RATE_HITS_ATTRIBUTE, "#ttl": self._ttl},
            "ExpressionAttributeValues": {
                ":one": {"N": "1"},
                ":limit": {"N": str(rate.limit)},
                ":expires": {"N": str(rate.expires_at)},
            },
        }

    @_guarded
    async def record_published(self, job_id: str, event_type: str, event_id: str) -> Job:
        """Note that an event was published for this job (bookkeeping; allowed after the end);
        recording the owed announcement removes the job's outbox marker in the same write."""
        expression = "SET #published.#type = :event_id, updated_at = :now"
        names = {"#published": "published", "#type": event_type}
        if clears_outbox(event_type):
            expression += " REMOVE #outbox"
            names["#outbox"] = OUTBOX_ATTRIBUTE
        response = await self._update_item(
            job_id,
            expression,
            "attribute_exists(job_id)",
            names,
            {":event_id": {"S": event_id}, ":now": serialize(self._clock())},
        )
        if response is None:
            raise JobNotFound(job_id)
        return response

    @_guarded
    async def unannounced_jobs(self, *, created_before: float, limit: int = 100) -> list[str]:
        """Up to `limit` jobs created before `created_before` that still owe their announcement,
        oldest first: one Query of the sparse outbox index (keys only)."""
        check_page_limit(limit)
        query: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": self._outbox_index,
            "KeyConditionExpression": "#outbox = :event AND created_at < :before",
            "ExpressionAttributeNames": {"#outbox": OUTBOX_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":event": {"S": OUTBOX_EVENT},
                ":before": serialize(created_before),
            },
            "ScanIndexForward": True,
        }
        found: list[str] = []
        while len(found) < limit:
            response = await self._client.query(**query, Limit=limit - len(found))
            found += [str(item["job_id"]["S"]) for item in response.get("Items", [])]
            if "LastEvaluatedKey" not in response:
                break
            query["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        return found

    # -- leases: one worker at a time per step, with an expiry so a crash does not block ---

    @_guarded
    async def acquire_lease(
        self,
        job_id: str,
        step: str,
        holder: str,
        seconds: float,
        *,
        stage: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        message: str | None = None,
    ) -> Job:
        """Take the step's lease (free, expired or already ours) in one conditional write; with
        `stage`, the same write moves the job there (never backwards) and merges `metadata`."""
        now = self._clock()
        update = _Update(now) if stage is None else self._stage_update(stage)
        update.set_in_map("metadata", metadata or {})
        update.sets.append("#leases.#step = :lease")
        update.names.update(
            {"#leases": "leases", "#step": step, "#until": "until", "#holder": "holder"}
        )
        update.values.update(
            {
                ":lease": serialize(LeaseClaim(step, holder, seconds, message).record(now)),
                ":holder": {"S": holder},
                ":lease_now": serialize(now),
            }
        )
        free = (
            "(attribute_not_exists(#leases.#step) OR #leases.#step.#until < :lease_now "
            "OR #leases.#step.#holder = :holder)"
        )
        claim = LeaseClaim(step, holder, seconds, message)
        response = await self._write(job_id, update, stage=stage, also=free, claim=claim, now=now)
        return item_to_job(response["Attributes"])

    @_guarded
    async def renew_lease(self, job_id: str, step: str, holder: str, seconds: float) -> None:
        """One conditional UpdateItem of the lease's expiry, refused unless `holder` holds it."""
        try:
            await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression="SET #leases.#step.#until = :until",
                ConditionExpression="#leases.#step.#holder = :holder",
                ExpressionAttributeNames={
                    "#leases": "leases",
                    "#step": step,
                    "#holder": "holder",
                    "#until": "until",
                },
                ExpressionAttributeValues={
                    ":holder": {"S": holder},
                    ":until": serialize(self._clock() + seconds),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            item = getattr(exc, "response", {}).get("Item")
            if not item:
                raise JobNotFound(job_id) from None
            if not item_to_job(item).is_terminal:
                raise LeaseLost(job_id, step, holder) from None

    @_guarded
    async def release_lease(self, job_id: str, step: str, holder: str) -> None:
        await self._update_item(
            job_id,
            "REMOVE #leases.#step",
            "#leases.#step.#holder = :holder",
            {"#leases": "leases", "#step": step, "#holder": "holder"},
            {":holder": {"S": holder}},
        )

    @_guarded
    async def delete_job(self, job_id: str) -> None:
        try:
            await self._client.delete_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                ConditionExpression="attribute_exists(job_id)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            raise JobNotFound(job_id) from None

    # -- internals --------------------------------------------------------------------------

    def _stage_update(self, stage: str) -> _Update:
        update = _Update(self._clock()).set("stage", stage).set("stage_seq", stage_seq(stage))
        update.sets.append("#status = :new_status")
        update.values[":new_status"] = {"S": status_for_stage(stage).value}
        return update

    async def _write(
        self,
        job_id: str,
        update: _Update,
        *,
        stage: str | None,
        also: str | None = None,
        claim: LeaseClaim | None = None,
        now: float = 0.0,
        returning: bool = True,
    ) -> Any:
        """One conditional UpdateItem on an active job (and, with `stage`, one not past it),
        answering the job as it left it (`returning`) or nothing; a refusal is explained by
        `Job.refusal` from the item as the write found it (ALL_OLD): no item, no job."""
        condition = _active_condition(update, stage, also)
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=update.expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=update.names,
                ExpressionAttributeValues=update.values,
                ReturnValues="ALL_NEW" if returning else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            item = getattr(exc, "response", {}).get("Item")
            raise _refusal(job_id, item, stage, claim, now) from None
        if returning and "Attributes" in response:
            self._remember(item_to_job(response["Attributes"]))
        return response

    async def _end(
        self,
        job_id: str,
        update: _Update,
        *,
        stage: str | None,
        usage: JobUsage | None = None,
        version_usage: VersionUsage | None = None,
    ) -> Any:
        """A terminal write: on a job holding a running slot (or with `usage` to count), one
        transaction of the job's conditional update, its user's counter `ADD running -1` and
        the month's usage totals `ADD ...` (a repeat finds the job ended and releases and adds
        nothing), answering None; otherwise `_write`'s UpdateItem."""
        return await self._release_slot(
            job_id, update, stage=stage, usage=usage, version_usage=version_usage
        )

    async def _release_slot(
        self,
        job_id: str,
        update: _Update,
        *,
        stage: str | None,
        usage: JobUsage | None = None,
        version_usage: VersionUsage | None = None,
    ) -> Any:
        """`update` as a write that gives back the job's running slot, if it holds one: its
        end, or its stop to await review (see `_end`)."""
        owner, holds, month = await self._slot_owner(job_id)
        if not holds and usage is None and version_usage is None:
            return await self._write(job_id, update, stage=stage)
        update.sets.append("running_slot = :released")
        update.values[":released"] = {"BOOL": False}
        job_update: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"job_id": {"S": job_id}},
            "UpdateExpression": update.expression,
            "ConditionExpression": _active_condition(update, stage, None),
            "ExpressionAttributeNames": update.names,
            "ExpressionAttributeValues": update.values,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        items: list[dict[str, Any]] = [{"Update": job_update}]
        if holds:
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"job_id": {"S": running_counter_key(owner)}},
                        "UpdateExpression": "ADD #running :minus_one",
                        "ExpressionAttributeNames": {"#running": RUNNING_COUNTER_ATTRIBUTE},
                        "ExpressionAttributeValues": {":minus_one": {"N": "-1"}},
                    }
                }
            )
        if usage is not None:
            items.append({"Update": self._count_usage(owner, month, usage)})
        if version_usage is not None:
            items.append(
                {
                    "Update": self._count_usage(
                        owner, version_usage.month, version_usage.usage, "completed_versions"
                    )
                }
            )
        reasons = await self._transact(
            "end_job",
            lambda: self._client.transact_write_items(TransactItems=items),  # type: ignore[arg-type]
        )
        if reasons is not None:
            raise _refusal(job_id, reasons[0], stage, None, 0.0)
        self._slots.pop(job_id, None)
        return None

    def _count_usage(
        self, user_id: str, month: str, usage: JobUsage, completed: str = "completed_jobs"
    ) -> dict[str, Any]:
        """The month's totals `ADD completed_jobs 1, <each counter> <amount>, cost_usd` (a
        version's: `completed_versions 1`)."""
        amounts: dict[str, Any] = {completed: 1, "cost_usd": usage.cost_usd}
        amounts.update({name: getattr(usage, name) for name in COUNTED_FIELDS})
        names = {f"#u{i}": name for i, name in enumerate(amounts)}
        values = {f":u{i}": _number(amount) for i, amount in enumerate(amounts.values())}
        adds = ", ".join(f"#u{i} :u{i}" for i in range(len(amounts)))
        return {
            "TableName": self._table,
            "Key": {"job_id": {"S": usage_counter_key(user_id, month)}},
            "UpdateExpression": f"ADD {adds}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    async def _slot_owner(self, job_id: str) -> tuple[str, bool, str]:
        """The job's user, whether the job holds a running slot and the month it was created
        in, from what this process saw of the job, else from one projected read."""
        if job_id in self._slots:
            return self._slots[job_id]
        response = await self._client.get_item(
            TableName=self._table,
            Key={"job_id": {"S": job_id}},
            ConsistentRead=True,
            ProjectionExpression="user_id, running_slot, created_at",
        )
        item = response.get("Item")
        if not item or "user_id" not in item:
            raise JobNotFound(job_id)
        holds = bool(item.get("running_slot", {}).get("BOOL"))
        created = float(deserialize(item["created_at"])) if "created_at" in item else 0.0
        return str(item["user_id"]["S"]), holds, usage_month(created)

    def _remember(self, job: Job) -> Job:
        self._slots[job.job_id] = (job.user_id, job.running_slot, usage_month(job.created_at))
        self._slots.move_to_end(job.job_id)
        while len(self._slots) > _SLOT_CACHE_SIZE:
            self._slots.popitem(last=False)
        return job

    async def _transact(
        self, operation: str, transaction: Callable[[], Awaitable[Any]]
    ) -> list[dict[str, Any] | None] | None:
        """Runs one TransactWriteItems call; None when it applied, else per item the item as a
        refused condition found it ({} when absent) or None when that item was not refused.
        Conflicts with a concurrent transaction and throttling are retried, then
        `RepositoryUnavailable`."""
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                await transaction()
            except self._client.exceptions.TransactionCanceledException as exc:
                reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
                codes = [reason.get("Code") for reason in reasons]
                if "ConditionalCheckFailed" in codes:
                    return [
                        reason.get("Item", {})
                        if reason.get("Code") == "ConditionalCheckFailed"
                        else None
                        for reason in reasons
                    ]
                if not _RETRIED_CANCELLATIONS.intersection(codes):
                    raise
                await asyncio.sleep(random.uniform(0.01, 0.05) * 2**attempt)  # noqa: S311 (jitter)
            else:
                return None
        raise RepositoryUnavailable(operation)

    async def _update_item(
        self,
        job_id: str,
        expression: str,
        condition: str,
        names: dict[str, str],
        values: dict[str, Any],
    ) -> Job | None:
        try:
            response = await self._client.update_item(
                TableName=self._table,
                Key={"job_id": {"S": job_id}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return item_to_job(response["Attributes"])

    async def _existing(self, job_id: str, item: Mapping[str, Any]) -> Job:
        return item_to_job(item) if item else await self.get_job(job_id)


def _script_fields(update: _Update, script: Script) -> _Update:
    """`update` setting the job's embedded script (the seed's fields)."""
    plain = script.model_dump(mode="json")
    return (
        update.set("title", plain["title"])
        .set("scenes", plain["scenes"])
        .set("audio_spec", plain["audio_spec"])
        .set("script_metadata", plain["metadata"])
    )


def _number(amount: float) -> dict[str, str]:
    """A number attribute in plain decimal notation (no exponent)."""
    return {"N": format(Decimal(str(amount)), "f")}


def _active_condition(update: _Update, stage: str | None, also: str | None) -> str:
    """The condition of a write to an active job (with `stage`: one not past it)."""
    condition = f"attribute_exists(job_id) AND {_ACTIVE_CONDITION}"
    if stage is not None:
        condition += " AND #stage_seq <= :stage_seq"
        update.names["#stage_seq"] = "stage_seq"
    if also is not None:
        condition += f" AND {also}"
    return condition


def _refusal(
    job_id: str,
    item: Mapping[str, Any] | None,
    stage: str | None,
    claim: LeaseClaim | None,
    now: float,
) -> OmnigenError:
    """Why a conditional write to `job_id` was refused, from the item as it found it."""
    if not item:
        return JobNotFound(job_id)
    refusal = item_to_job(item).refusal(stage=stage, claim=claim, now=now)
    return refusal if refusal is not None else WriteRaced("write", job_id)


def _start_key(position: PagePosition) -> dict[str, Any]:
    """The index's ExclusiveStartKey for a listing resumed at `position`."""
    return {
        "job_id": {"S": position.job_id},
        "user_id": {"S": position.user_id},
        "created_at": serialize(position.created_at),
    }


__all__ = [
    "IDEMPOTENCY_NAMESPACE",
    "DynamoJobRepository",
    "decode_cursor",
    "deserialize",
    "encode_cursor",
    "job_id_for_key",
    "storage_error",
]
