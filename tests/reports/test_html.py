from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from markupsafe import escape
from PIL import Image
from typer.testing import CliRunner

from tests.conftest import encode, textured_image
from tests.reports import cases
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.cli import app
from vericlaim.reports.html import render_report

DATA_URI = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')


@pytest.fixture(scope="module")
def reference():
    return cases.load_reference()


@pytest.fixture(scope="module")
def claim():
    return cases.load_claim()


@pytest.fixture(scope="module")
def edited_report(claim, reference) -> tuple[str, object]:
    result = cases.checked(
        [claim], [reference], {claim.media_id: [cases.local_edit(claim, reference)]}
    )
    return render_report(result, generated_at=datetime(2026, 11, 2, 8, 30, tzinfo=UTC)), result


def _images(html: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b64))) for b64 in DATA_URI.findall(html)]


def test_report_is_one_self_contained_document(edited_report) -> None:
    html, _ = edited_report
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert html.count("<html") == 1 and html.rstrip().endswith("</html>")
    assert html.count("<body") == 1
    # Nothing is fetched: every src/href is a data URI, no CSS url() or @import, no script.
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', html):
        assert attr.startswith("data:image/"), attr
    assert not re.search(r"(?:src|href)\s*=\s*['\"]?\s*(?:https?:)?//", html)
    assert "url(" not in html and "@import" not in html
    assert "<script" not in html.lower()
    assert "default-src 'none'" in html


def test_report_shows_verdict_hashes_and_messages(edited_report) -> None:
    html, result = edited_report
    verdict = result.verdict
    assert verdict["verdict"] == "likely_manipulated"
    assert "likely_manipulated" in html and "Likely manipulated" in html
    assert "human_review" in html and f"{verdict['risk_score']}" in html
    assert verdict["claim_id"] in html and verdict["policy_version"] in html
    assert "2026-11-02 08:30:00 UTC" in html
    for media in (*result.claim_media, *result.references):
        assert media.sha256 in html
    finding = result.findings[result.claim_media[0].media_id][0]
    assert str(escape(finding.message_zh)) in html
    assert str(escape(finding.message_en)) in html
    assert "never rejects" in html and "从不自动拒绝" in html
    assert "reference_match · reference_match.local_edit" in html
    assert "[700, 400, 360, 260]" in html


def test_images_are_inline_jpegs_of_display_size(edited_report) -> None:
    html, _ = edited_report
    images = _images(html)
    # claim, reference, warped reference, overlay, two evidence thumbnails
    assert len(images) == 6
    for image in images:
        assert image.format == "JPEG"
        assert max(image.size) <= 900
    assert len(html) < 3_000_000


def test_warped_reference_lines_up_with_the_claim(claim, reference) -> None:
    from vericlaim.reports import _images
    from vericlaim.reports._view import _scale_of

    shown_claim = _images.display_copy(claim.frames[0].pixels, max_side=900)
    shown_ref = _images.display_copy(reference.frames[0].pixels, max_side=900)
    warped = _images.warp_reference(
        shown_ref,
        _scale_of(reference, shown_ref),
        shown_claim.shape[:2],
        _scale_of(claim, shown_claim),
        np.asarray(cases.HOMOGRAPHY),
    )
    assert warped.shape == shown_claim.shape
    diff = np.abs(warped.astype(np.float32) - shown_claim.astype(np.float32)).mean(axis=2)
    sx, sy = _scale_of(claim, shown_claim)
    x, y, w, h = cases.CRACK.as_box()
    outside = np.ones(diff.shape, bool)
    outside[int(y * sy) - 4 : int((y + h) * sy) + 4, int(x * sx) - 4 : int((x + w) * sx) + 4] = (
        False
    )
    assert diff[outside].mean() < 6.0
    # A wrong scale composition would misalign the texture completely.
    shifted = np.roll(shown_claim, 5, axis=1).astype(np.float32)
    assert np.abs(warped.astype(np.float32) - shifted).mean() > 3 * diff[outside].mean()


