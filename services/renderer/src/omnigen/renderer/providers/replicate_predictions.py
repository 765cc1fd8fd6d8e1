"""One Replicate prediction start to finish: create, poll, download; cancel on the way out.

Creating, downloading and cancelling follow the shared `RetryPolicy` (the replicate client's own
retries cover GET only); polling backs off and tolerates passing outages until the deadline.
Whatever stops
the wait early (the deadline, a task cancellation, a permanent error) cancels the prediction on
Replicate, so none keeps running, and billing, after we stopped caring.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextvars
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import httpx
import structlog
from replicate.client import Client
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from omnigen.renderer.providers.errors import (
    PredictionFailed,
    ProviderDeadlineExceeded,
    ProviderFailed,
)
from omnigen.shared.providers import (
    Failure,
    ReadFailure,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from omnigen.shared.redaction import redact_text

log = structlog.get_logger()
T = TypeVar("T")

PROVIDER = "replicate"
TERMINAL = frozenset({"succeeded", "failed", "canceled"})
POLL_GROWTH = 1.5
CANCEL_BUDGET_S = 10.0  # of retrying a cancel, on the way out of a prediction
CANCEL_TIMEOUT_S = 10.0
DOWNLOAD_TIMEOUT = httpx.Timeout(30.0, read=120.0)
DETAIL_MAX_CHARS = 500

# Retry-After of the last response seen by this task's requests (an httpx response hook sets it):
# ReplicateError keeps the status and problem details but drops the headers.
_RETRY_AFTER: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "replicate_retry_after", default=None
)


@dataclass(frozen=True)
class PredictionBudget:
    """How long one prediction may take and how patiently it is started and watched."""

    deadline_s: float = 300.0
    poll_interval_s: float = 1.0
    poll_max_interval_s: float = 2.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    download_max_bytes: int = 1_000_000_000


class ReplicatePredictions:
    """Runs predictions on one Replicate account; shared by the clip and music adapters."""

    def __init__(self, *, api_token: str, base_url: str | None, budget: PredictionBudget) -> None:
        if not api_token:
            raise ValueError("a Replicate API token is required")
        self._token = api_token
        self._budget = budget
        self._transport = httpx.AsyncHTTPTransport()
        self._closed = False
        self._latest_versions: dict[str, str] = {}
        self._client = Client(
            api_token=api_token,
            base_url=base_url,
            transport=self._transport,
            event_hooks={"response": [_remember_retry_after]},
        )

    async def aclose(self) -> None:
        """Close the connection pool; safe to call more than once (clips and music share it)."""
        if not self._closed:
            self._closed = True
            await self._transport.aclose()

    async def run(self, *, model: str, inputs: dict[str, Any], what: str, dest_stem: Path) -> Path:
        """Run `model` on `inputs` and download its output next to `dest_stem` (suffix added).

        `what` names the step in reasons and logs, e.g. "scene 2 clip".
        """
        deadline = time.monotonic() + self._budget.deadline_s
        prediction = await self._create(model, inputs, what, deadline)
        log.info(
            "replicate_prediction_created", prediction_id=prediction.id, model=model, step=what
        )
        try:
            await self._wait(prediction, what, deadline)
        except ProviderDeadlineExceeded:
            raise
        except BaseException:
            await asyncio.shield(self._cancel(prediction.id))
            raise
        url = self._output_url(prediction, what)
        return await self._download(url, dest_stem, what, prediction.id)

    def _output_url(self, prediction: Prediction, what: str) -> str:
        """The file a finished prediction made, or the reason it made none."""
        if prediction.status == "failed":
            error = redact_text(str(prediction.error or "no error given"), self._token)
            reason = f"failed: {error[:DETAIL_MAX_CHARS]}"
        elif prediction.status == "canceled":
            reason = "was canceled on Replicate"
        elif (url := output_url(prediction.output)) is not None:
            return url
        else:
            reason = "succeeded without a file output"
        log.warning("replicate_prediction_unusable", prediction_id=prediction.id, step=what,
                    status=prediction.status, reason=reason)  # fmt: skip
        raise PredictionFailed(
            f"replicate prediction {prediction.id} ({what}) {reason}",
            provider=PROVIDER,
            prediction_id=prediction.id,
        )

    async def _create(
        self, model: str, inputs: dict[str, Any], what: str, deadline: float
    ) -> Prediction:
        """Start the prediction, retrying within the deadline as well as the retry budget."""
        remaining = max(0.0, deadline - time.monotonic())
        try:
            async with asyncio.timeout(remaining):
                return await self._call(
                    lambda: self._create_once(model, inputs),
                    doing=f"start {what} with {model}",
                    within_s=remaining,
                )
        except TimeoutError:
            raise ProviderDeadlineExceeded(
                f"replicate did not accept {what} within {self._budget.deadline_s:g} s",
                provider=PROVIDER,
            ) from None

    async def _call(
        self, attempt: Callable[[], Awaitable[T]], *, doing: str, within_s: float | None = None
    ) -> T:
        """`attempt()` under the shared policy, its budget cut to `within_s` when given."""
        retry = self._budget.retry
        if within_s is not None:
            retry = replace(retry, budget_s=min(retry.budget_s, within_s))
        read_failure = self._read_failure(doing)
        return await retry.call(
            attempt, read_failure=read_failure, provider=PROVIDER, secrets=(self._token,)
        )

    def _read_failure(self, doing: str) -> ReadFailure:
        """How the client's errors read while doing `doing` (e.g. "start music with m/n")."""

        def read(err: Exception) -> Failure | None:
            if isinstance(err, ReplicateError):
                detail = redact_text(str(err.detail or err.title or "no detail"), self._token)
                reason = f"replicate refused to {doing} (HTTP {err.status}): "
                return Failure.answered(
                    err.status, reason + detail[:DETAIL_MAX_CHARS], retry_after_s=_RETRY_AFTER.get()
                )
            if isinstance(err, _DownloadError):
                return Failure(f"could not {doing}: {err.reason}", err.retryable, err.status_code)
            if isinstance(err, httpx.TransportError | TimeoutError):
                return Failure.unanswered(
                    f"could not reach replicate to {doing}: {type(err).__name__}"
                )
            return None

        return read

    async def _create_once(self, model: str, inputs: dict[str, Any]) -> Prediction:
        """Official models run by name; others (most community models) need a version, so a
        404 by name is answered by running the model's latest version."""
        _RETRY_AFTER.set(None)
        name, _, version = model.partition(":")
        if not version and name not in self._latest_versions:
            try:
                return await self._client.predictions.async_create(model=name, input=inputs)
            except ReplicateError as err:
                if err.status != 404:
                    raise
            self._latest_versions[name] = await self._latest_version(name)
        version = version or self._latest_versions[name]
        return await self._client.predictions.async_create(version=version, input=inputs)

    async def _latest_version(self, name: str) -> str:
        found = await self._client.models.async_get(name)
        if found.latest_version is None:
            raise ProviderFailed(f"replicate model {name} has no version to run", provider=PROVIDER)
        log.info("replicate_model_version_resolved", model=name, version=found.latest_version.id)
        return found.latest_version.id

    async def _wait(self, prediction: Prediction, what: str, deadline: float) -> None:
        """Poll until the prediction is terminal; past the deadline, cancel it and say so."""
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                await self._poll(prediction, what)
        except TimeoutError:
            cancelled = await asyncio.shield(self._cancel(prediction.id))
            outcome = "cancelled" if cancelled else "cancelling it failed"
            raise ProviderDeadlineExceeded(
                f"replicate prediction {prediction.id} ({what}) did not finish within "
                f"{self._budget.deadline_s:g} s; {outcome}",
                provider=PROVIDER,
                prediction_id=prediction.id,
            ) from None

    async def _poll(self, prediction: Prediction, what: str) -> None:
        interval = self._budget.poll_interval_s
        polls = 0
        while prediction.status not in TERMINAL:
            await asyncio.sleep(interval)
            interval = min(interval * POLL_GROWTH, self._budget.poll_max_interval_s)
            polls += 1
            try:
                await prediction.async_reload()
            except ReplicateError as err:
                if not is_retryable_status(err.status):
                    detail = redact_text(str(err.detail or err.title or "no detail"), self._token)
                    raise PredictionFailed(
                        f"replicate would not report on prediction {prediction.id} ({what}) "
                        f"(HTTP {err.status}): {detail[:DETAIL_MAX_CHARS]}",
                        provider=PROVIDER,
                        status_code=err.status,
                        prediction_id=prediction.id,
                    ) from err
                log.warning(
                    "replicate_poll_failed", prediction_id=prediction.id, status_code=err.status
                )
            except httpx.TransportError as err:
                log.warning(
                    "replicate_poll_failed", prediction_id=prediction.id, error=type(err).__name__
                )
        log.info(
            "replicate_prediction_finished",
            prediction_id=prediction.id,
            step=what,
            status=prediction.status,
            polls=polls,
        )

    async def _cancel(self, prediction_id: str) -> bool:
        """Ask Replicate to stop the prediction; True once it is no longer running."""

        async def attempt() -> Prediction:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                return await self._client.predictions.async_cancel(prediction_id)

        try:
            cancelled = await self._call(
                attempt, doing=f"cancel prediction {prediction_id}", within_s=CANCEL_BUDGET_S
            )
        except ProviderFailed as failed:
            log.warning("replicate_cancel_failed", prediction_id=prediction_id, reason=str(failed))
            return False
        log.info("replicate_prediction_cancelled", prediction_id=prediction_id,
                 status=cancelled.status)  # fmt: skip
        return True

    async def _download(self, url: str, dest_stem: Path, what: str, prediction_id: str) -> Path:
        dest = dest_stem.with_name(dest_stem.name + _suffix(url))
        await anyio.Path(dest.parent).mkdir(parents=True, exist_ok=True)
        if url.startswith("data:"):
            await anyio.Path(dest).write_bytes(_decode_data_uri(url, what, prediction_id))
            return dest

        async def attempt() -> int:
            try:
                return await self._fetch(url, dest)
            except Exception:
                await anyio.Path(dest).unlink(missing_ok=True)
                raise

        doing = f"download the output of replicate prediction {prediction_id} ({what})"
        size = await self._call(attempt, doing=doing)
        log.info("replicate_output_downloaded", prediction_id=prediction_id, bytes=size)
        return dest

    async def _fetch(self, url: str, dest: Path) -> int:
        """Stream `url` into `dest`; outputs live on a CDN, so no credentials are sent."""
        limit = self._budget.download_max_bytes
        try:
            async with (
                httpx.AsyncClient(timeout=DOWNLOAD_TIMEOUT, follow_redirects=True) as http,
                http.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise _DownloadError(
                        f"HTTP {response.status_code}",
                        retryable=is_retryable_status(response.status_code),
                        status_code=response.status_code,
                    )
                size = 0
                async with await anyio.open_file(dest, "wb") as out:
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise _DownloadError(f"larger than {limit} bytes", retryable=False)
                        await out.write(chunk)
        except httpx.TransportError as err:
            raise _DownloadError(type(err).__name__, retryable=True) from err
        if size == 0:
            raise _DownloadError("the file is empty", retryable=True)
        return size


class _DownloadError(Exception):
    """One download attempt that failed; `_read_failure` turns it into a `Failure`."""

    def __init__(self, reason: str, *, retryable: bool, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.status_code = status_code


async def _remember_retry_after(response: httpx.Response) -> None:
    _RETRY_AFTER.set(parse_retry_after(response.headers))


def output_url(output: Any) -> str | None:
    """The file a prediction made: its output is one URL, or a list whose first item is one."""
    if isinstance(output, list | tuple):
        output = next((item for item in output if isinstance(item, str)), None)
    if isinstance(output, str) and output.startswith(("http://", "https://", "data:")):
        return output
    return None


def _suffix(url: str) -> str:
    if url.startswith("data:"):
        return ".bin"
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    return suffix if suffix.isascii() and 1 < len(suffix) <= 6 else ".bin"


def _decode_data_uri(url: str, what: str, prediction_id: str) -> bytes:
    header, _, payload = url.partition(",")
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        pass
    raise PredictionFailed(
        f"replicate prediction {prediction_id} ({what}) returned an unreadable data URI",
        provider=PROVIDER,
        prediction_id=prediction_id,
    )
