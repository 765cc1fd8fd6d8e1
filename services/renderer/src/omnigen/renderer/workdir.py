"""Where renders keep their files, and cleaning up after a renderer that was killed.

A render works in a temporary directory (scene clips, audio, the composed video: tens of MB).
A `kill -9` (or an OOM kill) skips its cleanup, so every renderer process works under one root
it shares with the others on the host (`OMNIGEN_RENDER_WORK_DIR`), in a directory of its own:

    <root>/<pid>-<token>.lock   held with flock(LOCK_EX) for as long as the process lives
    <root>/<pid>-<token>/       its renders' temporary directories

The kernel drops the lock when the process dies, however it dies. At start-up a renderer
removes every directory whose lock it can take (its owner is gone), then claims its own. The
lock file is created (and locked) before its directory and removed after it, so a directory
with no lock file beside it is a leftover too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import structlog

log = structlog.get_logger()

LOCK_SUFFIX: Final = ".lock"
NEW_SUFFIX: Final = ".new"  # a lock file being created; renamed once it is locked
CLAIM_ATTEMPTS: Final = 5


@dataclass
class WorkDir:
    """This process's directory under the root, locked until `release()`."""

    path: Path
    lock_path: Path
    _lock_fd: int

    def release(self) -> None:
        """Remove the directory and its lock (at shutdown); idempotent."""
        if self._lock_fd < 0:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()
        os.close(self._lock_fd)
        self._lock_fd = -1


def claim(root: Path) -> WorkDir:
    """A fresh directory for this process under `root`, held (flock) while it lives.

    The lock file is created and locked under a name sweepers pass over (`*.lock.new`), then
    renamed into place, so no sweeper can ever take a lock its new owner has not taken yet."""
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(CLAIM_ATTEMPTS - 1):
        # A sweeper starting at the same moment may take (and drop) the fresh lock file
        # before we lock it: start over under another name.
        with contextlib.suppress(BlockingIOError, FileNotFoundError):
            return _claim_once(root)
    return _claim_once(root)


def _claim_once(root: Path) -> WorkDir:
    name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    lock_path = root / f"{name}{LOCK_SUFFIX}"
    fresh = root / f"{name}{LOCK_SUFFIX}{NEW_SUFFIX}"
    fd = os.open(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fresh.rename(lock_path)
        path = root / name
        path.mkdir(mode=0o700)
    except BaseException:
        os.close(fd)
        for leftover in (fresh, lock_path):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        raise
    return WorkDir(path, lock_path, fd)


def sweep(root: Path) -> list[Path]:
    """Remove what renderers that are gone left under `root`: each directory whose lock is
    free (or missing), and free lock files with no directory. Directories of live processes
    (this one's too) are kept. Returns what was removed."""
    if not root.is_dir():
        return []
    removed: list[Path] = []
    for lock_path in sorted(root.glob(f"*{LOCK_SUFFIX}")):
        directory = lock_path.with_suffix("")
        try:
            fd = os.open(lock_path, os.O_RDWR)
        except FileNotFoundError:
            continue  # its owner (or another sweeper) removed it meanwhile
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process holds it
            if directory.exists():
                shutil.rmtree(directory, ignore_errors=True)
                removed.append(directory)
            with contextlib.suppress(FileNotFoundError):
                lock_path.unlink()
        finally:
            os.close(fd)
    for fresh in sorted(root.glob(f"*{LOCK_SUFFIX}{NEW_SUFFIX}")):
        # Left by a process killed inside `claim`; a live claimer holds its lock already.
        _remove_if_free(fresh)
    for directory in sorted(root.iterdir()):
        lock_path = directory.with_name(directory.name + LOCK_SUFFIX)
        if directory.is_dir() and not directory.is_symlink() and not lock_path.exists():
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(directory)
    if removed:
        log.info("render_leftovers_removed", root=str(root), directories=[p.name for p in removed])
    return removed


def _remove_if_free(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink()
    except (BlockingIOError, FileNotFoundError):
        pass
    finally:
        os.close(fd)
