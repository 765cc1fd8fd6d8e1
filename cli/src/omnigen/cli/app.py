"""`omnigen`: run the whole pipeline locally, talk to any deployment, operate its queues."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnigen.cli import dlq as dlq_ops
from omnigen.cli.api import ApiClient, ApiError
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS, LocalPipeline
from omnigen.cli.tokens import MIN_SECRET_CHARS, TokenSettings, mint_hs256_token
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.logging import configure_logging
from omnigen.shared.settings import AwsSettings

app = typer.Typer(help="omnigen: a prompt in, a short video out.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and redrive dead-letter queues.", no_args_is_help=True)
local_app = typer.Typer(
    help="The local stack (embedded AWS emulator + services).", no_args_is_help=True
)
app.add_typer(dlq_app, name="dlq")
app.add_typer(local_app, name="local")
console = Console()
err_console = Console(stderr=True)


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    api_url: str = Field(default="http://127.0.0.1:8000")
    token: str | None = None


Duration = Annotated[int, typer.Option(help="seconds, 10-60")]
Aspect = Annotated[str, typer.Option("--aspect-ratio", help="16:9, 9:16 or 1:1")]
Opt = Annotated[str | None, typer.Option()]


def _request_body(
    prompt: str, duration: int, aspect_ratio: str, **options: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "duration": duration, "aspect_ratio": aspect_ratio}
    body.update({k: v for k, v in options.items() if v})
    return body


# -- the embedded stack ---------------------------------------------------------------------


@contextlib.contextmanager
def embedded_stack(workdir: Path, *, scale: float | None = None) -> Iterator[LocalPipeline]:
    """moto in this process, the resource spec applied, the three services as processes."""
    for name, value in EMULATOR_CREDENTIALS.items():  # never send real credentials to moto
        os.environ[name] = value
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_PROFILE", None)
    moto = MotoServer(in_process=True)
    pipeline: LocalPipeline | None = None
    with _status("Starting the embedded AWS emulator"):
        moto.start()
    try:
        settings = AwsSettings(endpoint_url=moto.endpoint_url)
        with _status("Creating queues, topics, table and bucket"):
            asyncio.run(_bootstrap(settings))
        extra = {"OMNIGEN_WORKER_WAIT_TIME_S": "2"}
        if scale is not None:
            extra["OMNIGEN_RENDER_SCALE"] = str(scale)
        pipeline = LocalPipeline(settings, workdir, env=extra)
        with _status("Starting ingest, scripter and renderer"):
            pipeline.start()
        yield pipeline
    finally:
        with _status("Stopping services"):
            codes = pipeline.stop() if pipeline is not None else {}
            moto.stop()
        unclean = {name: code for name, code in codes.items() if code != 0}
        if unclean:
            console.print(f"[yellow]services that did not exit cleanly: {unclean}[/]")


async def _bootstrap(settings: AwsSettings) -> None:
    async with AwsClients(settings) as aws:
        await apply_spec(aws, settings.resources)


@contextlib.contextmanager
def _status(message: str) -> Iterator[None]:
    with console.status(message):
        yield
    console.print(f"[green]✓[/] {message}")


@contextlib.contextmanager
def _interrupts_as_keyboard() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so every path runs the same clean-up."""

    def raise_interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command()
def demo(
    prompt: Annotated[str, typer.Argument(help="what the video is about")],
    duration: Duration = 20,
    aspect_ratio: Aspect = "16:9",
    style: Opt = None,
    tone: Opt = None,
    voice: Opt = None,
    out: Annotated[Path, typer.Option(help="where to save the MP4")] = Path("out"),
    scale: Annotated[float | None, typer.Option(help="render smaller frames (0-1]")] = None,
) -> None:
    """Run one prompt through the whole pipeline on this machine; no account, no key."""
    configure_logging("cli", level="WARNING", json_output=False)
    workdir = Path(tempfile.mkdtemp(prefix="omnigen-demo-"))
    try:
        with _interrupts_as_keyboard(), embedded_stack(workdir, scale=scale) as pipeline:
            client = ApiClient(pipeline.api_url, pipeline.mint_token("demo-user"))
            body = _request_body(
                prompt, duration, aspect_ratio, style=style, tone=tone, voice=voice
            )
            job = client.submit(body)
            console.print(f"Job [bold]{job['job_id']}[/] accepted")
            final = _follow(client, job["job_id"])
            if final["status"] != "completed":
                console.print(f"[red]✗ job failed at {final['stage']}: {final['error_message']}[/]")
                console.print(f"service logs: {workdir}")
                raise typer.Exit(1)
            path = client.download(
                job["job_id"], out / f"{_slug(final.get('title'))}-{job['job_id'][:8]}.mp4"
            )
            console.print(f"[green]✓[/] Video saved: [bold]{path.resolve()}[/]")
    except KeyboardInterrupt:
        console.print("[yellow]interrupted; everything was shut down[/]")
        raise typer.Exit(130) from None


