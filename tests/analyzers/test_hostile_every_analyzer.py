"""Every registered analyzer on the odd photos buyers and platforms produce: each one either
analyses the photo or says why it does not apply, and none fails."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from vericlaim.analyzers.registry import default_analyzers
from vericlaim.analyzers.runner import run_analyzers
from vericlaim.evidence import load_bytes


def _png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _pil_jpeg(image: Image.Image, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="JPEG", **kwargs)
    return out.getvalue()


def _arithmetic_declared() -> bytes:
    # A JPEG whose frame header declares arithmetic coding (SOF9) over an entropy stream
    # written for Huffman coding: the decoder reads it as an arithmetic-coded stream.
    data = encode(textured_image(320, 240, seed=3), quality=85)
    at = data.index(b"\xff\xc0")
    return data[:at] + b"\xff\xc9" + data[at + 2 :]


def _photos() -> dict[str, bytes]:
    photo = textured_image(320, 240, seed=5)
    return {
        "1x1": _png(np.full((1, 1, 3), 128, np.uint8)),
        "1x500": _png(np.full((500, 1, 3), 90, np.uint8)),
        "500x1": encode(np.full((1, 500, 3), 200, np.uint8), quality=90),
        "grayscale_jpeg": _pil_jpeg(Image.fromarray(photo).convert("L"), quality=90),
        "cmyk_jpeg": _pil_jpeg(Image.fromarray(photo).convert("CMYK"), quality=90),
        "png_16_bit": _png(photo[..., 0].astype(np.uint16) * 257),
        "progressive_jpeg": _pil_jpeg(Image.fromarray(photo), quality=80, progressive=True),
        "arithmetic_declared_jpeg": _arithmetic_declared(),
        "black": encode(np.zeros((240, 320, 3), np.uint8), quality=90),
        "white_png": _png(np.full((240, 320, 3), 255, np.uint8)),
        "rgba_png": _png(np.dstack([photo, np.full(photo.shape[:2], 128, np.uint8)])),
    }


NAMES = (
    "1x1",
    "1x500",
    "500x1",
    "grayscale_jpeg",
    "cmyk_jpeg",
    "png_16_bit",
    "progressive_jpeg",
    "arithmetic_declared_jpeg",
    "black",
    "white_png",
    "rgba_png",
)


def test_the_odd_photos_are_the_ones_named() -> None:
    assert set(_photos()) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_no_analyzer_fails_on_an_odd_photo(name: str) -> None:
    evidence = load_bytes(_photos()[name], source=f"{name}.bin", role="claim", media_id="c")
    findings = run_analyzers(default_analyzers(), [evidence], [])["c"]
    by_analyzer = {f.analyzer for f in findings}
    assert by_analyzer >= {a.name for a in default_analyzers() if a.name != "reference_match"}
    failed = [(f.analyzer, f.details) for f in findings if f.status == "failed"]
    assert not failed, failed
    for f in findings:
        assert f.status in ("ok", "not_applicable")
        assert 0.0 <= f.score <= 1.0
        json.dumps(f.to_json(), allow_nan=False)  # strict JSON: no NaN, no infinity
        for r in f.regions:
            assert r.x >= 0 and r.y >= 0 and r.x + r.w <= evidence.width
            assert r.y + r.h <= evidence.height
