"""Fuzz the served OpenAPI document with schemathesis, valid and invalid inputs, with a valid
token: never a 5xx, and every 4xx names the problem in the one error shape."""

from __future__ import annotations

import asyncio
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from .helpers import Api

EXAMPLES_PER_OPERATION = 15


def check_response(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code < 400:
        return
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field"}, where
    assert isinstance(error["code"], str) and error["code"], where
    assert isinstance(error["message"], str) and error["message"], where
    if response.status_code in (400, 422):
        assert error["field"], f"{where}: a bad request must name its field"


def fuzz(spec: dict[str, Any], base_url: str, headers: dict[str, str]) -> dict[str, int]:
    """Runs in a worker thread (schemathesis calls are blocking); returns requests per status."""
    schema = schemathesis.openapi.from_dict(spec)
    # Our token, not generated ones: test_auth covers every way a token can be wrong.
    schema.config.generation.update(with_security_parameters=False)
    statuses: dict[str, int] = {}
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        definition = spec["paths"][operation.path][operation.method.lower()]
        takes_input = "parameters" in definition or "requestBody" in definition
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if takes_input else [])
        for mode in modes:

            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: Any) -> None:
                response = case.call(base_url=base_url, session=session, headers=headers)
                check_response(case, response)
                key = f"{case.method} {response.status_code}"
                statuses[key] = statuses.get(key, 0) + 1

            call()
    return statuses


async def test_fuzzing_the_openapi_spec_finds_no_5xx_and_only_shaped_4xx(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    paths = set(spec["paths"])
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events"} <= paths

    statuses = await asyncio.to_thread(fuzz, spec, api.url, api.auth("fuzzer"))

    assert statuses.get("POST 202", 0) > 0, statuses  # valid submissions got through
    assert any(key.startswith("POST 422") for key in statuses), statuses
    assert sum(statuses.values()) >= 50, statuses