def _follow(client: ApiClient, job_id: str) -> dict[str, Any]:
    """A live progress bar through the stages until the job ends."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]:<22}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
    )
    final: dict[str, Any] = {}
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("job", total=100, stage="queued")
        for job in client.watch(job_id):
            progress.update(task, completed=job.get("progress", 0), stage=job["stage"])
            final = job
    return final


def _slug(title: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (title or "omnigen").lower()).strip("-")[:40] or "omnigen"


def print_connection(
    out: Console, *, api_url: str, token: str, endpoint_url: str, prefix: str, workdir: Path
) -> None:
    """What `local up` prints: where things are and the `export` lines to copy. Each export
    line is printed whole (no wrapping at the terminal's width, no markup or highlighting), so
    a copy-paste of it works however narrow the terminal is."""
    out.print(f"API:   {api_url}  (docs: {api_url}/docs)")
    out.print(f"AWS:   {endpoint_url}  (prefix {prefix})")
    out.print(f"Logs:  {workdir.resolve()}")
    out.print("Use it from another terminal:")
    for name, value in (
        ("OMNIGEN_API_URL", api_url),
        ("OMNIGEN_TOKEN", token),
        ("OMNIGEN_ENDPOINT_URL", endpoint_url),
    ):
        out.print(f"  export {name}={value}", soft_wrap=True, markup=False, highlight=False)
    out.print("Ctrl-C stops everything.")


@local_app.command("up")
def local_up(
    workdir: Annotated[Path, typer.Option(help="service logs")] = Path(".omnigen/local"),
) -> None:
    """Start the embedded stack and keep it running until Ctrl-C."""
    configure_logging("cli", level="WARNING", json_output=False)
    try:
        with _interrupts_as_keyboard(), embedded_stack(workdir) as pipeline:
            token = pipeline.mint_token("local-user", ttl_s=24 * 3600)
            print_connection(
                console,
                api_url=pipeline.api_url,
                token=token,
                endpoint_url=pipeline.aws.endpoint_url or "",
                prefix=pipeline.aws.resource_prefix,
                workdir=workdir,
            )
            while all(pipeline.running(name) for name in ("ingest", "scripter", "renderer")):
                time.sleep(1)
            console.print("[red]a service exited; shutting down[/]")
    except KeyboardInterrupt:
        console.print("[yellow]stopped[/]")


# -- any deployment -------------------------------------------------------------------------


def _client() -> ApiClient:
    settings = ClientSettings()
    if not settings.token:
        console.print("[red]set OMNIGEN_TOKEN (a bearer token for the API)[/]")
        raise typer.Exit(2)
    return ApiClient(settings.api_url, settings.token)


@contextlib.contextmanager
def _api_errors() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


@app.command()
def submit(
    prompt: str,
    duration: Duration = 20,
    aspect_ratio: Aspect = "16:9",
    style: Opt = None,
    tone: Opt = None,
    voice: Opt = None,
    idempotency_key: Opt = None,
) -> None:
    """Submit a job; prints its id."""
    with _api_errors():
        body = _request_body(prompt, duration, aspect_ratio, style=style, tone=tone, voice=voice)
        job = _client().submit(body, idempotency_key)
    console.print(job["job_id"])


@app.command()
def status(
    job_id: str, watch: Annotated[bool, typer.Option(help="follow until it ends")] = False
) -> None:
    """Show a job; with --watch, a progress bar until it ends."""
    with _api_errors():
        client = _client()
        job = _follow(client, job_id) if watch else client.get(job_id)
    table = Table(show_header=False)
    for key in ("job_id", "status", "stage", "progress", "title", "error_message", "video_url"):
        if job.get(key) is not None:
            table.add_row(key, str(job[key]))
    console.print(table)
    if job["status"] == "failed":
        raise typer.Exit(1)


@app.command("list")
def list_jobs(
    status: Opt = None,
    limit: Annotated[int, typer.Option()] = 20,
    cursor: Opt = None,
) -> None:
    """Your jobs, newest first."""
    with _api_errors():
        page = _client().list(limit=limit, cursor=cursor, status=status)
    table = Table("job_id", "status", "stage", "progress", "title", "created_at")
    for job in page["jobs"]:
        table.add_row(
            job["job_id"],
            job["status"],
            job["stage"],
            f"{job['progress']}%",
            job.get("title") or "",
            job["created_at"],
        )
    console.print(table)
    if page.get("next_cursor"):
        console.print(f"more: --cursor {page['next_cursor']}")


@app.command()
def download(job_id: str, out: Annotated[Path | None, typer.Option()] = None) -> None:
    """Save a completed job's MP4."""
    with _api_errors():
        path = _client().download(job_id, out or Path(f"{job_id}.mp4"))
    console.print(str(path.resolve()))


@app.command()
def retry(
    job_id: str, watch: Annotated[bool, typer.Option(help="follow until it ends")] = False
) -> None:
    """Run a failed job again: its next attempt resumes where it failed (finished scenes are
    reused)."""
    with _api_errors():
        client = _client()
        queued = client.retry(job_id)
        console.print(f"{job_id} runs again from {queued['stage']} ({queued['status']})")
        if watch:
            job = _follow(client, job_id)
            console.print(f"{job_id}: {job['status']}")
            if job["status"] == "failed":
                raise typer.Exit(1)


@app.command()
def token(
    user: Annotated[str, typer.Option(help="the user id the token speaks for (its `sub`)")],
    ttl_s: Annotated[int, typer.Option(min=60, max=7 * 24 * 3600, help="lifetime")] = 3600,
) -> None:
    """Print a token for an ingest that signs with OMNIGEN_AUTH_HS256_SECRET (with
    OMNIGEN_AUTH_ISSUER / _AUDIENCE when it checks them): export OMNIGEN_TOKEN=$(omnigen token
    --user alice)."""
    settings = TokenSettings()
    secret = settings.auth_hs256_secret.get_secret_value() if settings.auth_hs256_secret else ""
    if len(secret) < MIN_SECRET_CHARS:
        err_console.print(
            "set OMNIGEN_AUTH_HS256_SECRET to the ingest's HS256 secret "
            f"(at least {MIN_SECRET_CHARS} characters); deployments with a JWKS URL use "
            "their identity provider's tokens instead"
        )
        raise typer.Exit(2)
    print(
        mint_hs256_token(
            secret,
            user,
            ttl_s=ttl_s,
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
        )
    )


@app.command()
def cancel(job_id: str) -> None:
    """Cancel a running job (or delete a finished one with its assets)."""
    with _api_errors():
        code = _client().cancel(job_id)
    console.print("cancelled" if code == 202 else "deleted")


# -- operators ------------------------------------------------------------------------------


@dlq_app.command("list")
def dlq_list(
    queue: Annotated[str | None, typer.Argument(help="show messages of this queue's DLQ")] = None,
    limit: Annotated[int, typer.Option()] = 10,
) -> None:
    """Depth of every DLQ; with a queue name, what its dead letters are and why."""
    settings = AwsSettings()

    async def run() -> None:
        async with AwsClients(settings) as aws:
            if queue is None:
                table = Table("queue", "dlq", "messages")
                for depth in await dlq_ops.depths(aws, settings.resources):
                    table.add_row(depth.queue, depth.dlq, str(depth.messages))
                console.print(table)
                return
            found = dlq_ops.find_queue(settings.resources, queue)
            letters = await dlq_ops.peek(aws, found, limit, settings.resources)
            table = Table("message_id", "receives", "event_type", "job_id", "why it died")
            for letter in letters:
                table.add_row(
                    letter.message_id,
                    str(letter.receive_count),
                    letter.event_type or "",
                    letter.job_id or "",
                    letter.why,
                )
            console.print(table)

    asyncio.run(run())


@dlq_app.command("redrive")
def dlq_redrive(
    queue: Annotated[
        str, typer.Argument(help="renderer, scripter, ingest-requests or job-outcomes")
    ],
    limit: Annotated[int | None, typer.Option(help="at most this many")] = None,
) -> None:
    """Run dead letters again. Worker queues (scripter, renderer): a job still running is
    re-queued, a failed one re-opened as its next attempt (not a cancelled one); letters of
    completed or deleted jobs are removed, letters that name no job stay. ingest-requests: a
    request ingest can answer is re-queued. job-outcomes: every event is re-queued for its
    subscriber. Prints what became of every letter."""
    settings = AwsSettings()

    async def run() -> list[dlq_ops.Redriven]:
        async with AwsClients(settings) as aws:
            found = dlq_ops.find_queue(settings.resources, queue)
            return await dlq_ops.redrive(aws, found, settings.resources, limit)

    report = asyncio.run(run())
    table = Table("message_id", "job_id", "outcome", "why")
    for letter in report:
        table.add_row(letter.message_id, letter.job_id or "", letter.outcome, letter.why)
    console.print(table)
    counts = {o: sum(r.outcome == o for r in report) for o in ("requeued", "recovered")}
    moved = counts["requeued"] + counts["recovered"]
    others = ", ".join(f"{sum(r.outcome == o for r in report)} {o}" for o in ("removed", "kept"))
    console.print(f"moved {moved} message(s) ({counts['recovered']} recovered); {others}")


def main() -> None:
    app()
