"""Run analyzers over a claim's media; a crash becomes a ``failed`` finding, never a loss."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from vericlaim.analyzers.base import Analyzer, ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.evidence import Evidence

__all__ = ["run_analyzer", "run_analyzers"]

log = logging.getLogger(__name__)


def run_analyzer(analyzer: Analyzer, media: Evidence, context: ClaimContext) -> list[Finding]:
    """Run one analyzer on one piece of evidence and always return at least one finding."""
    started = time.perf_counter()
    why_not = analyzer.applicable(media, context)
    if why_not is not None:
        return [
            Finding.make(
                analyzer=analyzer.name,
                version=analyzer.version,
                media_id=media.media_id,
                status="not_applicable",
                reason_code="analyzer.not_applicable",
                confidence=0.0,
                params={"analyzer": analyzer.name, "why": why_not},
                details={"why": why_not},
            )
        ]
    try:
        findings = list(analyzer.analyze(media, context))
        if not findings:
            raise RuntimeError("analyzer returned no finding")
    except Exception as exc:  # the contract: one analyzer's crash never loses the others
        log.exception("analyzer %s failed on %s", analyzer.name, media.source)
        error = f"{type(exc).__name__}: {exc}"[:300]
        return [
            Finding.make(
                analyzer=analyzer.name,
                version=analyzer.version,
                media_id=media.media_id,
                status="failed",
                reason_code="analyzer.failed",
                confidence=0.0,
                params={"analyzer": analyzer.name, "error": error},
                details={"error": error},
            )
        ]
    elapsed_ms = (time.perf_counter() - started) * 1000
    log.debug("analyzer %s on %s took %.1f ms", analyzer.name, media.media_id, elapsed_ms)
    return findings


def run_analyzers(
    analyzers: Sequence[Analyzer],
    claim_media: Sequence[Evidence],
    references: Sequence[Evidence],
    *,
    progress: Callable[[str], None] | None = None,
) -> dict[str, list[Finding]]:
    """Every analyzer on every claim media; findings keyed by ``media_id`` in input order."""
    context = ClaimContext(claim_media=tuple(claim_media), references=tuple(references))
    out: dict[str, list[Finding]] = {}
    for media in claim_media:
        findings: list[Finding] = []
        for analyzer in analyzers:
            findings.extend(run_analyzer(analyzer, media, context))
        out[media.media_id] = findings
        if progress is not None:
            progress(media.media_id)
    return out
