"""From a verdict to the benchmark's numbers: flagged, routed, localized, and per-family rates.

Definitions (also in ``docs/benchmarks.md``):

flagged
    The verdict is ``likely_manipulated`` or ``likely_ai_generated``. For a fake family the
    flagged share is the detection rate; for an honest family it is the false-alarm rate.
localized
    For a local edit with ground truth: the boxes of all findings on the claim photo cover
    at least half of the edited pixels, and they do not sprawl. Boxes sprawl when the area
    of their union exceeds 4 x the area of the edited region's bounding box grown by a
    margin (2 % of the photo's long side, at least 8 px) on every side. Every edit counts
    in the denominator, detected or not.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import numpy as np

__all__ = [
    "FLAGGED",
    "FamilyRow",
    "claim_regions",
    "localization",
    "relation",
    "relation_counts",
    "summarize",
    "wilson",
]

FLAGGED = frozenset({"likely_manipulated", "likely_ai_generated"})
SPRAWL_FACTOR = 4.0
MARGIN_SHARE = 0.02
MARGIN_MIN_PX = 8
COVER_SHARE = 0.5


def claim_regions(verdict: Mapping[str, Any], media_id: str) -> list[list[int]]:
    """Every finding's boxes ``[x, y, w, h]`` on the claim photo ``media_id``."""
    boxes: list[list[int]] = []
    for media in verdict.get("media", []):
        if media.get("media_id") != media_id:
            continue
        for finding in media.get("findings", []):
            boxes.extend([int(v) for v in box] for box in finding.get("regions", []))
    return boxes


def localization(mask: np.ndarray, boxes: Sequence[Sequence[int]]) -> dict[str, Any]:
    """How well ``boxes`` localize the edited pixels of ``mask`` (see the module docstring)."""
    h, w = mask.shape
    edited = int(mask.sum())
    union = np.zeros((h, w), bool)
    for x, y, bw, bh in boxes:
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(w, int(x) + int(bw)), min(h, int(y) + int(bh))
        if x1 > x0 and y1 > y0:
            union[y0:y1, x0:x1] = True
    covered = int((mask & union).sum())
    ys, xs = np.nonzero(mask)
    margin = max(MARGIN_MIN_PX, round(MARGIN_SHARE * max(h, w)))
    gx0, gy0 = max(0, int(xs.min()) - margin), max(0, int(ys.min()) - margin)
    gx1, gy1 = min(w, int(xs.max()) + 1 + margin), min(h, int(ys.max()) + 1 + margin)
    allowed = SPRAWL_FACTOR * (gx1 - gx0) * (gy1 - gy0)
    union_area = int(union.sum())
    coverage = covered / edited if edited else 0.0
    sprawl = union_area > allowed
    return {
        "edited_px": edited,
        "edited_box": [
            int(xs.min()),
            int(ys.min()),
            int(xs.max() - xs.min() + 1),
            int(ys.max() - ys.min() + 1),
        ],
        "boxes": len(boxes),
        "coverage": round(coverage, 4),
        "union_px": union_area,
        "allowed_px": int(allowed),
        "sprawl": bool(sprawl),
        "localized": bool(coverage >= COVER_SHARE and not sprawl),
    }


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (95 % by default)."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class FamilyRow:
    name: str
    kind: str  # fake | honest | all fakes | all honest
    n: int
    flagged: int
    human_review: int
    more_evidence: int
    errors: int
    localized: int | None  # None where the family has no local edits
    local_n: int
    check_ms: float
    decode_ms: float
    ratio: float
    warm_ratio: float = math.nan

    def share(self, k: int | None, n: int | None = None) -> float | None:
        n = self.n if n is None else n
        return None if k is None or n == 0 else k / n


def _row(name: str, kind: str, outcomes: Sequence[Mapping[str, Any]]) -> FamilyRow:
    timed = [o["timing"] for o in outcomes if o.get("timing")]
    local = [o for o in outcomes if o.get("localization") is not None]
    return FamilyRow(
        name=name,
        kind=kind,
        n=len(outcomes),
        flagged=sum(bool(o["flagged"]) for o in outcomes),
        human_review=sum(o.get("action") == "human_review" for o in outcomes),
        more_evidence=sum(o.get("action") == "request_more_evidence" for o in outcomes),
        errors=sum(o.get("error") is not None for o in outcomes),
        localized=sum(o["localization"]["localized"] for o in local) if local else None,
        local_n=len(local),
        check_ms=median(t["check_ms"] for t in timed) if timed else math.nan,
        decode_ms=median(t["decode_ms"] for t in timed) if timed else math.nan,
        ratio=median(t["ratio"] for t in timed) if timed else math.nan,
        warm_ratio=(
            median(t["warm_ratio"] for t in timed if "warm_ratio" in t)
            if any("warm_ratio" in t for t in timed)
            else math.nan
        ),
    )


def summarize(
    outcomes: Iterable[Mapping[str, Any]], families: Sequence[str]
) -> dict[str, list[FamilyRow]]:
    """Rows per family (in ``families`` order), the two totals, and rows per chain."""
    outcomes = list(outcomes)
    by_family = {f: [o for o in outcomes if o["family"] == f] for f in families}
    rows = [_row(f, os[0]["kind"], os) for f, os in by_family.items() if os]
    fakes = [o for o in outcomes if o["kind"] == "fake"]
    honest = [o for o in outcomes if o["kind"] == "honest"]
    totals = []
    if fakes:
        totals.append(_row("all fakes", "fake", fakes))
    if honest:
        totals.append(_row("all honest", "honest", honest))
    chains = sorted({o["chain"] for o in outcomes})
    per_chain = []
    for chain in chains:
        for kind, group in (("fake", fakes), ("honest", honest)):
            sel = [o for o in group if o["chain"] == chain]
            if sel:
                per_chain.append(_row(chain, kind, sel))
    return {"families": rows, "totals": totals, "chains": per_chain}


def relation(outcome: Mapping[str, Any], analyzer: str = "reference_match") -> str:
    """The relation ``analyzer`` found for the claim photo: its reason code's last part,
    ``failed`` when it failed, ``error`` when the check crashed, ``-`` when it said nothing."""
    if outcome.get("error"):
        return "error"
    for finding in outcome.get("findings", []):
        if finding["analyzer"] == analyzer:
            if finding["status"] == "failed":
                return "failed"
            return str(finding["reason_code"]).rsplit(".", 1)[-1]
    return "-"


def relation_counts(
    outcomes: Iterable[Mapping[str, Any]], families: Sequence[str]
) -> dict[str, Counter[str]]:
    """Per family, how often reference_match found each relation."""
    counts: dict[str, Counter[str]] = {f: Counter() for f in families}
    for o in outcomes:
        if o["family"] in counts:
            counts[o["family"]][relation(o)] += 1
    return {f: c for f, c in counts.items() if c}
