"""Scenes from a user's own media: a picture fitted to the frame without distortion and moved
by the camera, a clip trimmed and fitted, a track looped to the video and normalised."""

from __future__ import annotations

from pathlib import Path

from omnigen.renderer.media.probe import probe
from omnigen.renderer.media.stills import image_clip, music_bed, video_clip
from omnigen.shared.domain.scripts import CameraMove
from omnigen.testing import upload_samples as samples


async def test_a_big_photo_becomes_a_moving_clip_that_shows_it(tmp_path: Path) -> None:
    photo = samples.photo(tmp_path / "p.jpg", 4000, 3000, seed=3)
    clip = await image_clip(
        photo, tmp_path / "c.mp4", duration_s=2.0, size=(320, 240), fps=25, move=CameraMove.STATIC
    )
    info = await probe(clip)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 240)
    assert 1.9 <= info.duration_s <= 2.1 and info.audio is None
    frame = samples.frame_at(clip, 1.0, tmp_path / "f.jpg")
    other = samples.photo(tmp_path / "o.jpg", 4000, 3000, seed=4)
    near = samples.hash_distance(samples.ahash(frame), samples.ahash(photo))
    far = samples.hash_distance(samples.ahash(frame), samples.ahash(other))
    assert near <= 8 and far >= 14


async def test_a_landscape_photo_fills_a_portrait_frame_by_cropping(tmp_path: Path) -> None:
    photo = samples.photo(tmp_path / "p.png", 1600, 900, seed=1)
    clip = await image_clip(
        photo, tmp_path / "c.mp4", duration_s=1.0, size=(180, 320), fps=25, move=CameraMove.PAN_LEFT
    )
    info = await probe(clip)
    assert info.video is not None and (info.video.width, info.video.height) == (180, 320)


async def test_a_clip_is_looped_or_trimmed_to_the_scene_and_loses_its_sound(
    tmp_path: Path,
) -> None:
    source = samples.clip(tmp_path / "s.mp4", 1.0, size="640x360")
    longer = await video_clip(source, tmp_path / "l.mp4", duration_s=2.5, size=(320, 320), fps=25)
    info = await probe(longer)
    assert info.video is not None and (info.video.width, info.video.height) == (320, 320)
    assert 2.4 <= info.duration_s <= 2.6 and info.audio is None


async def test_a_track_becomes_a_bed_as_long_as_the_video(tmp_path: Path) -> None:
    track = samples.track(tmp_path / "t.wav", 2.0)
    bed = await music_bed(track, tmp_path / "bed.wav", duration_s=5.0)
    info = await probe(bed)
    assert info.audio is not None and info.audio.channels == "stereo"
    assert 4.9 <= info.duration_s <= 5.1
