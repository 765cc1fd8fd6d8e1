"""Fuzz the served OpenAPI document with schemathesis, valid and invalid inputs, with a valid
token: never a 5xx, and every 4xx names the problem in the one error shape."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from .helpers import Api

EXAMPLES_PER_OPERATION = 15


def check_response(case: Any, response: Any) -> None:
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:500]}"
    if response.status_code < 400:
        return
    error = response.json()["error"]
    assert set(error) == {"code", "message", "field", "request_id"}, where
    assert [error["request_id"]] == response.headers["x-trace-id"], where
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
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/events", "/v1/usage"} <= paths

    statuses = await asyncio.to_thread(fuzz, spec, api.url, api.auth("fuzzer"))

    assert statuses.get("POST 202", 0) > 0, statuses  # valid submissions got through
    assert any(key.startswith("POST 422") for key in statuses), statuses
    assert sum(statuses.values()) >= 50, statuses


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["nan", "NaN", "inf", "-inf", "Infinity", "1e300", "-0.0", "1700000000.5"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


def cursor_strategy(user_id: str) -> st.SearchStrategy[str]:
    """Cursors shaped like ours with any field of any JSON value, and raw garbage."""
    field = st.sampled_from([user_id]) | JSON_VALUES
    key = st.fixed_dictionaries(
        {"job_id": st.just("0" * 32) | JSON_VALUES, "user_id": field, "created_at": JSON_VALUES}
    )
    shaped = st.fixed_dictionaries({"u": field, "k": key | JSON_VALUES})
    encoded = shaped.map(
        lambda payload: base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
    )
    raw = st.binary(min_size=1, max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode())
    return encoded | raw | st.text(min_size=1, max_size=60)


def fuzz_cursor(base_url: str, headers: dict[str, str], user_id: str) -> dict[int, int]:
    statuses: dict[int, int] = {}
    session = requests.Session()

    @settings(max_examples=150, deadline=None, database=None, derandomize=True)
    @given(cursor=cursor_strategy(user_id))
    def call(cursor: str) -> None:
        response = session.get(
            f"{base_url}/v1/jobs", params={"cursor": cursor}, headers=headers, timeout=30
        )
        assert response.status_code in (200, 400, 422), (cursor, response.text[:300])
        if response.status_code != 200:
            error = response.json()["error"]
            assert error["field"] == "cursor", (cursor, error)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    call()
    return statuses


async def test_fuzzing_the_list_cursor_gives_only_400s_naming_the_cursor(api: Api) -> None:
    statuses = await asyncio.to_thread(
        fuzz_cursor, api.url, api.auth("fuzzer"), api.user_id("fuzzer")
    )

    assert statuses.get(400, 0) > 100, statuses
