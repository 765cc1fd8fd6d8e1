"""The three services as separate local processes (their real entry points) wired to one AWS
endpoint: what `omnigen demo`, `omnigen local up`, the end-to-end tests and the pipeline
benchmark run."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Final

import structlog

from omnigen.cli.localaws.ports import LOOPBACK, free_port
from omnigen.cli.localaws.process import http_get
from omnigen.cli.tokens import mint_hs256_token, mint_signin_code
from omnigen.shared.settings import AwsSettings

log = structlog.get_logger()

SERVICES: Final = ("ingest", "scripter", "renderer", "webhooks")
STOP_TIMEOUT_S: Final = 120.0  # the ECS stop timeout
EMULATOR_CREDENTIALS: Final = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


class ServiceFailed(RuntimeError):
    def __init__(self, name: str, reason: str, log_path: Path) -> None:
        tail = (
            "\n".join(log_path.read_text(errors="replace").splitlines()[-25:])
            if log_path.exists()
            else ""
        )
        super().__init__(f"{name} {reason}; last log lines:\n{tail}")


def entry_point(name: str) -> str:
    """The console script a service's package installs (next to this interpreter first)."""
    script = f"omnigen-{name}"
    beside = Path(sys.executable).parent / script
    if beside.exists():
        return str(beside)
    found = shutil.which(script)
    if found is None:
        raise FileNotFoundError(f"{script} is not installed; run `make setup` first")
    return found


class LocalPipeline:
    """Start, stop, kill and restart the services; each logs to `<workdir>/<name>.log`."""

    def __init__(
        self,
        aws: AwsSettings,
        workdir: Path,
        *,
        api_port: int | None = None,
        env: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.aws = aws
        self.workdir = workdir
        self.api_port = api_port or free_port()
        self.jwt_secret = secrets.token_urlsafe(48)
        self._env = dict(env or {})
        self._service_env = {k: dict(v) for k, v in (service_env or {}).items()}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        workdir.mkdir(parents=True, exist_ok=True)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def environment(self, name: str) -> dict[str, str]:
        aws = self.aws
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OMNIGEN_", "AWS_"))
        }
        env.update(EMULATOR_CREDENTIALS)  # local emulators only: never real credentials
        env.update(
            {
                "OMNIGEN_REGION": aws.region,
                "OMNIGEN_RESOURCE_PREFIX": aws.resource_prefix,
                "OMNIGEN_LOG_JSON": "true",
                # The local stack's webhooks may call receivers on this machine (never set in a
                # deployment: there the guard refuses loopback addresses).
                "OMNIGEN_WEBHOOKS_ALLOW_LOOPBACK": "true",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for service in ("", "dynamodb_", "sqs_", "sns_", "s3_"):
            value = getattr(aws, f"{service}endpoint_url")
            if value:
                env[f"OMNIGEN_{service.upper()}ENDPOINT_URL"] = value
        if aws.bucket_name:
            env["OMNIGEN_BUCKET_NAME"] = aws.bucket_name
        if name == "ingest":
            env.update(
                {
                    "OMNIGEN_HOST": LOOPBACK,
                    "OMNIGEN_PORT": str(self.api_port),
                    "OMNIGEN_AUTH_HS256_SECRET": self.jwt_secret,
                }
            )
        env.update(self._env)
        env.update(self._service_env.get(name, {}))
        if name == "ingest" and self._scripter_has_model():
            env.setdefault("OMNIGEN_SCRIPT_WRITER", "openai")  # it writes every language
        return env

    def _scripter_has_model(self) -> bool:
        scripter = {**self._env, **self._service_env.get("scripter", {})}
        return bool(scripter.get("OMNIGEN_OPENAI_API_KEY")) and (
            scripter.get("OMNIGEN_SCRIPT_WRITER", "auto") != "planner"
        )

    def start(self, names: Iterable[str] = SERVICES, *, ready_timeout: float = 60.0) -> None:
        for name in names:
            self.start_service(name)
        self.wait_ready(ready_timeout)

    def start_service(self, name: str) -> None:
        if name in self._procs and self._procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        with self.log_path(name).open("ab") as log_file:
            self._procs[name] = subprocess.Popen(
                [entry_point(name)],
                env=self.environment(name),
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.info("service_started", service=name, pid=self._procs[name].pid)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Ingest answers /readyz and each worker has started consuming."""
        deadline = time.monotonic() + timeout
        pending = set(self._procs)
        while pending:
            for name in sorted(pending):
                proc = self._procs[name]
                if proc.poll() is not None:
                    raise ServiceFailed(
                        name, f"exited with code {proc.returncode}", self.log_path(name)
                    )
                if self._ready(name):
                    pending.discard(name)
            if pending and time.monotonic() > deadline:
                name = sorted(pending)[0]
                raise ServiceFailed(name, f"not ready within {timeout:.0f} s", self.log_path(name))
            time.sleep(0.2)

    def _ready(self, name: str) -> bool:
        if name == "ingest":
            try:
                status, _ = http_get(LOOPBACK, self.api_port, "/readyz")
            except OSError:
                return False
            return status == 200
        text = (
            self.log_path(name).read_text(errors="replace") if self.log_path(name).exists() else ""
        )
        return '"consumer_started"' in text

    def pid(self, name: str) -> int:
        return self._procs[name].pid

    def running(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def kill(self, name: str) -> None:
        """kill -9: no drain, no goodbye (chaos tests)."""
        proc = self._procs.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_service(
        self, name: str, timeout: float = STOP_TIMEOUT_S, *, signalled: bool = False
    ) -> int | None:
        """SIGTERM (once) and wait; SIGKILL past `timeout`. The exit code, None if killed."""
        proc = self._procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            if not signalled:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                log.warning("service_killed", service=name, after_s=timeout)
                return None
        return proc.returncode

    def stop(self, timeout: float = 30.0) -> dict[str, int | None]:
        """Stop every service, all at once, each with SIGTERM then SIGKILL."""
        for proc in self._procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return {
            name: self.stop_service(name, timeout, signalled=True) for name in list(self._procs)
        }

    def mint_token(self, user_id: str, ttl_s: int = 3600) -> str:
        return mint_hs256_token(self.jwt_secret, user_id, ttl_s=ttl_s)

    def signin_link(self, user_id: str) -> str:
        """The web page with a one-time sign-in code for `user_id` (valid ten minutes)."""
        return f"{self.api_url}/#signin={mint_signin_code(self.jwt_secret, user_id)}"
