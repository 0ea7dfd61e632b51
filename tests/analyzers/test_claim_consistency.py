"""claim_consistency: edited variants of one photo are found and boxed, re-saved copies are
duplicates, independent and unrelated photos are left alone, odd input never raises."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from tests.evidence.media import make_video
from vericlaim.analyzers import ClaimContext, Finding
from vericlaim.analyzers._claim_consistency import compare_views, region_contrast
from vericlaim.analyzers.claim_consistency import ClaimConsistencyAnalyzer
from vericlaim.analyzers.runner import run_analyzer
from vericlaim.evidence import Evidence, load_bytes


def _load(data: bytes, media_id: str) -> Evidence:
    return load_bytes(data, source=f"{media_id}.jpg", media_id=media_id)


def _check(this: bytes, *others: bytes) -> Finding:
    claim = _load(this, "claim-1")
    rest = [_load(o, f"claim-{i + 2}") for i, o in enumerate(others)]
    (finding,) = ClaimConsistencyAnalyzer().analyze(claim, ClaimContext((claim, *rest)))
    return finding


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return textured_image(800, 600, seed=5)


def _stain(img: np.ndarray, x: int, y: int, r: int) -> np.ndarray:
    out = img.astype(np.float32)
    mask = np.zeros(img.shape[:2], np.float32)
    cv2.circle(mask, (x, y), r, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), r / 4)[..., None]
    out = out * (1 - 0.6 * mask) + np.array([90, 60, 20], np.float32) * 0.6 * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def _inside(regions: tuple, x: float, y: float) -> bool:
    return any(r.x <= x <= r.x + r.w and r.y <= y <= r.y + r.h for r in regions)


def test_single_photo_is_not_applicable(photo: np.ndarray) -> None:
    claim = _load(encode(photo), "claim-1")
    context = ClaimContext((claim,))
    analyzer = ClaimConsistencyAnalyzer()
    assert analyzer.applicable(claim, context) == "the claim has only one photo"
    (direct,) = analyzer.analyze(claim, context)
    assert direct.status == "not_applicable"
    (run,) = run_analyzer(analyzer, claim, context)
    assert run.status == "not_applicable"


def test_resized_recompressed_copy_is_a_duplicate(photo: np.ndarray) -> None:
    copy = cv2.resize(photo, (1000, 750), interpolation=cv2.INTER_CUBIC)
    f = _check(encode(photo, quality=92), encode(copy, quality=60))
    assert f.reason_code == "claim_consistency.duplicate_photo"
    assert f.score == 0.0 and not f.regions
    assert f.details["others"][0]["relation"] == "same_photo"


def test_edited_variant_is_boxed_in_this_photo(photo: np.ndarray) -> None:
    edited = _stain(photo, 520, 220, 40)
    f = _check(encode(edited, quality=90), encode(photo, quality=85))
    assert f.reason_code == "claim_consistency.edited_variant"
    assert f.score >= 0.5 and f.heatmap is not None
    assert _inside(f.regions, 520, 220)
    assert sum(r.w * r.h for r in f.regions) < 0.1 * 800 * 600
    assert f.details["other"] == "claim-2"
    assert f.details["other_regions"][0] is not None


def test_edit_in_the_other_photo_is_boxed_too(photo: np.ndarray) -> None:
    # This photo is the clean one, cropped and enlarged; the edit sits in the other photo.
    crop = cv2.resize(photo[50:550, 40:760], (1080, 750), interpolation=cv2.INTER_CUBIC)
    f = _check(encode(crop, quality=88), encode(_stain(photo, 300, 380, 35), quality=80))
    assert f.reason_code == "claim_consistency.edited_variant"
    cx, cy = (300 - 40) * 1080 / 720, (380 - 50) * 750 / 500
    assert _inside(f.regions, cx, cy)
    assert "other" in f.details["region_sides"]


def test_two_variants_with_different_edits(photo: np.ndarray) -> None:
    a, b = _stain(photo, 200, 150, 30), _stain(photo, 600, 420, 30)
    f = _check(encode(a, quality=85), encode(b, quality=85))
    assert f.reason_code == "claim_consistency.edited_variant"
    assert _inside(f.regions, 200, 150) and _inside(f.regions, 600, 420)


def test_unrelated_photos_are_none(photo: np.ndarray) -> None:
    other = textured_image(640, 480, seed=17)
    f = _check(encode(photo), encode(other))
    assert f.reason_code == "claim_consistency.none"
    assert f.score < 0.5
    assert f.details["compared"] == 1
    assert f.details["others"] == [
        {"media_id": "claim-2", "relation": "unrelated", "inliers": 0, "agreement": None}
    ]


def test_identical_file_twice_is_a_duplicate(photo: np.ndarray) -> None:
    data = encode(photo)
    f = _check(data, data)
    assert f.reason_code == "claim_consistency.duplicate_photo"
    assert f.details["others"][0]["identical_file"] is True


def test_deterministic(photo: np.ndarray) -> None:
    a, b = encode(_stain(photo, 400, 300, 30)), encode(photo, quality=70)
    f1, f2 = _check(a, b), _check(a, b)
    assert f1.to_json() == f2.to_json()


def test_video_frames_are_compared(photo: np.ndarray) -> None:
    pictures = [textured_image(320, 240, seed=100 + k) for k in range(2)]
    video = make_video(size=(320, 240), frames=10, pictures=pictures)
    still = encode(pictures[1], quality=90)
    f = _check(still, video)
    assert f.status == "ok"
    assert f.details["others"][0]["relation"] in ("same_photo", "edited_variant")
    g = _check(video, still)
    assert g.status == "ok"


# --- the view comparison -------------------------------------------------------------------


def _surface(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = cv2.resize(rng.normal(128, 25, (40, 40)).astype(np.float32), (320, 320))
    return base + rng.normal(0, 6, (320, 320)).astype(np.float32)


def test_views_of_one_surface_agree() -> None:
    rng = np.random.default_rng(1)
    a = _surface(2)
    b = 1.2 * a + 10 + rng.normal(0, 2, a.shape).astype(np.float32)  # other light, fresh noise
    result = compare_views(a, b, np.ones(a.shape, bool))
    assert result.agreement > 0.8
    assert result.strength == 0.0


def test_a_crack_in_one_view_only_is_found() -> None:
    a = _surface(3)
    b = a.copy()
    cv2.line(a, (150, 90), (175, 200), 40.0, 2)
    result = compare_views(a, b, np.ones(a.shape, bool))
    assert result.regions and result.regions[0].side == "this"
    box = result.regions[0].box
    assert box.x <= 160 <= box.x + box.w and box.y <= 150 <= box.y + box.h
    swapped = compare_views(b, a, np.ones(a.shape, bool))
    assert swapped.regions[0].side == "other"


def test_region_contrast_sees_luminance_edits_not_copies() -> None:
    a = _surface(4)
    rng = np.random.default_rng(5)
    b = a + rng.normal(0, 1.5, a.shape).astype(np.float32)
    assert region_contrast(a, b, np.ones(a.shape, bool), (100, 100, 40, 40)) < 3.0
    a2 = a.copy()
    cv2.line(a2, (105, 105), (135, 135), 30.0, 2)
    assert region_contrast(a2, b, np.ones(a.shape, bool), (100, 100, 40, 40)) > 8.0


# --- hostile inputs ------------------------------------------------------------------------


def _png16() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(textured_image(120, 90, seed=2)[..., 0].astype(np.uint16) * 257).save(
        buf, format="PNG"
    )
    return buf.getvalue()


def _cmyk() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(textured_image(160, 120, seed=3)).convert("CMYK").save(buf, format="JPEG")
    return buf.getvalue()


HOSTILE = {
    "1x1": lambda: encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
    "1x500": lambda: encode(np.full((500, 1, 3), 128, np.uint8), "PNG"),
    "grayscale": lambda: encode(textured_image(200, 150, seed=4)[..., 1], quality=90),
    "cmyk": _cmyk,
    "png16": _png16,
    "rgba": lambda: encode(
        np.dstack([textured_image(200, 150), np.full((150, 200), 200, np.uint8)]), "PNG"
    ),
    "progressive": lambda: encode(textured_image(300, 200, seed=6), progressive=True),
    "black": lambda: encode(np.zeros((300, 400, 3), np.uint8)),
    "white": lambda: encode(np.full((300, 400, 3), 255, np.uint8)),
    "flat_large": lambda: encode(np.full((3000, 4000, 3), 90, np.uint8), quality=80),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_inputs_never_raise(kind: str) -> None:
    odd = HOSTILE[kind]()
    normal = encode(textured_image(320, 240, seed=9))
    for this, other in ((odd, normal), (normal, odd), (odd, odd)):
        f = _check(this, other)
        assert f.status == "ok"
        assert 0.0 <= f.score <= 1.0
        assert f.reason_code.startswith("claim_consistency.")
        for r in f.regions:
            assert r.w >= 1 and r.h >= 1


# --- real photos ---------------------------------------------------------------------------


def test_noso_forgery_is_an_edited_variant_of_its_original(shared_data: Path) -> None:
    folder = shared_data / "noso" / "NoSo_dataset"
    original, forged = folder / "01.png", folder / "01_mod.png"
    if not original.exists():
        pytest.skip("NoSo data set not present")
    mask = cv2.imread(str(folder / "01_mod_gt.png"), cv2.IMREAD_GRAYSCALE) > 127
    f = _check(forged.read_bytes(), original.read_bytes())
    assert f.reason_code == "claim_consistency.edited_variant"
    hit = np.zeros_like(mask)
    for r in f.regions:
        hit[r.y : r.y + r.h, r.x : r.x + r.w] = True
    assert (hit & mask).sum() > 0.3 * mask.sum()
    resaved = encode(np.asarray(Image.open(original).convert("RGB")), quality=75)
    g = _check(resaved, original.read_bytes())
    assert g.reason_code == "claim_consistency.duplicate_photo"


def test_grocery_shelf_photos_are_not_flagged(shared_data: Path) -> None:
    folder = shared_data / "grocery" / "natural" / "Alpro-Shelf-Soy-Milk"
    photos = sorted(folder.glob("*.jpg"))[:6]
    if len(photos) < 2:
        pytest.skip("grocery photos not present")
    for a, b in itertools.pairwise(photos):
        f = _check(a.read_bytes(), b.read_bytes())
        assert f.score < 0.5, (a.name, b.name, f.reason_code)
