"""copy_move: cloned regions are found with source and target; honest repetition is not."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from vericlaim.analyzers import ClaimContext, Finding
from vericlaim.analyzers._copy_move import (
    Candidate,
    bandpass,
    clone_regions,
    keypoint_pairs,
    pair_transforms,
)
from vericlaim.analyzers.copy_move import CopyMoveAnalyzer
from vericlaim.analyzers.runner import run_analyzer
from vericlaim.evidence import load_bytes

SOURCE = (80, 90, 110, 90)  # x, y, w, h of the cloned patch
TARGET_AT = (400, 300)


def _check(data: bytes) -> Finding:
    media = load_bytes(data, source="claim", media_id="claim-1")
    findings = run_analyzer(CopyMoveAnalyzer(), media, ClaimContext((media,)))
    assert len(findings) == 1
    return findings[0]


def _photo(seed: int = 1) -> np.ndarray:
    """A photo-like picture with sensor-like noise that a clone copies along."""
    rng = np.random.default_rng(seed)
    img = textured_image(640, 480, seed=seed).astype(np.float32)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _cloned(seed: int = 1) -> np.ndarray:
    img = _photo(seed).copy()
    x, y, w, h = SOURCE
    tx, ty = TARGET_AT
    img[ty : ty + h, tx : tx + w] = img[y : y + h, x : x + w]
    return img


def _overlaps(region: tuple[int, int, int, int], box: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = region
    bx, by, bw, bh = box
    ix = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0, min(ay + ah, by + bh) - max(ay, by))
    return ix * iy / (bw * bh)


def test_clone_is_found_with_source_and_target() -> None:
    f = _check(encode(_cloned(), "PNG"))
    assert f.status == "ok" and f.reason_code == "copy_move.duplicated_region"
    assert f.score >= 0.5
    labels = [r.label for r in f.regions]
    assert labels.count("source") == 1 and labels.count("target") == 1
    assert len({r.score for r in f.regions}) == 1
    boxes = [(r.x, r.y, r.w, r.h) for r in f.regions]
    target_box = (*TARGET_AT, SOURCE[2], SOURCE[3])
    # Both places of the copy are boxed; "source" is the first in reading order.
    assert max(_overlaps(b, SOURCE) for b in boxes) > 0.6
    assert max(_overlaps(b, target_box) for b in boxes) > 0.6
    pair = f.details["pairs"][0]
    assert pair["offset"] == [320.0, 210.0]
    assert _overlaps(tuple(pair["source"]), SOURCE) > 0.6
    assert f.heatmap is not None and f.heatmap.dtype == np.float32
    assert f.heatmap.min() >= 0.0 and f.heatmap.max() <= 1.0


def test_recompressed_clone_still_scores_above_the_honest_photo() -> None:
    # JPEG re-encoding blurs the noise a copy shares with its source: the score drops
    # (see the method card's limits) but stays ordered against an honest photo.
    clone = _check(encode(_cloned(), quality=95))
    honest = _check(encode(_photo(1), quality=95))
    assert clone.score > honest.score + 0.2


def test_honest_photo_is_not_flagged() -> None:
    for seed in (1, 2, 3):
        f = _check(encode(_photo(seed), quality=85))
        assert f.reason_code == "copy_move.none", seed
        assert f.score < 0.5


def test_patch_from_another_photo_is_not_a_clone() -> None:
    img = _photo(1).copy()
    other = _photo(7)
    img[300:400, 400:520] = other[50:150, 60:180]
    assert _check(encode(img, quality=90)).reason_code == "copy_move.none"


def test_repeating_pattern_is_not_a_clone() -> None:
    # A printed pattern repeats exactly (fabric, tiles, wallpaper): a lattice of equal
    # shifts, not one copy.
    rng = np.random.default_rng(5)
    tile = cv2.GaussianBlur(rng.integers(0, 256, (48, 56, 3)).astype(np.uint8), (0, 0), 1.2)
    pattern = np.tile(tile, (10, 12, 1))[:480, :640]
    assert _check(encode(pattern, quality=90)).score < 0.5


def test_rotated_clone_transform_is_recovered() -> None:
    img = _photo(4).copy()
    patch = img[60:200, 60:200]
    turned = cv2.warpAffine(
        patch, cv2.getRotationMatrix2D((70, 70), 25, 1.0), (140, 140), flags=cv2.INTER_CUBIC
    )
    mask = np.zeros((140, 140), np.uint8)
    cv2.circle(mask, (70, 70), 55, 1, -1)
    region = img[280:420, 420:560]
    region[mask > 0] = turned[mask > 0]
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    (candidate,) = pair_transforms(keypoint_pairs(gray))
    m = candidate.as_array()
    assert abs(abs(np.degrees(np.arctan2(m[1, 0], m[0, 0]))) - 25) < 3
    assert abs(np.hypot(m[0, 0], m[1, 0]) - 1.0) < 0.05


def test_result_is_deterministic() -> None:
    data = encode(_cloned(2), quality=85)
    a, b = _check(data), _check(data)
    assert a.score == b.score and a.regions == b.regions and a.details == b.details


def test_keypoint_pairs_find_the_copy_offset() -> None:
    gray = cv2.cvtColor(_cloned(), cv2.COLOR_RGB2GRAY)
    pairs = keypoint_pairs(gray)
    offsets = np.round(pairs[:, 2:] - pairs[:, :2]).astype(int)
    assert (np.abs(offsets - [320, 210]).max(axis=1) <= 1).sum() >= 5


def test_verification_rejects_a_wrong_offset() -> None:
    detail = bandpass(cv2.cvtColor(_cloned(), cv2.COLOR_RGB2GRAY).astype(np.float32))
    right = Candidate(((1.0, 0.0, 320.0), (0.0, 1.0, 210.0)), 10, "blocks")
    wrong = Candidate(((1.0, 0.0, 250.0), (0.0, 1.0, 150.0)), 10, "blocks")
    regions, source, target = clone_regions(detail, right)
    assert regions and regions[0].correlation > 0.97 and regions[0].sharpness > 0.3
    assert source.sum() > 0.6 * SOURCE[2] * SOURCE[3] and target.sum() > 0
    assert clone_regions(detail, wrong)[0] == []


def _save(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


HOSTILE = {
    "1x1": lambda: encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
    "1x500": lambda: encode(np.full((500, 1, 3), 128, np.uint8), "PNG"),
    "500x1": lambda: encode(np.full((1, 500, 3), 128, np.uint8), "PNG"),
    "grayscale": lambda: _save(Image.fromarray(_cloned()[..., 1]), "PNG"),
    "cmyk": lambda: _save(Image.fromarray(_cloned()).convert("CMYK"), "TIFF"),
    "16-bit": lambda: _save(Image.fromarray(_cloned()[..., 0].astype(np.uint16) * 257), "PNG"),
    "rgba": lambda: _save(Image.fromarray(_cloned()).convert("RGBA"), "PNG"),
    "progressive": lambda: encode(_cloned(), quality=95, progressive=True),
    "cmyk jpeg": lambda: _save(Image.fromarray(_photo()).convert("CMYK"), "JPEG", quality=90),
    "black": lambda: encode(np.zeros((600, 800, 3), np.uint8), quality=90),
    "white": lambda: encode(np.full((600, 800, 3), 255, np.uint8), "PNG"),
    "huge flat": lambda: encode(np.full((3000, 4000, 3), 90, np.uint8), quality=80),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_odd_inputs_never_raise(kind: str) -> None:
    f = _check(HOSTILE[kind]())
    assert f.status in ("ok", "not_applicable")
    assert 0.0 <= f.score <= 1.0
    if kind in ("1x1", "1x500", "500x1"):
        assert f.status == "not_applicable"
    if kind in ("black", "white", "huge flat"):
        assert f.reason_code == "copy_move.none"
    if kind in ("grayscale", "cmyk", "rgba"):
        assert f.reason_code == "copy_move.duplicated_region"
    for r in f.regions:
        assert r.x >= 0 and r.y >= 0 and r.w >= 1 and r.h >= 1


def test_video_is_not_applicable() -> None:
    from tests.evidence.media import make_video

    f = _check(make_video(frames=6, size=(160, 120)))
    assert f.status == "not_applicable"


def test_boxes_are_in_full_resolution_pixels() -> None:
    big = cv2.resize(_cloned(), (1280, 960), interpolation=cv2.INTER_CUBIC)
    f = _check(encode(big, "PNG"))
    assert f.score >= 0.5
    target_box = tuple(2 * v for v in (*TARGET_AT, SOURCE[2], SOURCE[3]))
    boxes = [(r.x, r.y, r.w, r.h) for r in f.regions]
    assert max(_overlaps(b, target_box) for b in boxes) > 0.6  # type: ignore[arg-type]
    assert all(r.x + r.w <= 1280 and r.y + r.h <= 960 for r in f.regions)


# --- real copy-move forgeries (NoSo) -------------------------------------------------------
def _noso(shared: Path, name: str) -> bytes:
    return (shared / "noso" / "NoSo_dataset" / name).read_bytes()


def test_noso_forgery_is_found_and_original_is_not(shared_data: Path) -> None:
    f = _check(_noso(shared_data, "05_mod.png"))
    assert f.score >= 0.5
    gt = cv2.imread(str(shared_data / "noso/NoSo_dataset/05_mod_gt.png"), cv2.IMREAD_GRAYSCALE)
    n, _, stats, _ = cv2.connectedComponentsWithStats((gt > 127).astype(np.uint8))
    truth = [tuple(int(v) for v in stats[i, :4]) for i in range(1, n)]
    boxes = [(r.x, r.y, r.w, r.h) for r in f.regions]
    for box in truth:  # both source and target of the real forgery are pointed at
        assert max(_overlaps(b, box) for b in boxes) > 0.7  # type: ignore[arg-type]
    assert _check(_noso(shared_data, "05.png")).score < 0.5


def test_shelf_of_identical_products_is_not_flagged(shared_data: Path) -> None:
    folder = shared_data / "grocery" / "natural" / "Alpro-Shelf-Soy-Milk"
    photos = sorted(folder.glob("*.jpg"))[:6]
    assert photos
    assert all(_check(p.read_bytes()).score < 0.5 for p in photos)
