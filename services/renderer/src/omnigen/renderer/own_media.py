"""A job's uploads of the user's own, fetched for the render: a scene's media, the start image,
the music track. Ingest let the job name only the user's ready uploads; one deleted since is a
permanent failure that names it (the job cannot be made as asked)."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from omnigen.renderer.media.errors import MediaError
from omnigen.renderer.media.stills import image_clip, music_bed, video_clip
from omnigen.shared.domain.jobs import Job
from omnigen.shared.domain.scripts import Scene
from omnigen.shared.domain.uploads import Upload, UploadKind, UploadStatus
from omnigen.shared.ports import AssetStore, UploadStore


class UploadUnavailable(MediaError):
    """Permanent: the job's piece names the upload (the handler prefixes the piece)."""

    def __init__(self, upload_id: str, what: str | None = None) -> None:
        prefix = f"{what}: " if what else ""
        super().__init__(f"{prefix}upload {upload_id} is no longer available")


def scene_media(job: Job, number: int) -> str | None:
    """The upload a given script's scene `number` shows, if any."""
    scenes = job.given_script.scenes if job.given_script else []
    return scenes[number - 1].media if 0 < number <= len(scenes) else None


async def fetch_upload(
    uploads: UploadStore | None,
    assets: AssetStore,
    job: Job,
    upload_id: str,
    path: Path,
    *,
    what: str,
) -> Upload:
    upload = None if uploads is None else await uploads.find_upload(upload_id)
    if upload is None or upload.owner != job.user_id or upload.status is not UploadStatus.READY:
        raise UploadUnavailable(upload_id, None if what.startswith("scene") else what)
    await assets.get_file(upload.key, path)
    return upload


async def scene_from_upload(
    uploads: UploadStore | None,
    assets: AssetStore,
    job: Job,
    scene: Scene,
    upload_id: str,
    *,
    size: tuple[int, int],
    fps: int,
    work: Path,
) -> Path:
    what = f"scene {scene.scene_number}"
    source = work / f"scene_{scene.scene_number:03d}_upload"
    upload = await fetch_upload(uploads, assets, job, upload_id, source, what=what)
    out = work / f"scene_{scene.scene_number:03d}_own.mp4"
    if upload.kind is UploadKind.IMAGE:
        return await image_clip(
            source, out, duration_s=scene.duration, size=size, fps=fps, move=scene.camera_move
        )
    if upload.kind is UploadKind.VIDEO and upload.facts.has_video is not False:
        return await video_clip(source, out, duration_s=scene.duration, size=size, fps=fps)
    raise MediaError(f"upload {upload_id} has no picture to show")


async def start_image(
    uploads: UploadStore | None, assets: AssetStore, job: Job, work: Path
) -> Path | None:
    if job.options.start_image is None:
        return None
    path = work / "start_image_upload"
    upload = await fetch_upload(
        uploads, assets, job, job.options.start_image, path, what="start image"
    )
    return _typed(path, upload)


def _typed(path: Path, upload: Upload) -> Path:
    """`path` renamed with the extension of the upload's type, so a model is told the image's
    type rightly (a PNG sent as a data URI says image/png)."""
    suffix = mimetypes.guess_extension(upload.content_type)
    return path.rename(path.with_suffix(suffix)) if suffix else path


async def style_reference(
    uploads: UploadStore | None, assets: AssetStore, job: Job, work: Path
) -> Path | None:
    """The job's style reference image, fetched; None when it names none."""
    if job.options.style_reference_image is None:
        return None
    path = work / "style_reference_upload"
    upload_id = job.options.style_reference_image
    upload = await fetch_upload(uploads, assets, job, upload_id, path, what="style reference image")
    return _typed(path, upload)


async def music_track(
    uploads: UploadStore | None, assets: AssetStore, job: Job, duration_s: float, work: Path
) -> Path | None:
    """The bed from the job's uploaded track; None when it names none."""
    if job.options.music_track is None:
        return None
    source = work / "music_upload"
    await fetch_upload(uploads, assets, job, job.options.music_track, source, what="music")
    return await music_bed(source, work / "music.wav", duration_s=duration_s)
