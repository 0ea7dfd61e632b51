from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageOps, features

from tests.conftest import encode, textured_image
from tests.evidence.media import jpeg_with_exif, marked_image
from vericlaim.evidence import decode_full, load_bytes, load_path
from vericlaim.settings import get_settings

PHOTO = textured_image(320, 240, seed=3)


@pytest.fixture(scope="module")
def big_photo() -> np.ndarray:
    """A 12-megapixel photo (made once: it takes a while)."""
    return textured_image(4000, 3000, seed=5)


def heif_bytes(pixels: np.ndarray, **kwargs: object) -> bytes:
    heif = pillow_heif.from_pillow(Image.fromarray(pixels))
    buf = io.BytesIO()
    heif.save(buf, quality=90, **kwargs)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("pil_format", "expected", "mime", "lossless"),
    [
        ("JPEG", "jpeg", "image/jpeg", False),
        ("PNG", "png", "image/png", True),
        ("WEBP", "webp", "image/webp", False),
        ("BMP", "bmp", "image/bmp", True),
        ("TIFF", "tiff", "image/tiff", True),
    ],
)
def test_each_pillow_format_loads(
    pil_format: str, expected: str, mime: str, lossless: bool
) -> None:
    data = encode(PHOTO, pil_format)
    evidence = load_bytes(data, source="photo")
    assert (evidence.format, evidence.mime, evidence.kind) == (expected, mime, "image")
    assert (evidence.width, evidence.height) == (320, 240)
    assert evidence.byte_size == len(data) and evidence.data == data
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    (frame,) = evidence.frames
    assert frame.pixels.shape == (240, 320, 3) and frame.pixels.dtype == np.uint8
    assert frame.scale == 1.0 and frame.index == 0 and frame.time_s is None
    error = np.abs(frame.pixels.astype(int) - PHOTO.astype(int)).mean()
    assert error == 0 if lossless else error < 12


def test_heic_written_with_pillow_heif_loads() -> None:
    data = heif_bytes(PHOTO)
    evidence = load_bytes(data, source="photo.heic")
    assert (evidence.format, evidence.mime) == ("heif", "image/heif")
    assert evidence.frames[0].pixels.shape == (240, 320, 3)
    assert np.abs(evidence.frames[0].pixels.astype(int) - PHOTO.astype(int)).mean() < 8


@pytest.mark.skipif(not features.check("avif"), reason="Pillow built without AVIF")
def test_avif_loads() -> None:
    evidence = load_bytes(encode(PHOTO, "AVIF", quality=90), source="photo.avif")
    assert evidence.format == "avif" and evidence.frames[0].pixels.shape == (240, 320, 3)


def test_frames_are_read_only() -> None:
    evidence = load_bytes(encode(PHOTO, "PNG"))
    with pytest.raises(ValueError, match="read-only"):
        evidence.frames[0].pixels[0, 0, 0] = 1


def test_load_path_names_the_media_by_file_and_ignores_the_extension(tmp_path: Path) -> None:
    path = tmp_path / "actually-a-png.jpg"
    path.write_bytes(encode(PHOTO, "PNG"))
    evidence = load_path(path, role="listing")
    assert evidence.format == "png" and evidence.media_id == "actually-a-png.jpg"
    assert evidence.source == str(path) and evidence.role == "listing"


def test_large_jpeg_is_decoded_reduced_and_in_full_on_request(big_photo: np.ndarray) -> None:
    data = encode(big_photo, quality=90)
    evidence = load_bytes(data, settings=get_settings(analysis_side=1024))
    (frame,) = evidence.frames
    assert (evidence.width, evidence.height) == (4000, 3000)
    assert max(frame.pixels.shape[:2]) == 1024 and frame.scale == pytest.approx(1024 / 4000)
    full = decode_full(evidence)
    assert full.shape == (3000, 4000, 3) and not full.flags.writeable
    assert evidence.full_pixels() is full  # cached per sha256
    assert np.abs(full[::4, ::4].astype(np.int16) - big_photo[::4, ::4]).mean() < 6


def test_large_png_is_reduced_too() -> None:
    evidence = load_bytes(encode(textured_image(3000, 1000), "PNG"))
    assert evidence.frames[0].pixels.shape == (341, 1024, 3)
    assert decode_full(evidence).shape == (1000, 3000, 3)


def test_reduced_decode_costs_no_more_than_a_plain_decode(big_photo: np.ndarray) -> None:
    data = encode(big_photo, quality=92)

    def best_of(fn: object, n: int = 3) -> float:
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()  # type: ignore[operator]
            times.append(time.perf_counter() - start)
        return min(times)

    plain = best_of(lambda: Image.open(io.BytesIO(data)).convert("RGB"))
    loaded = best_of(lambda: load_bytes(data))
    assert loaded < 2 * plain


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_exif_transpose(orientation: int) -> None:
    stored = marked_image(80, 40)
    data = jpeg_with_exif(stored, {0x0112: orientation}, quality=95)
    evidence = load_bytes(data)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    pixels = evidence.frames[0].pixels
    assert evidence.orientation == orientation
    assert (evidence.height, evidence.width) == expected.shape[:2] == pixels.shape[:2]
    assert np.abs(pixels.astype(int) - expected.astype(int)).max() <= 2
    assert evidence.metadata.exif["Orientation"] == orientation


