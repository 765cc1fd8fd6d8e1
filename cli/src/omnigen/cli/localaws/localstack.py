"""LocalStack's own code run on the host (no Docker) from its separate Python 3.13 venv.

Each run gets a free loopback port and fresh filesystem/tmp dirs, so two runs never share state.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

import structlog
from localstack_client.session import Session  # type: ignore[import-untyped]

from omnigen.cli.localaws.ports import LOOPBACK, free_port
from omnigen.cli.localaws.process import LocalAwsError, ManagedProcess, Started, http_get

log = structlog.get_logger()

INSTALL_SCRIPT = "scripts/install-localstack.sh"
VENV_ENV_VAR = "OMNIGEN_LOCALSTACK_VENV"
# Where the install script puts LocalStack's prebuilt API catalog, relative to the venv.
PREBUILT_STATIC_LIBS = Path("omnigen-filesystem/usr/lib/localstack")
STATIC_LIBS = Path("usr/lib/localstack")
DEFAULT_SERVICES = ("sqs", "sns", "s3")
DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
READY_STATES = frozenset({"available", "running"})
# Host variables LocalStack needs to run; everything else is set explicitly below.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "LOCALSTACK_AUTH_TOKEN")
# LocalStack 2026.3's hypercorn server calls loop.stop() from another thread without waking the
# loop, so about one SIGTERM in three left it asleep in select() until killed. Wake it after.
LAUNCHER = """
import contextlib, runpy
from localstack.runtime.server.hypercorn import HypercornRuntimeServer

_shutdown = HypercornRuntimeServer.shutdown

def shutdown(self):
    _shutdown(self)
    with contextlib.suppress(RuntimeError):
        self.loop.call_soon_threadsafe(lambda: None)

HypercornRuntimeServer.shutdown = shutdown
runpy.run_module("localstack.runtime.main", run_name="__main__", alter_sys=True)
"""


class LocalStackNotInstalled(LocalAwsError):
    """LocalStack's venv is missing; the message says how to create it."""

    def __init__(self, venv: Path) -> None:
        super().__init__(
            f"LocalStack is not installed: {venv}/bin/python does not exist. "
            f"Run {INSTALL_SCRIPT} from the repository root (or set {VENV_ENV_VAR})."
        )
        self.venv = venv


def default_venv() -> Path:
    """$OMNIGEN_LOCALSTACK_VENV, else .localstack-venv at the repo root (found from cwd or here)."""
    configured = os.environ.get(VENV_ENV_VAR)
    if configured:
        return Path(configured).expanduser().resolve()
    starts = [Path.cwd().resolve(), Path(__file__).resolve().parent]
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / INSTALL_SCRIPT).is_file():
                return folder / ".localstack-venv"
    return Path.cwd().resolve() / ".localstack-venv"


