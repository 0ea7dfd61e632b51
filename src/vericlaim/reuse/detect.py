"""Decide whether a claim photo was already used as evidence in another claim.

A new claim photo is *reused* when the reuse index holds a photo of another claim with the
same bytes (sha256), or whose fingerprint agrees within :data:`DEFAULT_RULE` with the new
photo's (or its mirror image's): pHash distance at most ``phash`` **and** dHash distance at
most ``dhash`` on at least ``min_aligned`` views that line up (the whole photo
with the whole photo, the centre with the centre, ...). The two hashes fail on different
photos in different ways and a coincidence on one view is far likelier than on four, so
asking for both buys recall at a low false-match rate; the thresholds were chosen from
measured distributions (``docs/reuse.md``, ``benchmarks/reuse_calibrate.py``).

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
    """When an indexed photo counts as the same picture (thresholds inclusive).

    *Reused*: at least ``min_aligned`` views of the new photo (or of its mirror image)
    each match the same view of the indexed photo within ``phash`` and ``dhash`` bits. A
    re-saved, rescaled, filtered, framed or mirrored copy aligns on most of its 8 views;
    two different photos that share a coarse layout on one or two.
    *Possible* (a crop that lines up with one sub-window only): a single view pair within
    the tighter ``single_phash`` and ``single_dhash``; reported, not flagged.
    """

    phash: int = 12
    dhash: int = 12
    min_aligned: int = 4
    single_phash: int = 6
    single_dhash: int = 8
    version: str = RULE_VERSION

    def is_reuse(self, match: ReuseMatch) -> bool:
        return match.views_aligned >= self.min_aligned

    def is_possible(self, match: ReuseMatch) -> bool:
        return (
            match.phash_distance <= self.single_phash and match.dhash_distance <= self.single_dhash
        )


DEFAULT_RULE = MatchRule()


@dataclass(frozen=True, slots=True)
class ReuseDecision:
    """The answer for one claim photo.

    ``status`` is ``ok`` or ``not_applicable`` (the photo could not be fingerprinted: too
    small or flat; only an exact sha256 match can then be found). ``matches`` are the
    earlier photos that make it *reused*: exact byte copies first (distance 0), then
    perceptual matches, closest first. ``possible`` are weaker single-view matches (a crop
    lining up with one sub-window, or a look-alike photo) for a reviewer to glance at.
    """

    reused: bool
    status: Literal["ok", "not_applicable"]
    matches: tuple[ReuseMatch, ...]
    rule: MatchRule
    possible: tuple[ReuseMatch, ...] = ()
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
    index : ReuseIndex or ShardedReuseIndex
        Earlier claim photos.
    sha256 : str, optional
        The photo's sha256, for exact-copy look-ups (also found when ``fp`` is not
        applicable).
    claim_id : str, optional
        The new photo's own claim: its own photos never count as reuse.
    rule : MatchRule
        Thresholds (default :data:`DEFAULT_RULE`).
    limit : int
        The most matches reported (each of ``matches`` and ``possible``).

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
    strong: list[ReuseMatch] = []
    possible: list[ReuseMatch] = []
    if fp.applicable:
        seen = {m.record.key for m in exact}
        radius = max(rule.phash, rule.single_phash)
        for m in index.search(
            fp, phash_radius=radius, dhash_radius=max(rule.dhash, rule.single_dhash)
        ):
            if _same_claim(m.record, claim_id) or m.record.key in seen:
                continue
            if rule.is_reuse(m):
                strong.append(m)
            elif rule.is_possible(m):
                possible.append(m)
    matches = tuple((exact + strong)[:limit])
    return ReuseDecision(
        reused=bool(matches),
        status="ok" if fp.applicable else "not_applicable",
        matches=matches,
        rule=rule,
        possible=tuple(possible[:limit]),
        reason=fp.reason,
    )


def _same_claim(record: ReuseRecord, claim_id: str | None) -> bool:
    return claim_id is not None and record.claim_id == claim_id
