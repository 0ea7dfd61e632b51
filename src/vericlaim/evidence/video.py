"""Video evidence: sample frames at scene changes, with a cap, in bounded work.

A packing or unboxing video is evidence through a few distinct views, not through its
thousands of near-identical frames. The loader reads the container's sample table
first (no decoding) to learn the duration, the keyframes and whether the file is
truncated, then looks at a bounded number of candidate frames:

- a short clip (up to ``_SEQUENTIAL_FRAMES`` frames) is decoded from start to end and
  every ``stride``-th frame is a candidate;
- a longer one is never decoded in full: the loader seeks to evenly spaced keyframes
  and decodes only those, so a ten-minute video costs about as much as a short one;
- a long video with almost no keyframes (nothing to seek to) is decoded from the start
  up to ``_DECODE_CAP`` frames, and its remainder is not sampled.

A candidate is kept when its small grey thumbnail differs from the last kept one's by
more than ``_SCENE_CHANGE`` (a cut, or a camera that moved on to something else); the
first frame is always kept. When more than ``settings.max_video_frames`` qualify, the
weakest changes are dropped. The difference is relative to the thumbnails' own contrast
and ignores their mean brightness, so a low-contrast scene still registers a cut and an
exposure adjustment does not count as a new view. On real photos, a cut to another
photo scores 1.1 or more, a pan of a tenth of the frame 0.3 to 0.8, a handheld tremor
(1 %) under 0.35.

Rotation: phones store portrait video landscape with a display matrix; PyAV exposes
its angle as ``VideoFrame.rotation`` (counter-clockwise degrees), which is applied to
every frame, so frames, ``Evidence.width`` and ``Evidence.height`` are as displayed.
``Evidence.orientation`` holds the EXIF orientation with the same effect (6 for the
usual portrait phone video). Mirroring in the matrix and non-square pixels are not
applied.
"""

from __future__ import annotations

import bisect
import io
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import av
import numpy as np

from vericlaim.errors import CorruptMedia, EvidenceError, LimitExceeded, UnsupportedFormat
from vericlaim.evidence.load import describe
from vericlaim.evidence.metadata import read_video_metadata
from vericlaim.evidence.model import Evidence, Frame, Role
from vericlaim.settings import Settings

__all__ = ["decode_first_frame", "load_video"]

# Decode a clip frame by frame up to this many frames (10 s at 30 fps); seek beyond.
_SEQUENTIAL_FRAMES = 300
# Seeking needs keyframes to land on; with fewer, the video is decoded from the start,
# up to _DECODE_CAP frames (a minute at 30 fps).
_MIN_KEYFRAMES = 8
_DECODE_CAP = 1800
# Candidate frames looked at per frame that may be kept.
_CANDIDATES_PER_KEPT = 4
# Relative difference of 32x32 grey thumbnails (see the module docstring) that counts as
# a new view; _FLAT keeps a featureless frame (a dark room, a white wall) from dividing
# by nearly zero.
_SCENE_CHANGE = 0.6
_SIGNATURE_SIDE = 32
_FLAT = 0.02
# After a seek, packets read at most before giving up on that position.
_PACKETS_PER_SEEK = 64
# Frame rates above this are not video a phone makes; the header is lying.
_MAX_FPS = 480
_SHRINK_MARGIN = 1.5
# Counter-clockwise display rotation -> the EXIF orientation with the same effect.
_ROTATION_TO_EXIF = {0: 1, 1: 8, 2: 3, 3: 6}


@dataclass(frozen=True, slots=True)
class _Plan:
    """What the container says before anything is decoded."""

    duration_s: float
    fps: float
    frame_count: int
    start: int  # first timestamp, in the stream's time base
    keyframes: tuple[int, ...]  # keyframe timestamps, in the stream's time base


