"""`omnigen`: run the whole pipeline locally, talk to any deployment, operate its queues."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
import typer
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from omnigen.cli import dlq as dlq_ops
from omnigen.cli import media as own_media
from omnigen.cli.api import ApiClient, ApiError
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS, SERVICES, LocalPipeline
from omnigen.cli.tokens import MIN_SECRET_CHARS, TokenSettings, mint_hs256_token
from omnigen.cli.webhook_listener import WebhookListener
from omnigen.cli.webhook_listener import describe as describe_delivery
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.sns import SnsEventPublisher, find_topic_arn
from omnigen.shared.bootstrap import apply_spec
from omnigen.shared.domain.creative import Goal, Platform, Style, Tempo, Tone
from omnigen.shared.domain.events import (
    Event,
    JobRequested,
    JobRequestedData,
    RegenerationRequested,
    RegenerationRequestedData,
    describe,
)
from omnigen.shared.logging import configure_logging
from omnigen.shared.settings import AwsSettings

app = typer.Typer(help="omnigen: a prompt in, a short video out.", no_args_is_help=True)
dlq_app = typer.Typer(help="Inspect and redrive dead-letter queues.", no_args_is_help=True)
local_app = typer.Typer(
    help="The local stack (embedded AWS emulator + services).", no_args_is_help=True
)
publish_app = typer.Typer(
    help="Publish an event to a deployment's topic, to test an integration from a shell.",
    no_args_is_help=True,
)
app.add_typer(dlq_app, name="dlq")
app.add_typer(publish_app, name="publish")
app.add_typer(local_app, name="local")
webhooks_app = typer.Typer(help="Develop a webhook receiver.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")
console = Console()
err_console = Console(stderr=True)


class ClientSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OMNIGEN_", extra="ignore")

    api_url: str = Field(default="http://127.0.0.1:8000")
    token: str | None = None


Duration = Annotated[int, typer.Option(help="seconds, 10-60")]
Aspect = Annotated[str, typer.Option("--aspect-ratio", help="16:9, 9:16 or 1:1")]
Opt = Annotated[str | None, typer.Option()]
BATCH_SIZE = 100  # items per POST /v1/jobs:batch
Language = Annotated[
    str | None, typer.Option(help="BCP 47: en es fr de pt it ja zh ko ar he hi (needs a model)")
]
SpeechRate = Annotated[float | None, typer.Option(help="narration speed, 0.5-2.0")]
Captions = Annotated[
    str | None,
    typer.Option(
        help="MODE[,STYLE[,POSITION]]: burned|sidecar|both|none, "
        "classic|bold_box|word_highlight, bottom|middle|top"
    ),
]
Music = Annotated[
    str | None,
    typer.Option(help="a mood (calm, energetic, ...), none, or an uploaded track's id (up_...)"),
]
SceneMedia = Annotated[
    str | None,
    typer.Option(help="SCENE=UPLOAD_ID,...: scenes that show your uploads (makes a script)"),
]
StartImage = Annotated[
    str | None, typer.Option(help="an uploaded picture's id: the first scene starts on it")
]
# The creative options (closed vocabularies: --help lists each one's values).
Title = Annotated[str | None, typer.Option(help="the video's title (up to 100 characters)")]
StyleOpt = Annotated[Style | None, typer.Option("--style", help="visual style")]
ToneOpt = Annotated[Tone | None, typer.Option("--tone", help="how the words sound")]
TempoOpt = Annotated[Tempo | None, typer.Option("--tempo", help="pace of cuts and narration")]
PlatformOpt = Annotated[
    Platform | None,
    typer.Option("--platform", help="where it is published: safe zones, loudness target"),
]
Audience = Annotated[str | None, typer.Option(help="who it is for (up to 200 characters)")]
GoalOpt = Annotated[Goal | None, typer.Option("--goal", help="what the video is for")]
Cta = Annotated[
    str | None, typer.Option("--cta", help="call to action, the closing line (up to 100)")
]


def _request_body(
    prompt: str, duration: int, aspect_ratio: str, **options: str | float | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt, "duration": duration, "aspect_ratio": aspect_ratio}
    captions, music = options.pop("captions", None), options.pop("music", None)
    body.update({k: str(v) if isinstance(v, StrEnum) else v for k, v in options.items() if v})
    if isinstance(captions, str):
        names = ("mode", "style", "position")
        body["captions"] = dict(zip(names, captions.split(","), strict=False))
    if isinstance(music, str) and own_media.UPLOAD_ID.match(music):
        body["music_track"] = music
    elif isinstance(music, str):
        body["music"] = {"mood": music}
    return body


def _with_media(body: dict[str, Any], scene_media: str | None) -> dict[str, Any]:
    """With --scene-media, the prompt becomes a given script's narration over the scenes."""
    if not scene_media:
        return body
    try:
        media = own_media.parse_scene_media(scene_media)
    except ValueError as exc:
        err_console.print(f"[red]--scene-media {exc}[/]")
        raise typer.Exit(2) from None
    script = own_media.media_script(body.pop("prompt"), body.pop("duration"), media)
    return {**body, "script": script}


