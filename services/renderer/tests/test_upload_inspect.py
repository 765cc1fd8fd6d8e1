"""The check an upload gets once it arrives: real files pass with their facts; every bad one
is rejected with a reason a user can act on, without decoding a bomb's pixels."""

from __future__ import annotations

import resource
from pathlib import Path

from omnigen.renderer.uploads.inspect import inspect_upload
from omnigen.shared.domain.uploads import MAX_PIXELS, UploadKind
from omnigen.testing import upload_samples as samples


async def test_a_real_photo_is_ready_with_its_dimensions(tmp_path: Path) -> None:
    verdict = await inspect_upload(samples.photo(tmp_path / "p.jpg", 4000, 3000), UploadKind.IMAGE)
    assert verdict.ready, verdict.reason
    assert (verdict.facts.width, verdict.facts.height) == (4000, 3000)
    png = await inspect_upload(samples.photo(tmp_path / "p.png", 640, 480), UploadKind.IMAGE)
    assert png.ready and png.facts.width == 640


async def test_a_text_file_renamed_jpg_is_rejected(tmp_path: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_text("these are not the pixels you are looking for\n" * 20)
    verdict = await inspect_upload(fake, UploadKind.IMAGE)
    assert verdict.reason == "the file is not a readable JPEG, PNG or WebP image"


async def test_a_png_declaring_100000_squared_pixels_is_rejected_before_decoding(
    tmp_path: Path,
) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    verdict = await inspect_upload(samples.png_bomb_header(tmp_path / "b.png"), UploadKind.IMAGE)
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert not verdict.ready
    assert str(MAX_PIXELS) in (verdict.reason or "")
    assert grown_kb < 50_000  # 10^10 pixels were never decoded


async def test_a_png_over_the_pixel_cap_is_rejected_with_its_size(tmp_path: Path) -> None:
    bomb = samples.png_bomb_header(tmp_path / "b.png", 9000, 5000)
    verdict = await inspect_upload(bomb, UploadKind.IMAGE)
    assert verdict.reason == f"the image is 9000x5000, more than {MAX_PIXELS} pixels"


async def test_a_truncated_image_is_rejected(tmp_path: Path) -> None:
    whole = samples.photo(tmp_path / "w.png", 800, 600)
    verdict = await inspect_upload(samples.truncated(whole, tmp_path / "t.png"), UploadKind.IMAGE)
    assert (verdict.reason or "").startswith("the image is damaged or truncated")


async def test_a_clip_is_ready_with_its_size_and_duration(tmp_path: Path) -> None:
    verdict = await inspect_upload(samples.clip(tmp_path / "c.mp4", 2), UploadKind.VIDEO)
    assert verdict.ready, verdict.reason
    assert (verdict.facts.width, verdict.facts.height) == (320, 240)
    assert verdict.facts.duration_s is not None and 1.9 < verdict.facts.duration_s < 2.2
    assert verdict.facts.has_video and verdict.facts.has_audio


async def test_a_truncated_mp4_is_rejected(tmp_path: Path) -> None:
    whole = samples.clip(tmp_path / "c.mp4", 2)
    verdict = await inspect_upload(samples.truncated(whole, tmp_path / "t.mp4"), UploadKind.VIDEO)
    assert verdict.reason == "the file is not a readable video file"


async def test_a_faststart_mp4_cut_short_is_rejected(tmp_path: Path) -> None:
    """Its header (at the front) is whole; its data is not."""
    whole = tmp_path / "fs.mp4"
    samples.ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=s=320x240:r=25", "-t", "4",
        "-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart", str(whole),
    )  # fmt: skip
    verdict = await inspect_upload(samples.truncated(whole, tmp_path / "t.mp4"), UploadKind.VIDEO)
    assert verdict.reason == "the file is truncated or damaged (its end does not decode)"


async def test_a_two_hour_video_is_rejected(tmp_path: Path) -> None:
    verdict = await inspect_upload(samples.long_clip(tmp_path / "l.mp4"), UploadKind.VIDEO)
    assert verdict.reason == "it lasts 7200 s, more than 600 s"


async def test_an_mp4_without_a_video_stream_is_no_video(tmp_path: Path) -> None:
    sound = samples.audio_only_mp4(tmp_path / "a.mp4")
    verdict = await inspect_upload(sound, UploadKind.VIDEO)
    assert verdict.reason == "the file has no video stream"
    assert (await inspect_upload(sound, UploadKind.AUDIO)).ready


async def test_a_track_is_ready_with_its_duration(tmp_path: Path) -> None:
    verdict = await inspect_upload(samples.track(tmp_path / "m.wav", 3), UploadKind.AUDIO)
    assert verdict.ready and verdict.facts.duration_s == 3.0
    assert verdict.facts.has_video is False
