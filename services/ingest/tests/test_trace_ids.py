"""A request's trace id is a W3C trace id, and the job it submits keeps it: the caller's
`traceparent` names it, else its X-Trace-Id (mapped when it is not a W3C trace id), else a
new one. With tracing off the same ids are chosen (events carry them either way)."""

from __future__ import annotations

import re

from omnigen.shared.telemetry.tracing import w3c_trace_id

from .helpers import Api, job_body

W3C = re.compile(r"^[0-9a-f]{32}$")
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def submitted_trace(api: Api, headers: dict[str, str]) -> tuple[str, str]:
    """(the answer's X-Trace-Id, the stored job's trace id)."""
    response = await api.client.post(
        "/v1/jobs", json=job_body(), headers={**api.auth("alice"), **headers}
    )
    assert response.status_code == 202, response.text
    job = await (await api.stack.repository()).get_job(response.json()["job_id"])
    assert job.trace_id is not None
    return response.headers["X-Trace-Id"], job.trace_id


async def test_the_callers_traceparent_names_the_trace(api: Api) -> None:
    parent = f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"
    assert await submitted_trace(api, {"traceparent": parent}) == (CALLER_TRACE, CALLER_TRACE)
    # It wins over X-Trace-Id; a malformed traceparent is ignored.
    both = {"traceparent": parent, "X-Trace-Id": "b" * 32}
    assert await submitted_trace(api, both) == (CALLER_TRACE, CALLER_TRACE)
    bad = {"traceparent": f"00-{'0' * 32}-00f067aa0ba902b7-01", "X-Trace-Id": "c" * 32}
    assert await submitted_trace(api, bad) == ("c" * 32, "c" * 32)


async def test_an_x_trace_id_is_kept_when_w3c_and_mapped_otherwise(api: Api) -> None:
    assert await submitted_trace(api, {"X-Trace-Id": "a" * 32}) == ("a" * 32, "a" * 32)
    mapped = w3c_trace_id("req-42")
    assert W3C.match(mapped)
    assert await submitted_trace(api, {"X-Trace-Id": "req-42"}) == (mapped, mapped)
    fresh, stored = await submitted_trace(api, {})
    assert W3C.match(fresh) and fresh == stored
