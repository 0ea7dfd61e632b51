"""Hand-made checked claims for the report tests: real evidence, findings written by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import cv2
import numpy as np

from tests.conftest import encode, textured_image
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.check import CheckResult
from vericlaim.evidence import Evidence, Frame, MediaMetadata, Role, load_bytes
from vericlaim.scoring import build_verdict, load_policy

# The claim is the reference's window x in [300, 1500), y in [200, 1100) enlarged 1.5x:
# reference full-resolution pixels -> claim full-resolution pixels.
HOMOGRAPHY = [[1.5, 0.0, -450.0], [0.0, 1.5, -300.0], [0.0, 0.0, 1.0]]
CRACK = Region(x=700, y=400, w=360, h=260, label="edit", score=0.93)
HOSTILE = "<script>alert(1)</script>.jpg"


def reference_pixels() -> np.ndarray:
    return textured_image(1800, 1350, seed=3)


def doctored_claim_pixels() -> np.ndarray:
    """The merchant's photo cropped, enlarged and given a painted crack."""
    window = reference_pixels()[200:1100, 300:1500]
    claim = cv2.resize(window, (1800, 1350), interpolation=cv2.INTER_CUBIC)
    x, y, w, h = CRACK.as_box()
    points = np.array(
        [[x + 10, y + 20], [x + 120, y + 110], [x + 180, y + 90], [x + w - 20, y + h - 30]],
        dtype=np.int32,
    )
    cv2.polylines(claim, [points.reshape(-1, 1, 2)], False, (25, 20, 20), 9)
    return claim


def crack_heatmap(width: int = 450, height: int = 338) -> np.ndarray:
    """A low-resolution heatmap that is hot over :data:`CRACK` (claim full size 1800x1350)."""
    heat = np.zeros((height, width), np.float32)
    sx, sy = width / 1800, height / 1350
    x, y, w, h = CRACK.as_box()
    heat[int(y * sy) : int((y + h) * sy), int(x * sx) : int((x + w) * sx)] = 1.0
    return cv2.GaussianBlur(heat, (0, 0), 6)


def load_reference(media_id: str = "listing-1.jpg") -> Evidence:
    return load_bytes(encode(reference_pixels(), quality=92), role="listing", media_id=media_id)


def load_claim(media_id: str = "claim-1.jpg", *, doctored: bool = True, seed: int = 7) -> Evidence:
    pixels = doctored_claim_pixels() if doctored else textured_image(800, 600, seed=seed)
    return load_bytes(encode(pixels, quality=90), role="claim", media_id=media_id)


def local_edit(
    claim: Evidence,
    reference: Evidence,
    *,
    homography: object = HOMOGRAPHY,
    heatmap: np.ndarray | None = None,
    regions: tuple[Region, ...] = (CRACK,),
) -> Finding:
    details: dict[str, object] = {"reference": reference.media_id, "inliers": 812}
    if homography is not None:
        details["homography"] = homography
        details["mirrored"] = False
    return Finding.make(
        analyzer="reference_match",
        version="1.0.0",
        media_id=claim.media_id,
        reason_code="reference_match.local_edit",
        score=0.92,
        confidence=0.88,
        params={"reference": reference.media_id, "count": len(regions)},
        details=details,
        heatmap=crack_heatmap() if heatmap is None else heatmap,
        regions=regions,
    )


def not_applicable(claim: Evidence, why: str = "no merchant reference photos") -> Finding:
    return Finding.make(
        analyzer="reference_match",
        version="1.0.0",
        media_id=claim.media_id,
        status="not_applicable",
        reason_code="analyzer.not_applicable",
        confidence=0.0,
        params={"analyzer": "reference_match", "why": why},
        details={"why": why},
    )


def failed(claim: Evidence, error: str = "RuntimeError: boom") -> Finding:
    return Finding.make(
        analyzer="reference_match",
        version="1.0.0",
        media_id=claim.media_id,
        status="failed",
        reason_code="analyzer.failed",
        confidence=0.0,
        params={"analyzer": "reference_match", "error": error},
        details={"error": error},
    )


def checked(
    claim_media: Sequence[Evidence],
    references: Sequence[Evidence],
    findings: Mapping[str, Sequence[Finding]],
    *,
    claim_id: str = "claim-0001",
) -> CheckResult:
    """A :class:`CheckResult` routed through the default policy, as ``check_claim`` builds it."""
    policy = load_policy()
    by_media = {m.media_id: list(findings.get(m.media_id, ())) for m in claim_media}
    verdict = build_verdict(
        claim_id=claim_id,
        decision=policy.decide(by_media),
        policy_version=policy.version,
        claim_media=claim_media,
        references=references,
        findings_by_media=by_media,
        analyzers={"reference_match": "1.0.0", "provenance": "1.0.0"},
        elapsed_ms=1234.5,
    )
    return CheckResult(verdict, tuple(claim_media), tuple(references), by_media)


def video_evidence(
    media_id: str = "unboxing.mp4", frames: int = 3, *, role: Role = "claim"
) -> Evidence:
    """A video as the loader would record it, with ``frames`` sampled frames."""
    sampled = []
    for i in range(frames):
        pixels = textured_image(640, 360, seed=20 + i)
        pixels.setflags(write=False)
        sampled.append(Frame(pixels=pixels, scale=0.5, index=i * 30, time_s=i * 1.25))
    return Evidence(
        media_id=media_id,
        source=media_id,
        role=role,
        sha256="ab" * 32,
        format="mp4",
        mime="video/mp4",
        kind="video",
        byte_size=123_456,
        width=1280,
        height=720,
        orientation=1,
        metadata=MediaMetadata(),
        frames=tuple(sampled),
        data=b"",
        duration_s=3.75,
    )