# -- the embedded stack ---------------------------------------------------------------------


@contextlib.contextmanager
def embedded_stack(
    workdir: Path, *, scale: float | None = None, tracing: bool = False, metrics: bool = False
) -> Iterator[LocalPipeline]:
    """moto in this process, the resource spec applied, the three services as processes
    (exporting traces over OTLP as the OTEL_* variables say, and writing EMF metrics to their
    logs, when asked)."""
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
        if tracing:
            extra["OMNIGEN_TRACING"] = "true"
        if metrics:
            extra["OMNIGEN_METRICS"] = "true"
        pipeline = LocalPipeline(settings, workdir, env=extra)
        with _status(f"Starting {', '.join(SERVICES[:-1])} and {SERVICES[-1]}"):
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
    title: Title = None,
    style: StyleOpt = None,
    tone: ToneOpt = None,
    tempo: TempoOpt = None,
    platform: PlatformOpt = None,
    audience: Audience = None,
    goal: GoalOpt = None,
    call_to_action: Cta = None,
    voice: Opt = None,
    language: Language = None,
    speech_rate: SpeechRate = None,
    captions: Captions = None,
    music: Music = None,
    out: Annotated[Path, typer.Option(help="where to save the MP4")] = Path("out"),
    scale: Annotated[float | None, typer.Option(help="render smaller frames (0-1]")] = None,
    images: Annotated[
        Path | None,
        typer.Option(
            help="a folder of photos (JPEG, PNG, WebP): each becomes a scene, in name order, "
            "and PROMPT is narrated over them; no clip model at all",
            exists=True,
            file_okay=False,
        ),
    ] = None,
) -> None:
    """Run one prompt through the whole pipeline on this machine; no account, no key."""
    configure_logging("cli", level="WARNING", json_output=False)
    workdir = Path(tempfile.mkdtemp(prefix="omnigen-demo-"))
    try:
        with _interrupts_as_keyboard(), embedded_stack(workdir, scale=scale) as pipeline:
            client = ApiClient(pipeline.api_url, pipeline.mint_token("demo-user"))
            body = _request_body(
                prompt, duration, aspect_ratio, title=title, style=style, tone=tone,
                tempo=tempo, platform=platform, audience=audience, goal=goal,
                call_to_action=call_to_action, voice=voice, language=language,
                speech_rate=speech_rate, captions=captions, music=music,
            )  # fmt: skip
            if images is not None:
                body = _photos_job(client, images, body)
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


