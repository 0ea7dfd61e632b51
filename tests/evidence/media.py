"""Evidence files made in the test, from known pixels: photos, videos and hostile inputs."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from tests.conftest import encode, textured_image

__all__ = [
    "jpeg_with_exif",
    "make_audio_only",
    "make_video",
    "marked_image",
    "png_bomb",
    "png_chunk",
    "scene_picture",
]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk with its length and CRC."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid PNG header announcing ``width`` x ``height`` RGB pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 3 * 64))  # one short scanline; a decoder would ask for more
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def marked_image(width: int = 80, height: int = 40) -> np.ndarray:
    """Black, with a white block in the top-left corner: orientation shows at a glance."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[: height // 4, : width // 4] = 255
    return pixels


def jpeg_with_exif(pixels: np.ndarray, tags: dict[int, object], **kwargs: object) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    return encode(pixels, "JPEG", exif=exif.tobytes(), **kwargs)


def scene_picture(size: tuple[int, int], k: int) -> np.ndarray:
    """The picture of scene ``k`` in :func:`make_video`."""
    return textured_image(size[0], size[1], seed=100 + k)


def make_video(
    *,
    container: str = "mp4",
    codec: str = "libx264",
    frames: int = 30,
    fps: int = 10,
    size: tuple[int, int] = (160, 120),
    scenes: int = 3,
    pictures: list[np.ndarray] | None = None,
    gop: int | None = None,
    rotation: int | None = None,
    tags: dict[str, str] | None = None,
    path: Path | None = None,
    faststart: bool = False,
) -> bytes:
    """Encode ``frames`` frames showing ``scenes`` distinct textured pictures in turn.

    Scene ``k`` starts at frame ``k * frames // scenes`` and shows ``scene_picture(size, k)``
    unless ``pictures`` are given. ``rotation`` writes a display matrix (counter-clockwise
    degrees). ``faststart`` (moov first) needs a ``path``.
    """
    width, height = size
    pictures = pictures or [scene_picture(size, k) for k in range(scenes)]
    scenes = len(pictures)
    target: Path | io.BytesIO = path if path is not None else io.BytesIO()
    options = {"movflags": "faststart"} if faststart else {}
    with av.open(target, "w", format=container, options=options) as out:
        out.metadata.update(tags or {})
        stream: Any = out.add_stream(codec, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pictures[i * scenes // frames], format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    if isinstance(target, io.BytesIO):
        return target.getvalue()
    return target.read_bytes()


def make_audio_only(seconds: float = 0.5) -> bytes:
    """An MP4 holding nothing but an AAC audio track."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:
        stream: Any = out.add_stream("aac", rate=44100)
        samples = np.zeros((1, 1024), np.float32)
        for i in range(int(seconds * 44100 / 1024)):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()
