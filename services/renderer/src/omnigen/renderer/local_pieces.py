"""The files this renderer process uploaded, kept on its own disk by their S3 key, so that a
later step of the same job on the same process reads them without a round-trip to S3: the
composition (every clip and the audio archive), a clip's start from its keyframe, and in
`chain` the next scene's start from the previous clip's last frame (kept beside the clip, so
it is neither downloaded nor decoded again).

A piece's key names its job, render version and scene, and a recorded piece is never rendered
again, so what sits at a key does not change once recorded. Only a receive that lost its lease
while uploading could leave S3 holding another worker's equally valid render of the same piece.
Another process (or a restarted one) finds nothing here and downloads from S3 as before.

Entries are hard links into one temporary directory (under the renderer's work directory, so
the link is free and a killed renderer's copies are swept with it), the oldest dropped beyond
`max_files` or `max_bytes`. A reader links its entry into its own directory, so an eviction
meanwhile cannot take the file away from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections import OrderedDict
from pathlib import Path

import structlog

from omnigen.shared.ports import AssetStore

log = structlog.get_logger()

LAST_FRAME = "#last_frame"  # suffix of the key a clip's last frame is kept under


class LocalPieces:
    """S3 key -> a local copy of what this process uploaded there (least recently used first)."""

    def __init__(
        self, work_dir: Path | None = None, *, max_files: int = 256, max_bytes: int = 1 << 30
    ) -> None:
        self._work_dir = work_dir
        self._max_files = max_files
        self._max_bytes = max_bytes
        self._root: tempfile.TemporaryDirectory[str] | None = None
        self._entries: OrderedDict[str, tuple[Path, int]] = OrderedDict()
        self._bytes = 0

    async def keep(self, key: str, path: Path) -> None:
        """Remember `path` as what `key` holds (call it once the upload succeeded)."""
        try:
            kept = await asyncio.to_thread(self._link_in, self._directory(), path)
        except OSError as exc:  # a full disk only costs the download later
            log.warning("local_piece_not_kept", error=type(exc).__name__)
            return
        self._drop(key)
        self._entries[key] = kept
        self._bytes += kept[1]
        while len(self._entries) > self._max_files or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))

    async def fetch(self, assets: AssetStore, key: str, dest: Path) -> None:
        """`key`'s file at `dest`: this process's copy when it has one, else from S3."""
        if not await self.copy_to(key, dest):
            await assets.get_file(key, dest)

    async def copy_to(self, key: str, dest: Path) -> bool:
        """Put the kept copy of `key` at `dest`; False when this process kept none."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        self._entries.move_to_end(key)
        try:
            await asyncio.to_thread(_link_or_copy, entry[0], dest)
        except OSError:
            self._drop(key)
            return False
        return True

    def _directory(self) -> Path:
        """The directory of the kept copies, made by the first keep (in the event loop, so
        two keeps at once cannot make two)."""
        if self._root is None:
            if self._work_dir is not None:
                self._work_dir.mkdir(parents=True, exist_ok=True)
            self._root = tempfile.TemporaryDirectory(prefix="omnigen-pieces-", dir=self._work_dir)
        return Path(self._root.name)

    @staticmethod
    def _link_in(directory: Path, path: Path) -> tuple[Path, int]:
        kept = directory / os.urandom(8).hex()
        _link_or_copy(path, kept)
        return kept, kept.stat().st_size

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry[1]
            with contextlib.suppress(OSError):
                entry[0].unlink()


def _link_or_copy(source: Path, dest: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        dest.unlink()
    try:
        os.link(source, dest)
    except OSError:  # another file system
        shutil.copyfile(source, dest)