def _photos_job(client: ApiClient, folder: Path, body: dict[str, Any]) -> dict[str, Any]:
    """Upload every photo of `folder`, wait for their checks, one scene per photo."""
    photos = own_media.images_in(folder)
    if not photos:
        console.print(f"[red]no JPEG, PNG or WebP images in {folder}[/]")
        raise typer.Exit(2)
    media: dict[int, str] = {}
    with _status(f"Uploading {len(photos)} photos"):
        for number, photo in enumerate(photos[:20], start=1):
            media[number] = _uploaded(client, photo)["id"]
    script = own_media.media_script(body.pop("prompt"), body.pop("duration"), media)
    return {**body, "script": script}


def _uploaded(client: ApiClient, path: Path) -> dict[str, Any]:
    """Upload one file and wait for its check; exit 1 when it is refused or rejected."""
    content_type = own_media.content_type_of(path)
    if content_type is None:
        err_console.print(f"[red]{path}: not a JPEG, PNG, WebP, MP4, MOV, MP3, WAV or M4A[/]")
        raise typer.Exit(2)
    with _api_errors():
        created = client.upload(path, content_type)
        checked = client.wait_checked(created["id"])
    if checked["status"] != "ready":
        reason = checked.get("reason") or "its check did not finish"
        err_console.print(f"[red]{path}: {checked['status']}: {reason}[/]")
        raise typer.Exit(1)
    return checked


@app.command()
def upload(
    files: Annotated[list[Path], typer.Argument(help="images, clips or tracks", exists=True)],
) -> None:
    """Upload your own media; prints each file's upload id once its check passed."""
    client = _client()
    for path in files:
        console.print(_uploaded(client, path)["id"])


