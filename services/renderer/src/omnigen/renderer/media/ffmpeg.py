"""Run the ffmpeg that ships in the imageio-ffmpeg wheel as an async subprocess.

No system ffmpeg (or ffprobe) is needed. A failure raises `FfmpegFailed` carrying the tail of
ffmpeg's stderr; a cancelled or timed-out run kills its process so no encoder is orphaned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import structlog

from omnigen.renderer.media.errors import FfmpegFailed

log = structlog.get_logger()

STDERR_TAIL_LINES = 12


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the bundled ffmpeg binary (`IMAGEIO_FFMPEG_EXE` overrides it, as imageio honours)."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class FfmpegRun:
    stdout: bytes
    stderr: str
    returncode: int


def stderr_tail(stderr: str, lines: int = STDERR_TAIL_LINES) -> str:
    """The last meaningful lines of ffmpeg's stderr, for an error a person can act on."""
    kept = [line.strip() for line in stderr.splitlines() if line.strip()]
    return " | ".join(kept[-lines:])


async def run_ffmpeg(
    args: Sequence[str | Path],
    *,
    what: str,
    loglevel: str = "error",
    timeout_s: float | None = None,
    ok_returncodes: tuple[int, ...] = (0,),
    cwd: Path | None = None,
) -> FfmpegRun:
    """Run `ffmpeg <args>`; `what` names the step in errors and logs (e.g. "scene 2 clip")."""
    argv = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", loglevel, "-y"]
    argv += [str(arg) for arg in args]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=cwd,
    )
    try:
        stdout, stderr_bytes = await asyncio.wait_for(proc.communicate(), timeout_s)
    except TimeoutError:
        await _kill(proc)
        raise FfmpegFailed(what, f"timed out after {timeout_s:.0f} s") from None
    except BaseException:
        await _kill(proc)
        raise
    stderr = stderr_bytes.decode("utf-8", errors="replace")
    returncode = proc.returncode if proc.returncode is not None else -1
    if returncode not in ok_returncodes:
        log.warning("ffmpeg_failed", step=what, returncode=returncode, stderr=stderr_tail(stderr))
        raise FfmpegFailed(what, f"exit {returncode}: {stderr_tail(stderr) or 'no output'}")
    return FfmpegRun(stdout=stdout, stderr=stderr, returncode=returncode)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())


def filter_path(path: Path) -> str:
    """A path quoted for use as a filter option value inside a filtergraph (two escape levels)."""
    value = str(path)
    for char in ("\\", "'", ":"):
        value = value.replace(char, "\\" + char)
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + escaped + "'"
