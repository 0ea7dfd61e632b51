"""Hostile and broken inputs: each one is a typed, one-line error (or a loaded photo)."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import encode, textured_image
from tests.evidence.media import make_audio_only, make_video, png_bomb
from vericlaim.errors import (
    CorruptMedia,
    EvidenceError,
    EvidenceNotFound,
    LimitExceeded,
    UnsupportedFormat,
)
from vericlaim.evidence import load_bytes, load_path
from vericlaim.settings import get_settings

JPEG = encode(textured_image(200, 150, seed=11), quality=90)


def expect(
    error: type[EvidenceError], load: Callable[[], object], source: str, *words: str
) -> EvidenceError:
    with pytest.raises(error) as caught:
        load()
    text = str(caught.value)
    assert "\n" not in text and text.startswith(f"{source}: "), text
    assert caught.value.source == source
    for word in words:
        assert word in text, text
    return caught.value


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    expect(UnsupportedFormat, lambda: load_path(path), str(path), "empty")
    expect(UnsupportedFormat, lambda: load_bytes(b"", source="upload"), "upload", "empty")


def test_truncated_jpeg() -> None:
    expect(
        CorruptMedia,
        lambda: load_bytes(JPEG[: len(JPEG) // 2], source="half.jpg"),
        "half.jpg",
        "truncated JPEG",
    )


@pytest.mark.parametrize("pil_format", ["PNG", "WEBP", "TIFF", "BMP", "GIF"])
def test_truncated_images_of_other_formats(pil_format: str) -> None:
    data = encode(textured_image(200, 150, seed=13), pil_format)
    expect(
        CorruptMedia, lambda: load_bytes(data[: len(data) // 2], source="half"), "half", pil_format
    )


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("Order 1234: the vase arrived broken.\n")
    expect(UnsupportedFormat, lambda: load_path(path), str(path), "not a supported image")


def test_garbage_after_jpeg_start_of_image() -> None:
    data = JPEG[:3] + np.random.default_rng(0).integers(0, 256, 4000, np.uint8).tobytes()
    expect(CorruptMedia, lambda: load_bytes(data, source="soi.jpg"), "soi.jpg", "JPEG")


def test_png_decompression_bomb_is_refused_from_its_header() -> None:
    started = time.perf_counter()
    expect(
        LimitExceeded,
        lambda: load_bytes(png_bomb(), source="bomb.png"),
        "bomb.png",
        "30000x30000",
        "limit",
    )
    assert time.perf_counter() - started < 1.0


def _jpeg_claiming(width: int, height: int) -> bytes:
    sof = JPEG.index(b"\xff\xc0")
    return JPEG[: sof + 5] + struct.pack(">HH", height, width) + JPEG[sof + 9 :]


def _bmp_claiming(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54 + 16, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 16, 2835, 2835, 0, 0)
    return header + info + bytes(16)


@pytest.mark.parametrize(
    ("name", "data"),
    [("huge.jpg", _jpeg_claiming(60_000, 60_000)), ("huge.bmp", _bmp_claiming(40_000, 40_000))],
)
def test_other_bombs_are_refused_from_their_headers(name: str, data: bytes) -> None:
    expect(LimitExceeded, lambda: load_bytes(data, source=name), name, "pixels")


def test_pixel_limit_is_the_configured_one() -> None:
    settings = get_settings(max_pixels=100 * 100)
    data = encode(textured_image(101, 100))
    expect(
        LimitExceeded,
        lambda: load_bytes(data, source="a.jpg", settings=settings),
        "a.jpg",
        "101x100",
        "10,000",
    )
    load_bytes(encode(textured_image(100, 100)), settings=settings)


def test_byte_limit(tmp_path: Path) -> None:
    settings = get_settings(max_bytes=1000)
    path = tmp_path / "big.jpg"
    path.write_bytes(JPEG)
    expect(LimitExceeded, lambda: load_path(path, settings=settings), str(path), "bytes")
    expect(LimitExceeded, lambda: load_bytes(JPEG, source="b", settings=settings), "b", "bytes")


def test_missing_path_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jpg"
    expect(EvidenceNotFound, lambda: load_path(missing), str(missing), "no such file")
    expect(EvidenceNotFound, lambda: load_path(tmp_path), str(tmp_path), "directory")


def _jpeg_with_app1(payload: bytes) -> bytes:
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return JPEG[:2] + segment + JPEG[2:]


@pytest.mark.parametrize(
    "payload",
    [
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\xff\xff" + bytes(20),  # 65535 entries, 2 present
        b"Exif\x00\x00MM\x00*\xff\xff\xff\xf0",  # first IFD far past the end
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x09\x00",
        b"Exif\x00\x00" + bytes(range(256)) * 8,  # no TIFF header at all
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x69\x87\x04\x00\x01\x00\x00\x00"
        b"\x08\x00\x00\x00\x00\x00\x00\x00",  # an Exif sub-IFD pointing back at itself
    ],
)
def test_jpeg_with_corrupt_exif_still_loads(payload: bytes) -> None:
    evidence = load_bytes(_jpeg_with_app1(payload), source="exif.jpg")
    assert evidence.frames[0].pixels.shape == (150, 200, 3)
    assert evidence.orientation == 1


def test_corrupt_video_after_an_ftyp_header() -> None:
    real = make_video(frames=5)
    junk = np.random.default_rng(1).integers(0, 256, 20_000, np.uint8).tobytes()
    expect(CorruptMedia, lambda: load_bytes(real[:32] + junk, source="v.mp4"), "v.mp4", "video")


def test_truncated_mp4_with_index_at_the_end() -> None:
    data = make_video(frames=20)
    expect(
        CorruptMedia,
        lambda: load_bytes(data[: len(data) // 2], source="cut.mp4"),
        "cut.mp4",
        "truncated",
    )


def test_truncated_mp4_with_index_first(tmp_path: Path) -> None:
    data = make_video(frames=20, path=tmp_path / "fast.mp4", faststart=True)
    assert data.index(b"moov") < data.index(b"mdat")
    expect(
        CorruptMedia,
        lambda: load_bytes(data[: len(data) * 6 // 10], source="cut.mp4"),
        "cut.mp4",
        "truncated",
    )


def test_mp4_without_a_video_stream() -> None:
    expect(
        UnsupportedFormat,
        lambda: load_bytes(make_audio_only(), source="voice.m4a"),
        "voice.m4a",
        "no video stream",
        "audio",
    )


def test_video_longer_than_the_limit() -> None:
    data = make_video(frames=30, fps=10)  # 3 s
    settings = get_settings(max_video_seconds=2)
    expect(
        LimitExceeded,
        lambda: load_bytes(data, source="long.mp4", settings=settings),
        "long.mp4",
        "3.0 s",
        "limit of 2 s",
    )


def test_video_frames_larger_than_the_pixel_limit() -> None:
    settings = get_settings(max_pixels=100 * 100)
    expect(
        LimitExceeded,
        lambda: load_bytes(make_video(frames=3), source="v", settings=settings),
        "v",
        "160x120",
    )


SEEDS = range(30)


def _mutations(data: bytes, seed: int) -> bytes:
    """Cut the file somewhere, or overwrite a few runs of bytes, or both."""
    rng = np.random.default_rng(seed)
    mutated = bytearray(data)
    for _ in range(int(rng.integers(1, 6))):
        at = int(rng.integers(0, len(mutated)))
        run = int(rng.integers(1, 16))
        mutated[at : at + run] = rng.integers(0, 256, run, np.uint8).tobytes()
    if seed % 3 == 0:
        mutated = mutated[: int(rng.integers(1, len(mutated)))]
    return bytes(mutated)


@pytest.fixture(scope="module")
def samples() -> dict[str, bytes]:
    photo = textured_image(96, 64, seed=12)
    return {
        "jpeg": encode(photo, quality=80),
        "progressive": encode(photo, progressive=True),
        "png": encode(photo, "PNG"),
        "webp": encode(photo, "WEBP"),
        "gif": encode(photo, "GIF"),
        "tiff": encode(photo, "TIFF"),
        "bmp": encode(photo, "BMP"),
        "mp4": make_video(frames=6, size=(64, 48), scenes=2),
    }


@pytest.mark.parametrize(
    "kind", ["jpeg", "progressive", "png", "webp", "gif", "tiff", "bmp", "mp4"]
)
def test_damaged_files_never_raise_foreign_errors(samples: dict[str, bytes], kind: str) -> None:
    for seed in SEEDS:
        try:
            load_bytes(_mutations(samples[kind], seed), source=f"{kind}-{seed}")
        except EvidenceError as exc:
            assert "\n" not in str(exc) and str(exc).startswith(f"{kind}-{seed}: ")