def _follow(client: ApiClient, job_id: str) -> dict[str, Any]:
    """A live progress bar through the stages until the job ends."""
    columns = (
        SpinnerColumn(),
        TextColumn("[bold]{task.fields[stage]:<22}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
    )
    final: dict[str, Any] = {}
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("job", total=100, stage="queued", eta="")
        for job in client.watch(job_id):
            left = job.get("estimated_completion_seconds")
            eta = f"about {left} s left" if isinstance(left, int) else ""
            progress.update(task, completed=job.get("progress", 0), stage=job["stage"], eta=eta)
            final = job
    return final


def _follow_to_end(
    client: ApiClient, job_id: str, label: Callable[[dict[str, Any]], str] = lambda job: ""
) -> None:
    """`_follow` the job until it ends, print how it ended (after `label`, e.g. the version),
    and exit 1 when it failed: what `--watch` of a regenerate or a retry does."""
    job = _follow(client, job_id)
    console.print(f"{job_id}{label(job)}: {job['status']}")
    if job["status"] == "failed":
        raise typer.Exit(1)


def _slug(title: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (title or "omnigen").lower()).strip("-")[:40] or "omnigen"


def print_connection(
    out: Console,
    *,
    api_url: str,
    token: str,
    endpoint_url: str,
    prefix: str,
    workdir: Path,
    signin_link: str | None = None,
) -> None:
    """What `local up` prints: where things are and the `export` lines to copy. Each export
    line is printed whole (no wrapping at the terminal's width, no markup or highlighting), so
    a copy-paste of it works however narrow the terminal is."""
    out.print(f"API:   {api_url}  (docs: {api_url}/docs)")
    if signin_link:
        out.print("Web:   open this one-time sign-in link (works once, for ten minutes):")
        out.print(f"  {signin_link}", soft_wrap=True, markup=False, highlight=False)
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
    tracing: Annotated[
        bool,
        typer.Option(
            help="export OpenTelemetry traces over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT "
            "(default http://localhost:4318, e.g. Jaeger's OTLP port)"
        ),
    ] = False,
    metrics: Annotated[
        bool, typer.Option(help="write CloudWatch EMF metric lines to the service logs")
    ] = False,
) -> None:
    """Start the embedded stack and keep it running until Ctrl-C.

    Prints the API's address, export lines for the CLI, and a one-time sign-in link for the
    web page (http://127.0.0.1:PORT/#signin=CODE: it works once, within ten minutes)."""
    configure_logging("cli", level="WARNING", json_output=False)
    try:
        with (
            _interrupts_as_keyboard(),
            embedded_stack(workdir, tracing=tracing, metrics=metrics) as pipeline,
        ):
            token = pipeline.mint_token("local-user", ttl_s=24 * 3600)
            print_connection(
                console,
                api_url=pipeline.api_url,
                token=token,
                endpoint_url=pipeline.aws.endpoint_url or "",
                prefix=pipeline.aws.resource_prefix,
                workdir=workdir,
                signin_link=pipeline.signin_link("local-user"),
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
    prompt: Annotated[str | None, typer.Argument(help="what the video is about")] = None,
    duration: Annotated[
        int | None, typer.Option(help="seconds, 10-60 (default 20; with --script, its scenes')")
    ] = None,
    aspect_ratio: Aspect = "16:9",
    title: Title = None,
    style: StyleOpt = None,
    tone: ToneOpt = None,
    tempo: TempoOpt = None,
    platform: PlatformOpt = None,
    audience: Audience = None,
    goal: GoalOpt = None,
    call_to_action: Cta = None,
    voice: Opt = None,
    language: Language = None,
    speech_rate: SpeechRate = None,
    captions: Captions = None,
    music: Music = None,
    scene_media: SceneMedia = None,
    start_image: StartImage = None,
    idempotency_key: Opt = None,
    script: Annotated[
        Path | None,
        typer.Option(help="your own script, a JSON or YAML file (title, scenes...): no model"),
    ] = None,
    review: Annotated[
        bool,
        typer.Option(
            help="stop once the script is written: read or --edit it with `omnigen script "
            "JOB`, then `omnigen render JOB`"
        ),
    ] = False,
    batch: Annotated[
        Path | None,
        typer.Option(
            help="a JSONL file: one POST /v1/jobs body per line (optionally with its own "
            '"idempotency_key"); sent 100 at a time, one result per line'
        ),
    ] = None,
) -> None:
    """Submit a job and print its id; or, with --batch, every line of a file."""
    if [prompt, batch, script].count(None) != 2:
        err_console.print("[red]give a PROMPT, --script FILE or --batch FILE (one of them)[/]")
        raise typer.Exit(2)
    if batch is not None:
        _submit_batch(batch)
        return
    with _api_errors():
        body = _request_body(
            prompt or "", duration or 20, aspect_ratio, title=title, style=style, tone=tone,
            tempo=tempo, platform=platform, audience=audience, goal=goal,
            call_to_action=call_to_action, voice=voice, language=language,
            speech_rate=speech_rate, captions=captions, music=music, start_image=start_image,
        )  # fmt: skip
        if script is not None:
            del body["prompt"]
            body["script"] = _read_script(script)
            if duration is None:
                del body["duration"]  # the scenes' total
        if review:
            body["review"] = True
        job = _client().submit(_with_media(body, scene_media), idempotency_key)
    console.print(job["job_id"])


def _read_script(path: Path) -> Any:
    """A script file: JSON, or YAML (by its extension)."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(text)
        return json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        err_console.print(f"[red]cannot read {path}: {exc}[/]")
        raise typer.Exit(2) from None


@app.command("script")
def show_script(
    job_id: str,
    edit: Annotated[
        bool,
        typer.Option(help="open it in $EDITOR and save it (only while the job awaits review)"),
    ] = False,
    output: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """Print a job's script; with --edit, change it in $EDITOR and save it (If-Match)."""
    with _api_errors():
        client = _client()
        answer, etag = client.script(job_id)
        if not edit:
            console.print(_dump(answer["script"], output), markup=False, highlight=False)
            return
        if not answer["editable"]:
            err_console.print(f"[red]job {job_id} is not awaiting review ({answer['stage']})[/]")
            raise typer.Exit(1)
        _edit_script(client, job_id, answer["script"], etag, output)


def _dump(script: Any, output: str) -> str:
    if output == "json":
        return json.dumps(script, indent=2, ensure_ascii=False)
    return str(yaml.safe_dump(script, sort_keys=False, allow_unicode=True, width=100))