def load_video(
    data: bytes,
    *,
    fmt: str,
    mime: str,
    source: str,
    role: Role,
    media_id: str,
    sha256: str,
    settings: Settings,
) -> Evidence:
    """Load an MP4 or MOV video: sampled frames, duration and container tags.

    Raises
    ------
    UnsupportedFormat
        The file holds no video stream (audio only, for instance).
    LimitExceeded
        The video is longer than ``settings.max_video_seconds`` or its frames are
        larger than ``settings.max_pixels``.
    CorruptMedia
        The container or the stream cannot be read, or the file is truncated.
    """
    with _reading(source), _open(data, source) as container:
        stream = _video_stream(container, source)
        plan = _plan(container, stream, data, source, settings)
        frames, rotation = _sample(container, stream, plan, settings, source)
        tags = _tags(container, stream)
        width, height = stream.codec_context.width, stream.codec_context.height
    if rotation % 2:
        width, height = height, width
    metadata = read_video_metadata(tags, data, mime=mime, source=source)
    return Evidence(
        media_id=media_id,
        source=source,
        role=role,
        sha256=sha256,
        format=fmt,
        mime=mime,
        kind="video",
        byte_size=len(data),
        width=width,
        height=height,
        orientation=_ROTATION_TO_EXIF[rotation],
        metadata=metadata,
        frames=tuple(
            Frame(pixels=f.pixels, scale=f.pixels.shape[1] / width, index=f.index, time_s=f.time_s)
            for f in frames
        ),
        data=data,
        duration_s=plan.duration_s,
    )


def decode_first_frame(data: bytes, *, source: str) -> np.ndarray:
    """The first frame at full resolution, rotated for display, read-only."""
    with _reading(source), _open(data, source) as container:
        stream = _video_stream(container, source)
        for frame in _decode_all(container, stream):
            pixels = _upright(frame.to_ndarray(format="rgb24"), _quarter_turns(frame))
            pixels.setflags(write=False)
            return pixels
    raise CorruptMedia(source, "video has no decodable frames")


@contextmanager
def _reading(source: str) -> Iterator[None]:
    """Translate FFmpeg's errors (and any other surprise from a hostile file) into ours."""
    try:
        yield
    except EvidenceError:
        raise
    except MemoryError as exc:
        raise LimitExceeded(source, "not enough memory to decode this video") from exc
    except EOFError as exc:
        raise CorruptMedia(source, "truncated video data") from exc
    except av.FFmpegError as exc:
        reason = " ".join((exc.strerror or describe(exc)).split())
        raise CorruptMedia(source, f"cannot read video ({reason})") from exc
    except Exception as exc:
        raise CorruptMedia(source, f"cannot read video ({describe(exc)})") from exc


def _open(data: bytes, source: str) -> Any:
    # The demuxer is named, not probed: a probing FFmpeg accepts playlists and other
    # formats that point at further files, which an uploaded file must never do.
    try:
        return av.open(io.BytesIO(data), mode="r", format="mov", metadata_errors="replace")
    except av.FFmpegError as exc:
        reason = " ".join((exc.strerror or describe(exc)).split()).lower()
        raise CorruptMedia(
            source, f"not a readable MP4/MOV video ({reason}; the file is corrupt or truncated)"
        ) from exc


def _video_stream(container: Any, source: str) -> Any:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art
            return stream
    kinds = sorted({s.type for s in container.streams}) or ["no"]
    raise UnsupportedFormat(source, f"no video stream in the file ({', '.join(kinds)} streams)")