def test_hostile_file_names_and_labels_are_escaped(reference) -> None:
    hostile_claim = cases.load_claim(cases.HOSTILE)
    hostile_ref = cases.load_reference('"><img src=x onerror=alert(2)>.jpg')
    finding = cases.local_edit(
        hostile_claim,
        hostile_ref,
        regions=(Region(10, 10, 50, 50, label="<b>bold</b>", score=0.5),),
    )
    result = cases.checked([hostile_claim], [hostile_ref], {hostile_claim.media_id: [finding]})
    html = render_report(result)
    assert "<script>" not in html and "<b>bold" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.jpg" in html
    assert "<img src=x" not in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;.jpg" in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html


def test_no_references_and_no_heatmap(claim) -> None:
    result = cases.checked([claim], [], {claim.media_id: [cases.not_applicable(claim)]})
    html = render_report(result)
    assert "No merchant reference photos were given" in html
    assert "Heatmap" not in html and "warped onto" not in html
    assert len(_images(html)) == 2  # the claim photo and its evidence thumbnail


def test_failed_reference_match(claim, reference) -> None:
    result = cases.checked([claim], [reference], {claim.media_id: [cases.failed(claim)]})
    html = render_report(result)
    assert result.verdict["verdict"] == "inconclusive"
    assert "could not finish: RuntimeError: boom" in html
    assert "status-failed" in html


def test_match_without_homography_shows_the_reference_only(claim, reference) -> None:
    finding = cases.local_edit(claim, reference, homography=None)
    result = cases.checked([claim], [reference], {claim.media_id: [finding]})
    html = render_report(result)
    assert "Matched merchant photo" in html
    assert "carries no alignment" in html and "warped onto" not in html


@pytest.mark.parametrize(
    ("homography", "heatmap"),
    [
        ([[1, 0], [0, 1]], np.zeros((4,), np.float32)),
        ([[float("nan")] * 3] * 3, np.full((8, 8), np.nan, np.float32)),
        ("not a matrix", np.zeros((0, 5), np.float32)),
        ([[0, 0, 0], [0, 0, 0], [0, 0, 0]], np.full((3, 3, 1), 7.0, np.float32)),
    ],
)
def test_malformed_details_and_heatmaps_do_not_break_the_report(
    claim, reference, homography: object, heatmap: np.ndarray
) -> None:
    finding = cases.local_edit(claim, reference, homography=homography, heatmap=heatmap)
    result = cases.checked([claim], [reference], {claim.media_id: [finding]})
    html = render_report(result)
    assert "carries no alignment" in html
    assert "[700, 400, 360, 260]" in html  # the boxes are still drawn


def test_an_unmatched_closest_reference_is_not_shown_as_a_match(claim, reference) -> None:
    finding = Finding.make(
        analyzer="reference_match",
        version="1.0.0",
        media_id=claim.media_id,
        reason_code="reference_match.no_match",
        confidence=0.5,
        params={"reference": reference.media_id},
        details={"reference": reference.media_id, "relation": "no_match"},
    )
    result = cases.checked([claim], [reference], {claim.media_id: [finding]})
    html = render_report(result)
    assert "Matched merchant photo" not in html
    assert str(escape(finding.message_en)) in html


def test_unknown_reference_and_regions_outside_the_photo(claim, reference) -> None:
    finding = Finding.make(
        analyzer="reference_match",
        version="1.0.0",
        media_id=claim.media_id,
        reason_code="reference_match.partial_copy",
        score=0.8,
        params={"reference": "gone.jpg"},
        details={"reference": "gone.jpg", "homography": cases.HOMOGRAPHY},
        regions=(Region(-50, -50, 10_000, 10_000), Region(5000, 5000, 10, 10)),
    )
    result = cases.checked([claim], [reference], {claim.media_id: [finding]})
    html = render_report(result)
    assert "The matched reference gone.jpg is not among the references" in html


