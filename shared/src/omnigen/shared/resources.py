"""The one declarative description of omnigen's AWS resources.

`bootstrap` applies it to any endpoint (moto, LocalStack, AWS); terraform/ declares the same
resources and a test compares the two. Names are built from a prefix so several stacks can share
one account or one emulator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from omnigen.shared.domain.events import EventType
from omnigen.shared.domain.webhooks import WEBHOOK_EVENTS

DEFAULT_PREFIX: Final = "omnigen"
# An upstream publisher's name: its requests topic is <prefix>-job-requests-<name>.
PUBLISHER_NAME: Final = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$")
WEBHOOK_MAX_RECEIVES: Final = 13


@dataclass(frozen=True)
class Topic:
    name: str
    # Who alone may publish (a topic policy: Allow these principals, Deny everyone else); empty:
    # no policy of ours (SNS's default: the account's own principals, through IAM).
    publishers: tuple[str, ...] = ()

    def publish_policy(self, topic_arn: str) -> dict[str, object] | None:
        """The topic policy for `publishers` (the same statements as terraform/'s)."""
        if not self.publishers:
            return None
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublisherPublishes",
                    "Effect": "Allow",
                    "Principal": {"AWS": list(self.publishers)},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                },
                {
                    "Sid": "NobodyElsePublishes",
                    "Effect": "Deny",
                    "Principal": {"AWS": "*"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "ArnNotLike": {"aws:PrincipalArn": principal_patterns(self.publishers)}
                    },
                },
            ],
        }


def principal_patterns(principals: Sequence[str]) -> list[str]:
    """`aws:PrincipalArn` patterns for principals: an account (`...:root`) stands for every
    principal of that account, a role or user for itself."""
    return [p.removesuffix("root") + "*" if p.endswith(":root") else p for p in principals]


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
    # False: SQS gets SNS's envelope, which names the topic (ingest tells publishers apart so)
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
    # Origins of the web page: its uploads POST straight to the bucket (a presigned POST),
    # cross-origin, so the bucket allows POST from them (Terraform's `web_origins`, the same rule).
    web_origins: tuple[str, ...] = ()

    @property
    def cors_rules(self) -> list[dict[str, Any]]:
        """The bucket's CORS rules: none without web origins."""
        if not self.web_origins:
            return []
        return [
            {
                "AllowedMethods": ["POST"],
                "AllowedOrigins": list(self.web_origins),
                "AllowedHeaders": ["*"],
                "MaxAgeSeconds": 3600,
            }
        ]


@dataclass(frozen=True)
class BucketNotification:
    """The bucket tells `queue` of every object created under `prefix` (S3's own event JSON,
    not our envelope): how a user's upload gets checked once its bytes arrive."""

    queue: str
    prefix: str
    events: tuple[str, ...] = ("s3:ObjectCreated:*",)


@dataclass(frozen=True)
class ResourceSpec:
    prefix: str
    requests_topic: Topic
    events_topic: Topic
    ingest_queue: Queue
    scripter_queue: Queue
    renderer_queue: Queue
    outcomes_queue: Queue
    webhooks_queue: Queue
    scenes_queue: Queue  # scene requests: clip work, scaled on its own backlog
    uploads_queue: Queue  # S3's notices of users' uploads: each is checked by the renderer
    table: Table
    bucket: Bucket
    subscriptions: tuple[Subscription, ...] = field(default=())
    bucket_notifications: tuple[BucketNotification, ...] = field(default=())
    # One requests topic per upstream publisher, each publishable by that publisher alone.
    publisher_topics: tuple[Topic, ...] = field(default=())

    @property
    def topics(self) -> tuple[Topic, ...]:
        return (self.requests_topic, self.events_topic, *self.publisher_topics)

    def publisher_of(self, topic_name: str) -> str | None:
        """The upstream publisher whose own requests topic this is; None for any other topic
        (the shared requests topic included). Known from the name alone, so ingest needs no
        list of publishers to tell them apart."""
        publisher = topic_name.removeprefix(f"{self.requests_topic.name}-")
        if publisher == topic_name or not PUBLISHER_NAME.match(publisher):
            return None
        return publisher

    @property
    def queues(self) -> tuple[Queue, ...]:
        return (
            self.ingest_queue,
            self.scripter_queue,
            self.renderer_queue,
            self.outcomes_queue,
            self.webhooks_queue,
            self.scenes_queue,
            self.uploads_queue,
        )


