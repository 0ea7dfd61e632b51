"""Decide whether a claim photo was already used as evidence in another claim.

A new claim photo is *reused* when the reuse index holds a photo of another claim with the
same bytes (sha256), or a view pair (whole photo or sub-window, the new photo or its
mirror image) within :data:`DEFAULT_RULE`: pHash distance at most ``phash`` **and** dHash
distance at most ``dhash``. The two hashes fail on different photos in different ways
(pHash on photos of the same layout, dHash on photos of the same brightness profile), so
asking both to agree buys recall at the same false-match rate; the thresholds were chosen
from measured distributions (``docs/reuse.md``, ``benchmarks/reuse_calibrate.py``).

A match is evidence for a human to look at (the earlier claim, its buyer key and tenant),
never a verdict on its own: a shop's own listing photo reused by honest buyers, or a
product photographed twice from the same spot, also match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from vericlaim.reuse.fingerprint import Fingerprint
from vericlaim.reuse.index import ReuseIndex, ReuseMatch, ReuseRecord

__all__ = ["DEFAULT_RULE", "RULE_VERSION", "MatchRule", "ReuseDecision", "detect_reuse"]

RULE_VERSION = "reuse-rule/1"


@dataclass(frozen=True, slots=True)
class MatchRule:
    """Hamming thresholds (inclusive) that a view pair must both meet to match."""

    phash: int = 10
    dhash: int = 12
    version: str = RULE_VERSION


DEFAULT_RULE = MatchRule()


@dataclass(frozen=True, slots=True)
class ReuseDecision:
    """The answer for one claim photo.

    ``status`` is ``ok`` or ``not_applicable`` (the photo could not be fingerprinted: too
    small or flat; only an exact sha256 match can then be found). ``matches`` are the
    earlier photos, closest first: exact byte copies first (distance 0), then perceptual
    matches.
    """

    reused: bool
    status: Literal["ok", "not_applicable"]
    matches: tuple[ReuseMatch, ...]
    rule: MatchRule
    reason: str | None = None

    @property
    def claims(self) -> tuple[str, ...]:
        """The earlier claims the photo was found in, closest first, each once."""
        return tuple(dict.fromkeys(m.record.claim_id for m in self.matches))


def detect_reuse(
    fp: Fingerprint,
    index: ReuseIndex,
    *,
    sha256: str | None = None,
    claim_id: str | None = None,
    rule: MatchRule = DEFAULT_RULE,
    limit: int = 20,
) -> ReuseDecision:
    """Search ``index`` for earlier uses of the photo with fingerprint ``fp``.

    Parameters
    ----------
    fp : Fingerprint
        The new claim photo's fingerprint.
    index : ReuseIndex
        Earlier claim photos.
    sha256 : str, optional
        The photo's sha256, for exact-copy look-ups (also found when ``fp`` is not
        applicable).
    claim_id : str, optional
        The new photo's own claim: its own photos never count as reuse.
    rule : MatchRule
        Thresholds (default :data:`DEFAULT_RULE`).
    limit : int
        The most matches reported.

    Returns
    -------
    ReuseDecision
    """
    exact: list[ReuseMatch] = []
    if sha256:
        exact = [
            ReuseMatch(r, 0, 0, "bytes", "bytes", mirrored=False)
            for r in index.by_sha256(sha256)
            if not _same_claim(r, claim_id)
        ]
    perceptual: list[ReuseMatch] = []
    if fp.applicable:
        seen = {m.record.key for m in exact}
        perceptual = [
            m
            for m in index.search(fp, phash_radius=rule.phash, dhash_radius=rule.dhash)
            if not _same_claim(m.record, claim_id) and m.record.key not in seen
        ]
    matches = tuple((exact + perceptual)[:limit])
    return ReuseDecision(
        reused=bool(matches),
        status="ok" if fp.applicable else "not_applicable",
        matches=matches,
        rule=rule,
        reason=fp.reason,
    )


def _same_claim(record: ReuseRecord, claim_id: str | None) -> bool:
    return claim_id is not None and record.claim_id == claim_id