def test_every_finding_with_a_heatmap_or_regions_gets_a_panel(claim, reference) -> None:
    provenance = Finding.make(
        analyzer="provenance",
        version="1.0.0",
        media_id=claim.media_id,
        reason_code="provenance.c2pa_invalid",
        score=0.6,
        params={"problems": "data hash mismatch"},
        heatmap=np.random.default_rng(0).random((30, 40), dtype=np.float32),
    )
    findings = [cases.local_edit(claim, reference), provenance]
    result = cases.checked([claim], [reference], {claim.media_id: findings})
    html = render_report(result)
    assert "reference_match · reference_match.local_edit" in html
    assert "provenance · provenance.c2pa_invalid" in html
    assert html.count('class="card card-overlay"') == 2


def test_video_media_shows_its_sampled_frames(reference) -> None:
    video = cases.video_evidence(frames=5)
    result = cases.checked([video], [reference], {video.media_id: [cases.not_applicable(video)]})
    html = render_report(result)
    assert "Sampled frames (5)" in html
    assert "#120 · 5.00 s" in html
    assert "5 帧 frames · 3.75 s" in html
    assert video.sha256 in html


def test_video_match_uses_the_matched_frames() -> None:
    claim = cases.video_evidence("claim.mp4", frames=4)
    packing = cases.video_evidence("packing.mp4", frames=4, role="packing")
    finding = Finding.make(
        analyzer="reference_match",
        version="1.0.0",
        media_id=claim.media_id,
        reason_code="reference_match.local_edit",
        score=0.9,
        params={"reference": packing.media_id, "count": 1},
        details={
            "reference": packing.media_id,
            "claim_frame": 60,
            "reference_frame": 30,
            "homography": [[1.0, 0.0, 8.0], [0.0, 1.0, 4.0], [0.0, 0.0, 1.0]],
        },
        heatmap=np.ones((9, 16), np.float32) * 0.3,
        regions=(Region(100, 100, 200, 120),),
    )
    result = cases.checked([claim], [packing], {claim.media_id: [finding]})
    html = render_report(result)
    assert "Matched claim video frame" in html and "claim.mp4 · #60 · 2.50 s" in html
    assert "packing.mp4 · packing · #30 · 1.25 s" in html
    assert "drawn on video frame #60 · 2.50 s" in html
    assert "Reference warped onto the claim" in html


def test_many_photos_keep_the_report_small(reference) -> None:
    claims = [cases.load_claim(f"claim-{i}.jpg", doctored=False, seed=i) for i in range(12)]
    findings = {
        c.media_id: [cases.local_edit(c, reference, homography=cases.HOMOGRAPHY)] for c in claims
    }
    result = cases.checked(claims, [reference], findings)
    html = render_report(result)
    assert html.count("Claim media ") == 12
    assert len(html) < 6_000_000
    assert max(max(image.size) for image in _images(html)) < 900


def test_cli_writes_the_report(tmp_path: Path) -> None:
    reference = tmp_path / "listing.jpg"
    claim = tmp_path / "claim.jpg"
    reference.write_bytes(encode(textured_image(seed=1), quality=92))
    claim.write_bytes(encode(textured_image(seed=2), quality=90))
    out = tmp_path / "out" / "report.html"
    result = CliRunner().invoke(
        app, ["check", str(claim), "--reference", str(reference), "--report", str(out)]
    )
    assert result.exit_code == 0, result.output
    html = out.read_text("utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    assert "claim.jpg" in html and "listing.jpg" in html
    assert len(_images(html)) >= 3


def test_every_no_reference_analyzer_heatmap_is_drawn(claim) -> None:
    """The real analyzers, run without a reference: each one that returns a heatmap gets its
    own overlay card, named by analyzer and reason code."""
    from vericlaim.analyzers.registry import default_analyzers
    from vericlaim.check import check_claim

    analyzers = [a for a in default_analyzers() if a.name != "reference_match"]
    result = check_claim([claim], [], analyzers=analyzers)
    html = render_report(result)
    drawn = [f for f in result.findings[claim.media_id] if f.heatmap is not None]
    assert {f.analyzer for f in drawn} >= {"copy_move", "noise", "recapture"}
    for f in drawn:
        assert str(escape(f"{f.analyzer} · {f.reason_code}")) in html
