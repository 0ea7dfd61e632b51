"""C2PA: the offline reader, files signed here, and the C2PA conformance test images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import encode, textured_image
from tests.evidence_c2pa.signing import IPTC, flip_scan_bytes, sign
from vericlaim.analyzers.base import ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.provenance import ProvenanceAnalyzer
from vericlaim.evidence import load_bytes
from vericlaim.evidence.c2pa import read_c2pa

PHOTO = textured_image(320, 240, seed=11)
# c2pa.created needs a digitalSourceType since C2PA 2.0.
CAPTURE = [{"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"}]


def findings_of(data: bytes, source: str = "claim.jpg") -> dict[str, Finding]:
    """The provenance findings of a file, loaded as the product loads it (C2PA included)."""
    evidence = load_bytes(data, source=source)
    findings = ProvenanceAnalyzer().analyze(evidence, ClaimContext())
    for finding in findings:
        json.dumps(finding.to_json())  # every finding is JSON-able
    return {f.reason_code: f for f in findings}


# --- the reader ---------------------------------------------------------------------------
def test_a_file_without_a_manifest_has_no_store() -> None:
    assert read_c2pa(encode(PHOTO), "image/jpeg") is None
    assert read_c2pa(encode(PHOTO, "PNG"), "image/png") is None


@pytest.mark.parametrize(
    "data",
    [b"", b"jumb c2pa", b"\xff\xd8\xff\xe1jumbc2pa" + bytes(64), bytes(range(256)) * 4],
)
def test_the_reader_never_raises(data: bytes) -> None:
    store = read_c2pa(data, "image/jpeg")
    assert store is None or (store.manifest_store is None and store.error)


def test_a_truncated_signed_file_gives_an_error_store_not_an_exception() -> None:
    signed = sign(encode(PHOTO, quality=92), "image/jpeg", CAPTURE)
    store = read_c2pa(signed[: len(signed) // 3], "image/jpeg")
    assert store is not None and store.manifest_store is None and store.error


def test_a_signed_file_is_read_with_its_validation_state() -> None:
    signed = sign(encode(PHOTO, quality=92), "image/jpeg", CAPTURE)
    store = read_c2pa(signed, "image/jpeg")
    assert store is not None and store.error is None
    assert store.validation_state == "Valid"  # signature and hashes verify; trust is unknown
    codes = {s["code"] for s in store.manifest_store["validation_status"]}
    assert codes == {"signingCredential.untrusted"}


# --- the analyzer on files signed here ----------------------------------------------------
def test_a_signed_ai_generated_declaration_is_reported() -> None:
    actions = [{"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]
    found = findings_of(sign(encode(PHOTO, quality=92), "image/jpeg", actions))
    assert found["provenance.c2pa_ai_generated"].score == 1.0
    assert "trainedAlgorithmicMedia" in found["provenance.c2pa_ai_generated"].message_en
    # An untrusted signer (no trust list offline) is information, not forgery.
    assert "provenance.c2pa_invalid" not in found
    assert found["provenance.c2pa_valid_untrusted"].score == 0.0
    assert "provenance.none" not in found


def test_a_signed_png_is_read_too() -> None:
    actions = [{"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]
    found = findings_of(sign(encode(PHOTO, "PNG"), "image/png", actions, title="claim.png"))
    assert "provenance.c2pa_ai_generated" in found


def test_a_composite_with_ai_content_is_reported_as_composite() -> None:
    actions = [
        {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"},
        {
            "action": "c2pa.edited",
            "digitalSourceType": IPTC + "compositeWithTrainedAlgorithmicMedia",
        },
    ]
    found = findings_of(sign(encode(PHOTO, quality=92), "image/jpeg", actions))
    assert "provenance.c2pa_ai_composite" in found
    assert "provenance.c2pa_ai_generated" not in found
    assert "c2pa.edited" in found["provenance.c2pa_edits"].message_en


def test_a_camera_capture_with_edits_reports_the_edits_only() -> None:
    actions = [
        {"action": "c2pa.created", "digitalSourceType": IPTC + "digitalCapture"},
        {"action": "c2pa.color_adjustments"},
        {"action": "c2pa.cropped"},
    ]
    found = findings_of(sign(encode(PHOTO, quality=92), "image/jpeg", actions))
    assert set(found) == {"provenance.c2pa_valid_untrusted", "provenance.c2pa_edits"}
    edits = found["provenance.c2pa_edits"]
    assert edits.details["actions"] == ["c2pa.color_adjustments", "c2pa.cropped"]
    assert edits.score < 0.5  # below every routing threshold


def test_changed_pixels_after_signing_make_the_manifest_invalid() -> None:
    actions = [{"action": "c2pa.created", "digitalSourceType": IPTC + "trainedAlgorithmicMedia"}]
    signed = sign(encode(PHOTO, quality=92), "image/jpeg", actions)
    found = findings_of(flip_scan_bytes(signed))
    invalid = found["provenance.c2pa_invalid"]
    assert invalid.score >= 0.5
    assert {p["code"] for p in invalid.details["problems"]} == {"assertion.dataHash.mismatch"}
    assert "assertion.dataHash.mismatch" in invalid.message_en
    assert "assertion.dataHash.mismatch" in invalid.message_zh
    assert "数据哈希不匹配" in invalid.details["problems"][0]["zh"]
    assert "data changed after signing" in invalid.details["problems"][0]["en"]
    # The declaration is still there, and still reported.
    assert "provenance.c2pa_ai_generated" in found


# --- the C2PA conformance images ----------------------------------------------------------
# c2pa-rs 0.91 is stricter or words things differently than the c2patool that wrote the
# expected reports in 2022-2023; these are the differences, each checked below.
NEWER_READER = {
    # The data-hash exclusion must now match the manifest's place in the file exactly.
    "truepic-20230212-camera": {"assertion.dataHash.mismatch"},
    "truepic-20230212-landscape": {"assertion.dataHash.mismatch"},
    "truepic-20230212-library": {"assertion.dataHash.mismatch"},
}


def _expected_codes(folder: Path) -> set[str]:
    report = json.loads((folder / "manifest_store.json").read_text("utf-8"))
    return {s["code"] for s in report.get("validation_status", [])} - {
        "signingCredential.untrusted"
    }


@pytest.mark.shared_data
def test_every_conformance_image_is_read_and_its_problems_reported(shared_data: Path) -> None:
    root = shared_data / "c2pa" / "image" / "jpeg"
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(images) == 26
    stores = 0
    for image in images:
        data = image.read_bytes()
        store = read_c2pa(data, "image/jpeg", source=image.name)
        expected_folder = root / "manifests" / image.stem
        if not expected_folder.is_dir():  # the two ingredient files without a manifest
            assert store is None, image.name
            continue
        assert store is not None and store.error is None, image.name
        stores += 1
        expected = _expected_codes(expected_folder)
        found = findings_of(data)
        invalid = found.get("provenance.c2pa_invalid")
        reported = {p["code"] for p in invalid.details["problems"]} if invalid else set()
        if image.stem in NEWER_READER:
            assert reported == NEWER_READER[image.stem], image.name
            assert all("exclusion" in p["explanation"] for p in invalid.details["problems"])
        elif expected:
            assert invalid is not None, image.name
            assert reported & expected, (image.name, reported, expected)
            assert invalid.status == "ok" and invalid.score >= 0.5
        else:
            assert invalid is None, (image.name, reported)
            assert "provenance.c2pa_valid_untrusted" in found, image.name
        assert "provenance.c2pa_ai_generated" not in found  # none of them declares AI
    assert stores == 24


@pytest.mark.shared_data
def test_conformance_problems_are_named_in_both_languages(shared_data: Path) -> None:
    image = shared_data / "c2pa" / "image" / "jpeg" / "adobe-20220124-E-sig-CA.jpg"
    invalid = findings_of(image.read_bytes())["provenance.c2pa_invalid"]
    assert "claimSignature.mismatch" in invalid.message_en
    assert "签名" in invalid.message_zh
    problem = invalid.details["problems"][0]
    assert problem["en"] == "the claim signature does not verify"
    assert problem["zh"] == "声明签名不匹配"
