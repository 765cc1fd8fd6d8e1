"""The one declarative description of omnigen's AWS resources.

`bootstrap` applies it to any endpoint (moto, LocalStack, AWS); terraform/ declares the same
resources and a test compares the two. Names are built from a prefix so several stacks can share
one account or one emulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from omnigen.shared.domain.events import EventType

DEFAULT_PREFIX: Final = "omnigen"


@dataclass(frozen=True)
class Topic:
    name: str


@dataclass(frozen=True)
class Queue:
    name: str
    dlq_name: str
    visibility_timeout_s: int
    max_receive_count: int
    retention_s: int = 4 * 24 * 3600
    dlq_retention_s: int = 14 * 24 * 3600


@dataclass(frozen=True)
class Subscription:
    topic: str
    queue: str
    event_types: tuple[str, ...] | None  # None: every event on the topic
    raw_message_delivery: bool = True

    @property
    def filter_policy(self) -> dict[str, list[str]] | None:
        return None if self.event_types is None else {"event_type": list(self.event_types)}


@dataclass(frozen=True)
class Index:
    """A global secondary index (string hash key, number range key)."""

    name: str
    hash_key: str
    range_key: str
    projection: str  # "ALL" | "KEYS_ONLY"


@dataclass(frozen=True)
class Table:
    name: str
    hash_key: str = "job_id"
    gsi_name: str = "UserJobsIndex"
    gsi_hash_key: str = "user_id"
    gsi_range_key: str = "created_at"
    ttl_attribute: str = "ttl"
    # Sparse: only jobs that still owe `job.accepted` carry `outbox` (domain.jobs.OUTBOX_EVENT),
    # so the index holds exactly the announcements not made yet, oldest first by `created_at`.
    # Keys only: a job costs the index two small writes (its create, its announcement), all under
    # one hash key value, i.e. one index partition (about 500 creates/s before it throttles).
    outbox_index: str = "OutboxIndex"
    outbox_hash_key: str = "outbox"

    @property
    def indexes(self) -> tuple[Index, ...]:
        return (
            Index(self.gsi_name, self.gsi_hash_key, self.gsi_range_key, "ALL"),
            Index(self.outbox_index, self.outbox_hash_key, self.gsi_range_key, "KEYS_ONLY"),
        )

    @property
    def attribute_types(self) -> dict[str, str]:
        """Every key attribute of the table and its indexes, with its DynamoDB type."""
        types = {self.hash_key: "S"}
        for index in self.indexes:
            types[index.hash_key] = "S"
            types[index.range_key] = "N"
        return types


@dataclass(frozen=True)
class Bucket:
    name: str


@dataclass(frozen=True)
class ResourceSpec:
    prefix: str
    requests_topic: Topic
    events_topic: Topic
    ingest_queue: Queue
    scripter_queue: Queue
    renderer_queue: Queue
    outcomes_queue: Queue
    scenes_queue: Queue  # scene requests: clip work, scaled on its own backlog
    table: Table
    bucket: Bucket
    subscriptions: tuple[Subscription, ...] = field(default=())

    @property
    def topics(self) -> tuple[Topic, ...]:
        return (self.requests_topic, self.events_topic)

    @property
    def queues(self) -> tuple[Queue, ...]:
        return (
            self.ingest_queue,
            self.scripter_queue,
            self.renderer_queue,
            self.outcomes_queue,
            self.scenes_queue,
        )


def resource_spec(prefix: str = DEFAULT_PREFIX, bucket_name: str | None = None) -> ResourceSpec:
    requests = Topic(f"{prefix}-job-requests")
    events = Topic(f"{prefix}-job-events")
    ingest = Queue(f"{prefix}-ingest-requests", f"{prefix}-ingest-requests-dlq", 60, 5)
    # A worker's heartbeat keeps long work invisible, so the visibility timeout is how long a
    # crashed worker's message waits before another worker picks it up (and takes the step's
    # lease, which expires as fast: it is renewed by the same heartbeat).
    scripter = Queue(f"{prefix}-scripter", f"{prefix}-scripter-dlq", 45, 5)
    renderer = Queue(f"{prefix}-renderer", f"{prefix}-renderer-dlq", 45, 4)
    outcomes = Queue(f"{prefix}-job-outcomes", f"{prefix}-job-outcomes-dlq", 60, 5)
    # Clip work on a queue of its own, so clip workers scale on its backlog alone. The audio
    # piece and "ready to compose" travel on the renderer queue: one of each per job, and the
    # task that plans a render is as able to make its audio or compose it (see docs).
    scenes = Queue(f"{prefix}-scenes", f"{prefix}-scenes-dlq", 45, 4)
    return ResourceSpec(
        prefix=prefix,
        requests_topic=requests,
        events_topic=events,
        ingest_queue=ingest,
        scripter_queue=scripter,
        renderer_queue=renderer,
        outcomes_queue=outcomes,
        scenes_queue=scenes,
        table=Table(f"{prefix}-jobs"),
        bucket=Bucket(bucket_name or f"{prefix}-assets"),
        subscriptions=(
            # No filter: the requests topic carries job requests only, and an upstream sender
            # may leave out the `event_type` attribute; whatever arrives gets an answer from
            # ingest (a job, a `job.rejected`, or the DLQ when the sender cannot be identified).
            Subscription(requests.name, ingest.name, None),
            Subscription(events.name, scripter.name, (EventType.JOB_ACCEPTED.value,)),
            Subscription(
                events.name,
                renderer.name,
                (
                    EventType.SCRIPT_READY.value,
                    EventType.AUDIO_REQUESTED.value,
                    EventType.COMPOSE_REQUESTED.value,
                ),
            ),
            Subscription(events.name, scenes.name, (EventType.SCENE_REQUESTED.value,)),
            Subscription(
                events.name,
                outcomes.name,
                (
                    EventType.JOB_COMPLETED.value,
                    EventType.JOB_FAILED.value,
                    EventType.JOB_REJECTED.value,
                ),
            ),
        ),
    )
