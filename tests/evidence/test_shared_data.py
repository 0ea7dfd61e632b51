"""Real camera photos and C2PA test files from ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vericlaim.evidence import load_path

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("folder", ["aigc/real", "c2pa/image/jpeg", "noso/dataset"])
def test_real_photos_load_with_consistent_geometry(shared_data: Path, folder: str) -> None:
    files = sorted(
        p for p in (shared_data / folder).glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    if not files:
        pytest.skip(f"no photos in {shared_data / folder}")
    for path in files[:12]:
        evidence = load_path(path)
        height, width = evidence.frames[0].pixels.shape[:2]
        scale = evidence.frames[0].scale
        assert 0 < scale <= 1
        assert abs(width / scale - evidence.width) <= 1 / scale + 1, path.name
        assert abs(height / scale - evidence.height) <= 1 / scale + 1, path.name
