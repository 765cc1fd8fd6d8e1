"""Conversion between domain values and DynamoDB attribute values.

Maps and lists are stored natively (never as JSON strings). Floats travel as Decimals built
from their shortest repr, so they read back as the same float. Integers are JSON-safe
(|n| < 2**53) so an integral number can always be read back as an int of the same value; NaN,
infinities and larger integers are refused with an error naming the attribute.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from omnigen.shared.domain.jobs import Job

MAX_SAFE_INTEGER: Final = 2**53
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


class UnstorableValue(ValueError):
    pass


def to_dynamo_value(value: Any, path: str = "value") -> Any:
    """JSON-like Python -> what boto3's serializer accepts (floats become Decimals)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, Decimal)):
        return value
    if isinstance(value, int):
        if abs(value) >= MAX_SAFE_INTEGER:
            raise UnstorableValue(f"{path}: integer {value} is beyond 2**53; store it as a string")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnstorableValue(f"{path}: {value} cannot be stored in DynamoDB")
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {str(k): to_dynamo_value(v, f"{path}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_dynamo_value(v, f"{path}[{i}]") for i, v in enumerate(value)]
    raise UnstorableValue(f"{path}: {type(value).__name__} is not a storable value")


def from_dynamo_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        integral = value == value.to_integral_value() and abs(value) < MAX_SAFE_INTEGER
        return int(value) if integral else float(value)
    if isinstance(value, Mapping):
        return {k: from_dynamo_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [from_dynamo_value(v) for v in value]
    return value


def serialize(value: Any, path: str = "value") -> dict[str, Any]:
    """One attribute value in DynamoDB's wire format ({"S": ...}, {"M": ...}, ...)."""
    return _serializer.serialize(to_dynamo_value(value, path))  # type: ignore[no-any-return]


def deserialize(attribute: Mapping[str, Any]) -> Any:
    return from_dynamo_value(_deserializer.deserialize(dict(attribute)))


def job_to_item(job: Job) -> dict[str, Any]:
    plain = job.model_dump(mode="json", exclude_none=True)
    return {name: serialize(value, name) for name, value in plain.items()}


def item_to_job(item: Mapping[str, Any]) -> Job:
    return Job.model_validate({name: deserialize(value) for name, value in item.items()})
