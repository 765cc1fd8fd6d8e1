"""The published event contract, generated from the code that defines it.

`docs/asyncapi.yaml` (AsyncAPI 3.0.0) describes every topic and queue of the resource spec, every
event type and schema version of `EVENT_MODELS`, the envelope, the SNS message attributes and the
subscriptions' filter policies; `docs/schemas/<event_type>.v<N>.json` holds one standalone JSON
Schema (draft 2020-12) per event and version. Nothing here is written by hand: the pydantic
models, the resource spec and `SnsEventPublisher`'s attributes are the source, and a test fails
when the checked-in files differ from what this module makes.

    python -m omnigen.testing.contract docs          # write
    python -m omnigen.testing.contract docs --check  # exit 1 when stale
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from omnigen.shared.domain.events import EVENT_MODELS, Event, EventType
from omnigen.shared.domain.jobs import JobRequest
from omnigen.shared.domain.webhooks import WEBHOOK_HEADERS, WEBHOOK_PAYLOADS
from omnigen.shared.resources import DEFAULT_PREFIX, Queue, ResourceSpec, resource_spec

# The contract's own version: its major number changes only when an event is removed or an
# existing (type, schema_version) changes incompatibly, which the project's rules forbid.
CONTRACT_VERSION: Final = "1.0.0"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_PREFIX_PLACEHOLDER: Final = "{prefix}"

# What each event means, for the people reading the contract (the models say what it holds).
_SUMMARIES: Final[dict[str, str]] = {
    EventType.JOB_REQUESTED.value: (
        "An upstream system asks for a video on behalf of `user_id`. `data.request_id` is the "
        "sender's idempotency key: the same id with the same request is the same job; with a "
        "different request it is rejected. Answered by `job.accepted` (same `trace_id`) or "
        "`job.rejected` (same `data.request_id`)."
    ),
    EventType.JOB_ACCEPTED.value: "A job was created and queued for the script writer.",
    EventType.JOB_REJECTED.value: (
        "An upstream request could not become a job; `data.reasons` names every field at fault."
    ),
    EventType.SCRIPT_READY.value: "The job's script is written and stored; rendering follows.",
    EventType.JOB_COMPLETED.value: (
        "The video and its poster are in the bucket under `data.video_key` and "
        "`data.thumbnail_key`. Delivered at least once: drop repeats by `event_id`. Once per "
        "version of the job's video: a job's first version is announced as v1 (as always); "
        "a regenerated version (a scene made again) as v2, which adds `data.version` (2 and up)."
    ),
    EventType.REGENERATION_REQUESTED.value: (
        "An upstream system asks to regenerate scene `data.scene_number` of the completed job "
        "`job_id` on behalf of its owner `user_id`, with `data.changes` (the fields of the "
        "HTTP regenerate body). `data.request_id` is the sender's idempotency key: the same id "
        "and changes are the same version. Answered by that version's `job.completed` (v2) or "
        "`job.rejected` (same `data.request_id`; a version running already is a rejection "
        "naming it)."
    ),
    EventType.SCENE_REQUESTED.value: (
        "The renderer's own work item: render scene `data.scene_number` of the job's render "
        "`data.version` (on the scenes queue; any renderer or clip-only task takes it)."
    ),
    EventType.KEYFRAME_REQUESTED.value: (
        "The renderer's own work item in `keyframes` continuity: draw the keyframe image of "
        "scene `data.scene_number` of render `data.version` from the render's shared look (on "
        "the scenes queue); the write recording the last keyframe requests every scene's clip."
    ),
    EventType.AUDIO_REQUESTED.value: (
        "The renderer's own work item: make the narration and music of render `data.version`."
    ),
    EventType.COMPOSE_REQUESTED.value: (
        "Every piece of render `data.version` is recorded: compose the video (published once "
        "per job attempt and version, by the write that recorded the last piece)."
    ),
    EventType.JOB_FAILED.value: (
        "The job ended without a video; `data.error_message` says why in words a user can read."
    ),
}


def _message_name(model: type[Event]) -> str:
    return f"{model.TYPE.value.replace('.', '_')}_v{model.VERSION}"


def schema_file_name(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}.json"


def _with_request_schema(schema: dict[str, Any], ref: str) -> None:
    """`job.requested` carries a `JobRequest` as `data.request`; the event model keeps it a plain
    object (ingest validates it so that a bad request gets `job.rejected`, not the DLQ), the
    contract shows the shape a valid request has."""
    request = schema["properties"]["request"]
    request.pop("additionalProperties", None)
    request.pop("type", None)
    request["$ref"] = ref


def event_schema(model: type[Event]) -> dict[str, Any]:
    """A standalone JSON Schema for one event type and version."""
    schema = copy.deepcopy(model.model_json_schema(mode="validation"))
    if model.TYPE is EventType.JOB_REQUESTED:
        request = JobRequest.model_json_schema(mode="validation")
        defs = schema.setdefault("$defs", {})
        defs.update(request.pop("$defs", {}))
        defs["JobRequest"] = request
        _with_request_schema(defs["JobRequestedData"], "#/$defs/JobRequest")
    schema["title"] = f"{model.TYPE.value} v{model.VERSION}"
    schema["description"] = _SUMMARIES.get(model.TYPE.value, model.__doc__ or "")
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": schema_file_name(model.TYPE.value, model.VERSION),
        **schema,
    }


def webhook_schema_file_name(event_type: str) -> str:
    return f"webhook.{event_type}.v1.json"


def webhook_schema(event_type: str) -> dict[str, Any]:
    """A standalone JSON Schema for one webhook body."""
    model = WEBHOOK_PAYLOADS[event_type]
    schema = copy.deepcopy(model.model_json_schema(mode="serialization"))
    schema["title"] = f"{event_type} webhook v1"
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": webhook_schema_file_name(event_type), **schema}


def _webhook_message_name(event_type: str) -> str:
    return f"webhook_{event_type.replace('.', '_')}_v1"


def _webhook_messages() -> dict[str, Any]:
    headers = {
        "type": "object",
        "description": "Standard Webhooks headers; verify the signature before trusting the body.",
        "required": sorted(WEBHOOK_HEADERS),
        "properties": {
            name: {"type": "string", "description": meaning}
            for name, meaning in WEBHOOK_HEADERS.items()
        },
    }
    return {
        _webhook_message_name(event_type): {
            "name": event_type,
            "title": f"{event_type} webhook v1",
            "summary": (model.__doc__ or "").strip().splitlines()[0],
            "contentType": "application/json",
            "headers": headers,
            "payload": _ref("components/schemas", model.__name__),
            "bindings": {"http": {"bindingVersion": "0.3.0"}},
        }
        for event_type, model in sorted(WEBHOOK_PAYLOADS.items())
    }


def _component_schemas(models: list[type[Event]]) -> dict[str, Any]:
    """Every event model, webhook body and what they refer to, under `#/components/schemas/`."""
    template = "#/components/schemas/{model}"
    chosen: list[tuple[type[BaseModel], JsonSchemaMode]] = [(m, "validation") for m in models]
    chosen.append((JobRequest, "validation"))
    chosen += [(m, "serialization") for _, m in sorted(WEBHOOK_PAYLOADS.items())]
    _, top = models_json_schema(chosen, ref_template=template)
    schemas: dict[str, Any] = top["$defs"]
    if "JobRequestedData" in schemas:
        _with_request_schema(schemas["JobRequestedData"], template.format(model="JobRequest"))
    return schemas


def _headers(model: type[Event]) -> dict[str, Any]:
    """The SNS message attributes every event is published with (copied to SQS message
    attributes by raw delivery); subscribers filter on `event_type`."""
    return {
        "type": "object",
        "description": (
            "SNS message attributes (SQS message attributes with raw delivery). The body's "
            "fields of the same names are authoritative."
        ),
        "required": ["event_type", "schema_version", "trace_id"],
        "properties": {
            "event_type": {"type": "string", "const": model.TYPE.value},
            "schema_version": {"type": "number", "const": model.VERSION},
            "trace_id": {"type": "string"},
        },
    }


def _queue_binding(queue: Queue) -> dict[str, Any]:
    return {
        "name": _named(queue.name),
        "fifoQueue": False,
        "visibilityTimeout": queue.visibility_timeout_s,
        "receiveMessageWaitTime": 20,
        "messageRetentionPeriod": queue.retention_s,
        "redrivePolicy": {
            "deadLetterQueue": {"name": _named(queue.dlq_name)},
            "maxReceiveCount": queue.max_receive_count,
        },
    }


def _named(name: str) -> str:
    """A resource name with the deployment's prefix as a placeholder."""
    return _PREFIX_PLACEHOLDER + name.removeprefix(DEFAULT_PREFIX)


