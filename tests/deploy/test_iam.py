"""Least privilege, checked against the code: each service's task role grants exactly the
dynamodb, sqs, sns and s3 actions its code paths can call, no more and no fewer.

The code side is `omnigen.testing.aws_calls` (a function-level static call graph from
`omnigen.<svc>.main`; its docstring states the rule). The Terraform side is read with
python-hcl2: every statement of every policy attached to `aws_iam_role.<svc>_task`. Actions our
Python code never makes itself (kms, used by AWS services on the role's behalf; the execution
role's ecr, logs and secretsmanager) are listed in the report, not compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

from omnigen.shared.settings import WorkerSettings
from omnigen.testing.aws_calls import (
    SERVICES as AWS_SERVICES,
)
from omnigen.testing.aws_calls import (
    Analysis,
    AnalysisError,
    analyze,
    dict_sources,
)

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
IAM = TERRAFORM / "modules" / "iam"
SERVICES = ("ingest", "scripter", "renderer", "webhooks")
# Settings the deployment always sets, so code behind `settings.<field> or ...` never runs there.
DEPLOYED_SETTINGS = {"events_topic_arn": WorkerSettings}
# Made by AWS services for the role (kms:ViaService), never by our code: listed, not compared.
NOT_FROM_CODE = {"kms"}

_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)
_REF = re.compile(r"^\$\{([A-Za-z_][\w.]*)\}$")


# --- the Terraform side ---------------------------------------------------------------------


@dataclass
class TfModule:
    """One directory of .tf files, blocks merged the way Terraform merges them."""

    locals: dict[str, Any] = field(default_factory=dict)
    data: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    resources: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> TfModule:
        module = cls()
        for tf in sorted(path.glob("*.tf")):
            with tf.open(encoding="utf-8") as handle:
                parsed: dict[str, Any] = hcl2.load(handle, serialization_options=_OPTIONS)
            for block in parsed.get("locals", []):
                module.locals.update(block)
            for kind, target in (("data", module.data), ("resource", module.resources)):
                for block in parsed.get(kind, []):
                    for rtype, named in block.items():
                        for name, body in named.items():
                            target[(rtype, name)] = body
            for block in parsed.get("output", []):
                module.outputs.update(block)
            for block in parsed.get("module", []):
                module.modules.update(block)
        return module

    def local_value(self, value: Any) -> Any:
        """`${local.a.b}` becomes its value; other text (`${var.x}`, literals) stays."""
        if isinstance(value, list):
            return [self.local_value(item) for item in value]
        if isinstance(value, str) and (match := _REF.match(value)):
            head, *path = match.group(1).split(".")
            if head != "local":
                return value
            resolved: Any = self.locals
            for part in path:
                resolved = resolved[part]
            return self.local_value(resolved)
        return value


@dataclass(frozen=True)
class Statement:
    sid: str
    actions: frozenset[str]
    resources: list[str]
    conditions: list[dict[str, Any]]


def statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Plain statements and the content of `dynamic "statement"` blocks (as if present)."""
    yield from document.get("statement", [])
    for dynamic in document.get("dynamic", []):
        yield from dynamic.get("statement", {}).get("content", [])


def task_role_statements(iam: TfModule, service: str) -> list[Statement]:
    """Every Allow statement of every policy attached to the service's task role."""
    role = f"{service}_task"
    assert ("aws_iam_role", role) in iam.resources, f"no aws_iam_role.{role}"
    body = iam.resources[("aws_iam_role", role)]
    assert "inline_policy" not in body and "managed_policy_arns" not in body, role
    role_refs = {f"${{aws_iam_role.{role}.id}}", f"${{aws_iam_role.{role}.name}}"}
    policies = [
        policy
        for (rtype, _name), policy in iam.resources.items()
        if rtype == "aws_iam_role_policy" and policy["role"] in role_refs
    ]
    assert policies, f"nothing attached to aws_iam_role.{role}"
    found = []
    for policy in policies:
        match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.(\w+)\.json\}", policy["policy"])
        assert match, f"{role}: policy {policy['policy']!r} is not a policy document"
        document = iam.data[("aws_iam_policy_document", match.group(1))]
        for extra in ("source_policy_documents", "override_policy_documents"):
            assert extra not in document, f"{role}: {extra} is not read by this test"
        for statement in statements(document):
            assert statement.get("effect", "Allow") == "Allow", f"{role}: only Allow is read"
            assert "not_actions" not in statement and "not_resources" not in statement, role
            actions = iam.local_value(statement["actions"])
            assert isinstance(actions, list), f"{role}: actions {actions!r} not a list"
            assert not any("${" in action for action in actions), f"{role}: {actions}"
            found.append(
                Statement(
                    sid=statement.get("sid", "?"),
                    actions=frozenset(actions),
                    resources=iam.local_value(statement.get("resources", [])),
                    conditions=statement.get("condition", []),
                )
            )
    return found


