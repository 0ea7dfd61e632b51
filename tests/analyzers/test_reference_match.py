"""reference_match: derived copies are found and localized, independent photos are not."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import encode, textured_image
from vericlaim.analyzers import ClaimContext, Finding
from vericlaim.analyzers.reference_match import DERIVED, ReferenceMatchAnalyzer
from vericlaim.evidence import load_bytes


def _check(claim: bytes, reference: bytes) -> Finding:
    c = load_bytes(claim, source="claim.jpg")
    r = load_bytes(reference, source="listing.jpg", role="listing", media_id="listing.jpg")
    (finding,) = ReferenceMatchAnalyzer().analyze(c, ClaimContext((c,), (r,)))
    return finding


@pytest.fixture(scope="module")
def listing() -> np.ndarray:
    return textured_image(800, 600, seed=3)


def _stain(img: np.ndarray, x: int, y: int, r: int) -> np.ndarray:
    out = img.astype(np.float32)
    mask = np.zeros(img.shape[:2], np.float32)
    cv2.circle(mask, (x, y), r, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), r / 4)[..., None]
    out = out * (1 - 0.6 * mask) + np.array([90, 60, 20], np.float32) * 0.6 * mask
    return np.clip(out, 0, 255).astype(np.uint8)


def test_verbatim_copy_resized_and_recompressed(listing: np.ndarray) -> None:
    claim = cv2.resize(listing, (1200, 900), interpolation=cv2.INTER_CUBIC)
    f = _check(encode(claim, quality=60), encode(listing, quality=95))
    assert f.reason_code == "reference_match.verbatim_copy"
    assert f.score >= 0.5 and not f.regions
    h = np.array(f.details["homography"])
    # The reference's far corner lands on the claim's far corner (scale 1.5).
    p = cv2.perspectiveTransform(np.float64([[[799.0, 599.0]]]), h)[0, 0]
    assert np.allclose(p, [1198.5, 898.5], atol=4)


def test_local_edit_is_localized_in_claim_coordinates(listing: np.ndarray) -> None:
    fake = _stain(listing, 500, 200, 40)
    crop = fake[40:560, 60:760]  # a crop keeping most of the photo, then enlarged
    claim = cv2.resize(crop, (1050, 780), interpolation=cv2.INTER_CUBIC)
    f = _check(encode(claim, quality=70), encode(listing, quality=95))
    assert f.reason_code == "reference_match.local_edit"
    assert f.regions and f.heatmap is not None
    # The stain's centre, in claim pixels.
    cx, cy = (500 - 60) * 1050 / 700, (200 - 40) * 780 / 520
    assert any(r.x <= cx <= r.x + r.w and r.y <= cy <= r.y + r.h for r in f.regions)
    assert sum(r.w * r.h for r in f.regions) < 0.1 * 1050 * 780


def test_mirrored_copy_is_derived(listing: np.ndarray) -> None:
    claim = np.ascontiguousarray(_stain(listing, 300, 300, 35)[:, ::-1])
    f = _check(encode(claim, quality=80), encode(listing, quality=95))
    assert f.details["relation"] in DERIVED
    assert f.details["mirrored"] is True


def test_colour_filter_is_a_global_filter(listing: np.ndarray) -> None:
    warm = np.clip(listing.astype(np.float32) * [1.15, 1.0, 0.8] + 12, 0, 255).astype(np.uint8)
    f = _check(encode(warm, quality=85), encode(listing, quality=95))
    assert f.reason_code == "reference_match.global_filter"


def test_independent_photo_is_not_derived(listing: np.ndarray) -> None:
    other = textured_image(800, 600, seed=11)
    f = _check(encode(other, quality=85), encode(listing, quality=95))
    assert f.details["relation"] not in DERIVED
    assert f.score == 0.0


def test_noso_copy_move_against_its_original(shared_data: Path) -> None:
    noso = shared_data / "noso" / "NoSo_dataset"
    original = cv2.cvtColor(cv2.imread(str(noso / "05.png")), cv2.COLOR_BGR2RGB)
    forged = cv2.cvtColor(cv2.imread(str(noso / "05_mod.png")), cv2.COLOR_BGR2RGB)
    gt = cv2.imread(str(noso / "05_mod_gt.png"), cv2.IMREAD_GRAYSCALE) > 127
    changed = np.abs(forged.astype(int) - original.astype(int)).max(axis=2) > 12
    target = gt & (cv2.dilate(changed.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    f = _check(encode(forged, quality=75), encode(original, "PNG"))
    assert f.reason_code == "reference_match.local_edit"
    covered = np.zeros_like(target)
    for r in f.regions:
        covered[r.y : r.y + r.h, r.x : r.x + r.w] = True
    assert (covered & target).sum() >= 0.5 * target.sum()


def test_honest_shelf_photo_of_the_same_carton(shared_data: Path) -> None:
    grocery = shared_data / "grocery"
    iconic = (grocery / "iconic" / "Alpro-Shelf-Soy-Milk.jpg").read_bytes()
    for photo in sorted((grocery / "natural" / "Alpro-Shelf-Soy-Milk").glob("*.jpg"))[:8]:
        f = _check(photo.read_bytes(), iconic)
        assert f.details["relation"] not in DERIVED, photo.name


def test_region_cut_from_the_listing_and_pasted_elsewhere(listing: np.ndarray) -> None:
    scene = textured_image(900, 700, seed=21)
    product = listing[150:450, 200:560]  # 360 x 300 cut from the merchant's photo
    scene[200:500, 300:660] = product
    f = _check(encode(scene, quality=85), encode(listing, quality=95))
    assert f.reason_code == "reference_match.partial_copy"
    (box,) = f.regions
    assert box.label == "copied"
    inter_w = min(box.x + box.w, 660) - max(box.x, 300)
    inter_h = min(box.y + box.h, 500) - max(box.y, 200)
    assert inter_w * inter_h >= 0.5 * 360 * 300


def test_claim_photo_taken_from_a_packing_video_frame() -> None:
    from tests.evidence.media import make_video, scene_picture

    size = (480, 360)
    video = make_video(size=size, frames=30, scenes=3)
    frame = scene_picture(size, 1)  # the second scene of the packing video
    claim = cv2.resize(_stain(frame, 200, 150, 25), (720, 540), interpolation=cv2.INTER_CUBIC)
    c = load_bytes(encode(claim, quality=80), source="claim.jpg")
    r = load_bytes(video, source="packing.mp4", role="packing", media_id="packing.mp4")
    (f,) = ReferenceMatchAnalyzer().analyze(c, ClaimContext((c,), (r,)))
    assert f.details["relation"] in DERIVED
    assert f.details["reference"] == "packing.mp4" and "reference_frame" in f.details


def test_a_near_exact_region_does_not_vouch_for_approval(listing: np.ndarray) -> None:
    from vericlaim.analyzers.reference_match import ReferenceMatchConfig

    scene = textured_image(900, 700, seed=21)
    scene[200:500, 300:660] = listing[150:450, 200:560]
    # With the pasted-region test made impossible to pass, the exact region must still keep
    # the match from counting as an independent photo of the goods.
    strict = ReferenceMatchConfig(partial_misregistration=0.0)
    c = load_bytes(encode(scene, quality=85), source="claim.jpg")
    r = load_bytes(encode(listing, quality=95), source="listing.jpg", role="listing")
    (f,) = ReferenceMatchAnalyzer(strict).analyze(c, ClaimContext((c,), (r,)))
    assert f.reason_code == "reference_match.same_product"
    assert "pasted_region_doubt" in f.details and f.confidence < 0.5


def test_a_faint_broad_stain_is_still_localized(listing: np.ndarray) -> None:
    # A stain too faint for any single pixel to stand out, but wide: the soft-region pass
    # finds it where the per-pixel pass does not.
    out = listing.astype(np.float32)
    mask = np.zeros(listing.shape[:2], np.float32)
    cv2.ellipse(mask, (300, 380), (110, 80), 20, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), 25)[..., None]
    fake = np.clip(out * (1 - 0.25 * mask), 0, 255).astype(np.uint8)
    claim = cv2.resize(fake, (1000, 750), interpolation=cv2.INTER_AREA)
    f = _check(encode(claim, quality=75), encode(listing, quality=95))
    assert f.reason_code == "reference_match.local_edit"
    cx, cy = 300 * 1000 / 800, 380 * 750 / 600
    assert any(r.x <= cx <= r.x + r.w and r.y <= cy <= r.y + r.h for r in f.regions)
    assert sum(r.w * r.h for r in f.regions) < 0.2 * 1000 * 750


def test_soft_regions_stand_out_of_the_photos_own_residual() -> None:
    from vericlaim.analyzers._regions import soft_regions

    rng = np.random.default_rng(5)
    z = rng.gamma(1.0, 0.5, (300, 400)).astype(np.float32)
    z[::37, :] = 9.0  # sharp lines (resampled edges): strong, but thin
    valid = np.ones(z.shape, bool)
    boxes, heat = soft_regions(z, valid, to_full=2.0)
    assert boxes == [] and heat.shape == z.shape
    z[100:160, 200:290] += 3.5  # a broad, faint raise
    boxes, _ = soft_regions(z, valid, to_full=2.0)
    assert len(boxes) == 1
    b = boxes[0]
    assert b.x <= 2 * 210 and b.x + b.w >= 2 * 280 and b.y <= 2 * 110 and b.y + b.h >= 2 * 150
    assert b.w * b.h < 4 * (2 * 90) * (2 * 60)
