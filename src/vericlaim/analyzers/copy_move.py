"""Copy-move: a region of the photo duplicated elsewhere in the same photo.

A buyer clones a stain, a crack or a dent from one place to another, or hides something
under a patch of cloned background. Candidate transforms come from ORB keypoints matched
against the photo itself (g2NN) and from DCT block matching; each is verified densely by
correlating the photo's fine detail with its transformed self. A clone agrees almost
exactly, noise included, and only at one offset; natural repetition (a shelf of identical
cartons, tiles, fabric) agrees loosely, or along a lattice of offsets. The copy is reported
as a ``source`` and a ``target`` box with the same score.

The method card is ``docs/analyzers/copy_move.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vericlaim.analyzers._copy_move import (
    Candidate,
    CloneRegion,
    bandpass,
    block_shifts,
    clone_regions,
    keypoint_pairs,
    pair_transforms,
)
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["CopyMoveAnalyzer", "CopyMoveConfig"]


class CopyMoveConfig(AnalyzerConfig):
    """Options of the copy-move analyzer."""

    # Long side of the working copy; clones survive this reduction, and it bounds the cost.
    working_side: int = 1024
    # Long side of the copy the block search runs on (it is the slower search).
    block_side: int = 512
    # Photos with a shorter side than this say nothing (a thumbnail, a strip).
    min_side: int = 64
    # Keypoints kept for self-matching.
    max_features: int = 2000
    # Candidate transforms verified densely, at most.
    max_candidates: int = 8
    # Windowed correlation of fine detail at which a pixel counts as copied.
    min_correlation: float = 0.9
    # Smallest copied region, in working-copy pixels (about 17 x 17).
    min_area: int = 150
    # Anchors where each factor of the score reaches 0.5 (the default threshold).
    correlation_at_half: float = 0.975
    sharpness_at_half: float = 0.2
    repeat_at_half: float = 0.5
    area_at_half: int = 300


@register
class CopyMoveAnalyzer(Analyzer):
    """Finds regions duplicated inside one photo and points at source and target."""

    name = "copy_move"
    version = "1.0.0"
    requires = frozenset({"pixels", "image"})
    Config = CopyMoveConfig

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: CopyMoveConfig = self.config  # type: ignore[assignment]
        frame = media.frames[0]
        gray, to_full = _working_gray(frame.pixels, frame.scale, config.working_side)
        if min(gray.shape) < config.min_side:
            return [self._not_applicable(media, "photo too small to look for copied regions")]
        detail = bandpass(gray.astype(np.float32))
        candidates = _candidates(gray, config)
        verified: list[tuple[Candidate, CloneRegion, float]] = []
        masks: dict[int, np.ndarray] = {}
        for candidate in candidates[: config.max_candidates]:
            regions, source_mask, target_mask = clone_regions(
                detail,
                candidate,
                min_correlation=config.min_correlation,
                min_area=config.min_area,
            )
            for region in regions:
                verified.append((candidate, region, _region_score(region, config)))
            if regions:
                masks[id(candidate)] = np.maximum(source_mask, target_mask).astype(np.float32)
        verified = _discount_lattices(verified)
        textured = float(np.mean(np.abs(detail) > 1.0))
        confidence = _confidence(gray.shape, textured)
        verified.sort(key=lambda item: -item[2])
        details: dict[str, Any] = {
            "candidates": len(candidates),
            "working_scale": round(1.0 / to_full, 4),
            "textured_share": round(textured, 3),
        }
        best = verified[0][2] if verified else 0.0
        clones = [item for item in verified if item[2] >= 0.5]
        heatmap = np.zeros(gray.shape, np.float32)
        for mask in masks.values():
            heatmap = np.maximum(heatmap, 0.3 * mask)
        if not clones:
            details["best_score"] = round(best, 4)
            return [
                self.finding(
                    media,
                    "copy_move.none",
                    score=min(best, 0.49),
                    confidence=confidence,
                    details=details,
                    heatmap=heatmap,
                )
            ]
        boxes: list[Region] = []
        pairs: list[dict[str, Any]] = []
        for candidate, region, score in clones[:2]:
            pair = _describe(candidate, region, score, to_full, media)
            pairs.append(pair)
            for label in ("source", "target"):
                x, y, w, h = pair[label]
                boxes.append(Region(x, y, w, h, label=label, score=round(score, 4)))
            heatmap = np.maximum(heatmap, score * masks[id(candidate)])
        details["pairs"] = pairs
        details["clones"] = len(clones)
        return [
            self.finding(
                media,
                "copy_move.duplicated_region",
                score=clones[0][2],
                confidence=confidence,
                params={"count": len(pairs)},
                details=details,
                heatmap=heatmap,
                regions=boxes,
            )
        ]

    def _not_applicable(self, media: Evidence, why: str) -> Finding:
        return self.finding(
            media,
            "analyzer.not_applicable",
            status="not_applicable",
            confidence=0.0,
            params={"analyzer": self.name, "why": why},
            details={"why": why},
        )


def _working_gray(pixels: np.ndarray, scale: float, side: int) -> tuple[np.ndarray, float]:
    """Grayscale working copy and the factor from its pixels to full-resolution pixels."""
    rgb = np.asarray(pixels)
    gray: np.ndarray
    if rgb.ndim == 2:
        gray = rgb.astype(np.uint8)
    else:
        gray = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3], np.uint8), cv2.COLOR_RGB2GRAY)
    long_side = max(gray.shape)
    factor = 1.0
    if long_side > side:
        factor = side / long_side
        size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
    return gray, 1.0 / (factor * scale)


def _candidates(gray: np.ndarray, config: CopyMoveConfig) -> list[Candidate]:
    """Keypoint transforms first, then block shifts not already covered."""
    candidates = pair_transforms(keypoint_pairs(gray, max_features=config.max_features))
    factor = min(1.0, config.block_side / max(gray.shape))
    small: np.ndarray = gray.astype(np.float32)
    if factor < 1.0:
        size = (max(1, round(gray.shape[1] * factor)), max(1, round(gray.shape[0] * factor)))
        small = cv2.resize(small, size, interpolation=cv2.INTER_AREA)
    for block in block_shifts(small):
        dx, dy = block.shift[0] / factor, block.shift[1] / factor
        if any(abs(dx - c.shift[0]) < 4 and abs(dy - c.shift[1]) < 4 for c in candidates):
            continue
        candidates.append(Candidate(((1.0, 0.0, dx), (0.0, 1.0, dy)), block.support, "blocks"))
    out = []
    for c in candidates:
        m = c.matrix
        if abs(m[0][0] - 1) < 0.02 and abs(m[1][1] - 1) < 0.02 and abs(m[0][1]) < 0.02:
            # A pure move: copies made in the photo's own grid sit at whole-pixel offsets.
            c = Candidate(
                ((1.0, 0.0, round(m[0][2])), (0.0, 1.0, round(m[1][2]))), c.support, c.origin
            )
        out.append(c)
    return out


def _discount_lattices(
    verified: list[tuple[Candidate, CloneRegion, float]],
) -> list[tuple[Candidate, CloneRegion, float]]:
    """Halve the score of shifts that are whole multiples of another agreeing shift.

    A row of equal products or tiles agrees at its pitch and at twice and three times it; a
    clone agrees at one offset only.
    """
    shifts = {c.shift for c, r, _ in verified if r.correlation > 0.9}
    out = []
    for candidate, region, score in verified:
        dx, dy = candidate.shift
        lattice = False
        for ox, oy in shifts:
            for k in (2.0, 3.0, 4.0, 0.5, 1 / 3, 0.25):
                tol = 4.0 * max(1.0, k)
                if abs(dx - k * ox) <= tol and abs(dy - k * oy) <= tol and (ox, oy) != (dx, dy):
                    lattice = True
        out.append((candidate, region, score * 0.5 if lattice else score))
    return out


def _ramp(value: float, at_half: float, span: float) -> float:
    """A logistic step that passes 0.5 at ``at_half`` and rises over about ``span``."""
    return 1.0 / (1.0 + math.exp(-4.0 * (value - at_half) / span))


def _region_score(region: CloneRegion, config: CopyMoveConfig) -> float:
    """Every factor must hold: near-exact agreement, a sharp peak, no repetition, size."""
    factors = (
        _ramp(region.correlation, config.correlation_at_half, 0.04),
        _ramp(region.sharpness, config.sharpness_at_half, 0.2),
        _ramp(-region.repeat, -config.repeat_at_half, 0.3),
        _ramp(math.log(max(region.area, 1)), math.log(config.area_at_half), 1.5),
    )
    return float(min(factors))


def _confidence(shape: tuple[int, ...], textured: float) -> float:
    pixels = shape[0] * shape[1]
    size_trust = min(1.0, pixels / 300_000) ** 0.5
    return float(max(0.1, min(1.0, size_trust * min(1.0, 0.3 + 2 * textured))))


def _full_box(box: tuple[int, int, int, int], to_full: float, media: Evidence) -> list[int]:
    x, y, w, h = box
    x0 = min(max(0, math.floor(x * to_full)), media.width - 1)
    y0 = min(max(0, math.floor(y * to_full)), media.height - 1)
    x1 = min(media.width, math.ceil((x + w) * to_full))
    y1 = min(media.height, math.ceil((y + h) * to_full))
    return [x0, y0, max(1, x1 - x0), max(1, y1 - y0)]


def _describe(
    candidate: Candidate,
    region: CloneRegion,
    score: float,
    to_full: float,
    media: Evidence,
) -> dict[str, Any]:
    """One duplicated pair as a reviewer reads it.

    Pixels alone do not say which place is the original: ``source`` is the place met first
    in reading order (top to bottom, then left to right) and ``target`` the other one; the
    offset and transform map the first onto the second.
    """
    first, second = region.source, region.target
    m: np.ndarray = np.asarray(candidate.matrix, np.float64)
    if (second[1], second[0]) < (first[1], first[0]):
        first, second = second, first
        m = cv2.invertAffineTransform(m)
    return {
        "source": _full_box(first, to_full, media),
        "target": _full_box(second, to_full, media),
        "offset": [round(float(m[0, 2]) * to_full, 1), round(float(m[1, 2]) * to_full, 1)],
        "rotation_deg": round(math.degrees(math.atan2(m[1, 0], m[0, 0])), 1),
        "scale": round(float(np.hypot(m[0, 0], m[1, 0])), 3),
        "area_px": round(region.area * to_full * to_full),
        "correlation": round(region.correlation, 4),
        "sharpness": round(region.sharpness, 4),
        "repeat": round(region.repeat, 4),
        "score": round(score, 4),
        "found_by": candidate.origin,
    }
