"""Check one claim: load its evidence, run the analyzers, route it through the policy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vericlaim.analyzers import Analyzer, Finding, default_analyzers
from vericlaim.analyzers.runner import run_analyzers
from vericlaim.evidence import Evidence, Role, load_path
from vericlaim.scoring import Policy, build_verdict, load_policy
from vericlaim.settings import Settings, get_settings

__all__ = ["CheckResult", "check_claim", "check_paths"]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The verdict JSON plus what produced it (the report draws from the evidence and
    the findings' heatmaps)."""

    verdict: dict[str, Any]
    claim_media: tuple[Evidence, ...]
    references: tuple[Evidence, ...]
    findings: dict[str, list[Finding]]


def check_claim(
    claim_media: Sequence[Evidence],
    references: Sequence[Evidence] = (),
    *,
    claim_id: str | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
    started: float | None = None,
) -> CheckResult:
    """Analyse loaded evidence and return the routed verdict."""
    started = time.perf_counter() if started is None else started
    analyzers = list(analyzers) if analyzers is not None else default_analyzers()
    policy = policy or load_policy()
    findings = run_analyzers(analyzers, claim_media, references, progress=progress)
    decision = policy.decide(findings)
    verdict = build_verdict(
        claim_id=claim_id or f"claim-{uuid.uuid4().hex[:12]}",
        decision=decision,
        policy_version=policy.version,
        claim_media=claim_media,
        references=references,
        findings_by_media=findings,
        analyzers={a.name: a.version for a in analyzers},
        elapsed_ms=(time.perf_counter() - started) * 1000,
    )
    return CheckResult(verdict, tuple(claim_media), tuple(references), findings)


def _unique_ids(paths: Sequence[str | Path], prefix: str, taken: set[str]) -> list[str]:
    """Media ids from file names, unique across the whole claim (``taken`` is updated): a
    claim photo and a reference may well share a name like ``IMG_0001.jpg``."""
    ids: list[str] = []
    for i, p in enumerate(paths):
        name = Path(p).name or f"{prefix}-{i + 1}"
        media_id = name if name not in taken else f"{prefix}-{i + 1}-{name}"
        taken.add(media_id)
        ids.append(media_id)
    return ids


def check_paths(
    claim_paths: Sequence[str | Path],
    reference_paths: Sequence[str | Path] = (),
    *,
    reference_roles: Sequence[Role] | None = None,
    claim_id: str | None = None,
    settings: Settings | None = None,
    analyzers: Sequence[Analyzer] | None = None,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
) -> CheckResult:
    """Load files and check them; bad input raises an ``EvidenceError`` before any analysis."""
    started = time.perf_counter()
    settings = settings or get_settings()
    roles: list[Role] = (
        list(reference_roles) if reference_roles is not None else ["listing"] * len(reference_paths)
    )
    taken: set[str] = set()
    claim = [
        load_path(p, role="claim", media_id=mid, settings=settings)
        for p, mid in zip(claim_paths, _unique_ids(claim_paths, "claim", taken), strict=True)
    ]
    refs = [
        load_path(p, role=role, media_id=mid, settings=settings)
        for p, role, mid in zip(
            reference_paths, roles, _unique_ids(reference_paths, "ref", taken), strict=True
        )
    ]
    return check_claim(
        claim,
        refs,
        claim_id=claim_id,
        analyzers=analyzers,
        policy=policy,
        progress=progress,
        started=started,
    )
