"""noise: regions whose noise breaks the photo's noise-brightness law are found."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from vericlaim.analyzers import ClaimContext, Finding
from vericlaim.analyzers._noise import (
    block_noise,
    fit_noise_function,
    haar_level1,
    noise_function,
)
from vericlaim.analyzers.noise import NoiseAnalyzer
from vericlaim.analyzers.runner import run_analyzer
from vericlaim.evidence import load_bytes

EDIT = (400, 240, 200, 200)  # x, y, w, h of the edited square


def _check(data: bytes) -> Finding:
    media = load_bytes(data, source="claim")
    (finding,) = run_analyzer(NoiseAnalyzer(), media, ClaimContext((media,), ()))
    return finding


def _scene(seed: int = 0, width: int = 960, height: int = 720) -> np.ndarray:
    """Smooth shapes and gradients, no noise yet."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(30, 220, size=(height // 120 + 1, width // 120 + 1, 3))
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    for _ in range(25):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        color = tuple(float(c) for c in rng.uniform(20, 235, 3))
        cv2.circle(img, (x, y), int(rng.integers(10, 80)), color, -1)
    return img


def _camera(scene: np.ndarray, seed: int = 1, gain: float = 1.0) -> np.ndarray:
    """Poisson-Gaussian sensor noise: its variance grows with brightness."""
    rng = np.random.default_rng(seed)
    sigma = gain * np.sqrt(1.0 + 0.05 * scene)
    return np.clip(scene + rng.normal(0, 1, scene.shape) * sigma, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return _camera(_scene())


def _hits_edit(f: Finding) -> bool:
    x, y, w, h = EDIT
    cx, cy = x + w / 2, y + h / 2
    return any(r.x <= cx <= r.x + r.w and r.y <= cy <= r.y + r.h for r in f.regions)


def test_haar_detail_band_measures_white_noise() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(100, 4.0, (256, 256)).astype(np.float32)
    ll, lh, hl, hh = haar_level1(noise)
    assert ll.shape == (128, 128)
    assert abs(float(np.median(np.abs(hh))) / 0.6745 - 4.0) < 0.15
    assert abs(float(hl.std()) - 4.0) < 0.15 and abs(float(lh.std()) - 4.0) < 0.15


def test_flat_pixels_ignore_texture() -> None:
    rng = np.random.default_rng(3)
    img = np.full((256, 256), 120.0, np.float32)
    yy, xx = np.mgrid[0:256, 0:128]
    img[:, 128:] += 40 * np.sin(xx / 3.0) * np.sin(yy / 4.0)  # texture on the right
    img[::16] += 60.0  # and sharp lines everywhere
    img += rng.normal(0, 2.0, img.shape)
    noise = block_noise(img, block=32)
    sigma = noise.sigma[np.isfinite(noise.sigma)]
    assert sigma.size >= 20 and np.all(np.abs(sigma - 2.0) < 0.6)
    assert np.isnan(noise.sigma[:, 4:]).mean() > 0.5  # textured blocks are left out


def test_noise_function_follows_brightness_and_ignores_a_small_outlier() -> None:
    brightness = np.linspace(10, 245, 400)
    truth = np.log2(np.sqrt(1.0 + 0.05 * brightness))
    observed = truth.copy()
    observed[100:120] -= 2.0  # a small smoothed area
    coef = fit_noise_function(brightness, observed)
    fitted = noise_function(coef, brightness)
    assert np.max(np.abs(fitted - truth)) < 0.05


@pytest.mark.parametrize("edit", ["blur", "paint", "pasted_noisy"])
def test_local_noise_changes_are_found(photo: np.ndarray, edit: str) -> None:
    x, y, w, h = EDIT
    fake = photo.copy()
    if edit == "blur":
        fake[y : y + h, x : x + w] = cv2.GaussianBlur(photo, (0, 0), 2.5)[y : y + h, x : x + w]
    elif edit == "paint":
        fake[y : y + h, x : x + w] = _scene()[y : y + h, x : x + w].astype(np.uint8)
    else:
        noisy = _camera(_scene(), seed=9, gain=8.0)
        fake[y : y + h, x : x + w] = noisy[y : y + h, x : x + w]
    f = _check(encode(fake, "PNG"))
    expected = "noise.too_much_noise" if edit == "pasted_noisy" else "noise.too_little_noise"
    assert f.reason_code == expected, f.details
    assert f.score >= 0.5 and f.confidence > 0.5
    assert _hits_edit(f)
    assert sum(r.w * r.h for r in f.regions) < 0.2 * 960 * 720
    assert f.heatmap is not None and f.heatmap.dtype == np.float32
    assert float(f.heatmap.min()) >= 0.0 and float(f.heatmap.max()) <= 1.0


@pytest.mark.parametrize("chain", ["png", "jpeg90", "jpeg60", "resized", "resized_jpeg"])
def test_honest_chains_are_not_flagged(photo: np.ndarray, chain: str) -> None:
    small = cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA)
    data = {
        "png": lambda: encode(photo, "PNG"),
        "jpeg90": lambda: encode(photo, quality=90),
        "jpeg60": lambda: encode(photo, quality=60),
        "resized": lambda: encode(small, "PNG"),
        "resized_jpeg": lambda: encode(small, quality=75),
    }[chain]()
    f = _check(data)
    assert f.reason_code == "noise.none" and f.score < 0.5, f.details