def compared(actions: set[str]) -> set[str]:
    return {action for action in actions if action.split(":")[0] in AWS_SERVICES}


@pytest.fixture(scope="module")
def iam() -> TfModule:
    return TfModule.load(IAM)


@pytest.fixture(scope="module")
def analyses() -> dict[str, Analysis]:
    return {
        service: analyze(f"omnigen.{service}.main", deployed=DEPLOYED_SETTINGS)
        for service in SERVICES
    }


def role_actions(iam: TfModule, service: str) -> set[str]:
    return {a for statement in task_role_statements(iam, service) for a in statement.actions}


def explain(analysis: Analysis, action: str) -> str:
    call = analysis.actions()[action][0]
    chain = " <- ".join(reversed(analysis.chain(call.function)))
    return f"{action}: {call.service} {call.operation} at line {call.line} of {chain}"


# --- the comparison -------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_task_role_grants_exactly_what_the_code_calls(
    iam: TfModule, analyses: dict[str, Analysis], service: str
) -> None:
    analysis = analyses[service]
    needed = set(analysis.actions())
    granted = role_actions(iam, service)
    assert needed, f"{service}: no AWS call found; the analysis is broken"
    assert needed == compared(needed), f"{service}: actions outside {AWS_SERVICES}"
    assert not any("*" in action for action in granted), f"{service}: wildcard in {granted}"
    missing = sorted(needed - granted)
    extra = sorted(compared(granted) - needed)
    assert not missing, f"{service}: the code calls what its role denies:\n" + "\n".join(
        explain(analysis, action) for action in missing
    )
    assert not extra, f"{service}: the role grants what no code path calls: {extra}"


def test_actions_are_attributed_per_function_not_per_adapter(
    analyses: dict[str, Analysis],
) -> None:
    """The repository class also serves ingest's delete and create; the workers call neither."""
    actions = {service: set(analysis.actions()) for service, analysis in analyses.items()}
    assert {"dynamodb:DeleteItem", "dynamodb:PutItem", "s3:DeleteObject"} <= actions["ingest"]
    for worker in ("scripter", "renderer"):
        assert not actions[worker] & {"dynamodb:DeleteItem", "dynamodb:PutItem", "s3:DeleteObject"}
    assert "s3:PutObject" in actions["renderer"]
    assert not any(action.startswith("s3:") for action in actions["scripter"])


def test_deployed_settings_are_set_by_the_terraform(analyses: dict[str, Analysis]) -> None:
    """The skipped fallback (find_topic_arn -> sns:ListTopics) never runs on AWS, because the
    stack gives every service the setting; without it the service would need ListTopics."""
    guarded = {g.field for analysis in analyses.values() for g in analysis.guarded}
    assert guarded == set(DEPLOYED_SETTINGS), "every service guards its topic lookup"
    root = TfModule.load(TERRAFORM)
    for name, settings in DEPLOYED_SETTINGS.items():
        assert name in settings.model_fields
        variable = f"{settings.model_config.get('env_prefix', '')}{name}".upper()
        assert root.locals["common_environment"][variable].startswith("${module.messaging.")
    assert "local.common_environment" in root.locals["environment"]
    assert root.modules["compute"]["environment"] == "${local.environment}"


