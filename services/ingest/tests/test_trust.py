"""The publisher -> user-id rules and how a topic names its publisher (no AWS)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from omnigen.ingest.settings import IngestSettings
from omnigen.ingest.trust import UserIdRule
from omnigen.shared.adapters.sns import unwrap_notification
from omnigen.shared.resources import resource_spec

from .helpers import HS_SECRET


def ingest_settings(**fields: Any) -> IngestSettings:
    return IngestSettings(auth_hs256_secret=HS_SECRET, **fields)


def test_a_rule_takes_exact_ids_and_prefixes() -> None:
    rule = UserIdRule(("crm-*", "vip-1"))
    assert [rule.allows(u) for u in ("crm-", "crm-a", "vip-1", "vip-10", "cr", "x-crm-a")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    assert UserIdRule(("*",)).allows("anyone") and not UserIdRule(()).allows("anyone")


@pytest.mark.parametrize(
    ("fields", "setting"),
    [
        ({"upstream_user_rules": {"crm": ["c*m-*"]}}, "upstream_user_rules"),
        ({"upstream_user_rules": {"crm": [""]}}, "upstream_user_rules"),
        ({"upstream_shared_topic_users": ["*a"]}, "upstream_shared_topic_users"),
        ({"upstream_publishers": {"CRM": ["arn:aws:iam::1:root"]}}, "upstream_publishers"),
        ({"upstream_publishers": {"crm": []}}, "upstream_publishers"),
        ({"upstream_publishers": {"crm": ["111122223333"]}}, "upstream_publishers"),
    ],
)
def test_a_malformed_rule_or_publisher_is_refused_naming_its_setting(
    fields: dict[str, Any], setting: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        ingest_settings(**fields)
    assert [e["loc"][0] for e in refused.value.errors()] == [setting]


def test_the_topic_names_the_publisher_and_the_shared_topic_keeps_every_user_by_default() -> None:
    settings = ingest_settings(upstream_user_rules={"crm": ["crm-*"]})
    trust = settings.upstream_trust
    arn = "arn:aws:sns:us-east-1:000000000000:"
    assert trust.origin(f"{arn}omnigen-job-requests").refusal("anyone") is None
    assert trust.origin(None).refusal("anyone") is None  # sent to the queue directly
    crm = trust.origin(f"{arn}omnigen-job-requests-crm")
    assert crm.publisher == "crm"
    assert crm.refusal("crm-a") is None and crm.refusal("bob") is not None
    unknown = trust.origin(f"{arn}omnigen-job-requests-other").refusal("crm-a")
    assert unknown is not None and "has no user-id rule" in unknown.message
    elsewhere = trust.origin(f"{arn}omnigen-job-events").refusal("crm-a")
    assert elsewhere is not None and "omnigen-job-events" not in elsewhere.message


def test_the_spec_names_publisher_topics_and_tells_them_from_the_shared_one() -> None:
    spec = resource_spec("acme", publishers={"crm": ["arn:aws:iam::1:role/r"]})
    assert [t.name for t in spec.publisher_topics] == ["acme-job-requests-crm"]
    assert spec.publisher_of("acme-job-requests-crm") == "crm"
    assert spec.publisher_of("acme-job-requests") is None
    assert spec.publisher_of("acme-job-events") is None
    assert spec.publisher_of("other-job-requests-crm") is None
    ingest = [s for s in spec.subscriptions if s.queue == spec.ingest_queue.name]
    assert {(s.topic, s.raw_message_delivery) for s in ingest} == {
        ("acme-job-requests", False),
        ("acme-job-requests-crm", False),
    }


def test_only_an_sns_notification_is_unwrapped_and_only_once() -> None:
    inner = '{"Type": "Notification", "TopicArn": "arn:forged", "Message": "{}"}'
    outer = json.dumps({"Type": "Notification", "TopicArn": "arn:real", "Message": inner})
    assert unwrap_notification(outer) == (inner, "arn:real")
    for body in ("not json", "[1]", '{"event_id": "x"}', '{"Type": "Notification"}'):
        assert unwrap_notification(body) == (body, None)