@pytest.mark.parametrize("pil_format", ["JPEG", "PNG", "WEBP", "TIFF", "AVIF"])
def test_orientation_6_swaps_size_and_turns_the_photo_clockwise(pil_format: str) -> None:
    if pil_format == "AVIF" and not features.check("avif"):
        pytest.skip("Pillow built without AVIF")
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(marked_image(80, 40), pil_format, exif=exif.tobytes())
    evidence = load_bytes(data)
    pixels = evidence.frames[0].pixels
    assert (evidence.width, evidence.height) == (40, 80) and pixels.shape == (80, 40, 3)
    # The stored top-left corner is at the top right once turned 90 degrees clockwise (and
    # at the bottom right if a reader that turns the photo itself were turned again).
    assert pixels[:8, -8:].mean() > 200 and pixels[:8, :8].mean() < 50
    assert evidence.orientation == 6 and evidence.metadata.exif["Orientation"] == 6


def test_heif_orientation_is_applied_once() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = heif_bytes(marked_image(80, 40), exif=exif.tobytes())
    evidence = load_bytes(data)
    pixels = evidence.frames[0].pixels
    assert (evidence.width, evidence.height) == (40, 80) and pixels.shape == (80, 40, 3)
    assert pixels[:8, -8:].mean() > 200 and pixels[:8, :8].mean() < 50
    assert evidence.orientation == 6 and evidence.metadata.exif["Orientation"] == 6


def test_large_rotated_jpeg_reports_full_oriented_size() -> None:
    data = jpeg_with_exif(textured_image(3000, 2000), {0x0112: 8}, quality=85)
    evidence = load_bytes(data)
    assert (evidence.width, evidence.height) == (2000, 3000)
    assert evidence.frames[0].pixels.shape[0] == 1024
    assert decode_full(evidence).shape == (3000, 2000, 3)


def _png_16bit_gray() -> bytes:
    ramp = (np.arange(64 * 32, dtype=np.uint32).reshape(32, 64) * 32).astype(np.uint16)
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, "PNG")
    return buf.getvalue()


def _png_16bit_rgb() -> bytes:
    import cv2

    pixels = (PHOTO.astype(np.uint16) * 257)[:, :, ::-1]
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(pixels))
    assert ok
    return encoded.tobytes()


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(PHOTO).convert("CMYK").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _palette_png_with_transparency() -> bytes:
    image = Image.fromarray(PHOTO).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    buf = io.BytesIO()
    image.save(buf, "PNG", transparency=0)
    return buf.getvalue()


def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(textured_image(64, 48, seed=s)) for s in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "shape"),
    [
        ("16-bit grey PNG", _png_16bit_gray, (32, 64, 3)),
        ("16-bit RGB PNG", _png_16bit_rgb, (240, 320, 3)),
        ("grey JPEG", lambda: encode(PHOTO[:, :, 0]), (240, 320, 3)),
        ("1-bit PNG", lambda: encode(PHOTO[:, :, 0] > 128, "PNG"), (240, 320, 3)),
        ("CMYK JPEG", _cmyk_jpeg, (240, 320, 3)),
        ("palette PNG with transparency", _palette_png_with_transparency, (240, 320, 3)),
        ("RGBA PNG", lambda: encode(np.dstack([PHOTO, PHOTO[:, :, 0]]), "PNG"), (240, 320, 3)),
        ("progressive JPEG", lambda: encode(PHOTO, progressive=True), (240, 320, 3)),
        ("1x1 JPEG", lambda: encode(PHOTO[:1, :1]), (1, 1, 3)),
        ("1x1 PNG", lambda: encode(PHOTO[:1, :1], "PNG"), (1, 1, 3)),
        ("animated GIF", lambda: _animated("GIF"), (48, 64, 3)),
        ("animated WebP", lambda: _animated("WEBP"), (48, 64, 3)),
    ],
)
def test_unusual_but_valid_images_load(name: str, make: object, shape: tuple[int, ...]) -> None:
    evidence = load_bytes(make(), source=name)  # type: ignore[operator]
    pixels = evidence.frames[0].pixels
    assert pixels.shape == shape and pixels.dtype == np.uint8 and not pixels.flags.writeable


def test_16bit_grey_keeps_its_tones() -> None:
    pixels = load_bytes(_png_16bit_gray()).frames[0].pixels
    # The ramp runs from 0 to 65504: from black to almost white, not saturated.
    assert pixels[0, 0, 0] == 0 and 250 <= pixels[-1, -1, 0] <= 255
    assert np.all(np.diff(pixels[:, :, 0].ravel().astype(int)) >= 0)


def test_cmyk_jpeg_colours_survive() -> None:
    pixels = load_bytes(_cmyk_jpeg()).frames[0].pixels
    assert np.abs(pixels.astype(int) - PHOTO.astype(int)).mean() < 12


def test_first_frame_of_an_animation_is_the_photo() -> None:
    pixels = load_bytes(_animated("WEBP")).frames[0].pixels
    first = textured_image(64, 48, seed=0).astype(int)
    second = textured_image(64, 48, seed=1).astype(int)
    assert np.abs(pixels - first).mean() < np.abs(pixels - second).mean()
