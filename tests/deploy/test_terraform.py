"""Static checks of terraform/: it parses, is formatted, passes checkov with every skip explained,
and declares exactly the resources of `omnigen.shared.resources.resource_spec()`.

Nothing here needs AWS, Docker or the Terraform registry: the HCL is parsed with python-hcl2 and
the `for_each` tables are expanded by a small evaluator that knows only the references we use.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from omnigen.ingest.settings import IngestSettings
from omnigen.shared.messages import ConsumerSettings
from omnigen.shared.resources import (
    DEFAULT_PREFIX,
    Index,
    ResourceSpec,
    principal_patterns,
    resource_spec,
)
from omnigen.shared.telemetry import catalog

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
MODULES = TERRAFORM / "modules"
SERVICES = ("ingest", "scripter", "renderer", "webhooks")
CHECKOV_VENV = Path(os.environ.get("OMNIGEN_CHECKOV_VENV", REPO / ".checkov-venv"))
CHECKOV = CHECKOV_VENV / "bin" / "checkov"

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)
_WHOLE_REF = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")
_ANY_REF = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")
_INSTANCE_REF = re.compile(r"^\$\{(\w+)\.(\w+)\[([\w.]+)\]\.(\w+)\}$")


# --- a tiny Terraform reader ---------------------------------------------------------------


@dataclass
class Module:
    """One directory of .tf files, its blocks merged the way Terraform merges them."""

    path: Path
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    locals: dict[str, Any] = field(default_factory=dict)
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Module:
        module = cls(path)
        for tf in sorted(path.glob("*.tf")):
            module.add(load_tf(tf))
        return module

    def add(self, parsed: Mapping[str, Any]) -> None:
        for kind, target in (("resource", self.resources), ("data", self.data)):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        target[(rtype, name)] = body
        for block in parsed.get("locals", []):
            self.locals.update(block)
        for block in parsed.get("variable", []):
            self.variables.update(block)
        for block in parsed.get("module", []):
            self.modules.update(block)

    def resource(self, rtype: str, name: str) -> dict[str, Any]:
        return self.resources[(rtype, name)]


def load_tf(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
    return parsed


@dataclass
class Scope:
    """What a reference can resolve to inside one module instance."""

    variables: Mapping[str, Any]
    locals: Mapping[str, Any]
    each_key: str | None = None
    each_value: Any = None

    def lookup(self, ref: str) -> Any:
        head, *rest = ref.split(".")
        if head == "var":
            value: Any = self.variables[rest[0]]
            rest = rest[1:]
        elif head == "local":
            value = self.locals[rest[0]]
            rest = rest[1:]
        elif head == "each" and rest[0] == "key":
            return self.each_key
        elif head == "each" and rest[0] == "value":
            value = self.each_value
            rest = rest[1:]
        else:
            raise KeyError(f"reference {ref!r} is outside what this test evaluates")
        for part in rest:
            value = value[part]
        return self.resolve(value)

    def resolve(self, value: Any) -> Any:
        """`${ref}` alone becomes the referenced value; refs inside text are substituted."""
        if isinstance(value, str):
            whole = _WHOLE_REF.match(value)
            if whole:
                return self.lookup(whole.group(1))
            return _ANY_REF.sub(lambda m: str(self.lookup(m.group(1))), value)
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if isinstance(value, dict):
            return {key: self.resolve(item) for key, item in value.items()}
        return value


def expand(module: Module, rtype: str, name: str, scope: Scope) -> dict[str, dict[str, Any]]:
    """The instances of a `for_each` resource over a locals or variables map, by key."""
    body = module.resource(rtype, name)
    table = scope.resolve(body["for_each"])
    assert isinstance(table, dict), f"{rtype}.{name} for_each must be a map"
    instances = {}
    for key in table:
        each = Scope(scope.variables, scope.locals, key, table[key])
        instances[key] = {
            attr: _resolve_or_keep(each, value)
            for attr, value in body.items()
            if attr not in ("for_each", "depends_on")
        }
    return instances


def _resolve_or_keep(scope: Scope, value: Any) -> Any:
    try:
        return scope.resolve(value)
    except KeyError:
        return value  # references to other resources; checked explicitly where it matters


def instance_key(scope: Scope, expression: str, rtype: str, name: str, attr: str) -> str:
    """Which instance of `rtype.name` an expression like `${rtype.name[each.key].attr}` names."""
    match = _INSTANCE_REF.match(expression)
    assert match, f"expected a reference to {rtype}.{name}[...].{attr}, got {expression!r}"
    assert match.group(1, 2, 4) == (rtype, name, attr), expression
    key = scope.lookup(match.group(3))
    assert isinstance(key, str)
    return key


def each_scope(module: Module, scope: Scope, rtype: str, name: str, key: str) -> Scope:
    table = scope.resolve(module.resource(rtype, name)["for_each"])
    return Scope(scope.variables, scope.locals, key, table[key])


# --- fixtures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def root() -> Module:
    return Module.load(TERRAFORM)


@pytest.fixture(scope="module")
def modules() -> dict[str, Module]:
    return {path.name: Module.load(path) for path in sorted(MODULES.iterdir()) if path.is_dir()}


def module_scope(module: Module, prefix: str) -> Scope:
    return Scope({"name_prefix": prefix}, module.locals)


# --- parsing and formatting ----------------------------------------------------------------


def tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def test_terraform_has_the_root_and_every_module() -> None:
    modules = {path.name for path in MODULES.iterdir() if path.is_dir()}
    assert modules == {"storage", "messaging", "compute", "iam", "secrets", "observability"}
    assert (TERRAFORM / "example.tfvars").is_file()
    for required in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (TERRAFORM / required).is_file(), required


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path) -> None:
    parsed = load_tf(path)
    assert parsed, f"{path} parsed to nothing"


def test_example_tfvars_sets_every_required_root_variable(root: Module) -> None:
    with (TERRAFORM / "example.tfvars").open(encoding="utf-8") as handle:
        tfvars = hcl2.load(handle, serialization_options=_OPTIONS)
    required = {name for name, spec in root.variables.items() if "default" not in spec}
    assert required <= set(tfvars), f"example.tfvars lacks {sorted(required - set(tfvars))}"
    assert set(tfvars) <= set(root.variables), "example.tfvars sets an unknown variable"


def test_terraform_fmt_check_passes() -> None:
    terraform = shutil.which("terraform") or "/usr/local/bin/terraform"
    assert Path(terraform).is_file(), "terraform binary not found (needed for `terraform fmt`)"
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TERRAFORM)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "TF_IN_AUTOMATION": "1"},
    )
    assert result.returncode == 0, f"terraform fmt would change:\n{result.stdout}"


# --- the resource spec ---------------------------------------------------------------------


@pytest.fixture(params=[DEFAULT_PREFIX, "acme-staging"])
def prefix(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_root_builds_every_name_from_name_prefix(root: Module) -> None:
    assert root.variables["name_prefix"]["default"] == DEFAULT_PREFIX
    for name in ("storage", "messaging", "iam", "secrets", "compute", "observability"):
        assert root.modules[name]["name_prefix"] == "${var.name_prefix}", name
    assert root.modules["storage"]["bucket_name"] == "${local.bucket_name}"


def test_topics_match_spec(modules: dict[str, Module], prefix: str) -> None:
    messaging = modules["messaging"]
    scope = module_scope(messaging, prefix)
    topics = expand(messaging, "aws_sns_topic", "this", scope)
    spec = resource_spec(prefix)
    assert sorted(topic["name"] for topic in topics.values()) == sorted(
        topic.name for topic in spec.topics
    )
    assert all(topic["kms_master_key_id"] for topic in topics.values())


def test_queues_and_dlqs_match_spec(modules: dict[str, Module], prefix: str) -> None:
    messaging = modules["messaging"]
    scope = module_scope(messaging, prefix)
    mains = expand(messaging, "aws_sqs_queue", "main", scope)
    dlqs = expand(messaging, "aws_sqs_queue", "dlq", scope)
    declared = {}
    for key, queue in mains.items():
        policy = queue["redrive_policy"]
        dlq_ref = re.search(r"deadLetterTargetArn = (aws_sqs_queue\.\w+\[[\w.]+\]\.arn)", policy)
        count_ref = re.search(r"maxReceiveCount = ([\w.]+)", policy)
        assert dlq_ref and count_ref, f"queue {key}: unexpected redrive policy {policy!r}"
        each = each_scope(messaging, scope, "aws_sqs_queue", "main", key)
        dlq = dlqs[instance_key(each, "${" + dlq_ref.group(1) + "}", "aws_sqs_queue", "dlq", "arn")]
        declared[queue["name"]] = (
            dlq["name"],
            queue["visibility_timeout_seconds"],
            each.lookup(count_ref.group(1)),
            queue["message_retention_seconds"],
            dlq["message_retention_seconds"],
        )
        assert queue["kms_master_key_id"] and dlq["kms_master_key_id"], key
    expected = {
        queue.name: (
            queue.dlq_name,
            queue.visibility_timeout_s,
            queue.max_receive_count,
            queue.retention_s,
            queue.dlq_retention_s,
        )
        for queue in resource_spec(prefix).queues
    }
    assert declared == expected


def test_every_dlq_keeps_messages_longer_than_its_source(modules: dict[str, Module]) -> None:
    messaging = modules["messaging"]
    scope = module_scope(messaging, DEFAULT_PREFIX)
    mains = expand(messaging, "aws_sqs_queue", "main", scope)
    dlqs = expand(messaging, "aws_sqs_queue", "dlq", scope)
    for key, queue in mains.items():
        assert dlqs[key]["message_retention_seconds"] > queue["message_retention_seconds"], key


def test_subscriptions_match_spec(modules: dict[str, Module], prefix: str) -> None:
    messaging = modules["messaging"]
    scope = module_scope(messaging, prefix)
    topics = expand(messaging, "aws_sns_topic", "this", scope)
    queues = expand(messaging, "aws_sqs_queue", "main", scope)
    subscriptions = expand(messaging, "aws_sns_topic_subscription", "queue", scope)
    declared = set()
    for key, sub in subscriptions.items():
        each = each_scope(messaging, scope, "aws_sns_topic_subscription", "queue", key)
        raw = messaging.resource("aws_sns_topic_subscription", "queue")
        topic = topics[instance_key(each, raw["topic_arn"], "aws_sns_topic", "this", "arn")]
        queue = queues[instance_key(each, raw["endpoint"], "aws_sqs_queue", "main", "arn")]
        policy = re.fullmatch(
            r"\$\{([\w.]+) == null \? null : jsonencode\(\{event_type = ([\w.]+)\}\)\}",
            raw["filter_policy"],
        )
        assert policy and policy.group(1) == policy.group(2), raw["filter_policy"]
        event_types = each.lookup(policy.group(2))
        filter_policy = None if event_types is None else {"event_type": list(event_types)}
        scope_of = re.fullmatch(
            r'\$\{([\w.]+) == null \? null : "MessageAttributes"\}', raw["filter_policy_scope"]
        )
        assert scope_of and scope_of.group(1) == policy.group(1), raw["filter_policy_scope"]
        assert sub["protocol"] == "sqs"
        declared.add(
            (
                topic["name"],
                queue["name"],
                json.dumps(filter_policy, sort_keys=True),
                sub["raw_message_delivery"],
            )
        )
    expected = {
        (
            sub.topic,
            sub.queue,
            json.dumps(sub.filter_policy, sort_keys=True),
            sub.raw_message_delivery,
        )
        for sub in resource_spec(prefix).subscriptions
    }
    assert declared == expected


def test_only_the_subscribed_topic_may_send_to_a_queue(modules: dict[str, Module]) -> None:
    messaging = modules["messaging"]
    document = messaging.data[("aws_iam_policy_document", "queue")]
    assert document["for_each"] == "${local.subscriptions}"
    allow, deny = document["statement"]
    assert allow["actions"] == ["sqs:SendMessage"]
    assert allow["principals"] == [{"type": "Service", "identifiers": ["sns.amazonaws.com"]}]
    assert allow["resources"] == ["${aws_sqs_queue.main[each.value.queue].arn}"]
    assert allow["condition"] == [
        {
            "test": "ArnEquals",
            "variable": "aws:SourceArn",
            "values": ["${aws_sns_topic.this[each.value.topic].arn}"],
        }
    ]
    assert deny["effect"] == "Deny" and deny["condition"][0]["variable"] == "aws:SecureTransport"
    policy = messaging.resource("aws_sqs_queue_policy", "main")
    assert policy["for_each"] == "${local.subscriptions}"
    # Every source queue is covered: the subscriptions name each queue once, and the bucket's
    # notifications the rest.
    queues = [sub["queue"] for sub in messaging.locals["subscriptions"].values()]
    assert sorted([*queues, "uploads"]) == sorted(messaging.locals["queues"])


def test_only_the_assets_bucket_may_send_to_the_uploads_queue(
    root: Module, modules: dict[str, Module], prefix: str
) -> None:
    messaging, storage = modules["messaging"], modules["storage"]
    allow, deny = messaging.data[("aws_iam_policy_document", "uploads_queue")]["statement"]
    assert allow["principals"] == [{"type": "Service", "identifiers": ["s3.amazonaws.com"]}]
    assert allow["condition"][0]["values"] == ["${var.bucket_arn}"]
    assert deny["condition"][0]["variable"] == "aws:SecureTransport"
    assert root.modules["messaging"]["bucket_arn"] == "arn:aws:s3:::${local.bucket_name}"
    (notification,) = storage.resource("aws_s3_bucket_notification", "uploads")["queue"]
    (spec_notice,) = resource_spec(prefix).bucket_notifications
    assert notification["filter_prefix"] == spec_notice.prefix
    assert notification["events"] == list(spec_notice.events)
    assert root.modules["storage"]["uploads_queue_arn"] == (
        '${module.messaging.queue_arns["uploads"]}'
    )


PUBLISHERS = {
    "crm": ["arn:aws:iam::111122223333:role/crm-publisher"],
    "partner": ["arn:aws:iam::444455556666:root"],
}


def test_publisher_topics_and_their_subscriptions_match_spec(
    modules: dict[str, Module], prefix: str
) -> None:
    """One requests topic per upstream publisher, each delivering SNS's envelope (no raw
    delivery) to the ingest queue, as `resource_spec(publishers=...)` says."""
    messaging = modules["messaging"]
    scope = Scope({"name_prefix": prefix, "upstream_publishers": PUBLISHERS}, messaging.locals)
    topics = expand(messaging, "aws_sns_topic", "publisher", scope)
    spec = resource_spec(prefix, publishers=PUBLISHERS)
    assert {key: topic["name"] for key, topic in topics.items()} == {
        spec.publisher_of(topic.name): topic.name for topic in spec.publisher_topics
    }
    assert all(topic["kms_master_key_id"] for topic in topics.values())
    queues = expand(messaging, "aws_sqs_queue", "main", scope)
    raw = messaging.resource("aws_sns_topic_subscription", "publisher")
    assert raw["endpoint"] == '${aws_sqs_queue.main["ingest_requests"].arn}'
    assert "filter_policy" not in raw
    declared = set()
    for key, sub in expand(messaging, "aws_sns_topic_subscription", "publisher", scope).items():
        each = each_scope(messaging, scope, "aws_sns_topic_subscription", "publisher", key)
        topic = topics[instance_key(each, raw["topic_arn"], "aws_sns_topic", "publisher", "arn")]
        assert sub["protocol"] == "sqs"
        declared.add(
            (topic["name"], queues["ingest_requests"]["name"], None, sub["raw_message_delivery"])
        )
    published = {topic.name for topic in spec.publisher_topics}
    assert declared == {
        (sub.topic, sub.queue, sub.filter_policy, sub.raw_message_delivery)
        for sub in spec.subscriptions
        if sub.topic in published
    }
    # Every subscription of the ingest queue delivers envelopes: the consumer reads the topic.
    ingest = [s for s in spec.subscriptions if s.queue == spec.ingest_queue.name]
    assert len(ingest) == 3 and not any(s.raw_message_delivery for s in ingest)


def test_a_publisher_topic_is_publishable_by_its_principals_alone(
    modules: dict[str, Module],
) -> None:
    """The statements of `Topic.publish_policy` (what bootstrap applies), in Terraform."""
    messaging = modules["messaging"]
    document = messaging.data[("aws_iam_policy_document", "publisher_topic")]
    assert document["for_each"] == "${var.upstream_publishers}"
    allow, deny = document["statement"]
    expected = resource_spec(publishers=PUBLISHERS).publisher_topics[0].publish_policy("arn:t")
    assert expected is not None
    spec_allow, spec_deny = expected["Statement"]  # type: ignore[misc]
    topic = "${aws_sns_topic.publisher[each.key].arn}"
    assert (allow["sid"], allow.get("effect", "Allow"), allow["actions"], allow["resources"]) == (
        spec_allow["Sid"],
        spec_allow["Effect"],
        [spec_allow["Action"]],
        [topic],
    )
    assert allow["principals"] == [{"type": "AWS", "identifiers": "${each.value}"}]
    assert (deny["sid"], deny["effect"], deny["actions"], deny["resources"]) == (
        spec_deny["Sid"],
        spec_deny["Effect"],
        [spec_deny["Action"]],
        [topic],
    )
    assert deny["principals"] == [{"type": "AWS", "identifiers": ["*"]}]
    [condition] = deny["condition"]
    [(test, values)] = spec_deny["Condition"].items()
    [(variable, _)] = values.items()
    assert (condition["test"], condition["variable"]) == (test, variable)
    # principal_patterns, in HCL: an account root stands for every principal of the account.
    assert condition["values"] == (
        '${[for arn in each.value : endswith(arn, ":root") ? "${trimsuffix(arn, "root")}*" : arn]}'
    )
    assert principal_patterns(PUBLISHERS["partner"] + PUBLISHERS["crm"]) == [
        "arn:aws:iam::444455556666:*",
        "arn:aws:iam::111122223333:role/crm-publisher",
    ]
    policy = messaging.resource("aws_sns_topic_policy", "publisher")
    assert policy["policy"] == "${data.aws_iam_policy_document.publisher_topic[each.key].json}"
    # Publishing to a KMS-encrypted topic needs the key: the publishers may use it via SNS.
    [key] = messaging.data[("aws_iam_policy_document", "messaging_key")]["dynamic"]
    content = key["statement"]["content"][0]
    assert content["principals"] == [{"type": "AWS", "identifiers": "${local.upstream_principals}"}]
    assert content["condition"][0]["variable"] == "kms:ViaService"
    assert messaging.locals["upstream_principals"] == (
        "${distinct(concat(var.job_request_publisher_arns, "
        "flatten(values(var.upstream_publishers))))}"
    )


def test_the_ingest_queue_takes_the_publisher_topics_and_ingest_gets_their_rules(
    root: Module, modules: dict[str, Module]
) -> None:
    messaging = modules["messaging"]
    [dynamic] = messaging.data[("aws_iam_policy_document", "queue")]["dynamic"]
    statement = dynamic["statement"]
    assert statement["for_each"] == (
        '${each.value.queue == "ingest_requests" && length(var.upstream_publishers) > 0 ? [1] : []}'
    )
    [content] = statement["content"]
    assert content["actions"] == ["sqs:SendMessage"]
    assert content["principals"] == [{"type": "Service", "identifiers": ["sns.amazonaws.com"]}]
    assert content["condition"] == [
        {
            "test": "ArnEquals",
            "variable": "aws:SourceArn",
            "values": "${[for topic in aws_sns_topic.publisher : topic.arn]}",
        }
    ]
    # One root variable feeds the topics (principals) and ingest's rules (user ids), under the
    # setting names IngestSettings reads; the shared topic keeps IngestSettings' default.
    assert root.modules["messaging"]["upstream_publishers"] == (
        "${{for name, publisher in var.upstream_publishers : name => publisher.principal_arns}}"
    )
    ingest = root.locals["default_service_environment"]["ingest"]
    assert ingest["OMNIGEN_UPSTREAM_USER_RULES"] == (
        "${jsonencode({for name, publisher in var.upstream_publishers : "
        "name => publisher.user_ids})}"
    )
    assert ingest["OMNIGEN_UPSTREAM_SHARED_TOPIC_USERS"] == (
        "${jsonencode(var.shared_topic_user_ids)}"
    )
    fields = IngestSettings.model_fields
    assert {"upstream_user_rules", "upstream_shared_topic_users"} <= set(fields)
    default = fields["upstream_shared_topic_users"].get_default(call_default_factory=True)
    assert root.variables["shared_topic_user_ids"]["default"] == default == ["*"]
    assert root.variables["upstream_publishers"]["default"] == {}


def test_jobs_table_matches_spec(modules: dict[str, Module], prefix: str) -> None:
    storage = modules["storage"]
    scope = module_scope(storage, prefix)
    table = {
        attr: _resolve_or_keep(scope, value)
        for attr, value in storage.resource("aws_dynamodb_table", "jobs").items()
    }
    spec = resource_spec(prefix).table
    attribute_types = {attr["name"]: attr["type"] for attr in table["attribute"]}
    assert table["name"] == spec.name
    assert table["hash_key"] == spec.hash_key
    assert "range_key" not in table
    assert attribute_types == spec.attribute_types
    indexes = {
        gsi["name"]: (gsi["hash_key"], gsi["range_key"], gsi["projection_type"])
        for gsi in table["global_secondary_index"]
    }
    assert indexes == {
        index.name: (index.hash_key, index.range_key, index.projection) for index in spec.indexes
    }
    assert spec.indexes[0] == Index(spec.gsi_name, spec.gsi_hash_key, spec.gsi_range_key, "ALL")
    assert table["ttl"] == [{"attribute_name": spec.ttl_attribute, "enabled": True}]
    assert table["point_in_time_recovery"] == [{"enabled": True}]
    assert table["server_side_encryption"][0]["enabled"] is True


def test_bucket_name_extends_the_spec_name(root: Module, modules: dict[str, Module]) -> None:
    bucket_name = root.locals["bucket_name"]
    assert bucket_name.startswith("${var.name_prefix}-assets-")
    with_prefix = bucket_name.replace("${var.name_prefix}", "acme")
    assert with_prefix.startswith(resource_spec("acme").bucket.name + "-")
    assets = modules["storage"].resource("aws_s3_bucket", "assets")
    assert assets["bucket"] == "${var.bucket_name}"
    # The services find the suffixed bucket through OMNIGEN_BUCKET_NAME.
    assert root.locals["common_environment"]["OMNIGEN_BUCKET_NAME"] == (
        "${module.storage.bucket_name}"
    )


def test_assets_bucket_is_private_encrypted_versioned_and_expiring(
    modules: dict[str, Module],
) -> None:
    storage = modules["storage"]
    block = storage.resource("aws_s3_bucket_public_access_block", "assets")
    assert all(
        block[flag] is True
        for flag in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    versioning = storage.resource("aws_s3_bucket_versioning", "assets")
    assert versioning["versioning_configuration"] == [{"status": "Enabled"}]
    sse = storage.resource("aws_s3_bucket_server_side_encryption_configuration", "assets")
    default = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
    assert default["sse_algorithm"] == "aws:kms"
    rules = storage.resource("aws_s3_bucket_lifecycle_configuration", "assets")["rule"]
    assert any("expiration" in rule and "noncurrent_version_expiration" in rule for rule in rules)
    assert any("abort_incomplete_multipart_upload" in rule for rule in rules)


# --- IAM: one role per service, only what it uses ------------------------------------------

# What the brief says each service's code calls (the lead's code-path test refines this).
TABLE_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"}
QUEUE_ACTIONS = {
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
}
# A worker's dead-letter watcher reads its queue's DLQ and deletes what it recorded.
DEAD_LETTER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueUrl"}
# Workers only read and update jobs (tests/deploy/test_iam.py derives this from their code).
WORKER_TABLE_ACTIONS = {"dynamodb:GetItem", "dynamodb:UpdateItem"}
EXPECTED_ACTIONS: dict[str, dict[str, set[str]]] = {
    "ingest": {
        # DescribeTable, GetTopicAttributes and ListBucket (HeadBucket) also answer /readyz.
        "dynamodb": TABLE_ACTIONS
        | {"dynamodb:DeleteItem", "dynamodb:DescribeTable", "dynamodb:BatchGetItem"},
        "sqs": QUEUE_ACTIONS,
        "webhooks_queue": {"sqs:GetQueueUrl", "sqs:SendMessage"},  # a delivery's resend
        "sns": {"sns:Publish", "sns:GetTopicAttributes"},
        "s3_objects": {"s3:GetObject", "s3:DeleteObject"},
        "s3_bucket": {"s3:ListBucket"},
        "s3_uploads": {"s3:PutObject", "s3:DeleteObject"},  # presigned POSTs; deleting one
        "kms": {"kms:Decrypt", "kms:GenerateDataKey"},
    },
    "scripter": {
        "dynamodb": WORKER_TABLE_ACTIONS,
        "sqs": QUEUE_ACTIONS,
        "dead_letters": DEAD_LETTER_ACTIONS,
        "sns": {"sns:Publish"},
        "kms": {"kms:Decrypt", "kms:GenerateDataKey"},
    },
    "renderer": {
        "dynamodb": WORKER_TABLE_ACTIONS,
        "sqs": QUEUE_ACTIONS,
        "dead_letters": DEAD_LETTER_ACTIONS,
        "sns": {"sns:Publish"},
        "s3_objects": {"s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"},
        "s3_bucket": {"s3:ListBucket"},
        "s3_uploads": {"s3:GetObject"},  # the upload checker
        "kms": {"kms:Decrypt", "kms:GenerateDataKey"},
    },
    "webhooks": {
        # Deliveries: a conditional Put, then an Update of the job's list; webhooks read in batches.
        "dynamodb": {
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:BatchGetItem",
        },
        "sqs": QUEUE_ACTIONS,  # no dead-letter watcher: it fails no job
        "s3_objects": {"s3:GetObject"},  # presigned links in job.completed
        "kms": {"kms:Decrypt", "kms:GenerateDataKey"},
    },
}
EXPECTED_SECRETS = {
    "ingest": [],
    "scripter": ["openai"],
    "renderer": ["openai", "replicate"],
    "webhooks": [],
}


def own_queues(spec: ResourceSpec, service: str) -> list[str]:
    """The queues a service consumes (the renderer: its own and, for clip work, the scenes')."""
    return {
        "ingest": [spec.ingest_queue.name],
        "scripter": [spec.scripter_queue.name],
        "renderer": [spec.renderer_queue.name, spec.scenes_queue.name],
        "webhooks": [spec.webhooks_queue.name],
    }[service]


@pytest.mark.parametrize("service", SERVICES)
def test_task_role_actions_are_the_services_own(modules: dict[str, Module], service: str) -> None:
    iam = modules["iam"]
    own = Module(MODULES / "iam")  # the service's own file holds its whole action list
    own.add(load_tf(MODULES / "iam" / f"{service}.tf"))
    actions = own.locals[f"{service}_actions"]
    assert {group: set(values) for group, values in actions.items()} == EXPECTED_ACTIONS[service]
    assert own.locals[f"{service}_secrets"] == EXPECTED_SECRETS[service]
    # Every statement takes its actions from that one list, and no statement is a wildcard.
    document = iam.data[("aws_iam_policy_document", f"{service}_task")]
    used = set()
    for statement in document["statement"]:
        match = re.fullmatch(rf"\$\{{local\.{service}_actions\.(\w+)\}}", statement["actions"])
        assert match, f"{service}: statement {statement['sid']} lists actions inline"
        used.add(match.group(1))
        assert "*" not in json.dumps(statement["resources"]), statement["sid"]
        assert statement.get("effect", "Allow") == "Allow"
    assert used == set(actions), f"{service}: action groups without a statement"
    role = iam.resource("aws_iam_role", f"{service}_task")
    assert role["name"] == f"${{var.name_prefix}}-{service}-task"


@pytest.mark.parametrize("service", SERVICES)
def test_task_role_reaches_only_its_own_queue_and_the_events_topic(
    modules: dict[str, Module], service: str
) -> None:
    iam, messaging = modules["iam"], modules["messaging"]
    queue_keys = iam.locals[f"{service}_queue_keys"]
    topic_keys = iam.locals.get(f"{service}_topic_keys", [])  # webhooks publishes nothing
    scope = module_scope(messaging, DEFAULT_PREFIX)
    queues = expand(messaging, "aws_sqs_queue", "main", scope)
    topics = expand(messaging, "aws_sns_topic", "this", scope)
    spec = resource_spec()
    assert [queues[key]["name"] for key in queue_keys] == own_queues(spec, service)
    publishes = [] if service == "webhooks" else [spec.events_topic.name]
    assert [topics[key]["name"] for key in topic_keys] == publishes


def test_provider_secrets_reach_only_the_services_that_need_them(
    root: Module, modules: dict[str, Module]
) -> None:
    execution = modules["iam"].locals["execution_secrets"]
    assert execution == {service: f"${{local.{service}_secrets}}" for service in SERVICES}
    assert root.modules["secrets"]["readers"] == "${module.iam.secret_readers}"
    # The settings each service gets its keys as name the same secrets its execution role reads.
    provider_keys = root.locals["provider_keys"]
    for service in SERVICES:
        injected = {key["secret"] for key in provider_keys[service].values()}
        assert injected == set(EXPECTED_SECRETS[service]), service
    assert "if key.enabled" in root.locals["secrets"]
    policy = modules["secrets"].data[("aws_iam_policy_document", "provider")]["statement"][0]
    assert policy["effect"] == "Deny"
    assert policy["condition"][0]["test"] == "ArnNotEquals"
    assert policy["condition"][0]["values"] == "${var.readers[each.key]}"


# --- compute and observability -------------------------------------------------------------


def test_stop_timeout_leaves_room_for_the_consumer_drain(
    root: Module, modules: dict[str, Module]
) -> None:
    compute = modules["compute"]
    default = root.variables["stop_timeout_seconds"]["default"]
    assert default == compute.variables["stop_timeout_seconds"]["default"] == 120
    assert ConsumerSettings().drain_timeout_s < default
    containers = compute.locals["containers"]
    assert "stopTimeout = var.stop_timeout_seconds" in containers
    assert root.modules["compute"]["stop_timeout_seconds"] == "${var.stop_timeout_seconds}"
    (validation,) = compute.variables["stop_timeout_seconds"]["validation"]
    assert "var.stop_timeout_seconds <= 120" in validation["condition"]


def test_ingest_sits_behind_a_load_balancer_checking_healthz(modules: dict[str, Module]) -> None:
    compute = modules["compute"]
    group = compute.resource("aws_lb_target_group", "ingest")
    assert group["health_check"][0]["path"] == "/healthz"
    assert group["port"] == "${var.container_port}"
    listener = compute.resource("aws_lb_listener", "https")
    assert (listener["protocol"], listener["port"]) == ("HTTPS", 443)
    service = compute.resource("aws_ecs_service", "service")
    assert service["dynamic"][0]["load_balancer"]["for_each"] == (
        '${each.key == "ingest" ? [1] : []}'
    )


def test_ingest_believes_forwarded_headers_only_from_the_load_balancers_subnets(
    root: Module, modules: dict[str, Module]
) -> None:
    """uvicorn rewrites the scheme and client address from X-Forwarded-* only for peers in
    OMNIGEN_FORWARDED_ALLOW_IPS (default 127.0.0.1, which behind the ALB would mean no HSTS and
    the ALB's address as every client's); the ALB's nodes live in its subnets."""
    from uvicorn.middleware.proxy_headers import _TrustedHosts

    setting = "OMNIGEN_FORWARDED_ALLOW_IPS"
    assert "forwarded_allow_ips" in IngestSettings.model_fields
    ingest = root.locals["default_service_environment"]["ingest"]
    assert ingest[setting] == (
        '${join(",", sort([for subnet in data.aws_subnet.alb : subnet.cidr_block]))}'
    )
    assert root.data[("aws_subnet", "alb")] == {
        "for_each": "${toset(var.public_subnet_ids)}",
        "id": "${each.value}",
    }
    # The same subnets the load balancer is placed in.
    assert root.modules["compute"]["public_subnet_ids"] == "${var.public_subnet_ids}"
    alb = modules["compute"].resource("aws_lb", "ingest")
    assert alb["subnets"] == "${var.public_subnet_ids}"
    # What that expression renders (CIDRs joined by commas) is what uvicorn trusts.
    trusted = _TrustedHosts(",".join(sorted(["10.0.1.0/24", "10.0.2.0/24"])))
    assert "10.0.2.17" in trusted and "10.0.3.17" not in trusted and "127.0.0.1" not in trusted
    # Only the load balancer reaches the tasks at all (the security group), so the networks
    # cannot be used by anything else to forge the headers.
    rule = modules["compute"].resource("aws_vpc_security_group_ingress_rule", "ingest_from_alb")
    assert rule["referenced_security_group_id"] == "${aws_security_group.alb.id}"


def test_workers_scale_on_backlog_per_running_task(
    root: Module, modules: dict[str, Module]
) -> None:
    compute = modules["compute"]
    policy = compute.resource("aws_appautoscaling_policy", "backlog_per_task")
    config = policy["target_tracking_scaling_policy_configuration"][0]
    metrics = {m["id"]: m for m in config["customized_metric_specification"][0]["metrics"]}
    visible = metrics["visible"]["metric_stat"][0]["metric"][0]
    tasks = metrics["tasks"]["metric_stat"][0]["metric"][0]
    assert (visible["namespace"], visible["metric_name"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert visible["dimensions"] == [{"name": "QueueName", "value": "${each.value}"}]
    assert tasks["metric_name"] == "RunningTaskCount"
    returned = [m for m in metrics.values() if m["return_data"]]
    assert [m["expression"] for m in returned] == ["visible / tasks"]
    assert root.modules["compute"]["worker_queues"] == {
        "scripter": '${module.messaging.queue_names["scripter"]}',
        "renderer": '${module.messaging.queue_names["renderer"]}',
        "webhooks": '${module.messaging.queue_names["webhooks"]}',
        "clips": '${module.messaging.queue_names["scenes"]}',  # clip work, on its own backlog
    }


def test_the_clips_service_is_the_renderer_in_its_clip_only_role(root: Module) -> None:
    """Its own ECS service (sizes, scaling on the scenes queue), the renderer's image, roles
    and log group, and OMNIGEN_RENDER_ROLE=clips, which only consumes scene requests."""
    from omnigen.renderer.main import RenderRole, RenderSettings, routes
    from omnigen.renderer.providers.settings import ProviderSettings

    assert root.locals["entrypoints"]["clips"] == root.locals["entrypoints"]["renderer"]
    assert root.modules["compute"]["runs_as"] == {"clips": "renderer"}
    clips_env = root.locals["default_service_environment"]["clips"]
    renderer_env = root.locals["default_service_environment"]["renderer"]
    assert clips_env == {**renderer_env, "OMNIGEN_RENDER_ROLE": "clips"}
    assert root.locals["provider_keys"]["clips"] == root.locals["provider_keys"]["renderer"]
    assert "clips" in root.variables["services"]["default"]
    assert root.variables["backlog_per_task"]["default"]["clips"] == 1
    spec = resource_spec()
    (only,) = routes((ProviderSettings(), RenderSettings(role=RenderRole.CLIPS)))
    assert only.queue(spec) == spec.scenes_queue
    queues = {r.queue(spec).name for r in routes((ProviderSettings(), RenderSettings()))}
    assert queues == {spec.renderer_queue.name, spec.scenes_queue.name}  # the default: all


def test_every_queue_has_dlq_depth_and_message_age_alarms(
    root: Module, modules: dict[str, Module]
) -> None:
    observability = modules["observability"]
    dlq = observability.resource("aws_cloudwatch_metric_alarm", "dlq_not_empty")
    assert (dlq["metric_name"], dlq["threshold"], dlq["comparison_operator"]) == (
        "ApproximateNumberOfMessagesVisible",
        0,
        "GreaterThanThreshold",
    )
    assert dlq["dimensions"] == {"QueueName": "${each.value.dlq_name}"}
    age = observability.resource("aws_cloudwatch_metric_alarm", "oldest_message_age")
    assert age["metric_name"] == "ApproximateAgeOfOldestMessage"
    assert age["dimensions"] == {"QueueName": "${each.value.name}"}
    for alarm in (dlq, age):
        assert alarm["for_each"] == "${var.queues}"
        assert alarm["alarm_actions"] == "${local.alarm_actions}"
    queues = root.modules["observability"]["queues"]
    assert "module.messaging.queue_names" in queues and "module.messaging.dlq_names" in queues


def test_alarms_notify_the_alarm_topic_only_while_it_is_enabled(
    root: Module, modules: dict[str, Module]
) -> None:
    observability = modules["observability"]
    assert observability.locals["alarm_actions"] == (
        "${var.alarm_topic_enabled ? [aws_sns_topic.alarms[0].arn] : []}"
    )
    assert observability.resource("aws_sns_topic", "alarms")["count"] == (
        "${var.alarm_topic_enabled ? 1 : 0}"
    )
    assert observability.variables["alarm_topic_enabled"]["default"] is True
    assert root.modules["observability"]["alarm_topic_enabled"] == "${var.alarm_topic_enabled}"
    alarms = [body for (rtype, _), body in observability.resources.items() if "alarm" in rtype]
    for alarm in [a for a in alarms if "alarm_actions" in a]:
        assert alarm["alarm_actions"] == alarm["ok_actions"] == "${local.alarm_actions}"


# --- metrics: the Terraform names are the code's (omnigen.shared.telemetry.catalog) ----------

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")
_ROW = re.compile(r"\[\s*local\.ns\s*,\s*local\.mn\.(\w+)((?:\s*,\s*[\w.]+)*)")


def _key(name: str) -> str:
    return _SNAKE.sub("_", name).lower()


def test_metric_names_namespace_and_dimensions_in_terraform_are_the_codes(
    modules: dict[str, Module],
) -> None:
    local = modules["observability"].locals
    assert local["metrics_namespace"] == catalog.NAMESPACE
    assert local["metric_names"] == {_key(spec.name): spec.name for spec in catalog.METRICS}
    keys = local["dimension_keys"]
    assert set(keys.values()) == {k for spec in catalog.METRICS for k in spec.dimension_keys}
    assert {
        name: [[keys[k] for k in dims] for dims in sets]
        for name, sets in local["metric_dimensions"].items()
    } == {_key(s.name): [list(dims) for dims in s.dimension_sets] for s in catalog.METRICS}
    assert local["metric_services"] == list(catalog.SERVICES)
    assert local["metric_stages"] == catalog.STAGES
    assert local["metric_providers"] == catalog.PROVIDERS
    assert local["reason_classes"] == list(catalog.REASON_CLASSES)


def _dashboard_rows(widgets: list[dict[str, Any]]) -> Iterator[tuple[str, list[str]]]:
    """(metric key, dimension keys) of every Omnigen metric a widget shows."""
    for widget in widgets:
        yield from _rows(widget["properties"]["metrics"])


def _rows(metrics: Any) -> Iterator[tuple[str, list[str]]]:
    if isinstance(metrics, str):  # a for expression building the rows
        for match in _ROW.finditer(metrics):
            tokens = [t.strip() for t in match.group(2).split(",") if t.strip()]
            yield match.group(1), [t.removeprefix("local.dim.") for t in tokens[0::2]]
        return
    for row in metrics:
        if row and row[0] == "${local.ns}":
            name = row[1].removeprefix("${local.mn.").removesuffix("}")
            plain = [item for item in row[2:] if isinstance(item, str)]
            yield name, [t.removeprefix("${local.dim.").removesuffix("}") for t in plain[0::2]]


def test_the_dashboard_and_the_alarms_use_emitted_metrics_with_their_dimension_sets(
    root: Module, modules: dict[str, Module]
) -> None:
    observability = modules["observability"]
    local = observability.locals
    assert (local["ns"], local["mn"], local["dim"]) == (
        "${local.metrics_namespace}",
        "${local.metric_names}",
        "${local.dimension_keys}",
    )
    specs = {_key(spec.name): spec for spec in catalog.METRICS}
    dims = local["dimension_keys"]
    rows = list(_dashboard_rows(local["dashboard_widgets"]))
    assert {name for name, _ in rows} == set(specs), "every metric is on the dashboard"
    for name, keys in rows:
        assert tuple(dims[k] for k in keys) in specs[name].dimension_sets, (name, keys)
    # Literal names only in metrics.tf: everything else goes through its locals.
    literals = [catalog.NAMESPACE, *(s.name for s in catalog.METRICS), *dims.values()]
    for tf in sorted(observability.path.glob("*.tf")):
        if tf.name != "metrics.tf":
            text = tf.read_text(encoding="utf-8")
            assert not [word for word in literals if f'"{word}"' in text], tf.name

    rate = observability.resource("aws_cloudwatch_metric_alarm", "job_failure_rate")
    queries = {q["id"]: q for q in rate["metric_query"]}
    assert queries["rate"]["expression"] == "${local.failure_rate_expression}"
    assert queries["rate"]["return_data"] is True
    for query, metric in (("failed", "jobs_failed"), ("done", "jobs_completed")):
        (stat,) = queries[query]["metric"]
        assert stat["metric_name"] == f"${{local.metric_names.{metric}}}"
        assert stat["namespace"] == "${local.metrics_namespace}"
        assert "dimensions" not in stat and () in specs[metric].dimension_sets
    expression = local["failure_rate_expression"]
    assert "100 * FILL(failed, 0) / (FILL(failed, 0) + FILL(done, 0))" in expression

    latency = observability.resource("aws_cloudwatch_metric_alarm", "stage_latency")
    assert latency["metric_name"] == "${local.metric_names.stage_duration}"
    assert latency["namespace"] == "${local.metrics_namespace}"
    assert latency["extended_statistic"] == "p95"
    assert latency["dimensions"] == {
        "${(local.dimension_keys.service)}": "${local.metric_stages[each.key]}",
        "${(local.dimension_keys.stage)}": "${each.key}",
    }
    assert ("Service", "Stage") in catalog.STAGE_DURATION.dimension_sets
    for variables in (observability.variables, root.variables):
        watched = variables["stage_latency_p95_seconds"]["default"]
        assert watched and set(watched) <= set(catalog.STAGES)


def test_ecs_services_write_metrics_by_default(root: Module) -> None:
    assert root.variables["metrics_enabled"]["default"] is True
    assert root.locals["common_environment"]["OMNIGEN_METRICS"] == (
        '${var.metrics_enabled ? "true" : "false"}'
    )


def test_task_commands_are_the_installed_entry_points(
    root: Module, modules: dict[str, Module]
) -> None:
    for service in SERVICES:
        with (REPO / "services" / service / "pyproject.toml").open("rb") as handle:
            scripts = tomllib.load(handle)["project"]["scripts"]
        assert root.locals["entrypoints"][service] in scripts, service
    assert root.modules["compute"]["entrypoints"] == "${local.entrypoints}"
    assert "command = [var.entrypoints[service]]" in modules["compute"].locals["containers"]


# --- checkov -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckovReport:
    check_type: str
    summary: dict[str, Any]
    failed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]


@pytest.fixture(scope="module")
def checkov() -> dict[str, CheckovReport]:
    """One checkov run over terraform/ and the Dockerfiles (~20 s), shared by the tests below."""
    if not CHECKOV.is_file():
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install-checkov.sh")],
            check=True,
            timeout=600,
            env={**os.environ, "OMNIGEN_CHECKOV_VENV": str(CHECKOV_VENV)},
        )
    result = subprocess.run(
        [str(CHECKOV), "--config-file", str(REPO / ".checkov.yaml"), "--output", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.stdout.strip(), f"checkov printed nothing:\n{result.stderr[-3000:]}"
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return {
        report["check_type"]: CheckovReport(
            report["check_type"],
            report["summary"],
            report["results"]["failed_checks"],
            report["results"]["skipped_checks"],
        )
        for report in reports
    }


def test_checkov_scans_terraform_and_the_dockerfiles(checkov: dict[str, CheckovReport]) -> None:
    assert set(checkov) == {"terraform", "dockerfile"}
    assert checkov["terraform"].summary["resource_count"] >= 50
    assert checkov["dockerfile"].summary["resource_count"] == len(SERVICES)
    for report in checkov.values():
        assert report.summary["parsing_errors"] == 0
        assert report.summary["passed"] > 0


def test_checkov_leaves_no_failed_check(checkov: dict[str, CheckovReport]) -> None:
    failures = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for report in checkov.values()
        for c in report.failed
    ]
    assert failures == []


def test_every_checkov_skip_carries_its_reason_inline(checkov: dict[str, CheckovReport]) -> None:
    for report in checkov.values():
        for check in report.skipped:
            reason = check["check_result"].get("suppress_comment") or ""
            assert len(reason.split()) >= 4, f"{check['check_id']} {check['resource']}: {reason!r}"
    # And every skip comment in the tree names a check and gives a reason.
    for path in _skip_comment_files():
        for line in path.read_text(encoding="utf-8").splitlines():
            if "checkov:skip" in line:
                assert re.search(r"#checkov:skip=CKV2?_[A-Z]+_\d+:\S.{20,}", line), (path, line)


def _skip_comment_files() -> Iterator[Path]:
    yield from tf_files()
    for service in SERVICES:
        yield REPO / "services" / service / "Dockerfile"


def test_the_web_pages_origins_may_post_uploads_to_the_bucket(
    root: Module, modules: dict[str, Module]
) -> None:
    cors = modules["storage"].resource("aws_s3_bucket_cors_configuration", "assets")
    assert cors["count"] == "${length(var.web_origins) > 0 ? 1 : 0}"
    rule = cors["cors_rule"]
    rule = rule[0] if isinstance(rule, list) else rule
    assert rule["allowed_methods"] == ["POST"]
    assert rule["allowed_origins"] == "${var.web_origins}"


def test_the_hosted_signin_is_a_public_code_client_whose_tokens_ingest_checks(
    root: Module,
) -> None:
    """var.web_signin (optional) adds a Cognito hosted UI domain and an app client: code flow
    only, no secret (the page sends PKCE S256), callbacks the page's origins; ingest gets the
    sign-in URL and client id, and checks the pool's tokens with the client as audience."""
    assert root.variables["web_signin"]["default"] is None
    assert root.variables["ingest_auth"]["default"] is None  # optional with web_signin
    domain = root.resource("aws_cognito_user_pool_domain", "web")
    client = root.resource("aws_cognito_user_pool_client", "web")
    for resource in (domain, client):
        assert resource["count"] == "${local.signin_enabled ? 1 : 0}"
        assert resource["user_pool_id"] == "${var.web_signin.user_pool_id}"
    assert domain["domain"] == "${var.web_signin.domain_prefix}"
    assert client["generate_secret"] is False
    assert client["allowed_oauth_flows"] == ["code"]
    assert client["allowed_oauth_flows_user_pool_client"] is True
    assert client["allowed_oauth_scopes"] == ["openid"]
    assert client["callback_urls"] == "${local.signin_urls}"
    assert "origin in var.web_origins" in root.locals["signin_urls"]

    environment = root.locals["ingest_auth_environment"]
    assert "aws_cognito_user_pool_client.web[0].id" in environment
    for setting in (
        "OMNIGEN_AUTH_SIGNIN_URL",
        "OMNIGEN_AUTH_CLIENT_ID",
        "OMNIGEN_AUTH_JWKS_URL",
        "OMNIGEN_AUTH_ISSUER",
        "OMNIGEN_AUTH_AUDIENCE",
    ):
        assert setting in environment, setting
    assert "amazoncognito.com" in root.locals["signin_url"]
    assert "/.well-known/jwks.json" in environment
    # only ingest gets them
    assert 'service == "ingest" ? local.ingest_auth_environment : {}' in str(
        root.locals["environment"]
    )
