"""Claim consistency: do the claim's own photos agree with one another?

A claim often carries several photos (or video frames) of the same damage. Two of them may
be one photo (a resized, cropped or recompressed copy): then whatever differs between them
was edited into one or both. Or they may be independent views of one scene: then a crack
or a tear must sit at the same place on the surface in both. See
``docs/analyzers/claim_consistency.md``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from vericlaim.analyzers._align import (
    Alignment,
    Features,
    align,
    detect_features,
    residual_shift,
    to_gray,
)
from vericlaim.analyzers._claim_consistency import (
    DamageComparison,
    compare_views,
    region_contrast,
)
from vericlaim.analyzers._compare import warp_reference
from vericlaim.analyzers._regions import Box
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.reference_match import (
    FEATURES,
    Match,
    ReferenceMatchConfig,
    match_frames,
)
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["ClaimConsistencyAnalyzer", "ClaimConsistencyConfig"]

_SAME_PHOTO = ("verbatim_copy", "global_filter")
_EDITED = ("local_edit", "partial_copy")


class ClaimConsistencyConfig(AnalyzerConfig):
    """Thresholds of the claim consistency check; see ``docs/analyzers/claim_consistency.md``.
    The derived-copy test is the reference match's own; the view comparison was checked
    against independent shelf photos and simulated honest views for false alarms."""

    feature_area: int = 160_000
    """Pixels (width x height) at which features are detected (as the reference match)."""
    n_features: int = 500
    min_inliers: int = 15
    """Inliers for the two photos to be related at all (as the reference match)."""
    scene_inliers: int = 25
    """Inliers for two independent photos to count as views of one scene."""
    scene_spread: float = 0.25
    """Share of a 4 x 4 grid the inliers must reach: a plane, not a corner of it."""
    view_area: int = 90_000
    """Pixels (width x height) at which two views are compared."""
    max_upsample: float = 1.5
    """Compare at a resolution where the other photo is enlarged at most this much."""
    min_agreement: float = 0.45
    """Share of informative blocks that must agree before a local difference means anything."""
    min_informative: int = 30
    """Informative blocks the overlap must hold for the view comparison to be trusted."""
    damage_evidence: float = 2.0
    """Region evidence (log energy excess x size x surround agreement) scored 0.5."""
    edit_z: float = 4.0
    """Residual, in noise units, above which a pixel of a copy may be edited (as the
    reference match)."""
    copy_agreement: float = 0.7
    """Block agreement two claim photos must reach to count as one photo (the reference match
    accepts 0.45 against a studio photo; two shots of one shelf from one spot reach 0.6)."""
    firm_agreement: float = 0.9
    loose_shift: float = 0.3
    """Below ``firm_agreement``, a pair whose agreeing blocks are out of register by this much
    (comparison pixels) is two shots, not one photo: re-saved copies stay under 0.3 px while
    agreeing on nearly every block."""
    edit_contrast: float = 5.0
    """Luminance difference (noise units of its surroundings) a region of a copy must reach to
    count as edited: chroma re-subsampling and clipped highlights do not (honest re-saved copies
    reach 2, pasted real cracks 7 and more)."""
    max_frames: int = 4
    """Video frames used per video, on either side."""
    max_regions: int = 5


@dataclass(slots=True)
class _Pair:
    """How this photo relates to one frame of another claim photo."""

    other: Evidence
    other_frame: int
    this_frame: int
    relation: str
    alignment: Alignment | None = None
    match: Match | None = None
    views: DamageComparison | None = None
    to_full: float = 1.0
    h_full: np.ndarray | None = None
    boxes: list[tuple[Box, str]] = field(default_factory=list)
    heat: np.ndarray | None = None
    aligned: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None
    """Luminance of this frame and of the other warped onto it, coverage, full -> comparison."""
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def damage(self) -> float:
        return self.views.strength if self.views is not None else 0.0


def _scale(f: float) -> np.ndarray:
    return np.diag([f, f, 1.0])


def _clipped(box: Box, width: int, height: int, label: str) -> Region:
    x0, y0 = min(max(box.x, 0), width - 1), min(max(box.y, 0), height - 1)
    x1, y1 = min(box.x + box.w, width), min(box.y + box.h, height)
    return Region(x0, y0, max(1, x1 - x0), max(1, y1 - y0), label=label, score=round(box.score, 3))


def _other_box(box: Box, h_full: np.ndarray, width: int, height: int) -> list[int] | None:
    """A box in this photo's full pixels, mapped into the other photo's full pixels."""
    try:
        inv = np.linalg.inv(h_full)
    except np.linalg.LinAlgError:
        return None
    x0, y0, x1, y1 = box.x, box.y, box.x + box.w, box.y + box.h
    corners = np.array([[[x0, y0], [x1, y0], [x0, y1], [x1, y1]]], np.float64)
    p = cv2.perspectiveTransform(corners, inv)[0]
    if not np.all(np.isfinite(p)):
        return None
    x0, y0 = max(0, int(np.floor(p[:, 0].min()))), max(0, int(np.floor(p[:, 1].min())))
    x1, y1 = min(width, int(np.ceil(p[:, 0].max()))), min(height, int(np.ceil(p[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return None
    return [x0, y0, x1 - x0, y1 - y0]


@register
class ClaimConsistencyAnalyzer(Analyzer):
    """Compare each claim photo (or sampled video frame) with the claim's other photos."""

    name = "claim_consistency"
    version = "1.0.0"
    requires = frozenset({"pixels"})
    Config = ClaimConsistencyConfig

    def applicable(self, media: Evidence, context: ClaimContext) -> str | None:
        if not any(m.media_id != media.media_id for m in context.claim_media):
            return "the claim has only one photo"
        return None

    def _features(self, evidence: Evidence, index: int) -> tuple[Features, float]:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        pixels = evidence.frames[index].pixels
        key = (evidence.sha256, index, False, pixels.shape, cfg.feature_area, cfg.n_features)

        def compute() -> tuple[Features, float]:
            gray, f = to_gray(pixels, cfg.feature_area)
            return detect_features(gray, n_features=cfg.n_features), f

        # The reference match's cache: a claim photo's features serve both analyzers.
        return FEATURES.get(key, compute)

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        others = [m for m in context.claim_media if m.media_id != media.media_id]
        if not others:
            why = "the claim has only one photo"
            return [
                self.finding(
                    media,
                    "analyzer.not_applicable",
                    status="not_applicable",
                    confidence=0.0,
                    params={"analyzer": self.name, "why": why},
                    details={"why": why},
                )
            ]
        pairs: list[_Pair] = []
        for other in others:
            best: _Pair | None = None
            for ti in range(min(len(media.frames), cfg.max_frames)):
                for oi in range(min(len(other.frames), cfg.max_frames)):
                    pair = self._relate(media, ti, other, oi)
                    if best is None or _rank(pair) > _rank(best):
                        best = pair
            assert best is not None
            pairs.append(best)
        return [self._finding(media, pairs)]

    def _relate(self, media: Evidence, ti: int, other: Evidence, oi: int) -> _Pair:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        if media.sha256 == other.sha256 and ti == oi:
            pair = _Pair(other, oi, ti, "same_photo")
            pair.summary = {"identical_file": True}
            return pair
        this_frame, other_frame = media.frames[ti], other.frames[oi]
        fa, sa = self._features(media, ti)
        fb, sb = self._features(other, oi)
        alignment = align(fa, fb, min_inliers=cfg.min_inliers)
        if alignment is None:
            return _Pair(other, oi, ti, "unrelated")
        # Two shots of one scene, taken a moment apart, differ by a gentle drift too: the
        # re-drawn-copy test is the reference match's alone.
        rm = ReferenceMatchConfig(min_inliers=cfg.min_inliers, edit_z=cfg.edit_z, nonrigid=False)
        match = match_frames(
            this_frame, sa, other, other_frame, sb, alignment, this_frame.scale, rm
        )
        pair = _Pair(other, oi, ti, "unrelated", alignment, match, h_full=match.homography_full)
        if match.comparison is not None:
            pair.summary["agreement"] = round(match.comparison.agreement, 3)
            pair.summary["fine_agreement"] = round(match.comparison.fine_agreement, 3)
        copy_like = (
            match.comparison is not None and match.comparison.agreement >= cfg.copy_agreement
        )
        if match.relation in _SAME_PHOTO + _EDITED and not copy_like:
            # Derived by the reference match's measure, but too loosely for two claim photos:
            # two shots of one shelf from nearly the same place agree that well.
            pair.summary["loose_copy"] = True
            match = dataclasses.replace(match, relation="same_product", boxes=())
            pair.match = match
        if match.relation in _SAME_PHOTO + _EDITED:
            shift = self._misregistration(media, ti, other, oi, match, pair)
            if shift is not None:
                pair.summary["misregistration_px"] = round(shift, 3)
            assert match.comparison is not None
            if (
                shift is not None
                and shift >= cfg.loose_shift
                and match.comparison.agreement < cfg.firm_agreement
            ):
                # Part of the frame disagrees and the rest follows the alignment only loosely:
                # two shots from nearly one spot, not one photo.
                pair.summary["loose_copy"] = True
                match = dataclasses.replace(match, relation="same_product", boxes=())
                pair.match = match
        if match.relation in _SAME_PHOTO + _EDITED:
            pair.relation = "same_photo"
            pair.boxes = [(b, "this") for b in match.boxes]
            pair.heat = match.heatmap
            # The residual is normalised by the local contrast of the other photo, so an
            # edit present only in the other photo is looked for the other way round.
            self._reverse_edits(media, ti, other, oi, pair)
            self._verify_edits(pair)
            if pair.boxes:
                pair.relation = "edited_variant"
        if match.relation == "same_product":
            pair.relation = "related"
            if alignment.inliers >= cfg.scene_inliers and alignment.spread >= cfg.scene_spread:
                pair.relation = "same_scene"
                self._compare_views(media, ti, other, oi, pair)
        return pair

    def _misregistration(
        self, media: Evidence, ti: int, other: Evidence, oi: int, match: Match, pair: _Pair
    ) -> float | None:
        """Bring the other photo into this one's comparison frame (kept in ``pair.aligned`` for
        the edit check) and measure the residual shift of the agreeing blocks (comparison
        pixels; reported for the reviewer, ``None`` when too few windows can be measured)."""
        comparison = match.comparison
        assert comparison is not None and match.homography_full is not None
        this_px, other_px = media.frames[ti].pixels, other.frames[oi].pixels
        ch, cw = comparison.valid.shape
        g = cw / this_px.shape[1]
        this_cmp = cv2.resize(this_px, (cw, ch), interpolation=cv2.INTER_AREA)
        h_cmp = (
            _scale(g * media.frames[ti].scale)
            @ match.homography_full
            @ _scale(1 / other.frames[oi].scale)
        )
        warped, covered = warp_reference(np.ascontiguousarray(other_px), h_cmp, (cw, ch))
        gray_this = cv2.cvtColor(this_cmp, cv2.COLOR_RGB2GRAY)
        gray_other = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
        pair.aligned = (
            gray_this.astype(np.float32),
            gray_other.astype(np.float32),
            covered,
            g * media.frames[ti].scale,
        )
        shift, windows = residual_shift(gray_this, gray_other, comparison.block_agree)
        return shift if windows >= 6 and np.isfinite(shift) else None

    def _verify_edits(self, pair: _Pair) -> None:
        """Keep the differences that change luminance well above the noise around them."""
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        if not pair.boxes or pair.aligned is None:
            return
        this, other, covered, to_cmp = pair.aligned
        # Away from both photos' borders, where crops, warps and JPEG padding leave residue.
        margin = max(3, round(0.02 * min(this.shape)))
        framed = np.zeros(covered.shape, np.uint8)
        framed[margin:-margin, margin:-margin] = covered[margin:-margin, margin:-margin]
        inner = cv2.erode(framed, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
        kept, contrasts = [], []
        for box, side in pair.boxes:
            b = box.scaled(to_cmp)
            contrast = region_contrast(this, other, inner, (b.x, b.y, b.w, b.h))
            contrasts.append(round(contrast, 2))
            if contrast >= cfg.edit_contrast:
                kept.append((box, side))
        pair.summary["edit_contrast"] = contrasts
        if not kept and pair.heat is not None:
            pair.heat = pair.heat * 0.3
        pair.boxes = kept

    def _reverse_edits(
        self, media: Evidence, ti: int, other: Evidence, oi: int, pair: _Pair
    ) -> None:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        fa, sa = self._features(media, ti)
        fb, sb = self._features(other, oi)
        alignment = align(fb, fa, min_inliers=cfg.min_inliers)
        if alignment is None:
            return
        # Two shots of one scene, taken a moment apart, differ by a gentle drift too: the
        # re-drawn-copy test is the reference match's alone.
        rm = ReferenceMatchConfig(min_inliers=cfg.min_inliers, edit_z=cfg.edit_z, nonrigid=False)
        other_frame = other.frames[oi]
        back = match_frames(
            other_frame, sb, media, media.frames[ti], sa, alignment, other_frame.scale, rm
        )
        if back.relation not in _EDITED or back.homography_full is None:
            return
        # This photo's full pixels -> the other photo's full pixels.
        h_back = back.homography_full
        for box in back.boxes:
            mapped = _other_box(box, h_back, media.width, media.height)
            if mapped is not None:
                x, y, w, h = mapped
                pair.boxes.append((Box(x, y, w, h, box.score), "other"))
        if back.heatmap is not None and pair.heat is not None:
            hh, hw = pair.heat.shape
            t_this = hw / media.width
            t_other = back.heatmap.shape[1] / other.width
            m = _scale(t_other) @ h_back @ _scale(1 / t_this)
            there = cv2.warpPerspective(
                back.heatmap, m, (hw, hh), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            )
            pair.heat = np.maximum(pair.heat, there)

    def _compare_views(
        self, media: Evidence, ti: int, other: Evidence, oi: int, pair: _Pair
    ) -> None:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        assert pair.h_full is not None
        this_px = media.frames[ti].pixels
        other_px = other.frames[oi].pixels
        this_scale, other_scale = media.frames[ti].scale, other.frames[oi].scale
        # Other frame pixels -> this frame pixels.
        h_frame = _scale(this_scale) @ pair.h_full @ _scale(1 / other_scale)
        h, w = this_px.shape[:2]
        g = min(1.0, float(np.sqrt(cfg.view_area / max(h * w, 1))))
        # No finer than the other photo supports: an enlarged photo only adds blur.
        cx, cy = other_px.shape[1] / 2, other_px.shape[0] / 2
        ends = cv2.perspectiveTransform(
            np.array([[[cx, cy], [cx + 1.0, cy]]], np.float64), h_frame
        )[0]
        enlarge = float(np.linalg.norm(ends[1] - ends[0]))
        if enlarge * g > cfg.max_upsample:
            g = cfg.max_upsample / enlarge
        size = (max(1, round(w * g)), max(1, round(h * g)))
        if size[0] < 48 or size[1] < 48:
            return
        this_cmp = cv2.resize(this_px, size, interpolation=cv2.INTER_AREA)
        warped, valid = warp_reference(np.ascontiguousarray(other_px), _scale(g) @ h_frame, size)
        gray_a = cv2.cvtColor(this_cmp, cv2.COLOR_RGB2GRAY).astype(np.float32)
        gray_b = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY).astype(np.float32)
        pair.views = compare_views(gray_a, gray_b, valid)
        pair.to_full = 1.0 / (g * this_scale)
        pair.summary["view_agreement"] = round(pair.views.agreement, 3)
        pair.summary["view_blocks"] = pair.views.informative_blocks
        if not self._views_trusted(pair.views):
            pair.views = DamageComparison(
                pair.views.agreement,
                pair.views.informative_blocks,
                pair.views.overlap_blocks,
                pair.views.sharpen_sigma,
                (),
                pair.views.heatmap * 0,
            )

    def _views_trusted(self, views: DamageComparison) -> bool:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        return (
            views.agreement >= cfg.min_agreement and views.informative_blocks >= cfg.min_informative
        )

    def _finding(self, media: Evidence, pairs: list[_Pair]) -> Finding:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        compared = []
        for p in pairs:
            entry: dict[str, Any] = {
                "media_id": p.other.media_id,
                "relation": p.relation,
                "inliers": p.alignment.inliers if p.alignment is not None else 0,
                "agreement": p.summary.get("agreement"),
            }
            for key in ("fine_agreement", "misregistration_px", "loose_copy", "edit_contrast"):
                if key in p.summary:
                    entry[key] = p.summary[key]
            if "view_agreement" in p.summary:
                entry["view_agreement"] = p.summary["view_agreement"]
                entry["damage_evidence"] = round(p.damage, 3)
            if p.other.is_video:
                entry["other_frame"] = p.other.frames[p.other_frame].index
            if media.is_video:
                entry["this_frame"] = media.frames[p.this_frame].index
            if p.summary.get("identical_file"):
                entry["identical_file"] = True
            compared.append(entry)
        details: dict[str, Any] = {"compared": len(pairs), "others": compared}
        edited = [p for p in pairs if p.relation == "edited_variant"]
        if edited:
            best = max(
                edited,
                key=lambda p: (
                    p.match.comparison.agreement if p.match and p.match.comparison else 0.0
                ),
            )
            return self._edited_finding(media, best, details)
        damaged = [p for p in pairs if p.damage > 0]
        if damaged:
            best = max(damaged, key=lambda p: p.damage)
            score = 0.5 * best.damage / cfg.damage_evidence
            if score >= 0.5:
                return self._damage_finding(media, best, details, score)
            details["damage_evidence"] = round(best.damage, 3)
        same = [p for p in pairs if p.relation == "same_photo"]
        if same:
            other = same[0].other.media_id
            return self.finding(
                media,
                "claim_consistency.duplicate_photo",
                score=0.0,
                confidence=0.9,
                params={"other": other},
                details={**details, "other": other},
            )
        scenes = [p for p in pairs if p.views is not None]
        if scenes:
            confidence = 0.7
            score = min(
                0.45, max((0.5 * p.damage / cfg.damage_evidence for p in scenes), default=0.0)
            )
        else:
            confidence = 0.3
            score = 0.0
        return self.finding(
            media,
            "claim_consistency.none",
            score=score,
            confidence=confidence,
            params={"count": len(pairs)},
            details=details,
        )

    def _edited_finding(self, media: Evidence, pair: _Pair, details: dict[str, Any]) -> Finding:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        assert pair.match is not None and pair.match.comparison is not None
        agreement = pair.match.comparison.agreement
        score = min(1.0, 0.6 + 0.4 * agreement)
        copied = pair.match.relation == "partial_copy"
        ranked = sorted(pair.boxes, key=lambda bs: -bs[0].w * bs[0].h)[: cfg.max_regions]
        regions = tuple(
            _clipped(b, media.width, media.height, "copied" if copied else f"edit_{side}")
            for b, side in ranked
        )
        other = pair.other.media_id
        details = {
            **details,
            "other": other,
            "relation": pair.match.relation,
            "region_sides": [side for _, side in ranked],
        }
        if "misregistration_px" in pair.summary:
            details["misregistration_px"] = pair.summary["misregistration_px"]
        if pair.h_full is not None:
            details["homography"] = [[round(float(v), 6) for v in row] for row in pair.h_full]
            details["other_regions"] = [
                _other_box(
                    Box(r.x, r.y, r.w, r.h), pair.h_full, pair.other.width, pair.other.height
                )
                for r in regions
            ]
        return self.finding(
            media,
            "claim_consistency.edited_variant",
            score=score,
            confidence=score,
            params={"other": other, "count": len(regions)},
            details=details,
            heatmap=pair.heat,
            regions=regions,
        )

    def _damage_finding(
        self, media: Evidence, pair: _Pair, details: dict[str, Any], score: float
    ) -> Finding:
        cfg: ClaimConsistencyConfig = self.config  # type: ignore[assignment]
        assert pair.views is not None and pair.h_full is not None
        strong = [r for r in pair.views.regions if 0.5 * r.evidence / cfg.damage_evidence >= 0.5]
        strong = strong[: cfg.max_regions]
        regions = tuple(
            _clipped(r.box.scaled(pair.to_full), media.width, media.height, f"damage_{r.side}")
            for r in strong
        )
        other = pair.other.media_id
        details = {
            **details,
            "other": other,
            "damage_evidence": round(pair.damage, 3),
            "region_sides": [r.side for r in strong],
            "region_surround_agreement": [round(r.surround, 3) for r in strong],
            "homography": [[round(float(v), 6) for v in row] for row in pair.h_full],
            "other_regions": [
                _other_box(
                    Box(r.x, r.y, r.w, r.h), pair.h_full, pair.other.width, pair.other.height
                )
                for r in regions
            ],
        }
        confidence = min(1.0, pair.views.agreement + 0.2)
        return self.finding(
            media,
            "claim_consistency.damage_differs",
            score=min(1.0, score),
            confidence=confidence,
            params={"other": other, "count": len(regions)},
            details=details,
            heatmap=pair.views.heatmap,
            regions=regions,
        )


def _rank(pair: _Pair) -> tuple[int, float]:
    """Order the relations of frame pairs: an edit beats a copy beats a scene."""
    order = {"edited_variant": 4, "same_photo": 3, "same_scene": 2, "related": 1, "unrelated": 0}
    inliers = pair.alignment.inliers if pair.alignment is not None else 0
    return order[pair.relation], pair.damage * 1000 + inliers
