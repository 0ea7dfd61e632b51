from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pytest

from tests.evidence.media import make_video, marked_image, scene_picture
from vericlaim.evidence import decode_full, load_bytes
from vericlaim.evidence import video as video_module
from vericlaim.settings import get_settings


def close_to(pixels: np.ndarray, picture: np.ndarray) -> bool:
    return bool(np.abs(pixels.astype(int) - picture.astype(int)).mean() < 12)


@pytest.mark.parametrize(
    ("container", "codec", "fmt", "mime"),
    [
        ("mp4", "libx264", "mp4", "video/mp4"),
        ("mp4", "mpeg4", "mp4", "video/mp4"),
        ("mov", "libx264", "mov", "video/quicktime"),
    ],
)
def test_mp4_and_mov_load(container: str, codec: str, fmt: str, mime: str) -> None:
    data = make_video(container=container, codec=codec, frames=30, fps=10)
    evidence = load_bytes(data, source=f"clip.{container}")
    assert (evidence.kind, evidence.format, evidence.mime) == ("video", fmt, mime)
    assert evidence.is_video and evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert (evidence.width, evidence.height, evidence.orientation) == (160, 120, 1)
    assert evidence.duration_s == pytest.approx(3.0, abs=0.15)
    for frame in evidence.frames:
        assert frame.pixels.shape == (120, 160, 3) and frame.pixels.dtype == np.uint8
        assert not frame.pixels.flags.writeable and frame.scale == 1.0


def test_frames_are_sampled_at_scene_changes() -> None:
    evidence = load_bytes(make_video(frames=30, fps=10, scenes=3))
    assert [f.index for f in evidence.frames] == [0, 10, 20]
    assert [f.time_s for f in evidence.frames] == pytest.approx([0.0, 1.0, 2.0], abs=0.01)
    for k, frame in enumerate(evidence.frames):
        assert close_to(frame.pixels, scene_picture((160, 120), k))


def test_a_single_scene_gives_the_first_frame_only() -> None:
    evidence = load_bytes(make_video(frames=20, scenes=1))
    assert len(evidence.frames) == 1 and evidence.frames[0].index == 0
    assert evidence.frames[0].time_s == 0.0


def test_the_number_of_frames_is_capped_and_the_first_frame_kept() -> None:
    settings = get_settings(max_video_frames=4)
    evidence = load_bytes(make_video(frames=60, fps=10, scenes=12), settings=settings)
    times = [f.time_s for f in evidence.frames]
    assert len(evidence.frames) == 4 and evidence.frames[0].index == 0
    assert times == sorted(times)


def test_frames_are_downscaled_to_the_analysis_size() -> None:
    data = make_video(frames=4, fps=10, size=(1280, 720), scenes=1)
    evidence = load_bytes(data, settings=get_settings(analysis_side=256))
    (frame,) = evidence.frames
    assert (evidence.width, evidence.height) == (1280, 720)
    assert frame.pixels.shape == (144, 256, 3) and frame.scale == pytest.approx(0.2)
    full = decode_full(evidence)
    assert full.shape == (720, 1280, 3) and not full.flags.writeable
    assert close_to(full, scene_picture((1280, 720), 0))


@pytest.mark.parametrize(
    ("rotation", "orientation", "corner"),
    [
        (-90, 6, (slice(0, 8), slice(-8, None))),  # turned clockwise: top-left -> top-right
        (90, 8, (slice(-8, None), slice(0, 8))),  # counter-clockwise: top-left -> bottom-left
        (180, 3, (slice(-8, None), slice(-8, None))),
    ],
)
def test_display_rotation_is_applied(rotation: int, orientation: int, corner: Any) -> None:
    data = make_video(frames=5, size=(80, 48), pictures=[marked_image(80, 48)], rotation=rotation)
    evidence = load_bytes(data)
    pixels = evidence.frames[0].pixels
    turned = orientation in (6, 8)
    assert evidence.orientation == orientation
    assert (evidence.width, evidence.height) == ((48, 80) if turned else (80, 48))
    assert pixels.shape == ((80, 48, 3) if turned else (48, 80, 3))
    assert pixels[corner].mean() > 200 and pixels[:8, :8].mean() < 50
    assert decode_full(evidence).shape == pixels.shape


def test_long_video_is_sampled_by_seeking_not_decoded_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = make_video(frames=1200, fps=30, size=(64, 48), scenes=8, gop=30)
    offered: list[int] = []
    original = video_module._ScenePicker.offer

    def counting(self: Any, frame: Any, index: int, time_s: float) -> None:
        offered.append(index)
        original(self, frame, index, time_s)

    def no_full_decode(*args: object) -> Any:
        raise AssertionError("a long video was decoded from start to end")

    monkeypatch.setattr(video_module._ScenePicker, "offer", counting)
    monkeypatch.setattr(video_module, "_decode_all", no_full_decode)
    evidence = load_bytes(data, settings=get_settings(max_video_frames=6))
    assert len(offered) <= 4 * 6
    assert evidence.duration_s == pytest.approx(40.0, abs=0.1)
    assert len(evidence.frames) == 6 and evidence.frames[0].index == 0
    for frame in evidence.frames:
        assert frame.index == pytest.approx(frame.time_s * 30, abs=1)
    # The eight scenes start every 5 s; sampled frames come from several of them.
    scenes = {int(f.time_s // 5) for f in evidence.frames}
    assert len(scenes) >= 5


def test_keyframe_poor_long_video_decodes_a_bounded_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(video_module, "_SEQUENTIAL_FRAMES", 50)
    monkeypatch.setattr(video_module, "_DECODE_CAP", 80)
    data = make_video(frames=200, fps=10, size=(64, 48), scenes=1, gop=1000)
    evidence = load_bytes(data)
    assert evidence.duration_s == pytest.approx(20.0, abs=0.2)
    assert all(f.index < 80 for f in evidence.frames)


def _low_contrast(seed: int) -> np.ndarray:
    picture = scene_picture((160, 120), seed).astype(np.float32)
    return (128 + (picture - picture.mean()) * 0.15).astype(np.uint8)


def test_a_cut_between_low_contrast_scenes_is_a_scene_change() -> None:
    pictures = [_low_contrast(0), _low_contrast(1)]
    evidence = load_bytes(make_video(frames=20, pictures=pictures))
    assert [f.index for f in evidence.frames] == [0, 10]


def test_an_exposure_change_is_not_a_new_view() -> None:
    bright = scene_picture((160, 120), 0)
    darker = (bright.astype(np.float32) * 0.85).astype(np.uint8)
    evidence = load_bytes(make_video(frames=20, pictures=[bright, darker]))
    assert [f.index for f in evidence.frames] == [0]
