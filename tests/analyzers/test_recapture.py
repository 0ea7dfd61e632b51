"""The recapture analyzer on photos of a simulated screen, honest photos and hostile files."""

from __future__ import annotations

import io
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from vericlaim.analyzers import _recapture
from vericlaim.analyzers.base import ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.recapture import RecaptureAnalyzer
from vericlaim.analyzers.runner import run_analyzer
from vericlaim.evidence import Evidence, load_bytes

CONTEXT = ClaimContext()


def screen_photo(
    content: np.ndarray, *, pitch: float, angle: float, seed: int = 0, quality: int = 90
) -> bytes:
    """Photograph ``content`` shown on an RGB-stripe LCD: each screen pixel is three
    vertical colour stripes behind a black matrix, ``pitch`` camera pixels wide, turned by
    ``angle`` degrees; then lens blur, a Bayer sensor (RGGB) with noise, gamma and JPEG."""
    rng = np.random.default_rng(seed)
    ss = 3  # supersampling of the camera plane
    h, w = content.shape[:2]
    out_w, out_h = round(w * pitch), round(h * pitch)
    yy, xx = np.mgrid[0 : out_h * ss, 0 : out_w * ss].astype(np.float32) / (ss * pitch)
    a = math.radians(angle)
    cx, cy = w / 2, h / 2
    u = np.cos(a) * (xx - cx) + np.sin(a) * (yy - cy) + cx
    v = -np.sin(a) * (xx - cx) + np.cos(a) * (yy - cy) + cy
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    ui = np.clip(u.astype(np.int32), 0, w - 1)
    vi = np.clip(v.astype(np.int32), 0, h - 1)
    stripe = np.minimum(((u - np.floor(u)) * 3).astype(np.int32), 2)
    lit = inside & ((v - np.floor(v)) < 0.9) & (((u * 3) % 1) < 0.85)
    light = (content.astype(np.float32) / 255) ** 2.2
    emitted = np.zeros((*u.shape, 3), np.float32)
    for c in range(3):
        emitted[..., c] = np.where(lit & (stripe == c), light[vi, ui, c], 0) * 3
    emitted = cv2.GaussianBlur(emitted, (0, 0), 0.7 * ss)
    emitted = cv2.resize(emitted, (out_w, out_h), interpolation=cv2.INTER_AREA)
    raw = np.zeros((out_h, out_w), np.float32)
    raw[0::2, 0::2] = emitted[0::2, 0::2, 0]
    raw[0::2, 1::2] = emitted[0::2, 1::2, 1]
    raw[1::2, 0::2] = emitted[1::2, 0::2, 1]
    raw[1::2, 1::2] = emitted[1::2, 1::2, 2]
    raw += rng.normal(0, 0.008, raw.shape).astype(np.float32)
    raw16 = np.clip(raw * 50_000, 0, 65_535).astype(np.uint16)
    rgb = cv2.cvtColor(raw16, cv2.COLOR_BayerRG2RGB).astype(np.float32) / 50_000
    pixels = (np.clip(rgb, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)
    return encode(pixels, "JPEG", quality=quality)


def analyze(data: bytes) -> Finding:
    findings = run_analyzer(RecaptureAnalyzer(), load_bytes(data, media_id="claim-1"), CONTEXT)
    assert len(findings) == 1
    return findings[0]


def resized_jpeg(pixels: np.ndarray, factor: float, quality: int) -> bytes:
    h, w = pixels.shape[:2]
    size = (round(w * factor), round(h * factor))
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    return encode(cv2.resize(pixels, size, interpolation=interp), "JPEG", quality=quality)


def check_finding(finding: Finding, evidence_size: tuple[int, int]) -> None:
    assert 0.0 <= finding.score <= 1.0 and 0.0 <= finding.confidence <= 1.0
    if finding.heatmap is not None:
        assert finding.heatmap.dtype == np.float32
        assert finding.heatmap.min() >= 0.0 and finding.heatmap.max() <= 1.0
    w, h = evidence_size
    for r in finding.regions:
        assert r.x >= 0 and r.y >= 0 and r.w > 0 and r.h > 0
        assert r.x + r.w <= w and r.y + r.h <= h


# --- the pure functions ---------------------------------------------------------------


def test_a_cosine_grid_gives_a_strong_peak_at_its_frequency() -> None:
    yy, xx = np.mgrid[0:256, 0:256]
    grid = 128 + 60 * np.cos(2 * np.pi * (0.31 * xx + 0.05 * yy))
    rgb = np.repeat(grid[..., None], 3, axis=2).astype(np.uint8)
    peaks = _recapture.periodic_peaks(rgb)
    assert peaks is not None
    assert peaks.strength > 30
    fy, fx = peaks.freq
    # One half-plane is kept: (0.05, 0.31) or its mirror (-0.05, -0.31) folded up.
    assert abs(abs(fx) - 0.31) < 0.02 and abs(abs(fy) - 0.05) < 0.02


def test_noise_has_no_peak() -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    peaks = _recapture.periodic_peaks(rgb)
    assert peaks is not None
    assert peaks.strength < 6
    ratio = _recapture.peak_prominence(rng.exponential(1.0, (4, 64, 64)).astype(np.float32))
    # Pure noise: ratios of order one (the largest of four backgrounds pulls them a little
    # below the median of an exponential variable, ln 2), and no bin far above.
    assert 0.3 < float(np.median(ratio)) < 1.0
    assert float(np.percentile(ratio, 99.9)) < 15


def test_tiles_align_with_jpeg_blocks_and_skip_small_photos() -> None:
    origins = _recapture.tile_grid(1000, 700, tile=64, max_tiles=30)
    assert 0 < len(origins) <= 30
    assert all(y % 8 == 0 and x % 8 == 0 for y, x in origins)
    assert all(y + 64 <= 1000 and x + 64 <= 700 for y, x in origins)
    assert _recapture.tile_grid(63, 500, tile=64, max_tiles=30) == []


def test_excluded_bins_cover_the_jpeg_grid_points() -> None:
    ex = _recapture._excluded_bins(64, min_freq=0.1)
    f = np.fft.fftfreq(64)
    for k in (1, 2, 3):
        iy = int(np.argmin(np.abs(f - k / 8)))
        ix = int(np.argmin(np.abs(f - 2 / 8)))
        assert ex[iy, ix]
    assert ex[0, 0] and ex[1, 1]  # DC and low frequencies
    iy, ix = int(np.argmin(np.abs(f - 0.05))), int(np.argmin(np.abs(f - 0.33)))
    assert not ex[iy, ix]


def test_screen_frame_found_around_a_bright_picture_in_a_dark_bezel() -> None:
    gray = np.full((400, 600), 150, np.uint8)
    cv2.rectangle(gray, (60, 50), (540, 350), 15, -1)
    cv2.rectangle(gray, (80, 70), (520, 330), 200, -1)
    frame = _recapture.find_screen_frame(gray)
    assert frame is not None
    x, y, w, h = frame.box
    assert abs(x - 80) <= 6 and abs(y - 70) <= 6 and abs(w - 440) <= 12 and abs(h - 260) <= 12
    assert _recapture.find_screen_frame(np.full((400, 600), 150, np.uint8)) is None


# --- simulated re-photographs of a screen ---------------------------------------------


@pytest.mark.parametrize(("pitch", "angle", "quality"), [(3.0, 3.0, 90), (2.6, -6.0, 75)])
def test_photo_of_a_screen_is_flagged(pitch: float, angle: float, quality: int) -> None:
    content = textured_image(200, 150, seed=5)
    data = screen_photo(content, pitch=pitch, angle=angle, quality=quality)
    finding = analyze(data)
    assert finding.status == "ok"
    assert finding.reason_code in ("recapture.periodic_pattern", "recapture.screen_frame")
    assert finding.score >= 0.7
    assert finding.regions and finding.regions[0].label == "screen"
    assert finding.heatmap is not None and finding.heatmap.max() > 0.5
    assert "may" in finding.message_en
    check_finding(finding, (round(200 * pitch), round(150 * pitch)))


def test_photo_of_a_screen_still_flagged_after_the_platform_resizes_it() -> None:
    data = screen_photo(textured_image(240, 180, seed=8), pitch=3.2, angle=2.0, quality=95)
    with Image.open(io.BytesIO(data)) as im:
        pixels = np.asarray(im.convert("RGB"))
    finding = analyze(resized_jpeg(pixels, 0.75, 85))
    assert finding.score >= 0.5


# --- honest photos ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "quality"), [(1.0, 90), (1.0, 50), (0.5, 85), (0.75, 85), (1.5, 70)]
)
def test_honest_photo_and_its_resaves_are_not_flagged(factor: float, quality: int) -> None:
    pixels = textured_image(800, 600, seed=11)
    finding = analyze(resized_jpeg(pixels, factor, quality))
    assert finding.status == "ok"
    assert finding.reason_code == "recapture.none"
    assert finding.score < 0.5
    assert finding.regions == ()