def _channel_id(name: str) -> str:
    words = name.removeprefix(DEFAULT_PREFIX + "-").split("-")
    return words[0] + "".join(w.capitalize() for w in words[1:])


def _ref(kind: str, name: str) -> dict[str, str]:
    return {"$ref": f"#/{kind}/{name}"}


def asyncapi_document(spec: ResourceSpec | None = None) -> dict[str, Any]:
    spec = spec or resource_spec(DEFAULT_PREFIX)
    models = sorted(EVENT_MODELS.values(), key=lambda m: (m.TYPE.value, m.VERSION))
    by_type: dict[str, list[type[Event]]] = {}
    for model in models:
        by_type.setdefault(model.TYPE.value, []).append(model)
    prefix_parameter = {
        "prefix": {
            "default": DEFAULT_PREFIX,
            "description": "The deployment's resource prefix (OMNIGEN_RESOURCE_PREFIX).",
        }
    }

    def messages_of(types: list[str] | None, among: list[type[Event]]) -> dict[str, Any]:
        chosen = [m for m in among if types is None or m.TYPE.value in types]
        return {_message_name(m): _ref("components/messages", _message_name(m)) for m in chosen}

    upstream = (EventType.JOB_REQUESTED, EventType.REGENERATION_REQUESTED)
    requests_models = [m for m in models if m.TYPE in upstream]
    events_models = [m for m in models if m.TYPE not in upstream]
    topic_models = {
        spec.requests_topic.name: requests_models,
        spec.events_topic.name: events_models,
    }
    channels: dict[str, Any] = {}
    for topic in spec.topics:
        channels[_channel_id(topic.name)] = {
            "address": _named(topic.name),
            "title": f"SNS topic {topic.name.removeprefix(DEFAULT_PREFIX + '-')}",
            "parameters": prefix_parameter,
            "messages": messages_of(None, topic_models[topic.name]),
            "bindings": {"sns": {"name": _named(topic.name), "bindingVersion": "0.1.0"}},
        }
    queue_types: dict[str, list[str] | None] = {}
    queue_topic: dict[str, str] = {}
    for subscription in spec.subscriptions:
        queue_types[subscription.queue] = (
            None if subscription.event_types is None else list(subscription.event_types)
        )
        queue_topic[subscription.queue] = subscription.topic
    # The uploads queue carries S3's own notices, not events of ours: not part of the contract.
    event_queues = [queue for queue in spec.queues if queue.name in queue_topic]
    for queue in event_queues:
        channels[_channel_id(queue.name)] = {
            "address": _named(queue.name),
            "title": f"SQS queue {queue.name.removeprefix(DEFAULT_PREFIX + '-')}",
            "description": (
                f"Subscribed to {queue_topic[queue.name].removeprefix(DEFAULT_PREFIX + '-')}; "
                f"after {queue.max_receive_count} receives a message moves to "
                f"{queue.dlq_name.removeprefix(DEFAULT_PREFIX + '-')}."
            ),
            "parameters": prefix_parameter,
            "messages": messages_of(queue_types[queue.name], topic_models[queue_topic[queue.name]]),
            "bindings": {
                "sqs": {
                    "queue": {
                        "name": _named(queue.name),
                        "fifoQueue": False,
                        "visibilityTimeout": queue.visibility_timeout_s,
                        "messageRetentionPeriod": queue.retention_s,
                    },
                    "deadLetterQueue": {
                        "name": _named(queue.dlq_name),
                        "fifoQueue": False,
                        "messageRetentionPeriod": queue.dlq_retention_s,
                    },
                    "bindingVersion": "0.2.0",
                }
            },
        }

    def consumers(topic: str) -> list[dict[str, Any]]:
        found = []
        for subscription in spec.subscriptions:
            if subscription.topic != topic:
                continue
            consumer: dict[str, Any] = {
                "protocol": "sqs",
                "endpoint": {"name": _named(subscription.queue)},
                "rawMessageDelivery": subscription.raw_message_delivery,
            }
            if subscription.filter_policy is not None:
                consumer["filterPolicy"] = subscription.filter_policy
                consumer["filterPolicyScope"] = "MessageAttributes"
            found.append(consumer)
        return found

    requests_channel = _channel_id(spec.requests_topic.name)
    events_channel = _channel_id(spec.events_topic.name)
    operations: dict[str, Any] = {
        "receiveJobRequests": {
            "action": "receive",
            "title": "Upstream systems publish job requests; ingest answers each one.",
            "channel": _ref("channels", requests_channel),
            "messages": [
                _ref(f"channels/{requests_channel}/messages", _message_name(m))
                for m in requests_models
            ],
            "bindings": {
                "sns": {"consumers": consumers(spec.requests_topic.name), "bindingVersion": "0.1.0"}
            },
        },
        "sendJobEvents": {
            "action": "send",
            "title": "The services publish every step of a job.",
            "channel": _ref("channels", events_channel),
            "messages": [
                _ref(f"channels/{events_channel}/messages", _message_name(m)) for m in events_models
            ],
            "bindings": {
                "sns": {"consumers": consumers(spec.events_topic.name), "bindingVersion": "0.1.0"}
            },
        },
    }
    for queue in event_queues:
        channel = _channel_id(queue.name)
        chosen = channels[channel]["messages"]
        operations[f"consume{channel[0].upper()}{channel[1:]}"] = {
            "action": "receive",
            "channel": _ref("channels", channel),
            "messages": [_ref(f"channels/{channel}/messages", name) for name in chosen],
            "bindings": {"sqs": {"queues": [_queue_binding(queue)], "bindingVersion": "0.2.0"}},
        }

    webhook_messages = _webhook_messages()
    channels["webhookDeliveries"] = {
        "address": None,
        "title": "Webhooks: an HTTPS POST to a registered webhook or a job's callback_url",
        "description": (
            "Signed per Standard Webhooks with the webhook's secret (a job callback: the "
            "owner's signing secret). Retried with exponential backoff and jitter for about a "
            "day; a 2xx ends it, a 410 disables the webhook. See docs/integrating.md."
        ),
        "servers": [_ref("servers", "webhookReceiver")],
        "messages": {name: _ref("components/messages", name) for name in webhook_messages},
    }
    operations["sendWebhooks"] = {
        "action": "send",
        "title": "omnigen-webhooks delivers job outcomes to receivers.",
        "channel": _ref("channels", "webhookDeliveries"),
        "messages": [
            _ref("channels/webhookDeliveries/messages", name) for name in webhook_messages
        ],
        "bindings": {"http": {"method": "POST", "bindingVersion": "0.3.0"}},
    }
    messages = {
        _message_name(model): {
            "name": model.TYPE.value,
            "title": f"{model.TYPE.value} v{model.VERSION}",
            "summary": _SUMMARIES.get(model.TYPE.value, ""),
            "contentType": "application/json",
            "headers": _headers(model),
            "payload": _ref("components/schemas", model.__name__),
            "correlationId": {
                "description": "One trace id follows a job through every event.",
                "location": "$message.payload#/trace_id",
            },
        }
        for model in models
    }
    messages.update(webhook_messages)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "omnigen events",
            "version": CONTRACT_VERSION,
            "description": (
                "Every event omnigen receives and publishes. Bodies are JSON with one envelope "
                "(`event_id`, `event_type`, `schema_version`, `occurred_at`, `job_id`, "
                "`user_id`, `trace_id`, `data`); `event_type` and `schema_version` pick the "
                "shape of `data`. A new shape is a new `schema_version`; published versions "
                "never change. Delivery is at least once: a repeat has the same `event_id`. "
                "Generated by `python -m omnigen.testing.contract docs`; see "
                "docs/integrating.md."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "aws": {
                "host": "sns.{region}.amazonaws.com",
                "protocol": "sns",
                "description": "The deployment's AWS region (topics); queues are SQS there too.",
                "variables": {"region": {"default": "us-east-1"}},
            },
            "webhookReceiver": {
                "host": "{receiver}",
                "protocol": "https",
                "description": "A receiver's host: a registered webhook's or a callback_url's.",
                "variables": {"receiver": {"default": "hooks.example.com"}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _component_schemas(models)},
    }


class _PlainDumper(yaml.SafeDumper):
    """Writes a repeated value out again instead of as a YAML anchor and alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def rendered(spec: ResourceSpec | None = None) -> dict[str, str]:
    """Every contract file, relative to the docs folder, and its exact text."""
    files = {
        "asyncapi.yaml": "# Generated by `python -m omnigen.testing.contract docs`; do not edit.\n"
        + yaml.dump(
            asyncapi_document(spec),
            Dumper=_PlainDumper,
            sort_keys=False,
            width=100,
            allow_unicode=True,
        )
    }
    for (event_type, version), model in sorted(EVENT_MODELS.items()):
        files[f"schemas/{schema_file_name(event_type, version)}"] = (
            json.dumps(event_schema(model), indent=2, ensure_ascii=False) + "\n"
        )
    for event_type in sorted(WEBHOOK_PAYLOADS):
        files[f"schemas/{webhook_schema_file_name(event_type)}"] = (
            json.dumps(webhook_schema(event_type), indent=2, ensure_ascii=False) + "\n"
        )
    return files


def stale(docs: Path) -> list[str]:
    """The contract files under `docs` that are missing, different, or no longer generated."""
    expected = rendered()
    found = [
        name
        for name, text in expected.items()
        if not (docs / name).is_file() or (docs / name).read_text() != text
    ]
    schemas = docs / "schemas"
    if schemas.is_dir():
        found += [
            f"schemas/{p.name}"
            for p in sorted(schemas.glob("*.json"))
            if f"schemas/{p.name}" not in expected
        ]
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("docs", type=Path, help="the docs folder")
    parser.add_argument("--check", action="store_true", help="exit 1 when a file is stale")
    args = parser.parse_args(argv)
    if args.check:
        outdated = stale(args.docs)
        for name in outdated:
            print(f"stale: {args.docs / name}", file=sys.stderr)
        return 1 if outdated else 0
    (args.docs / "schemas").mkdir(parents=True, exist_ok=True)
    for old in (args.docs / "schemas").glob("*.json"):
        old.unlink()
    for name, text in rendered().items():
        (args.docs / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