def resource_spec(
    prefix: str = DEFAULT_PREFIX,
    bucket_name: str | None = None,
    publishers: Mapping[str, Sequence[str]] | None = None,
    web_origins: Sequence[str] = (),
) -> ResourceSpec:
    """`publishers`: upstream publisher name -> the IAM principals (account root or role ARNs)
    that alone may publish to its own requests topic, `<prefix>-job-requests-<name>`."""
    requests = Topic(f"{prefix}-job-requests")
    for name, principals in (publishers or {}).items():
        if not PUBLISHER_NAME.match(name) or not principals:
            raise ValueError(f"publisher {name!r}: needs a name like 'crm-eu' and a principal")
    publisher_topics = tuple(
        Topic(f"{requests.name}-{name}", tuple(principals))
        for name, principals in sorted((publishers or {}).items())
    )
    events = Topic(f"{prefix}-job-events")
    ingest = Queue(f"{prefix}-ingest-requests", f"{prefix}-ingest-requests-dlq", 60, 5)
    # A worker's heartbeat keeps long work invisible, so the visibility timeout is how long a
    # crashed worker's message waits before another worker picks it up (and takes the step's
    # lease, which expires as fast: it is renewed by the same heartbeat).
    scripter = Queue(f"{prefix}-scripter", f"{prefix}-scripter-dlq", 45, 5)
    renderer = Queue(f"{prefix}-renderer", f"{prefix}-renderer-dlq", 45, 4)
    outcomes = Queue(f"{prefix}-job-outcomes", f"{prefix}-job-outcomes-dlq", 60, 5)
    # Webhook delivery retries through the queue: a failed attempt hides its message for the
    # next backoff step (ChangeMessageVisibility, at most 12 h), so 13 receives at 1 min
    # doubling to 12 h (with jitter) span about a day before the DLQ; 4 days' retention
    # covers that with room for a redrive.
    webhooks = Queue(f"{prefix}-webhooks", f"{prefix}-webhooks-dlq", 30, WEBHOOK_MAX_RECEIVES)
    # Clip work on a queue of its own, so clip workers scale on its backlog alone. The audio
    # piece and "ready to compose" travel on the renderer queue: one of each per job, and the
    # task that plans a render is as able to make its audio or compose it (see docs).
    scenes = Queue(f"{prefix}-scenes", f"{prefix}-scenes-dlq", 45, 4)
    # A check decodes one file (a picture, or probes a clip): well under a minute; a file that
    # fails it three times is a dead letter, and its upload stays `pending` until it expires.
    uploads = Queue(f"{prefix}-uploads", f"{prefix}-uploads-dlq", 60, 3)
    return ResourceSpec(
        prefix=prefix,
        requests_topic=requests,
        events_topic=events,
        ingest_queue=ingest,
        scripter_queue=scripter,
        renderer_queue=renderer,
        outcomes_queue=outcomes,
        webhooks_queue=webhooks,
        scenes_queue=scenes,
        uploads_queue=uploads,
        bucket_notifications=(BucketNotification(uploads.name, "uploads/"),),
        table=Table(f"{prefix}-jobs"),
        bucket=Bucket(bucket_name or f"{prefix}-assets", tuple(web_origins)),
        publisher_topics=publisher_topics,
        subscriptions=(
            # No filter: the requests topics carry job requests only, and an upstream sender
            # may leave out the `event_type` attribute; whatever arrives gets an answer from
            # ingest (a job, a `job.rejected`, or the DLQ when the sender cannot be identified).
            # No raw delivery: SNS's envelope names the topic, hence the publisher, whose rule
            # says which user ids it may act for (omnigen.ingest.trust).
            Subscription(requests.name, ingest.name, None, raw_message_delivery=False),
            *(Subscription(t.name, ingest.name, None, False) for t in publisher_topics),
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
            Subscription(
                events.name,
                scenes.name,
                (EventType.SCENE_REQUESTED.value, EventType.KEYFRAME_REQUESTED.value),
            ),
            Subscription(
                events.name,
                outcomes.name,
                (
                    EventType.JOB_COMPLETED.value,
                    EventType.JOB_FAILED.value,
                    EventType.JOB_REJECTED.value,
                    EventType.SCRIPT_AWAITING_REVIEW.value,  # a job waits for its owner
                ),
            ),
            Subscription(events.name, webhooks.name, WEBHOOK_EVENTS),
        ),
    )
