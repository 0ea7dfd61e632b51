"""Fingerprints: stable, robust to re-saving, distinct for different photos, safe on
hostile input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from tests.conftest import encode, textured_image
from vericlaim.evidence import load_bytes
from vericlaim.reuse import VIEWS, Fingerprint, fingerprint
from vericlaim.reuse._hashes import (
    dhash64,
    hamming,
    pack_bits,
    phash64,
    trim_uniform_margins,
)
from vericlaim.reuse.detect import DEFAULT_RULE, detect_reuse
from vericlaim.reuse.index import ReuseIndex, ReuseRecord


def _jpeg(pixels: np.ndarray, quality: int) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", pixels[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1].copy()


def _decide(original: np.ndarray, copy: np.ndarray) -> str:
    """ "reused", "possible" (one view pair only) or "no"."""
    index = ReuseIndex()
    index.add(ReuseRecord("c1", "m1"), fingerprint(original))
    decision = detect_reuse(fingerprint(copy), index, claim_id="c2")
    return "reused" if decision.reused else "possible" if decision.possible else "no"


def _matches(original: np.ndarray, copy: np.ndarray) -> bool:
    return _decide(original, copy) != "no"


def test_pack_bits_order() -> None:
    bits = np.zeros(64, bool)
    bits[0] = True
    assert pack_bits(bits) == np.uint64(1 << 63)
    bits[:] = True
    assert pack_bits(bits) == np.uint64(2**64 - 1)


def test_hashes_pinned_on_a_ramp() -> None:
    # A left-to-right ramp: every dHash pair rises; pHash sees only horizontal cosines.
    ramp = np.tile(np.arange(64, dtype=np.float32), (48, 1))
    assert dhash64(ramp) == np.uint64(2**64 - 1)
    assert dhash64(ramp[:, ::-1]) == np.uint64(0)
    # pHash keeps only the order of the AC terms: an affine tone change leaves it alone.
    gray = textured_image(160, 120, seed=2).mean(axis=2)
    assert phash64(gray) == phash64(gray * 0.5 + 40)
    assert hamming(phash64(gray), phash64(gray[:, ::-1])) > 10


def test_fingerprint_is_deterministic_and_readonly() -> None:
    img = textured_image(320, 240, seed=3)
    a, b = fingerprint(img), fingerprint(img.copy())
    assert a == b and a.applicable
    assert a.phash.dtype == np.uint64 and a.phash.shape == (2, len(VIEWS))
    assert a.views[0] == "full"
    with pytest.raises(ValueError):
        a.phash[0, 0] = 1


def test_serialization_round_trip() -> None:
    fp = fingerprint(textured_image(200, 150, seed=4))
    assert Fingerprint.from_bytes(fp.to_bytes()) == fp
    flat = fingerprint(np.zeros((50, 50, 3), np.uint8))
    assert Fingerprint.from_bytes(flat.to_bytes()) == flat
    with pytest.raises(ValueError):
        Fingerprint.from_bytes(fp.to_bytes()[:-3])


def test_evidence_input_equals_pixels() -> None:
    img = textured_image(240, 180, seed=5)
    evidence = load_bytes(encode(img, "PNG"), media_id="p.png")
    assert fingerprint(evidence) == fingerprint(img)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "change",
    ["jpeg60", "half", "double", "mirror", "crop80", "gamma", "border", "mirror_crop_small"],
)
def test_robust_on_synthetic_photos(seed: int, change: str) -> None:
    img = textured_image(480, 360, seed=seed)
    h, w = img.shape[:2]
    if change == "jpeg60":
        copy = _jpeg(_jpeg(img, 80), 60)
    elif change == "half":
        copy = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    elif change == "double":
        copy = cv2.resize(img, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
    elif change == "mirror":
        copy = _jpeg(img[:, ::-1], 85)
    elif change == "crop80":  # keeps 64 % of the area, off-centre
        copy = _jpeg(img[h // 5 :, : w * 4 // 5], 85)
    elif change == "gamma":
        copy = np.clip(255 * (img / 255.0) ** 0.7 * 0.9, 0, 255).astype(np.uint8)
    elif change == "border":
        copy = cv2.copyMakeBorder(img, 40, 40, 30, 30, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    else:
        # mirrored, 10 % cut off the top and the bottom (a square-ish crop), shrunk
        copy = cv2.resize(
            img[h // 10 : h - h // 10, ::-1], (200, 120), interpolation=cv2.INTER_AREA
        )
    # Whole-photo changes align on most views: reused. A crop lines up with one view.
    expected = {"crop80", "mirror_crop_small"}
    assert _decide(img, copy) == ("reused" if change not in expected else "possible"), change


def test_different_photos_do_not_match() -> None:
    fps = [fingerprint(textured_image(320, 240, seed=s)) for s in range(12)]
    index = ReuseIndex()
    for i, fp in enumerate(fps):
        index.add(ReuseRecord(f"c{i}", "m"), fp)
    for i, fp in enumerate(fps):
        found = index.search(fp, phash_radius=DEFAULT_RULE.phash, dhash_radius=DEFAULT_RULE.dhash)
        assert [m.record.claim_id for m in found] == [f"c{i}"]


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 3), (1, 500, 3), (500, 1, 3), (15, 400, 3), (0, 0, 3), (8, 8), (64, 64, 1)],
)
def test_tiny_and_degenerate_inputs(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=shape, dtype=np.uint8)
    fp = fingerprint(img)
    if min(shape[:2]) < 16:
        assert not fp.applicable and fp.reason
        assert fp.codes() == []
    else:
        assert fp.applicable


@pytest.mark.parametrize("value", [0, 128, 255])
def test_flat_images_are_not_applicable(value: int) -> None:
    fp = fingerprint(np.full((300, 400, 3), value, np.uint8))
    assert not fp.applicable
    assert "flat" in (fp.reason or "")
    index = ReuseIndex()
    assert index.add(ReuseRecord("c", "m"), fp) == 0
    assert index.search(fp, phash_radius=10) == []


def test_flat_views_are_left_out() -> None:
    # Texture only in the top-left corner: the bottom-right window is flat.
    img = np.full((400, 400, 3), 200, np.uint8)
    img[:60, :60] = textured_image(60, 60, seed=7)
    fp = fingerprint(img, trim=False)
    assert fp.applicable
    assert not fp.usable[0, fp.views.index("bottom_right")]


def test_trim_uniform_margins() -> None:
    img = textured_image(200, 100, seed=1).mean(axis=2)
    framed = np.pad(img, ((10, 20), (30, 5)), constant_values=255.0)
    assert trim_uniform_margins(framed) == (30, 10, 230, 110)
    assert trim_uniform_margins(np.full((50, 50), 7.0)) == (0, 0, 50, 50)


def test_hamming_broadcasts() -> None:
    a = np.array([0, 1, 3], np.uint64)
    assert hamming(a, np.uint64(0)).tolist() == [0, 1, 2]


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["noso/dataset", "grocery/natural/Banana", "grocery/iconic"])
def test_real_photos_survive_re_saving(shared_data, name: str) -> None:
    photos = sorted((shared_data / name).glob("*.jpg"))[:4]
    assert photos
    for path in photos:
        evidence = load_bytes(path.read_bytes(), media_id=path.name)
        img = evidence.frames[0].pixels
        if not fingerprint(img).applicable:  # a plain white wall: nothing to recognise
            assert "flat" in (fingerprint(img).reason or "")
            continue
        h, w = img.shape[:2]
        copies = {
            "recompress": _jpeg(_jpeg(img, 90), 65),
            "scale": cv2.resize(img, (w * 2 // 3, h * 2 // 3), interpolation=cv2.INTER_AREA),
            "crop": _jpeg(img[h // 10 : h - h // 10, w // 10 : w - w // 10], 85),
            "mirror": _jpeg(img[:, ::-1], 85),
        }
        for change, copy in copies.items():
            assert _matches(img, copy), f"{path.name}: {change}"
            if change != "crop":
                assert _decide(img, copy) == "reused", f"{path.name}: {change}"


def test_hamming_without_numpy_bitwise_count(monkeypatch: pytest.MonkeyPatch) -> None:
    codes = np.array([0, 1, 2**64 - 1, 0xF0F0], np.uint64)
    expected = hamming(codes, np.uint64(0)).tolist()
    monkeypatch.delattr(np, "bitwise_count")
    assert hamming(codes, np.uint64(0)).tolist() == expected == [0, 1, 64, 8]