class LocalStackServer(Started):
    """`with LocalStackServer() as ls: ls.session().client("sqs")`: synchronous boto3 clients
    from localstack-client, every service at this run's endpoint (only the services started
    here answer: SQS, SNS and S3 by default; DynamoDB is moto's, with an endpoint of its own).
    """

    def __init__(
        self,
        *,
        venv: Path | None = None,
        services: Sequence[str] = DEFAULT_SERVICES,
        port: int | None = None,
        start_timeout: float = 90.0,
        stop_timeout: float = 15.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.venv = venv or default_venv()
        self.services = tuple(services)
        self.port = port
        self._requested_port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.extra_env = dict(extra_env or {})
        self.root: Path | None = None
        self.startup_seconds: float | None = None
        self._process: ManagedProcess | None = None

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def endpoint_url(self) -> str:
        if self.port is None or self._process is None:
            raise LocalAwsError("LocalStack is not running: call start() first")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, as localstack-client and $LOCALSTACK_HOST spell it."""
        return self.endpoint_url.removeprefix("http://")

    def session(self, region_name: str = DEFAULT_REGION) -> Session:
        """A localstack-client session whose boto3 clients and resources point at this run,
        with the emulator's dummy credentials. localstack-client lets a set $AWS_ENDPOINT_URL
        win over the host it is given, so that variable must be unset (or this endpoint)."""
        configured = os.environ.get("AWS_ENDPOINT_URL", "").strip()
        if configured and configured.rstrip("/") != self.endpoint_url:
            raise LocalAwsError(
                f"AWS_ENDPOINT_URL={configured} would send localstack-client's clients "
                f"elsewhere than {self.endpoint_url}; unset it"
            )
        return Session(
            **DUMMY_CREDENTIALS,
            region_name=region_name,
            localstack_host=self.host,
        )

    @property
    def log_path(self) -> Path | None:
        return self._process.log_path if self._process else None

    def start(self) -> Self:
        if self._process is not None:
            return self
        if not self.python.exists():
            raise LocalStackNotInstalled(self.venv)
        self.port = self._requested_port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"omnigen-localstack-{self.port}-"))
        self._process = ManagedProcess(
            "localstack",
            [str(self.python), "-c", LAUNCHER],
            env=self._environment(self.root, self.port),
            cwd=self.root,
            log_path=self.root / "localstack.log",
        )
        began = time.monotonic()
        try:
            self._process.start()
            self._process.wait_ready(self._healthy, self.start_timeout, interval=0.25)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        log.info(
            "localstack_started",
            endpoint=self.endpoint_url,
            services=",".join(self.services),
            seconds=round(self.startup_seconds, 2),
        )
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.stop(self.stop_timeout)
            log.info("localstack_stopped", port=self.port)
        self.port = self._requested_port
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def health(self) -> dict[str, str]:
        """Service name -> state, as LocalStack reports it on /_localstack/health."""
        assert self.port is not None
        status, body = http_get(LOOPBACK, self.port, "/_localstack/health")
        if status != 200:
            return {}
        services = json.loads(body).get("services", {})
        return {str(name): str(state) for name, state in services.items()}

    def _healthy(self) -> bool:
        try:
            states = self.health()
        except (OSError, ValueError):
            return False
        return all(states.get(name) in READY_STATES for name in self.services)

    def _environment(self, root: Path, port: int) -> dict[str, str]:
        env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
        (root / "tmp").mkdir()
        self._link_prebuilt_catalog(root / "filesystem" / STATIC_LIBS)
        env.update(
            {
                "GATEWAY_LISTEN": f"{LOOPBACK}:{port}",
                # Twisted, LocalStack's default gateway, ignores the host and binds 0.0.0.0.
                "GATEWAY_SERVER": "hypercorn",
                "LOCALSTACK_HOST": f"{LOOPBACK}:{port}",
                "SERVICES": ",".join(self.services),
                # On the host every LocalStack dir (tmp, state, cache, lib) lives under this root.
                "FILESYSTEM_ROOT": str(root / "filesystem"),
                "TMPDIR": str(root / "tmp"),
                "CONFIG_DIR": str(root / "config"),
                "PERSISTENCE": "0",
                "OVERRIDE_IN_DOCKER": "0",
                "DISABLE_EVENTS": "1",
                "SKIP_SSL_CERT_DOWNLOAD": "1",
                # Its DNS server would bind port 53 on all interfaces and look up upstreams.
                "DNS_ADDRESS": "0",
                # Queue URLs that point at this endpoint, with no name resolution needed.
                "SQS_ENDPOINT_STRATEGY": "path",
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.extra_env)
        return env

    def _link_prebuilt_catalog(self, static_libs: Path) -> None:
        """Reuse the install script's prebuilt API catalog; else LocalStack builds one (~3 s)."""
        static_libs.mkdir(parents=True)
        for catalog in (self.venv / PREBUILT_STATIC_LIBS).glob("service-catalog-*.dill"):
            (static_libs / catalog.name).symlink_to(catalog)


def main() -> None:
    """Foreground LocalStack until Ctrl-C: `python -m omnigen.cli.localaws.localstack`."""
    with LocalStackServer() as server:
        print(f"LocalStack ready at {server.endpoint_url} (log: {server.log_path})", flush=True)
        print(
            f"  LOCALSTACK_HOST={server.host} for localstack-client, "
            f"or AWS_ENDPOINT_URL={server.endpoint_url}",
            flush=True,
        )
        server.wait_for_interrupt()


if __name__ == "__main__":
    main()
