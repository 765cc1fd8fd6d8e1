"""The message contract between the SQS consumer runtime and the code it runs.

What a handler is given (`MessageContext`), what it may raise to say "retrying cannot help"
(`PermanentFailure`), the hooks the runtime calls when a message is poison or exhausted, and
how a consumer is tuned. Both the runtime and the workflow import this module; it imports
only the domain, so neither depends on the other.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from omnigen.shared.domain.events import Event

EventT = TypeVar("EventT", bound=Event)


class PermanentFailure(Exception):
    """Raised by a handler when retrying cannot help; the message is settled, not retried."""


class RetryLater(Exception):
    """Raised by a handler that knows when to try again: the message comes back after
    `delay_s` seconds (SQS allows up to 12 h) instead of the consumer's own backoff."""

    def __init__(self, reason: str, delay_s: int) -> None:
        super().__init__(reason)
        self.delay_s = delay_s


class WorkLost(Exception):
    """Raised by a keep-alive when the work it keeps alive belongs to someone else now (the
    step's lease was taken over): the runtime stops the handler at once."""


KeepAlive = Callable[[], Awaitable[None]]
"""Called by the runtime at every heartbeat while the handler runs; raising `WorkLost` stops
the handler, any other error is retried until the message could be handed to another worker."""


@dataclass(frozen=True)
class MessageContext:
    """One receive of one SQS message. The same message received again (a redelivery) has the
    same `message_id` and a new `receipt_handle`, so `receive_token` names this receive."""

    message_id: str
    receipt_handle: str
    receive_count: int
    max_receive_count: int
    body: str
    keep_alive: list[KeepAlive] = field(default_factory=list, compare=False, repr=False)
    # The SNS topic the message came through, when the consumer reads SNS envelopes (the body
    # is then the published message); None: raw delivery, or sent to the queue directly.
    topic_arn: str | None = None
    # The message's string attributes (e.g. the W3C `traceparent` of the span that published
    # it) and when SQS got it (epoch seconds; None when SQS did not say).
    attributes: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    sent_at: float | None = field(default=None, compare=False, repr=False)

    @property
    def is_last_attempt(self) -> bool:
        return self.receive_count >= self.max_receive_count

    @property
    def receive_token(self) -> str:
        return hashlib.sha256(self.receipt_handle.encode()).hexdigest()[:20]


Handler = Callable[[EventT, MessageContext], Awaitable[None]]
"""Runs one event of the type it is registered for; raising means "retry later"."""
PoisonHook = Callable[[str, MessageContext], Awaitable[None]]
"""Called with the reason when a message is not a valid event of a known type and version."""
FailureHook = Callable[[Event, MessageContext, str], Awaitable[None]]
"""Called with the reason when a handler gave up for good (permanent, or out of attempts)."""


@dataclass
class ConsumerSettings:
    max_concurrency: int = 4
    wait_time_s: int = 20
    visibility_timeout_s: int = 60
    heartbeat_interval_s: float | None = None  # default: a third of the visibility timeout
    retry_base_s: int = 2
    retry_max_s: int = 300
    drain_timeout_s: float = 90.0
    reconnect_max_s: float = 30.0
    # Fewer SQS calls per message: while handlers run, a freed slot waits up to
    # `receive_gather_s` for others so one receive fetches several messages, and successes
    # are deleted in batches gathered over `delete_flush_s` (at most a quarter of the
    # visibility timeout: a finished message stays hidden until then, and a job's messages
    # finishing a second or two apart, e.g. its plan and its audio, share one call).
    receive_gather_s: float = 0.5
    delete_flush_s: float = 2.0
    max_receive_count: int | None = None  # default: read from the queue's redrive policy

    @property
    def receive_batch(self) -> int:
        """Free slots worth a receive while other handlers still run (SQS gives 10 at most)."""
        return max(1, min(10, self.max_concurrency) // 2)

    @property
    def delete_window_s(self) -> float:
        return min(self.delete_flush_s, self.visibility_timeout_s / 4)

    @property
    def heartbeat_s(self) -> float:
        return self.heartbeat_interval_s or max(self.visibility_timeout_s / 3, 0.2)

    def retry_delay(self, receive_count: int) -> int:
        return int(min(self.retry_base_s * 2 ** max(receive_count - 1, 0), self.retry_max_s))


__all__ = [
    "ConsumerSettings",
    "EventT",
    "FailureHook",
    "Handler",
    "KeepAlive",
    "MessageContext",
    "PermanentFailure",
    "PoisonHook",
    "RetryLater",
    "WorkLost",
]
