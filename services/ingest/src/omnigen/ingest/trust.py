"""Whom an upstream publisher may request jobs for.

Each upstream publisher publishes to a requests topic of its own, `<prefix>-job-requests-<name>`,
whose topic policy lets that account or role alone publish; the ingest queue receives SNS's
envelope, which names the topic. So the topic a request came through says who sent it, and
the publisher's rule (`OMNIGEN_UPSTREAM_USER_RULES`) says which user ids it may act for. The
shared topic `<prefix>-job-requests` (and a message sent to the queue directly, which only
the account's own principals with `sqs:SendMessage` can do) follows
`OMNIGEN_UPSTREAM_SHARED_TOPIC_USERS`: by default every user id, as before publishers had
topics of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from omnigen.shared.domain.events import Problem
from omnigen.shared.resources import ResourceSpec

ANY_USER: Final = "*"


def check_patterns(patterns: Sequence[str]) -> list[str]:
    """User-id patterns: an exact id, or a prefix ending in `*` (`*` alone: every id)."""
    for pattern in patterns:
        if not pattern or "*" in pattern[:-1]:
            raise ValueError(f"{pattern!r}: an exact user id, or a prefix followed by one '*'")
    return list(patterns)


@dataclass(frozen=True)
class UserIdRule:
    patterns: tuple[str, ...]

    def allows(self, user_id: str) -> bool:
        return any(
            user_id.startswith(p[:-1]) if p.endswith("*") else user_id == p for p in self.patterns
        )


@dataclass(frozen=True)
class Origin:
    """Where one upstream request came from: a publisher's own topic, or the shared one."""

    publisher: str | None  # None: the shared requests topic (or sent to the queue directly)
    rule: UserIdRule | None  # None: a publisher topic no rule is configured for
    topic: str | None = None  # set when the topic is not a requests topic at all

    def refusal(self, user_id: str) -> Problem | None:
        """Why this origin may not request a job for `user_id`, or None when it may."""
        if self.topic is not None:
            return Problem(field="event", message="the topic it came through takes no requests")
        who = (
            "the shared requests topic"
            if self.publisher is None
            else f"publisher {self.publisher!r}"
        )
        if self.rule is None:
            return Problem(field="user_id", message=f"{who} has no user-id rule")
        if not self.rule.allows(user_id):
            return Problem(field="user_id", message=f"{who} may not request jobs for this user")
        return None


UNRESTRICTED: Final = Origin(publisher=None, rule=UserIdRule((ANY_USER,)))


@dataclass(frozen=True)
class UpstreamTrust:
    spec: ResourceSpec
    shared: UserIdRule
    publishers: Mapping[str, UserIdRule]

    @classmethod
    def of(
        cls, spec: ResourceSpec, shared: Sequence[str], publishers: Mapping[str, Sequence[str]]
    ) -> UpstreamTrust:
        rules = {name: UserIdRule(tuple(patterns)) for name, patterns in publishers.items()}
        return cls(spec, UserIdRule(tuple(shared)), rules)

    def origin(self, topic_arn: str | None) -> Origin:
        """The origin of a message that came through `topic_arn` (None: not through SNS)."""
        topic = None if topic_arn is None else topic_arn.rsplit(":", 1)[-1]
        if topic is None or topic == self.spec.requests_topic.name:
            return Origin(publisher=None, rule=self.shared)
        publisher = self.spec.publisher_of(topic)
        if publisher is None:
            return Origin(publisher=None, rule=None, topic=topic)
        return Origin(publisher=publisher, rule=self.publishers.get(publisher))