def test_deterministic() -> None:
    data = screen_photo(textured_image(160, 120, seed=2), pitch=3.0, angle=4.0)
    a, b = analyze(data), analyze(data)
    assert a.score == b.score and a.details == b.details
    assert a.heatmap is not None and b.heatmap is not None
    assert np.array_equal(a.heatmap, b.heatmap)


# --- hostile inputs ----------------------------------------------------------------------


def _png(pixels: np.ndarray, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    (Image.fromarray(pixels, mode) if mode else Image.fromarray(pixels)).save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 500), (500, 1), (63, 400)])
def test_tiny_photos_are_not_applicable(width: int, height: int) -> None:
    finding = analyze(encode(np.full((height, width, 3), 128, np.uint8), "PNG"))
    assert finding.status == "not_applicable"


@pytest.mark.parametrize("value", [0, 255])
def test_flat_photos_are_not_flagged(value: int) -> None:
    finding = analyze(encode(np.full((600, 800, 3), value, np.uint8), "JPEG", quality=90))
    assert finding.status == "ok" and finding.score < 0.5
    assert finding.confidence < 0.5


def test_large_flat_photo_is_quick_and_not_flagged() -> None:
    finding = analyze(encode(np.full((3000, 4000, 3), 200, np.uint8), "JPEG", quality=80))
    assert finding.status == "ok" and finding.score < 0.5