def _edit_script(
    client: ApiClient, job_id: str, script: dict[str, Any], etag: str, output: str
) -> None:
    """Edit in $EDITOR until the API takes it (a 422 shows why and offers another go)."""
    suffix = ".json" if output == "json" else ".yaml"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"script-{job_id}{suffix}"
        path.write_text(_dump(script, output), encoding="utf-8")
        while True:
            before = path.read_text(encoding="utf-8")
            editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
            if subprocess.run([*editor, str(path)], check=False).returncode != 0:
                err_console.print("[red]the editor failed; nothing was saved[/]")
                raise typer.Exit(1)
            if path.read_text(encoding="utf-8") == before and before == _dump(script, output):
                console.print("no change")
                return
            try:
                _, etag = client.replace_script(job_id, _read_script(path), etag)
            except ApiError as exc:
                if exc.status != 422:
                    raise
                err_console.print(f"[red]{exc}[/]")
                if not typer.confirm("edit again?", default=True):
                    raise typer.Exit(1) from None
                continue
            console.print(f"saved; render it with: omnigen render {job_id}")
            return


@app.command()
def render(
    job_id: str, watch: Annotated[bool, typer.Option(help="follow until it ends")] = False
) -> None:
    """Approve a reviewed job's script: it renders (asking twice renders it once)."""
    with _api_errors():
        client = _client()
        job = client.render(job_id)
        if not watch:
            console.print(f"{job['job_id']} {job['status']} ({job['stage']})")
            return
        job = _follow(client, job_id)
    console.print(f"{job['job_id']} {job['status']} ({job['stage']})")
    if job["status"] == "failed":
        raise typer.Exit(1)


def _submit_batch(path: Path) -> None:
    """Lines become batch items with a key of their own (given, or made from the file's name,
    the line number and the line's text), so sending the same file again replays its jobs."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]cannot read {path}: {exc}[/]")
        raise typer.Exit(2) from None
    items: list[tuple[int, dict[str, Any]]] = []
    rows: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            body = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append((number, "invalid", f"not JSON: {exc.msg}"))
            continue
        if not isinstance(body, dict):
            rows.append((number, "invalid", "a line must be a JSON object"))
            continue
        key = body.pop("idempotency_key", None)
        if not isinstance(key, str):
            digest = hashlib.sha256(line.encode()).hexdigest()[:16]
            key = f"{path.stem[:100]}-{number}-{digest}"
        items.append((number, {"idempotency_key": key, "request": body}))
    client = _client()
    with _api_errors():
        for start in range(0, len(items), BATCH_SIZE):
            chunk = items[start : start + BATCH_SIZE]
            answer = client.submit_batch([item for _, item in chunk])
            for (number, _), result in zip(chunk, answer["results"], strict=True):
                error = result.get("error") or {}
                field = f" ({error['field']})" if error.get("field") else ""
                what = result.get("job_id") or f"{error.get('message', '')}{field}"
                rows.append((number, result["outcome"], what))
    table = Table("line", "outcome", "job_id / why")
    for number, outcome, what in sorted(rows):
        table.add_row(str(number), outcome, what)
    console.print(table)
    made = sum(outcome in ("accepted", "replayed") for _, outcome, _ in rows)
    console.print(f"{made} of {len(rows)} line(s) are jobs")
    if made < len(rows):
        raise typer.Exit(1)


@app.command()
def status(
    job_id: str, watch: Annotated[bool, typer.Option(help="follow until it ends")] = False
) -> None:
    """Show a job; with --watch, a progress bar until it ends."""
    with _api_errors():
        client = _client()
        job = _follow(client, job_id) if watch else client.get(job_id)
    table = Table(show_header=False)
    for key in (
        "job_id",
        "status",
        "stage",
        "progress",
        "version",
        "title",
        "error_message",
        "video_url",
    ):
        if job.get(key) is not None:
            table.add_row(key, str(job[key]))
    console.print(table)
    _print_scenes(job)
    _print_versions(job)
    if job["status"] == "failed":
        raise typer.Exit(1)


def _print_scenes(job: dict[str, Any]) -> None:
    """Every scene's state in the newest version's render (once it is planned)."""
    render = job.get("render")
    if not render:
        return
    table = Table("scene", "state", "attempts", title=f"scenes (version {render['version']})")
    for scene in render["scenes"]:
        table.add_row(str(scene["scene_number"]), scene["state"], str(scene["attempts"]))
    audio = render["audio"]
    table.add_row("audio", audio["state"], str(audio["attempts"]))
    console.print(table)


def _print_versions(job: dict[str, Any]) -> None:
    """The job's versions, once a scene was regenerated."""
    versions = job.get("versions") or []
    if len(versions) < 2:
        return
    table = Table("version", "status", "scene", "changed", "rendered", "created", title="versions")
    for item in versions:
        table.add_row(
            str(item["version"]),
            item["status"],
            "" if item.get("scene_number") is None else str(item["scene_number"]),
            ", ".join(sorted(item.get("changes") or {})),
            ", ".join(map(str, item.get("scenes_rendered") or [])),
            item["created_at"],
        )
    console.print(table)


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