def _plan(container: Any, stream: Any, data: bytes, source: str, settings: Settings) -> _Plan:
    if stream.codec_context is None:
        raise UnsupportedFormat(source, "the video stream's codec cannot be decoded here")
    width, height = stream.codec_context.width, stream.codec_context.height
    if width <= 0 or height <= 0:
        raise CorruptMedia(source, "video stream has no picture size")
    if width * height > settings.max_pixels:
        raise LimitExceeded(
            source,
            f"video frames are {width}x{height} = {width * height:,} pixels, "
            f"more than the limit of {settings.max_pixels:,}",
        )
    time_base = float(stream.time_base or 0) or 1 / 90000
    header_s = _header_duration(container, stream, time_base)
    frame_cap = int(settings.max_video_seconds * _MAX_FPS) + 1
    if (stream.frames or 0) > frame_cap or len(stream.index_entries) > frame_cap:
        raise LimitExceeded(source, f"video has more than {frame_cap:,} frames")
    entries = [(e.timestamp, e.is_keyframe, e.pos, e.size) for e in stream.index_entries]
    if not entries:
        # A fragmented or index-less file: read its packets, without decoding, in a second
        # reader (such files often cannot seek back to the start).
        with _open(data, source) as scan:
            entries = _scan_packets(scan, scan.streams[stream.index], frame_cap, source)
    if not entries:
        raise CorruptMedia(source, "video stream has no frames")
    end = max((pos + length for _, _, pos, length in entries if pos >= 0), default=0)
    if end > len(data):
        raise CorruptMedia(
            source, f"truncated video: {end - len(data):,} bytes of its frames are missing"
        )
    stamps = sorted(ts for ts, *_ in entries)
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    span_s = (stamps[-1] - stamps[0]) * time_base + (1 / rate if rate > 0 else 0)
    duration_s = header_s or span_s
    if max(duration_s, span_s) > settings.max_video_seconds:
        raise LimitExceeded(
            source,
            f"video is {max(duration_s, span_s):.1f} s long, more than the limit of "
            f"{settings.max_video_seconds:g} s",
        )
    fps = rate if 0 < rate <= _MAX_FPS else len(entries) / max(duration_s, 1e-3)
    keyframes = tuple(sorted({ts for ts, key, _, _ in entries if key}))
    start = stream.start_time if stream.start_time is not None else stamps[0]
    return _Plan(duration_s, fps, len(entries), start, keyframes)


def _header_duration(container: Any, stream: Any, time_base: float) -> float:
    if stream.duration and stream.duration > 0:
        return stream.duration * time_base
    if container.duration and container.duration > 0:
        return container.duration / av.time_base
    return 0.0


def _scan_packets(
    container: Any, stream: Any, frame_cap: int, source: str
) -> list[tuple[int, bool, int, int]]:
    entries: list[tuple[int, bool, int, int]] = []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.dts is None:
            continue  # the demuxer's end-of-stream marker
        if len(entries) >= frame_cap:
            raise LimitExceeded(source, f"video has more than {frame_cap:,} frames")
        entries.append((packet.dts, packet.is_keyframe, packet.pos or 0, packet.size))
    return entries


@dataclass(slots=True)
class _Kept:
    change: float
    index: int
    time_s: float
    pixels: np.ndarray


class _ScenePicker:
    """Keep the first frame and each frame that shows a new view, at most ``cap``."""

    def __init__(self, cap: int, analysis_side: int) -> None:
        self.cap = max(1, cap)
        self.analysis_side = analysis_side
        self.kept: list[_Kept] = []
        self.turns = 0
        self._last: tuple[np.ndarray, float] | None = None

    def offer(self, frame: Any, index: int, time_s: float) -> None:
        thumb = frame.reformat(
            width=_SIGNATURE_SIDE, height=_SIGNATURE_SIDE, format="gray", interpolation="AREA"
        ).to_ndarray()
        values = thumb.astype(np.float32) / 255.0
        signature = values - values.mean()
        contrast = float(np.mean(np.abs(signature)))
        if self._last is None:
            change = math.inf
            self.turns = _quarter_turns(frame)  # the display matrix is the stream's
        else:
            last, last_contrast = self._last
            difference = float(np.mean(np.abs(signature - last)))
            change = difference / ((contrast + last_contrast) / 2 + _FLAT)
            if change < _SCENE_CHANGE:
                return
        self._last = (signature, contrast)
        self.kept.append(_Kept(change, index, time_s, self._pixels(frame)))
        if len(self.kept) > self.cap:
            weakest = min(range(1, len(self.kept)), key=lambda i: self.kept[i].change)
            del self.kept[weakest]

    def _pixels(self, frame: Any) -> np.ndarray:
        width, height = frame.width, frame.height
        long_side = max(width, height)
        if long_side > self.analysis_side * _SHRINK_MARGIN:
            f = self.analysis_side / long_side
            width, height = max(1, round(width * f)), max(1, round(height * f))
        rgb = frame.reformat(width=width, height=height, format="rgb24", interpolation="AREA")
        pixels = _upright(rgb.to_ndarray(), self.turns)
        pixels.setflags(write=False)
        return pixels