def test_odd_encodings_do_not_raise() -> None:
    photo = textured_image(320, 240, seed=4)
    gray = cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)
    buf = io.BytesIO()
    Image.fromarray(photo).convert("CMYK").save(buf, "JPEG", quality=90)
    cmyk = buf.getvalue()
    sixteen = io.BytesIO()
    Image.fromarray(gray.astype(np.uint16) * 257).save(sixteen, "PNG")
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    for data in (
        encode(gray, "JPEG", quality=90),
        cmyk,
        sixteen.getvalue(),
        _png(rgba, "RGBA"),
        encode(photo, "JPEG", quality=90, progressive=True),
    ):
        finding = analyze(data)
        assert finding.status == "ok", finding.message_en
        assert finding.score < 0.5
        check_finding(finding, (320, 240))


# --- real honest photos ----------------------------------------------------------------------


def _load(path: Path) -> Evidence:
    return load_bytes(path.read_bytes(), media_id=path.name)


def test_real_honest_photos_are_not_flagged(shared_data: Path) -> None:
    paths = [
        shared_data / "noso" / "dataset" / "02_carpet.jpg",
        shared_data / "noso" / "dataset" / "04_paving.jpg",
        shared_data / "noso" / "NoSo_dataset" / "01.png",
        *sorted((shared_data / "grocery" / "natural" / "Leek").glob("*.jpg"))[:3],
        *sorted((shared_data / "tiles" / "MT_Free").glob("*.jpg"))[:3],
    ]
    analyzer = RecaptureAnalyzer()
    for path in paths:
        finding = run_analyzer(analyzer, _load(path), CONTEXT)[0]
        assert finding.status == "ok", path.name
        assert finding.score < 0.5, (path.name, finding.details)


def test_real_photo_shown_on_a_screen_is_flagged(shared_data: Path) -> None:
    with Image.open(shared_data / "noso" / "NoSo_dataset" / "03.png") as im:
        content = np.asarray(im.convert("RGB").resize((256, 192), Image.Resampling.LANCZOS))
    finding = analyze(screen_photo(content, pitch=3.4, angle=-2.5, quality=85))
    assert finding.score >= 0.5