USAGE_ROWS: Final = (
    ("jobs", "jobs accepted"),
    ("versions", "scene regenerations started"),
    ("requested_seconds", "seconds of video requested"),
    ("completed_jobs", "jobs completed"),
    ("completed_versions", "regenerated versions completed"),
    ("video_seconds", "seconds of video made"),
    ("llm_calls", "script model calls"),
    ("llm_tokens_in", "LLM tokens in"),
    ("llm_tokens_out", "LLM tokens out"),
    ("clip_seconds", "clip seconds"),
    ("speech_characters", "speech characters"),
    ("music_seconds", "music seconds"),
)


@app.command()
def usage(
    month: Annotated[str | None, typer.Option(help="YYYY-MM (UTC); default: this month")] = None,
) -> None:
    """Your usage, estimated cost and quota for a month."""
    with _api_errors():
        report = _client().usage(month)
    table = Table(title=f"usage {report['month']}", show_header=False)
    for key, label in USAGE_ROWS:
        table.add_row(label, f"{report.get(key, 0):g}")
    table.add_row("estimated cost", f"{report.get('cost_usd', 0):.4f} {report.get('currency', '')}")
    quota = report.get("quota")
    if quota:
        table.add_row(
            "monthly quota",
            f"{quota['remaining_seconds']} of {quota['video_seconds']} s of video left",
        )
    else:
        table.add_row("monthly quota", "none")
    console.print(table)


@app.command()
def download(
    job_id: str,
    out: Annotated[Path | None, typer.Option()] = None,
    version: Annotated[
        int | None, typer.Option(help="an older version of the video (default: newest)")
    ] = None,
) -> None:
    """Save a completed job's MP4."""
    with _api_errors():
        path = _client().download(job_id, out or Path(f"{job_id}.mp4"), version)
    console.print(str(path.resolve()))


@app.command()
def regenerate(
    job_id: str,
    scene: Annotated[int, typer.Option(help="the scene to render again (1-based)")],
    narration: Annotated[str | None, typer.Option(help="new voice-over for it")] = None,
    prompt: Annotated[str | None, typer.Option(help="new visual description for it")] = None,
    duration: Annotated[float | None, typer.Option(help="new seconds on screen")] = None,
    idempotency_key: Annotated[
        str | None, typer.Option(help="retries with the same key make one version")
    ] = None,
    watch: Annotated[bool, typer.Option(help="follow until the version ends")] = False,
) -> None:
    """Regenerate one scene of a completed job, as its next version.

    The version reuses every other clip (in chain continuity, the scenes after it are rendered
    again too)."""
    changes: dict[str, Any] = {}
    if narration is not None:
        changes["narration"] = narration
    if prompt is not None:
        changes["generation_prompt"] = prompt
    if duration is not None:
        changes["duration"] = duration
    with _api_errors():
        client = _client()
        made = client.regenerate(job_id, scene, changes, idempotency_key)
        console.print(f"{job_id}: version {made['version']} {made['status']} ({made['stage']})")
        if watch:
            _follow_to_end(client, job_id, lambda job: f" version {job.get('version', 1)}")


