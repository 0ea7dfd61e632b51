"""The JPEG double-quantization analyzer on photos compressed, edited and recompressed here."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from vericlaim.analyzers import _jpeg_dq, _jpeg_tables
from vericlaim.analyzers.base import ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.jpeg_dq import JpegDqAnalyzer
from vericlaim.analyzers.runner import run_analyzer
from vericlaim.evidence import load_bytes

CONTEXT = ClaimContext()


def photo(width: int = 512, height: int = 384, seed: int = 0) -> np.ndarray:
    """A textured photo with camera-like noise: every block has AC energy to measure."""
    rng = np.random.default_rng(seed)
    base = textured_image(width, height, seed=seed).astype(np.float32)
    base += rng.normal(0, 6, base.shape)
    return np.clip(base, 0, 255).astype(np.uint8)


def decoded(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()


def analyze(data: bytes) -> Finding:
    media = load_bytes(data, media_id="claim-1")
    findings = run_analyzer(JpegDqAnalyzer(), media, CONTEXT)
    assert len(findings) == 1
    return findings[0]


def pasted(q1: int, q2: int, *, offset: tuple[int, int] = (0, 0), seed: int = 0) -> bytes:
    """Compressed at ``q1``, a 160x160 patch of another photo pasted at (192, 96) (plus
    ``offset``), saved again at ``q2``."""
    claim = decoded(encode(photo(seed=seed), quality=q1))
    other = photo(seed=seed + 50)
    y, x = 96 + offset[0], 192 + offset[1]
    claim[y : y + 160, x : x + 160] = other[y : y + 160, x : x + 160]
    return encode(claim, quality=q2)


def overlaps(finding: Finding, box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    for r in finding.regions:
        if r.x < x + w and x < r.x + r.w and r.y < y + h and y < r.y + r.h:
            return True
    return False


# The quantization tables -------------------------------------------------------------


def test_ijg_tables_scale_as_libjpeg() -> None:
    assert _jpeg_tables.ijg_table(50) == _jpeg_tables.IJG_LUMA
    assert _jpeg_tables.ijg_table(50, chroma=True) == _jpeg_tables.IJG_CHROMA
    assert _jpeg_tables.ijg_table(100) == (1,) * 64
    assert max(_jpeg_tables.ijg_table(1)) == 255


@pytest.mark.parametrize("quality", [35, 75, 83, 95])
def test_pillow_tables_are_standard_ijg(quality: int) -> None:
    media = load_bytes(encode(photo(96, 64), quality=quality))
    report = _jpeg_tables.describe_tables(media.metadata.jpeg_quant_tables)
    assert report is not None
    assert (report.quality, report.provenance) == (quality, "ijg_standard")


def test_custom_tables_are_told_apart_and_still_get_a_quality() -> None:
    table = list(_jpeg_tables.ijg_table(90))
    table[0], table[9] = table[0] + 1, table[9] + 2  # a camera's own table near quality 90
    report = _jpeg_tables.describe_tables([table, _jpeg_tables.ijg_table(90, chroma=True)])
    assert report is not None
    assert report.provenance == "custom"
    assert 85 <= report.quality <= 92
    assert _jpeg_tables.describe_tables([]) is None


# The numeric core ----------------------------------------------------------------------


def test_block_dct_is_the_jpeg_dct_of_each_block() -> None:
    luma = np.random.default_rng(3).integers(0, 256, (43, 61)).astype(np.uint8)
    coeffs = _jpeg_dq.block_dct(luma)
    assert coeffs.shape == (5, 7, 8, 8)
    block = luma[16:24, 40:48].astype(np.float32) - 128
    np.testing.assert_allclose(coeffs[2, 5], cv2.dct(block), atol=1e-3)


def test_first_step_is_recovered_from_double_quantized_values() -> None:
    rng = np.random.default_rng(7)
    raw = rng.laplace(0, 12, 40_000)
    once = np.rint(raw / 7) * 7 + rng.normal(0, 0.4, raw.size)
    step = _jpeg_dq.estimate_first_step(np.rint(once / 3), 3)
    assert step.q1 == 7
    assert step.per_coefficient > 0.3
    single = _jpeg_dq.estimate_first_step(np.rint(raw / 3), 3)
    assert single.per_coefficient < 0.02


def test_grid_phase_finds_a_shifted_blocking() -> None:
    rng = np.random.default_rng(1)
    luma = np.repeat(np.repeat(rng.integers(60, 200, (40, 40)), 8, 0), 8, 1)[3:, 5:]
    cols, rows = _jpeg_dq.grid_phase_sums(luma.astype(np.uint8))
    assert _jpeg_dq.phase_excess(cols.sum(axis=(0, 1)), 1)[0] == 3
    assert _jpeg_dq.phase_excess(rows.sum(axis=(0, 1)), 1)[0] == 5


# The analyzer: edits between two compressions ------------------------------------------


@pytest.mark.parametrize(
    ("q1", "q2", "offset"), [(70, 90, (0, 0)), (60, 85, (0, 0)), (70, 90, (3, 5))]
)
def test_a_patch_pasted_between_two_compressions_is_found(
    q1: int, q2: int, offset: tuple[int, int]
) -> None:
    finding = analyze(pasted(q1, q2, offset=offset))
    assert finding.reason_code == "jpeg_dq.inconsistent_region"
    assert finding.score >= 0.5
    assert finding.details["double_compressed"] is True
    assert finding.details["first_quality"] == pytest.approx(q1, abs=6)
    assert 1 <= len(finding.regions) <= 5
    assert overlaps(finding, (192 + offset[1], 96 + offset[0], 160, 160))
    assert finding.heatmap is not None and finding.heatmap.dtype == np.float32
    assert 0.0 <= finding.heatmap.min() <= finding.heatmap.max() <= 1.0


def test_a_locally_noised_region_is_found() -> None:
    rng = np.random.default_rng(5)
    claim = decoded(encode(photo(seed=2), quality=65))
    patch = claim[200:320, 64:224].astype(np.float32) + rng.normal(0, 4, (120, 160, 3))
    claim[200:320, 64:224] = np.clip(patch, 0, 255).astype(np.uint8)
    finding = analyze(encode(claim, quality=92))
    assert finding.score >= 0.5
    assert overlaps(finding, (64, 200, 160, 120))


def test_a_coarser_second_save_hides_the_edit_but_never_raises() -> None:
    finding = analyze(pasted(90, 70))
    assert finding.status == "ok"
    assert 0.0 <= finding.score <= 1.0


# The analyzer: honest photos -----------------------------------------------------------


@pytest.mark.parametrize(
    "chain", ["single", "double", "double_same", "resized", "cropped", "progressive", "444"]
)
def test_honest_whole_photo_chains_are_not_flagged(chain: str) -> None:
    pixels = photo(seed=11)
    if chain == "single":
        data = encode(pixels, quality=85)
    elif chain == "double":
        data = encode(decoded(encode(pixels, quality=70)), quality=90)
    elif chain == "double_same":
        data = encode(decoded(encode(pixels, quality=80)), quality=80)
    elif chain == "resized":
        small = cv2.resize(decoded(encode(pixels, quality=75)), (384, 288))
        data = encode(small, quality=85)
    elif chain == "cropped":
        data = encode(decoded(encode(pixels, quality=75))[3:, 5:], quality=90)
    elif chain == "progressive":
        data = encode(decoded(encode(pixels, quality=70)), quality=90, progressive=True)
    else:
        data = encode(decoded(encode(pixels, quality=70)), quality=90, subsampling=0)
    finding = analyze(data)
    assert finding.status == "ok"
    assert finding.score < 0.5, finding.details
    assert finding.reason_code in ("jpeg_dq.none", "jpeg_dq.resaved")
    assert not finding.regions
    if chain in ("double", "progressive", "444"):
        assert finding.details["double_compressed"] is True
        assert finding.reason_code == "jpeg_dq.resaved"
    if chain == "444":
        assert finding.details["subsampling"] == "1x1"


def test_software_tables_are_reported_as_a_detail_only() -> None:
    finding = analyze(encode(photo(seed=4), quality=88))
    assert finding.details["table_provenance"] == "ijg_standard"
    assert finding.details["quality"] == 88
    assert finding.reason_code == "jpeg_dq.resaved"
    assert finding.score < 0.5
    for key in ("grid_offset", "baseline_score", "double_compressed", "last_grid_strength"):
        assert key in finding.details


# Hostile and odd inputs ----------------------------------------------------------------


def test_grayscale_jpeg_with_one_table() -> None:
    gray = cv2.cvtColor(photo(seed=6), cv2.COLOR_RGB2GRAY)
    claim = decoded(encode(gray, quality=70))[:, :, 0].copy()
    claim[96:256, 192:352] = cv2.cvtColor(photo(seed=60), cv2.COLOR_RGB2GRAY)[96:256, 192:352]
    finding = analyze(encode(claim, quality=90))
    assert finding.details["channel"] == "Y"
    assert finding.details["subsampling"] == "none"
    assert finding.score >= 0.5


def test_cmyk_jpeg_is_read_through_its_k_channel() -> None:
    buf = io.BytesIO()
    Image.fromarray(photo(seed=8)).convert("CMYK").save(buf, "JPEG", quality=85)
    finding = analyze(buf.getvalue())
    assert finding.status == "ok"
    assert finding.details["channel"] == "K"
    assert finding.score < 0.5


@pytest.mark.parametrize("size", [(203, 157), (65, 517), (1001, 67)])
def test_sizes_that_are_not_multiples_of_8(size: tuple[int, int]) -> None:
    finding = analyze(encode(photo(*size, seed=9), quality=80))
    assert finding.status == "ok"
    assert finding.heatmap is not None
    assert finding.heatmap.shape == (-(-size[1] // 8), -(-size[0] // 8))
    for r in finding.regions:
        assert r.x >= 0 and r.x + r.w <= size[0] and r.y >= 0 and r.y + r.h <= size[1]


@pytest.mark.parametrize("size", [(1, 1), (1, 500), (500, 1), (40, 40)])
def test_tiny_photos_are_not_applicable(size: tuple[int, int]) -> None:
    finding = analyze(encode(photo(max(size[0], 16), max(size[1], 16))[: size[1], : size[0]]))
    assert finding.status == "not_applicable"
    assert "too small" in finding.message_en


@pytest.mark.parametrize("fill", [0, 255, 128])
def test_flat_photos_say_nothing(fill: int) -> None:
    finding = analyze(encode(np.full((300, 400, 3), fill, np.uint8), quality=75))
    assert finding.status == "ok"
    assert finding.score < 0.5
    assert finding.details["double_compressed"] is False


def test_other_formats_are_not_applicable() -> None:
    rgba = np.dstack([photo(96, 64), np.full((64, 96), 200, np.uint8)])
    for data in (encode(photo(96, 64), "PNG"), encode(rgba, "PNG"), encode(photo(96, 64), "WEBP")):
        finding = analyze(data)
        assert finding.status == "not_applicable"
        assert "JPEG" in finding.message_en


def test_a_16_bit_png_is_not_applicable() -> None:
    buf = io.BytesIO()
    Image.fromarray(np.full((64, 64), 40_000, np.uint16)).save(buf, "PNG")
    assert analyze(buf.getvalue()).status == "not_applicable"


def test_regions_follow_exif_orientation() -> None:
    data = pasted(70, 90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown rotated 90 degrees clockwise
    buf = io.BytesIO()
    Image.open(io.BytesIO(data)).save(buf, "JPEG", quality=90, exif=exif.tobytes(), qtables="keep")
    finding = analyze(buf.getvalue())
    assert finding.score >= 0.5
    # Stored box (192, 96, 160, 160) in a 512x384 photo; upright it is (384-96-160, 192).
    assert overlaps(finding, (128, 192, 160, 160))
    assert finding.heatmap is not None and finding.heatmap.shape == (64, 48)


def test_deterministic() -> None:
    data = pasted(70, 90)
    first, second = analyze(data), analyze(data)
    assert first.score == second.score and first.regions == second.regions
    assert first.heatmap is not None and second.heatmap is not None
    np.testing.assert_array_equal(first.heatmap, second.heatmap)


# Real photos ---------------------------------------------------------------------------


def test_honest_grocery_photos_are_not_flagged(shared_data: Path) -> None:
    photos = sorted((shared_data / "grocery" / "natural").glob("*/*.jpg"))[::120]
    assert photos
    for path in photos:
        data = path.read_bytes()
        for claim in (data, encode(decoded(data), quality=90)):
            finding = analyze(claim)
            assert finding.score < 0.5, (path.name, finding.details)


def test_a_patch_in_a_real_photo_is_found(shared_data: Path) -> None:
    real = sorted((shared_data / "noso" / "dataset").glob("*.jpg"))
    claim = decoded(real[2].read_bytes())[:512, :512].copy()
    other = decoded(real[9].read_bytes())
    claim = decoded(encode(claim, quality=75))
    claim[160:320, 200:360] = other[160:320, 200:360]
    finding = analyze(encode(claim, quality=92))
    assert finding.score >= 0.5
    assert overlaps(finding, (200, 160, 160, 160))