def test_dark_and_bright_areas_are_not_flagged_for_their_noise() -> None:
    scene = _scene(seed=4)
    scene[:, :480] *= 0.25  # a dark half: much less shot noise there
    f = _check(encode(_camera(scene, seed=5, gain=1.5), "PNG"))
    assert f.score < 0.5, f.details


def test_result_is_deterministic(photo: np.ndarray) -> None:
    data = encode(photo, quality=85)
    a, b = _check(data), _check(data)
    assert a.score == b.score and a.regions == b.regions and a.details == b.details


def _save(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


_PHOTO = textured_image(320, 240, seed=5)
HOSTILE = {
    "1x1": lambda: encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
    "1x500": lambda: encode(np.full((500, 1, 3), 128, np.uint8), "PNG"),
    "500x1": lambda: encode(np.full((1, 500, 3), 128, np.uint8), quality=90),
    "grayscale jpeg": lambda: _save(Image.fromarray(_PHOTO[..., 1]), "JPEG", quality=80),
    "cmyk": lambda: _save(Image.fromarray(_PHOTO).convert("CMYK"), "JPEG", quality=90),
    "16-bit": lambda: _save(Image.fromarray(_PHOTO[..., 0].astype(np.uint16) * 257), "PNG"),
    "rgba": lambda: _save(Image.fromarray(_PHOTO).convert("RGBA"), "PNG"),
    "progressive": lambda: encode(_PHOTO, quality=90, progressive=True),
    "black": lambda: encode(np.zeros((600, 800, 3), np.uint8), quality=90),
    "white": lambda: encode(np.full((600, 800, 3), 255, np.uint8), "PNG"),
    "huge flat": lambda: encode(np.full((2400, 3200, 3), 90, np.uint8), quality=80),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_odd_inputs_never_raise(kind: str) -> None:
    f = _check(HOSTILE[kind]())
    assert f.status in ("ok", "not_applicable"), f.details
    assert 0.0 <= f.score < 0.5
    if kind in ("1x1", "1x500", "500x1"):
        assert f.status == "not_applicable"
    if kind in ("black", "white", "huge flat"):
        assert f.confidence < 0.2
    for r in f.regions:
        assert r.x >= 0 and r.y >= 0 and r.w >= 1 and r.h >= 1


def test_video_is_not_applicable() -> None:
    from tests.evidence.media import make_video

    f = _check(make_video(frames=6, size=(160, 120)))
    assert f.status == "not_applicable"


# --- real photos -----------------------------------------------------------------------------
def test_real_photos_honest_and_edited(shared_data: Path) -> None:
    for name in ("01.png", "05.png", "09.png"):
        data = (shared_data / "noso" / "NoSo_dataset" / name).read_bytes()
        assert _check(data).score < 0.5, name
    original = (shared_data / "noso" / "NoSo_dataset" / "02.png").read_bytes()
    pixels = np.asarray(Image.open(io.BytesIO(original)).convert("RGB"))
    x, y, w, h = 500, 300, 160, 160
    fake = pixels.copy()
    fake[y : y + h, x : x + w] = cv2.GaussianBlur(pixels, (0, 0), 3.0)[y : y + h, x : x + w]
    f = _check(encode(fake, "PNG"))
    assert f.reason_code == "noise.too_little_noise", f.details
    assert any(r.x <= x + w / 2 <= r.x + r.w and r.y <= y + h / 2 <= r.y + r.h for r in f.regions)


def test_noise_function_fit_stays_well_conditioned_when_inliers_cluster() -> None:
    # Most blocks share one brightness; the few bright ones are outliers that the robust
    # rounds drop, leaving a single brightness: a level, not an ill-conditioned quadratic.
    rng = np.random.default_rng(5)
    brightness = np.r_[np.full(40, 100.0), np.full(4, 250.0)]
    log_sigma = np.r_[rng.normal(1.0, 0.01, 40), np.full(4, 3.0)]
    coef = fit_noise_function(brightness, log_sigma)  # warnings are errors
    assert coef[:2] == pytest.approx([0.0, 0.0]) and coef[2] == pytest.approx(1.0, abs=0.02)


def test_no_block_left_to_trust_gives_no_spread_and_strict_json(
    photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A photo smoothed and re-sharpened all over (a generative editor's re-encoding) can
    # leave no block whose noise the analyzer trusts: the spread of nothing is no spread.
    import json

    from vericlaim.analyzers import noise

    real = noise._smooth

    def nothing_trusted(
        ratio: np.ndarray, valid: np.ndarray, window: int
    ) -> tuple[np.ndarray, np.ndarray]:
        smooth, trusted = real(ratio, valid, window)
        return smooth, np.zeros_like(trusted)

    monkeypatch.setattr(noise, "_smooth", nothing_trusted)
    f = _check(encode(photo, quality=92))
    assert f.status == "ok" and f.score < 0.5 and not f.regions
    assert f.details["ratio_spread_log2"] == 0.0
    json.dumps(f.to_json(), allow_nan=False)
