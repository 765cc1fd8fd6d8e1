"""A small client of ingest's HTTP API, used by the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


class ApiError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        message = error.get("message") or str(body)
        field = f" ({error['field']})" if error.get("field") else ""
        super().__init__(f"HTTP {status}: {message}{field}")
        self.status = status


class ApiClient:
    def __init__(self, base_url: str, token: str, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def submit(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return self._json(self._http.post("/v1/jobs", json=body, headers=headers))

    def submit_batch(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        """POST /v1/jobs:batch; `items` are `{"idempotency_key", "request"}`."""
        return self._json(self._http.post("/v1/jobs:batch", json={"jobs": items}))

    def upload(self, path: Path, content_type: str) -> dict[str, Any]:
        """POST /v1/uploads, then the file itself to the presigned POST it answers with."""
        created = self._json(
            self._http.post(
                "/v1/uploads", json={"content_type": content_type, "filename": path.name[:200]}
            )
        )
        target = created["upload"]
        with path.open("rb") as handle:
            sent = httpx.post(
                target["url"],
                data=target["fields"],
                files={"file": (path.name, handle, content_type)},
                timeout=self._http.timeout,
            )
        if sent.status_code >= 300:
            raise ApiError(sent.status_code, {"error": {"message": _storage_refusal(sent.text)}})
        return created

    def get_upload(self, upload_id: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/v1/uploads/{upload_id}"))

    def wait_checked(
        self, upload_id: str, *, timeout_s: float = 120.0, poll_s: float = 0.5
    ) -> dict[str, Any]:
        """The upload once its check settled it (ready or rejected)."""
        deadline = time.monotonic() + timeout_s
        while True:
            upload = self.get_upload(upload_id)
            if upload["status"] != "pending" or time.monotonic() > deadline:
                return upload
            time.sleep(poll_s)

    def get(self, job_id: str) -> dict[str, Any]:
        return self._json(self._http.get(f"/v1/jobs/{job_id}"))

    def list(
        self, *, limit: int = 20, cursor: str | None = None, status: str | None = None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        if status:
            params["status"] = status
        return self._json(self._http.get("/v1/jobs", params=params))

    def usage(self, month: str | None = None) -> dict[str, Any]:
        params = {"month": month} if month else {}
        return self._json(self._http.get("/v1/usage", params=params))

    def retry(self, job_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/v1/jobs/{job_id}/retry"))

    def script(self, job_id: str) -> tuple[dict[str, Any], str]:
        """GET /v1/jobs/{id}/script: the answer and the script's ETag."""
        response = self._http.get(f"/v1/jobs/{job_id}/script")
        return self._json(response), response.headers.get("ETag", "")

    def replace_script(
        self, job_id: str, script: dict[str, Any], etag: str
    ) -> tuple[dict[str, Any], str]:
        """PUT /v1/jobs/{id}/script under If-Match `etag`: the answer and the new ETag."""
        response = self._http.put(
            f"/v1/jobs/{job_id}/script", json={"script": script}, headers={"If-Match": etag}
        )
        return self._json(response), response.headers.get("ETag", "")

    def render(self, job_id: str) -> dict[str, Any]:
        return self._json(self._http.post(f"/v1/jobs/{job_id}/render"))

    def regenerate(
        self,
        job_id: str,
        scene: int,
        changes: dict[str, Any],
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """POST /v1/jobs/{id}/scenes/{n}/regenerate: the job's next version."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        url = f"/v1/jobs/{job_id}/scenes/{scene}/regenerate"
        return self._json(self._http.post(url, json=changes, headers=headers))

    def cancel(self, job_id: str) -> int:
        response = self._http.delete(f"/v1/jobs/{job_id}")
        if response.status_code >= 400:
            raise ApiError(response.status_code, _body(response))
        return response.status_code

    def watch(
        self, job_id: str, interval: float = 0.5, max_interval: float = 5.0
    ) -> Iterator[dict[str, Any]]:
        """Yield the job each time its stage or status changes, until it ends. Reads come every
        `interval` after a change and twice as far apart (up to `max_interval`) while nothing
        changes, so watching a long render costs few requests."""
        last: tuple[str, str] | None = None
        wait = interval
        while True:
            job = self.get(job_id)
            key = (job["status"], job["stage"])
            if key != last:
                last, wait = key, interval
                yield job
            else:
                wait = min(wait * 2, max_interval)
            if job["status"] in ("completed", "failed") or job["stage"] == "awaiting_review":
                return  # ended, or waits for its owner (omnigen script / omnigen render)
            time.sleep(wait)

    def download(self, job_id: str, out: Path, version: int | None = None) -> Path:
        """Follow the video redirect to its presigned URL and stream it to `out` (the newest
        version, or `version`)."""
        params = {} if version is None else {"version": version}
        response = self._http.get(f"/v1/jobs/{job_id}/video", params=params)
        if response.status_code not in (301, 302, 303, 307, 308):
            raise ApiError(response.status_code, _body(response))
        out.parent.mkdir(parents=True, exist_ok=True)
        with httpx.stream("GET", response.headers["location"], timeout=120) as video:
            if video.status_code != 200:
                raise ApiError(video.status_code, video.read().decode(errors="replace"))
            with out.open("wb") as handle:
                for chunk in video.iter_bytes(1 << 20):
                    handle.write(chunk)
        return out

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        body = _body(response)
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        assert isinstance(body, dict)
        return body


def _body(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


def _storage_refusal(text: str) -> str:
    """S3's XML refusal as one line (e.g. EntityTooLarge: the file is over its kind's cap)."""
    code = text.split("<Code>", 1)[-1].split("</Code>", 1)[0] if "<Code>" in text else ""
    return f"the storage refused the file ({code or 'no reason given'})"
