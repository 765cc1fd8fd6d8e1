"""moto in server mode: a subprocess by default (no GIL contention with the code under test),
or `ThreadedMotoServer` in this process for the embedded default."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Self

import structlog

from omnigen.cli.localaws.ports import LOOPBACK, free_port
from omnigen.cli.localaws.process import LocalAwsError, ManagedProcess, Started, http_get, http_post

log = structlog.get_logger()


class MotoServer(Started):
    """`with MotoServer() as moto: boto3.client("sqs", endpoint_url=moto.endpoint_url, ...)`."""

    def __init__(
        self,
        *,
        in_process: bool = False,
        port: int | None = None,
        start_timeout: float = 60.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.in_process = in_process
        self.port = port
        self._requested_port = port
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.root: Path | None = None
        self.startup_seconds: float | None = None
        self._process: ManagedProcess | None = None
        self._threaded: Any = None  # moto.server.ThreadedMotoServer; moto ships no type hints

    @property
    def running(self) -> bool:
        return self._threaded is not None or self._process is not None

    @property
    def endpoint_url(self) -> str:
        if self.port is None or not self.running:
            raise LocalAwsError("moto server is not running: call start() first")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The server's process id when it runs as a subprocess."""
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path | None:
        return self._process.log_path if self._process else None

    def start(self) -> Self:
        if self.running:
            return self
        began = time.monotonic()
        if self.in_process:
            self._start_threaded()
        else:
            self._start_subprocess()
        self.startup_seconds = time.monotonic() - began
        log.info(
            "moto_server_started",
            endpoint=self.endpoint_url,
            in_process=self.in_process,
            seconds=round(self.startup_seconds, 2),
        )
        return self

    def _start_threaded(self) -> None:
        from omnigen.cli.localaws.moto_app import ThreadedServer

        server = ThreadedServer(LOOPBACK, self._requested_port or 0)
        server.start()
        self._threaded = server
        self.port = server.port

    def _start_subprocess(self) -> None:
        self.port = self._requested_port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix=f"omnigen-moto-{self.port}-"))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self._process = ManagedProcess(
            "moto server",
            [
                sys.executable,
                "-m",
                "omnigen.cli.localaws.moto_app",
                "-H",
                LOOPBACK,
                "-p",
                str(self.port),
            ],
            env=env,
            cwd=self.root,
            log_path=self.root / "moto.log",
        )
        try:
            self._process.start()
            self._process.wait_ready(self._answers, self.start_timeout, interval=0.1)
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        assert self.port is not None
        try:
            status, _ = http_get(LOOPBACK, self.port, "/moto-api/")
        except OSError:
            return False
        return status == 200

    def reset(self) -> None:
        """Drop every resource in every backend (POST /moto-api/reset)."""
        assert self.port is not None
        status, body = http_post(LOOPBACK, self.port, "/moto-api/reset")
        if status != 200:
            raise LocalAwsError(f"moto reset failed: HTTP {status} {body[:200]!r}")

    def stop(self) -> None:
        threaded, self._threaded = self._threaded, None
        if threaded is not None:
            threaded.stop()
        process, self._process = self._process, None
        if process is not None:
            process.stop(self.stop_timeout)
        if threaded is not None or process is not None:
            log.info("moto_server_stopped", port=self.port)
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None
        self.port = self._requested_port


def main() -> None:
    """Foreground moto server until Ctrl-C: `python -m omnigen.cli.localaws.moto_server`."""
    with MotoServer() as server:
        print(f"moto server ready at {server.endpoint_url} (log: {server.log_path})", flush=True)
        server.wait_for_interrupt()


if __name__ == "__main__":
    main()