def _sample(
    container: Any, stream: Any, plan: _Plan, settings: Settings, source: str
) -> tuple[list[_Kept], int]:
    picker = _ScenePicker(settings.max_video_frames, settings.analysis_side)
    budget = max(8, _CANDIDATES_PER_KEPT * settings.max_video_frames)
    time_base = float(stream.time_base or 0) or 1 / 90000

    def seconds(frame: Any, fallback: float) -> float:
        if frame.pts is None:
            return fallback
        return max(0.0, (frame.pts - plan.start) * time_base)

    if plan.frame_count <= _SEQUENTIAL_FRAMES or len(plan.keyframes) < _MIN_KEYFRAMES:
        stride = max(1, math.ceil(min(plan.frame_count, _DECODE_CAP) / budget))
        stream.codec_context.thread_type = "AUTO"
        for i, frame in enumerate(_decode_all(container, stream)):
            if i >= _DECODE_CAP:
                break  # bounded work: the rest of a long, keyframe-poor video is not seen
            if i % stride == 0:
                picker.offer(frame, i, seconds(frame, i / plan.fps))
    else:
        seen: set[int | None] = set()
        for target in _seek_targets(plan, budget):
            frame = _frame_at(container, stream, target)
            if frame is None or frame.pts in seen:
                continue
            seen.add(frame.pts)
            time_s = seconds(frame, (target - plan.start) * time_base)
            picker.offer(frame, round(time_s * plan.fps), time_s)
    if not picker.kept:
        raise CorruptMedia(source, "video has no decodable frames")
    picker.kept.sort(key=lambda k: k.time_s)
    return picker.kept, picker.turns


def _decode_all(container: Any, stream: Any) -> Iterator[Any]:
    for packet in container.demux(stream):
        yield from packet.decode()


def _seek_targets(plan: _Plan, count: int) -> list[int]:
    """Up to ``count`` keyframes, evenly spaced in time from the first to the last."""
    if not plan.keyframes:
        return [plan.start]
    first, last = plan.keyframes[0], plan.keyframes[-1]
    step = (last - first) / max(1, count - 1)
    # The last keyframe at or before each evenly spaced time: decoding starts there anyway.
    chosen = {
        plan.keyframes[max(0, bisect.bisect_right(plan.keyframes, first + j * step) - 1)]
        for j in range(count)
    }
    return sorted(chosen)


def _frame_at(container: Any, stream: Any, timestamp: int) -> Any | None:
    container.seek(timestamp, stream=stream, backward=True)
    for n, packet in enumerate(container.demux(stream)):
        for frame in packet.decode():
            return frame
        if n >= _PACKETS_PER_SEEK:
            break
    return None


def _quarter_turns(frame: Any) -> int:
    """Counter-clockwise quarter turns the display matrix asks for (0..3)."""
    try:
        return round((frame.rotation or 0) / 90) % 4
    except Exception:  # an unreadable display matrix: show the frame as stored
        return 0


def _upright(pixels: np.ndarray, turns: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(pixels, k=turns)) if turns else pixels


def _tags(container: Any, stream: Any) -> dict[str, str]:
    """Container tags as written (``major_brand``, ``creation_time``, ``encoder``,
    ``com.apple.quicktime.*``), then the video stream's, prefixed ``video.``."""
    tags = {str(k): str(v) for k, v in container.metadata.items()}
    tags.update({f"video.{k}": str(v) for k, v in stream.metadata.items()})
    return tags
