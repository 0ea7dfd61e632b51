"""The re-save and upload chains carry the edit mask into the claim photo's pixel grid."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from benchmarks.chains import (
    CHAINS,
    Tracked,
    UploadParams,
    apply_chain,
    crop,
    draw_upload,
    mirror,
    scale_to,
    upload,
)
from benchmarks.imaging import binarize, decode_rgb, dilate


def _dark_texture(width: int = 480, height: int = 360, seed: int = 0) -> np.ndarray:
    """A photo-like texture kept dark (0..110), so a bright edit stands out after any chain."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 110, size=(height // 12 + 1, width // 12 + 1, 3), dtype=np.uint8)
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 110).astype(np.uint8)


def _edit_mask(width: int = 480, height: int = 360) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    cv2.rectangle(mask, (60, 80), (150, 140), 1, -1)
    cv2.ellipse(mask, (330, 250), (50, 30), 20, 0, 360, 1, -1)
    return mask.astype(bool)


def _pair(seed: int) -> tuple[Tracked, Tracked]:
    """The same photo without and with a bright edit, both carrying the edit's mask."""
    base = _dark_texture(seed=seed)
    mask = _edit_mask()
    edited = base.copy()
    edited[mask] = (235, 225, 215)
    m = mask.astype(np.float32)
    return Tracked(base, m), Tracked(edited, m)


@pytest.mark.parametrize("chain", list(CHAINS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_lines_up_with_the_edit_after_each_chain(chain: str, seed: int) -> None:
    plain, edited = _pair(seed)
    params = draw_upload(np.random.default_rng(seed))
    outputs = []
    for t in (plain, edited):
        # Same seed, same geometry: the two runs differ only where the edit is.
        t = apply_chain(t, chain, np.random.default_rng([seed, 99]))
        data, final = upload(t, params)
        assert final.pixels.shape == decode_rgb(data).shape
        outputs.append(final)
    mask = binarize(outputs[1].mask)
    assert mask is not None
    assert mask.shape == outputs[1].pixels.shape[:2]
    assert mask.sum() > 50
    diff = np.abs(outputs[0].pixels.astype(int) - outputs[1].pixels.astype(int)).max(axis=2) > 40
    # Nearly every masked pixel shows the edit ...
    assert (diff & mask).sum() / mask.sum() > 0.9
    # ... and the edit shows nowhere else (allowing for resampling and JPEG ringing).
    slack = 3 + round(0.01 * max(mask.shape))
    assert (diff & ~dilate(mask, slack)).sum() <= 0.02 * diff.sum()


def test_mirror_crop_resize_moves_the_mask_exactly() -> None:
    pixels = np.zeros((300, 400, 3), np.uint8)
    mask = np.zeros((300, 400), np.float32)
    mask[100:150, 40:80] = 1.0
    pixels[mask > 0] = 255
    t = mirror(Tracked(pixels, mask))  # x 40..80 -> 320..360
    t = crop(t, 300, 50, 100, 200)  # -> x 20..60, y 50..100
    t = scale_to(t, (50, 100))  # x0.5 -> x 10..30, y 25..50
    m = binarize(t.mask)
    assert m is not None
    ys, xs = np.nonzero(m)
    assert (xs.min(), xs.max() + 1, ys.min(), ys.max() + 1) == (10, 30, 25, 50)
    bright = t.pixels.max(axis=2) > 127
    assert np.array_equal(bright, m)


def test_upload_draws_realistic_ranges() -> None:
    draws = [draw_upload(np.random.default_rng([5, i])) for i in range(300)]
    sides = [d.long_side for d in draws]
    qualities = [d.quality for d in draws]
    assert min(sides) >= 480 and max(sides) <= 2048
    assert min(qualities) >= 50 and max(qualities) <= 95
    assert max(sides) - min(sides) > 1200 and max(qualities) - min(qualities) > 35
    assert all(0 <= c <= 0.04 for d in draws for c in d.crop)


def test_upload_sets_long_side_and_quality() -> None:
    import io

    from PIL import Image

    t = Tracked(_dark_texture(), _edit_mask().astype(np.float32))
    params = UploadParams(long_side=1500, crop=(0.02, 0.0, 0.03, 0.01), quality=60, subsampling=2)
    data, final = upload(t, params)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        assert max(im.size) == 1500
        assert im.size == final.size
    assert final.mask is not None and final.mask.shape == (final.size[1], final.size[0])
