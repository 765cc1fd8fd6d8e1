"""The DynamoDB job repository: the only code that touches the jobs table.

Every write is a single conditional request, so concurrent writers cannot lose each other's
updates: creation is `attribute_not_exists`, stage moves require `stage_seq <= new`, terminal
states refuse every further status change, and metadata is merged key by key. The conditions
encode the domain's rules (`Job.refusal`, `Job.lease_free_for`); a refused write is explained
by those same rules from the item as the write found it (ALL_OLD), without another read.
Storage failures leave as `RepositoryError`/`RepositoryUnavailable`, never as botocore errors.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Collection, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Concatenate, Final, ParamSpec, TypeVar

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from omnigen.shared.adapters.aws import error_code
from omnigen.shared.adapters.codec import deserialize, item_to_job, job_to_item, serialize
from omnigen.shared.domain.errors import (
    JobNotFound,
    LeaseLost,
    RepositoryError,
    RepositoryUnavailable,
    WriteRaced,
)
from omnigen.shared.domain.jobs import Job, JobRequest, LeaseClaim
from omnigen.shared.domain.rules import (
    IDEMPOTENCY_NAMESPACE,
    PagePosition,
    check_page_limit,
    decode_cursor,
    encode_cursor,
    job_id_for_key,
    new_job_id,
)
from omnigen.shared.domain.scripts import Script
from omnigen.shared.domain.stages import (
    COMPLETED,
    SCRIPT_COMPLETE,
    JobStatus,
    stage_seq,
    status_for_stage,
)
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
# Errors worth retrying later: the store is throttling or failed on its side.
_TRANSIENT_CODES: Final = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "ThrottlingException",
        "Throttling",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
    }
)


def storage_error(operation: str, exc: BotoCoreError | ClientError) -> RepositoryError:
    """The typed error for a failed store call; the details (table, endpoint, AWS text) are
    logged here and kept out of the error's message."""
    code = error_code(exc)
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    transient = isinstance(exc, BotoCoreError) or code in _TRANSIENT_CODES or status >= 500
    log.error(
        "job_store_failed",
        operation=operation,
        code=code or type(exc).__name__,
        transient=transient,
        error=str(exc),
    )
    return RepositoryUnavailable(operation) if transient else RepositoryError(operation)


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
    """Builds one UpdateItem request: SET clauses, names and values, plus a metadata merge."""

    def __init__(self, now: float) -> None:
        self.sets: list[str] = ["updated_at = :now", "version = version + :one"]
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

    @property
    def expression(self) -> str:
        return "SET " + ", ".join(self.sets)


class DynamoJobRepository:
    def __init__(self, client: DynamoDBClient, table: Table, clock: Any = time.time) -> None:
        self._client = client
        self._table = table.name
        self._index = table.gsi_name
        self._clock = clock

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
    ) -> CreatedJob:
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
        try:
            await self._client.put_item(
                TableName=self._table,
                Item=job_to_item(job),
                ConditionExpression="attribute_not_exists(job_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            existing = await self._existing(job_id, exc)
            conflict = existing.creation_conflict(user_id, request, idempotency_key or "")
            if conflict is not None:
                raise conflict from None
            return CreatedJob(existing, created=False)
        log.info("job_created", job_id=job_id, user_id=user_id)
        return CreatedJob(job, created=True)

    @_guarded
    async def get_job(self, job_id: str) -> Job:
        response = await self._client.get_item(
            TableName=self._table, Key={"job_id": {"S": job_id}}, ConsistentRead=True
        )
        if "Item" not in response:
            raise JobNotFound(job_id)
        return item_to_job(response["Item"])

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
    async def embed_script(
        self, job_id: str, script: Script, metadata: Mapping[str, Any] | None = None
    ) -> None:
        plain = script.model_dump(mode="json")
        update = (
            self._stage_update(SCRIPT_COMPLETE)
            .set("title", plain["title"])
            .set("scenes", plain["scenes"])
            .set("audio_spec", plain["audio_spec"])
            .set("script_metadata", plain["metadata"])
            .set_in_map("metadata", metadata or {})
        )
        await self._write(job_id, update, stage=SCRIPT_COMPLETE, returning=False)

    @_guarded
    async def mark_job_complete(
        self, job_id: str, video_key: str, metadata: Mapping[str, Any] | None = None
    ) -> None:
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
        await self._write(job_id, update, stage=COMPLETED, returning=False)

    @_guarded
    async def mark_job_failed(self, job_id: str, error_message: str) -> Job:
        now = self._clock()
        update = _Update(now).set("error_message", error_message[:2000]).set("completed_at", now)
        update.sets.append("#status = :failed")
        update.values[":failed"] = {"S": JobStatus.FAILED.value}
        job = item_to_job((await self._write(job_id, update, stage=None))["Attributes"])
        log.warning("job_failed", job_id=job_id, stage=job.stage, error_message=error_message)
        return job

    @_guarded
    async def record_published(self, job_id: str, event_type: str, event_id: str) -> Job:
        """Note that an event was published for this job (bookkeeping; allowed after the end)."""
        response = await self._update_item(
            job_id,
            "SET #published.#type = :event_id, updated_at = :now",
            "attribute_exists(job_id)",
            {"#published": "published", "#type": event_type},
            {":event_id": {"S": event_id}, ":now": serialize(self._clock())},
        )
        if response is None:
            raise JobNotFound(job_id)
        return response

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
        condition = f"attribute_exists(job_id) AND {_ACTIVE_CONDITION}"
        if stage is not None:
            condition += " AND #stage_seq <= :stage_seq"
            update.names["#stage_seq"] = "stage_seq"
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
                ReturnValues="ALL_NEW" if returning else "NONE",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            item = getattr(exc, "response", {}).get("Item")
            if not item:
                raise JobNotFound(job_id) from None
            refusal = item_to_job(item).refusal(stage=stage, claim=claim, now=now)
            if refusal is not None:
                raise refusal from None
            raise WriteRaced("write", job_id) from None  # the rules allow it; the store did not
        return response

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

    async def _existing(self, job_id: str, exc: Exception) -> Job:
        item = getattr(exc, "response", {}).get("Item")
        return item_to_job(item) if item else await self.get_job(job_id)


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