@app.command()
def retry(
    job_id: str, watch: Annotated[bool, typer.Option(help="follow until it ends")] = False
) -> None:
    """Run a failed job again, resuming where it failed.

    Its next attempt reuses the scenes that were finished."""
    with _api_errors():
        client = _client()
        queued = client.retry(job_id)
        console.print(f"{job_id} runs again from {queued['stage']} ({queued['status']})")
        if watch:
            _follow_to_end(client, job_id)


@app.command()
def token(
    user: Annotated[str, typer.Option(help="the user id the token speaks for (its `sub`)")],
    ttl_s: Annotated[int, typer.Option(min=60, max=7 * 24 * 3600, help="lifetime")] = 3600,
) -> None:
    """Print a token for an ingest that signs with OMNIGEN_AUTH_HS256_SECRET.

    Also with OMNIGEN_AUTH_ISSUER / _AUDIENCE when it checks them: export
    OMNIGEN_TOKEN=$(omnigen token --user alice)."""
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
        str, typer.Argument(help="renderer, scripter, ingest-requests, job-outcomes or webhooks")
    ],
    limit: Annotated[int | None, typer.Option(help="at most this many")] = None,
) -> None:
    """Run dead letters again, and print what became of every letter.

    Worker queues (scripter, renderer): a job still running is re-queued, a failed one
    re-opened as its next attempt (not a cancelled one); letters of completed or deleted jobs
    are removed, letters that name no job stay. ingest-requests: a request ingest can answer
    is re-queued. job-outcomes: every event is re-queued for its subscriber. webhooks:
    undelivered outcomes are delivered again (the job is not touched)."""
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


@publish_app.command("job.requested")
def publish_job_requested(
    prompt: Annotated[str, typer.Option(help="the request's prompt")],
    request_id: Annotated[str, typer.Option(help="your idempotency key for this request")],
    user: Annotated[str, typer.Option(help="the omnigen user the job is for")],
    duration: Duration = 20,
    aspect_ratio: Aspect = "16:9",
    style: Opt = None,
    tone: Opt = None,
    voice: Opt = None,
    trace_id: Annotated[
        str | None, typer.Option(help="answers carry the same one (default: a new one)")
    ] = None,
) -> None:
    """Send a job.requested v1 event to the requests topic, as an upstream system would.

    The request is sent as given, so a bad one comes back as job.rejected. Prints the event's
    id and trace id; follow the answer with `omnigen list` or a queue of your own
    (docs/integrating.md)."""
    settings = AwsSettings()
    # An event carries a JobRequest: the creative options nest under `options` (the HTTP API
    # takes them flat).
    request: dict[str, Any] = {"prompt": prompt, "duration": duration, "aspect_ratio": aspect_ratio}
    options = {k: v for k, v in {"style": style, "tone": tone, "voice": voice}.items() if v}
    if options:
        request["options"] = options
    try:
        event = JobRequested.create(
            job_id=None,
            user_id=user,
            trace_id=trace_id,
            data=JobRequestedData(request_id=request_id, request=request),
        )
    except ValidationError as exc:
        err_console.print(f"[red]not a valid job.requested: {describe(exc)}[/]")
        raise typer.Exit(2) from None

    _publish_request(settings, event)