def test_the_compared_role_is_the_one_each_task_runs_with(iam: TfModule) -> None:
    root = TfModule.load(TERRAFORM)
    outputs = iam.outputs["task_role_arns"]["value"]
    assert outputs == {service: f"${{aws_iam_role.{service}_task.arn}}" for service in SERVICES}
    assert root.modules["compute"]["task_role_arns"] == "${module.iam.task_role_arns}"
    tasks = TfModule.load(TERRAFORM / "modules" / "compute")
    task = tasks.resources[("aws_ecs_task_definition", "service")]
    # a service that runs another's image (clips: the renderer) runs with that one's role
    assert task["task_role_arn"] == "${var.task_role_arns[local.origin[each.key]]}"
    assert tasks.locals["origin"] == (
        "${{for service in keys(var.services) : service => lookup(var.runs_as, service, service)}}"
    )
    assert root.modules["compute"]["runs_as"] == {"clips": "renderer"}
    for module in [root, *(TfModule.load(p) for p in sorted((TERRAFORM / "modules").iterdir()))]:
        attachments = [
            key
            for key in module.resources
            if key[0] in ("aws_iam_role_policy_attachment", "aws_iam_policy_attachment")
        ]
        assert not attachments, f"managed policies are not compared by this test: {attachments}"


def test_bucket_listing_serves_heads_without_a_prefix_condition(
    iam: TfModule, analyses: dict[str, Analysis]
) -> None:
    """HeadObject and HeadBucket carry no s3:prefix, so a condition on it would deny them."""
    for service, analysis in analyses.items():
        heads = {c.operation for c in analysis.calls if c.operation in ("HeadObject", "HeadBucket")}
        if not heads:
            continue
        listing = [s for s in task_role_statements(iam, service) if "s3:ListBucket" in s.actions]
        assert listing, f"{service} calls {heads} without s3:ListBucket"
        for statement in listing:
            variables = {condition["variable"] for condition in statement.conditions}
            assert not variables, f"{service}: {statement.sid} conditions {variables}"


def test_the_user_jobs_index_is_reachable_only_by_roles_that_query(iam: TfModule) -> None:
    for service in SERVICES:
        for statement in task_role_statements(iam, service):
            if any("/index/" in str(resource) for resource in statement.resources):
                assert "dynamodb:Query" in statement.actions, (service, statement.sid)


def test_report_per_service_actions(
    iam: TfModule, analyses: dict[str, Analysis], capsys: pytest.CaptureFixture[str]
) -> None:
    """Prints what each service's code calls and what its roles grant besides."""
    lines = []
    for service in SERVICES:
        granted = role_actions(iam, service)
        others = sorted(granted - compared(granted))
        assert {action.split(":")[0] for action in others} <= NOT_FROM_CODE, others
        lines.append(f"{service}: code calls {', '.join(sorted(analyses[service].actions()))}")
        lines.append(f"  task role also grants (not made by our code): {', '.join(others)}")
        skipped = sorted({f"{g.function} ({g.field})" for g in analyses[service].guarded})
        lines.append(f"  fallbacks skipped by deployed settings: {', '.join(skipped)}")
    execution = iam.data[("aws_iam_policy_document", "execution")]
    agent = sorted({a for s in statements(execution) for a in iam.local_value(s["actions"])})
    lines.append(f"execution roles (ECS agent, not our code): {', '.join(agent)}")
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert all(analyses[service].calls for service in SERVICES)


# --- the analysis on code written for it ----------------------------------------------------

SYNTHETIC = {
    "synthetic.__init__": "",
    "synthetic.main": """
from synthetic.store import Store, lookup


def main(client, settings):
    store = Store(client)
    store.save(b"x")
    topic = settings.events_topic_arn or lookup(client)
    return store, topic


def never_called(client):
    client.delete_object(Bucket="b", Key="k")
""",
    "synthetic.store": """
class Store:
    def __init__(self, client):
        self._client = client

    def save(self, data):
        self._client.put_object(Bucket="b", Key="k", Body=data)
        return self._link()

    def _link(self):
        return self._client.generate_presigned_url("get_object", Params={})

    def unused(self):
        self._client.get_waiter("table_exists")


def lookup(client):
    return client.get_paginator("list_topics")
""",
}


def test_a_synthetic_module_calling_put_object_needs_s3_put_object() -> None:
    analysis = analyze("synthetic.main", loader=dict_sources(SYNTHETIC))
    assert set(analysis.actions()) == {"s3:PutObject", "s3:GetObject", "sns:ListTopics"}
    assert analysis.chain("synthetic.store:Store._link")[-2:] == [
        "synthetic.store:Store.save",
        "synthetic.store:Store._link",
    ]


