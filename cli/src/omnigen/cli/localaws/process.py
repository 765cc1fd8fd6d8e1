"""One emulator subprocess in its own process group, logging to a file, stopped TERM-then-KILL."""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

import structlog

from omnigen.shared.domain.errors import OmnigenError

log = structlog.get_logger()


class LocalAwsError(OmnigenError):
    """A local AWS emulator could not be installed, started or reached."""


class EmulatorStartFailed(LocalAwsError):
    """The emulator exited or did not become ready in time; the message ends with its log tail."""

    def __init__(self, name: str, reason: str, log_path: Path) -> None:
        tail = log_tail(log_path)
        super().__init__(
            f"{name} did not start: {reason}\n--- last lines of {log_path} ---\n{tail}"
        )
        self.name = name
        self.reason = reason
        self.log_path = log_path


def log_tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file, or a note that there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


def http_get(host: str, port: int, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """Status and body of a plain-HTTP GET on the loopback emulator."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_post(host: str, port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of an empty plain-HTTP POST on the loopback emulator."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("POST", path, body=b"")
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Started:
    """`with Server() as server:` starts it and stops it however the block ends; a subclass
    gives `start()` (returning itself) and `stop()`."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def wait_for_interrupt(self) -> None:
        """Keep running in the foreground until Ctrl-C (the `with` block then stops it)."""
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ManagedProcess:
    """A child started in a new session, so stopping it also stops anything it spawned."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.cwd = cwd
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log_file:
            self._proc = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        log.debug("emulator_spawned", name=self.name, pid=self._proc.pid, log=str(self.log_path))

    def wait_ready(self, is_ready: Callable[[], bool], timeout: float, interval: float) -> None:
        """Poll `is_ready` until it holds; raise EmulatorStartFailed on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None:
                raise EmulatorStartFailed(self.name, "it was never started", self.log_path)
            code = self._proc.poll()
            if code is not None:
                raise EmulatorStartFailed(self.name, f"it exited with code {code}", self.log_path)
            if is_ready():
                return
            if time.monotonic() >= deadline:
                raise EmulatorStartFailed(
                    self.name, f"not ready within {timeout:.0f} s", self.log_path
                )
            time.sleep(interval)

    def stop(self, timeout: float) -> None:
        """SIGTERM the process group, SIGKILL it if still alive after `timeout` seconds."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("emulator_killed", name=self.name, pid=proc.pid, after_s=timeout)
                self._signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
        # Children that outlived the leader still share its process group.
        self._signal_group(proc.pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
