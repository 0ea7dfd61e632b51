"""Shared fixtures: small images made in memory, and the shared data sets when present."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests that need it are skipped on a user's fresh clone."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data sets not found at {SHARED_DATA}")
    return SHARED_DATA


def textured_image(width: int = 640, height: int = 480, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB image with structure at several scales."""
    rng = np.random.default_rng(seed)
    import cv2

    base = rng.integers(0, 256, size=(height // 16 + 1, width // 16 + 1, 3), dtype=np.uint8)
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    for _ in range(40):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        r = int(rng.integers(5, 40))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        cv2.circle(img, (x, y), r, color, -1)
        cv2.rectangle(img, (x, y), (x + r, y + 2 * r // 3), tuple(255 - c for c in color), 2)
    img += rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str = "JPEG", **kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt, **kwargs)
    return buf.getvalue()