def test_deployed_settings_and_unreachable_functions_are_not_counted() -> None:
    analysis = analyze(
        "synthetic.main", loader=dict_sources(SYNTHETIC), deployed={"events_topic_arn"}
    )
    assert set(analysis.actions()) == {"s3:PutObject", "s3:GetObject"}
    assert [g.field for g in analysis.guarded] == ["events_topic_arn"]


def test_waiters_map_to_their_operation() -> None:
    sources = {
        "synthetic.__init__": "",
        "synthetic.main": "def main(ddb):\n    ddb.get_waiter('table_exists').wait()\n",
    }
    assert set(analyze("synthetic.main", loader=dict_sources(sources)).actions()) == {
        "dynamodb:DescribeTable"
    }


def test_a_transaction_needs_the_actions_of_the_operations_in_its_literal_list() -> None:
    sources = {
        "synthetic.__init__": "",
        "synthetic.main": (
            "def main(ddb, put, update):\n"
            "    ddb.transact_write_items(TransactItems=[{'Put': put}, {'Update': update}])\n"
        ),
    }
    assert set(analyze("synthetic.main", loader=dict_sources(sources)).actions()) == {
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    }
    sources["synthetic.main"] = (
        "def main(ddb, items):\n    ddb.transact_write_items(TransactItems=items)\n"
    )
    with pytest.raises(AnalysisError, match="literal list"):
        analyze("synthetic.main", loader=dict_sources(sources)).actions()


def test_an_operation_several_services_share_fails_loudly() -> None:
    sources = {
        "synthetic.__init__": "",
        "synthetic.main": "def main(client):\n    client.tag_resource(ResourceArn='a', Tags=[])\n",
    }
    with pytest.raises(AnalysisError, match="tag_resource"):
        analyze("synthetic.main", loader=dict_sources(sources))


def test_a_wrapping_decorator_passes_methods_through_but_a_registering_one_reaches_them() -> None:
    sources = {
        "synthetic.__init__": "",
        "synthetic.main": """
import functools


def guarded(method):
    @functools.wraps(method)
    async def wrapper(*args):
        return await method(*args)
    return wrapper


def register(method):
    return method


class Store:
    @guarded
    def drop(self, client):
        client.delete_item(TableName="t", Key={})

    @register
    def handler(self, client):
        client.get_item(TableName="t", Key={})


def main(client):
    return Store()
""",
    }
    assert set(analyze("synthetic.main", loader=dict_sources(sources)).actions()) == {
        "dynamodb:GetItem"
    }


def test_no_task_role_may_publish_a_job_request(
    iam: TfModule, analyses: dict[str, Analysis]
) -> None:
    """The requests topics (the shared one and every upstream publisher's own) are the trust
    boundary: only upstream principals publish there (their topic policies). No service's role
    reaches one, and the ingest consumer learns the publisher from SNS's envelope in the message
    it already receives, so telling publishers apart adds no AWS call to its code."""
    root = TfModule.load(TERRAFORM)
    messaging = TfModule.load(TERRAFORM / "modules" / "messaging")
    assert root.modules["iam"]["topic_arns"] == "${module.messaging.topic_arns}"
    assert messaging.outputs["topic_arns"]["value"] == (
        "${{for key, topic in aws_sns_topic.this : key => topic.arn}}"
    )  # the publisher topics are another resource, never handed to the iam module
    for service in SERVICES:
        publishes = [] if service == "webhooks" else ["job_events"]  # webhooks publishes nothing
        assert iam.locals.get(f"{service}_topic_keys", []) == publishes, service
        for statement in task_role_statements(iam, service):
            assert "publisher" not in str(statement.resources), (service, statement.sid)
    consumer_calls = {
        action for action in analyses["ingest"].actions() if action.startswith(("sqs:", "sns:"))
    }
    assert consumer_calls == {
        "sns:GetTopicAttributes",  # /readyz
        "sns:Publish",  # job.accepted and job.rejected, on the events topic
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",  # a delivery resent by its owner, onto the webhooks queue
    }