@publish_app.command("regeneration.requested")
def publish_regeneration_requested(
    job_id: Annotated[str, typer.Option(help="the completed job")],
    scene: Annotated[int, typer.Option(help="the scene to make again (1-based)")],
    request_id: Annotated[str, typer.Option(help="your idempotency key for this request")],
    user: Annotated[str, typer.Option(help="the job's owner")],
    narration: Annotated[str | None, typer.Option(help="new voice-over")] = None,
    prompt: Annotated[str | None, typer.Option(help="new visual description")] = None,
    trace_id: Annotated[
        str | None, typer.Option(help="answers carry the same one (default: a new one)")
    ] = None,
) -> None:
    """Send a regeneration.requested v1 event to the requests topic, as upstream would.

    It asks for the job's next version, scene N made again (docs/integrating.md)."""
    settings = AwsSettings()
    changes = {k: v for k, v in {"narration": narration, "generation_prompt": prompt}.items() if v}
    try:
        event = RegenerationRequested.create(
            job_id=job_id,
            user_id=user,
            trace_id=trace_id,
            data=RegenerationRequestedData(
                request_id=request_id, scene_number=scene, changes=changes
            ),
        )
    except ValidationError as exc:
        err_console.print(f"[red]not a valid regeneration.requested: {describe(exc)}[/]")
        raise typer.Exit(2) from None

    _publish_request(settings, event)


def _publish_request(settings: AwsSettings, event: Event) -> None:
    """Publish `event` to the requests topic, as an upstream system would, and say where."""

    async def run() -> str:
        async with AwsClients(settings) as aws:
            sns = await aws.sns()
            topic = await find_topic_arn(sns, settings.resources.requests_topic.name)
            await SnsEventPublisher(sns, topic).publish(event)
            return topic.rsplit(":", 1)[-1]

    try:
        topic_name = asyncio.run(run())
    except LookupError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"published {event.event_type.value} {event.event_id} to {topic_name}")
    console.print(f"trace_id {event.trace_id}")


@webhooks_app.command("listen")
def webhooks_listen(
    secret: Annotated[
        list[str],
        typer.Option(
            envvar="OMNIGEN_WEBHOOK_SECRET",
            help="a whsec_... secret; repeat for a rotation's old and new secrets",
        ),
    ],
    port: Annotated[int, typer.Option(help="port on 127.0.0.1")] = 8787,
    status: Annotated[int, typer.Option(help="what to answer a verified delivery")] = 204,
) -> None:
    """Receive webhooks on http://127.0.0.1:PORT/hooks, verify and print each delivery.

    Each signature is checked with the Standard Webhooks library. Point a webhook or a job's
    callback_url at it (the local stack allows loopback URLs); Ctrl-C stops it."""
    listener = WebhookListener(
        secret,
        port=port,
        respond=lambda _received: status,
        on_delivery=lambda received: console.print(describe_delivery(received), markup=False),
    )
    with listener, _interrupts_as_keyboard():
        console.print(f"listening on {listener.url} (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            console.print("stopped")


def main() -> None:
    """The `omnigen` command. A deployment or API that cannot be reached (or refuses the
    credentials) is one line naming the setting to check and exit 1, from every command, not
    a traceback."""
    try:
        app()
    except httpx.TransportError as exc:
        url = _api_base(exc)
        err_console.print(
            f"[red]could not reach the omnigen API at {url} ({_cause(exc)});"
            " check OMNIGEN_API_URL[/]"
        )
        raise SystemExit(1) from None
    except (BotoCoreError, ClientError) as exc:
        what = "refused the call" if isinstance(exc, ClientError) else "could not be reached"
        err_console.print(
            f"[red]the AWS deployment {what}: {_cause(exc)};"
            " check OMNIGEN_ENDPOINT_URL, OMNIGEN_REGION, OMNIGEN_RESOURCE_PREFIX and the AWS"
            " credentials[/]"
        )
        raise SystemExit(1) from None


def _api_base(exc: httpx.TransportError) -> str:
    """Where the call went (the embedded stack's own API for `demo`), else the setting."""
    try:
        url = exc.request.url
    except RuntimeError:  # raised before a request was made
        return ClientSettings().api_url
    return f"{url.scheme}://{url.netloc.decode()}"


def _cause(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__
