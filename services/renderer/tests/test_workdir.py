"""Render work directories live under one root; a renderer starting up removes what renderers
that were killed (kill -9) left there, and keeps what live ones hold."""

from __future__ import annotations

import dataclasses
import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from omnigen.renderer import workdir
from omnigen.renderer.main import RenderSettings, renderer
from omnigen.renderer.ports import ClipResult
from omnigen.renderer.providers.errors import ProviderFailed
from omnigen.renderer.providers.settings import ProviderSettings
from omnigen.shared.domain.events import ScriptReady
from omnigen.shared.domain.scripts import Scene
from omnigen.shared.resources import resource_spec
from omnigen.shared.runtime.service import WorkerContext
from omnigen.testing.fakes import InMemoryJobRepository, RecordingPublisher

from .test_handlers import deps_with, drive, make_job, ready

# A renderer process in miniature: claims its directory, starts a render in it, says where,
# then holds on until its stdin closes (or it is killed).
RENDERER = """
import sys
from pathlib import Path
from omnigen.renderer import workdir
own = workdir.claim(Path(sys.argv[1]))
render = own.path / "omnigen-render-0123abcd-x"
render.mkdir()
(render / "scene_1.mp4").write_bytes(b"\\0" * 65536)
print(own.path, flush=True)
sys.stdin.read()
"""


class Renderer:
    def __init__(self, root: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", RENDERER, str(root)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # printed once its directory is set up
        assert line, f"the renderer exited with {self.process.wait()}"
        self.path = Path(line.strip())

    def kill_9(self) -> None:
        self.process.kill()
        assert self.process.wait() == -9

    def exit(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait() == 0


@pytest.fixture
def processes() -> Iterator[list[Renderer]]:
    started: list[Renderer] = []
    yield started
    for process in started:
        if process.process.poll() is None:
            process.process.kill()
            process.process.wait()


class _NoAws:
    async def s3(self) -> object:
        return object()

    async def dynamodb(self) -> object:
        return object()


def _context() -> WorkerContext:
    return WorkerContext(
        aws=_NoAws(),  # type: ignore[arg-type]
        spec=resource_spec("t-workdir"),
        jobs=InMemoryJobRepository(),
        publisher=RecordingPublisher(),
        lease_s=60.0,
    )


def _settings(root: Path) -> tuple[ProviderSettings, RenderSettings]:
    return ProviderSettings(), RenderSettings(work_dir=root)


async def test_a_killed_renderers_work_dir_goes_at_the_next_start_a_live_ones_stays(
    tmp_path: Path, processes: list[Renderer]
) -> None:
    root = tmp_path / "render-root"
    killed, live = Renderer(root), Renderer(root)
    processes += [killed, live]
    assert (killed.path / "omnigen-render-0123abcd-x" / "scene_1.mp4").is_file()
    killed.kill_9()
    assert killed.path.is_dir()  # what kill -9 leaves

    async with renderer(_context(), _settings(root)) as handler:
        own: Path = handler[ScriptReady].keywords["deps"].work_dir  # type: ignore[attr-defined]
        assert not killed.path.exists()
        assert not killed.path.with_name(killed.path.name + workdir.LOCK_SUFFIX).exists()
        assert (live.path / "omnigen-render-0123abcd-x" / "scene_1.mp4").is_file()
        assert own.parent == root and own.is_dir() and own not in (killed.path, live.path)
        # Another renderer starting meanwhile keeps this one's directory, too.
        assert workdir.sweep(root) == []
    assert not own.exists()  # a clean shutdown removes its own
    assert live.path.is_dir()

    live.exit()  # however a process ends, its lock goes with it
    assert workdir.sweep(root) == [live.path]
    assert sorted(p.name for p in root.iterdir()) == []


def test_the_sweep_removes_every_leftover_layout_and_keeps_held_ones(tmp_path: Path) -> None:
    root = tmp_path
    stale = root / "101-aaaa"  # a lock nobody holds, its directory
    (stale / "omnigen-render-x").mkdir(parents=True)
    (root / "101-aaaa.lock").touch()
    orphan = root / "102-bbbb"  # a directory with no lock (killed while releasing)
    orphan.mkdir()
    (root / "103-cccc.lock").touch()  # a lock with no directory (killed before its mkdir)
    (root / "104-dddd.lock.new").touch()  # killed inside claim, before the rename
    held = workdir.claim(root)
    other = root / "105-eeee"  # held by someone else (another open file of this process)
    other.mkdir()
    fd = os.open(root / "105-eeee.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert sorted(workdir.sweep(root)) == [stale, orphan]
        left = sorted(p.name for p in root.iterdir())
        assert left == sorted([held.path.name, held.lock_path.name, "105-eeee", "105-eeee.lock"])
    finally:
        os.close(fd)
        held.release()
    assert not held.path.exists() and not held.lock_path.exists()
    held.release()  # idempotent


def test_the_work_root_is_a_setting_defaulting_under_the_system_temp_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import tempfile

    assert RenderSettings().work_dir == Path(tempfile.gettempdir()) / "omnigen-render"
    monkeypatch.setenv("OMNIGEN_RENDER_WORK_DIR", str(tmp_path / "elsewhere"))
    assert RenderSettings().work_dir == tmp_path / "elsewhere"


class _RecordingClips:
    """Notes where it was asked to render, then fails the job (nothing else to run)."""

    def __init__(self) -> None:
        self.out_dirs: list[Path] = []

    async def generate(self, scene: Scene, *, out_dir: Path, **_: Any) -> ClipResult:
        self.out_dirs.append(out_dir)
        assert out_dir.is_dir()
        raise ProviderFailed("no clips today", provider="test")


async def test_a_render_works_under_the_work_dir_and_cleans_up(tmp_path: Path) -> None:
    clips = _RecordingClips()
    jobs = InMemoryJobRepository()
    deps = dataclasses.replace(deps_with(clips, jobs), work_dir=tmp_path)
    job = await make_job(jobs, (5.0, 5.0))
    await drive(deps, ready(job))
    assert clips.out_dirs
    assert all(tmp_path in d.parents for d in clips.out_dirs)
    assert list(tmp_path.iterdir()) == []
