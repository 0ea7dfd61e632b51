"""Build the public verdict JSON (schema ``vericlaim.verdict/1``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from vericlaim.analyzers.finding import Finding
from vericlaim.evidence import Evidence
from vericlaim.reasons import catalogue
from vericlaim.scoring.policy import Decision

__all__ = ["SCHEMA", "build_verdict"]

SCHEMA = "vericlaim.verdict/1"
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2, "info": 3}


def _media_entry(media: Evidence, findings: Sequence[Finding]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "media_id": media.media_id,
        "sha256": media.sha256,
        "role": media.role,
        "format": media.format,
        "kind": media.kind,
        "width": media.width,
        "height": media.height,
        "byte_size": media.byte_size,
        "findings": [f.to_json() for f in findings],
    }
    if media.is_video:
        entry["duration_s"] = media.duration_s
        entry["frames_sampled"] = len(media.frames)
    return entry


def _reasons(
    decision: Decision, findings_by_media: Mapping[str, Sequence[Finding]]
) -> list[dict[str, Any]]:
    cat = catalogue()
    reasons: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for media_id, findings in findings_by_media.items():
        for f in findings:
            if f.status == "not_applicable":
                continue
            severity = cat[f.reason_code].severity
            key = (f.reason_code, media_id)
            if key in seen:
                continue
            seen.add(key)
            reasons.append(
                {
                    "code": f.reason_code,
                    "severity": severity,
                    "message_zh": f.message_zh,
                    "message_en": f.message_en,
                    "media_id": media_id,
                    "analyzer": f.analyzer,
                    "score": round(f.score, 4),
                }
            )
    reasons.sort(key=lambda r: (_SEVERITY_ORDER[r["severity"]], -r["score"]))
    return reasons


def build_verdict(
    *,
    claim_id: str,
    decision: Decision,
    policy_version: str,
    claim_media: Sequence[Evidence],
    references: Sequence[Evidence],
    findings_by_media: Mapping[str, Sequence[Finding]],
    analyzers: Mapping[str, str],
    elapsed_ms: float,
) -> dict[str, Any]:
    """Assemble the verdict document from the decision and every finding."""
    media = [_media_entry(m, findings_by_media.get(m.media_id, ())) for m in claim_media]
    media += [_media_entry(r, ()) for r in references]
    provenance = {
        m.media_id: [
            {"reason_code": f.reason_code, "score": round(f.score, 4), "details": dict(f.details)}
            for f in findings_by_media.get(m.media_id, ())
            if f.analyzer == "provenance" and f.status == "ok"
        ]
        for m in claim_media
    }
    return {
        "schema": SCHEMA,
        "claim_id": claim_id,
        "verdict": decision.verdict,
        "risk_score": decision.risk_score,
        "recommended_action": decision.action,
        "reasons": _reasons(decision, findings_by_media),
        "media": media,
        "provenance": provenance,
        "duplicates": [],
        "analyzers": dict(analyzers),
        "policy_version": policy_version,
        "elapsed_ms": round(elapsed_ms, 1),
    }
