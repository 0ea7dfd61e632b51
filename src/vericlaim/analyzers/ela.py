"""ELA: error level analysis normalised by local texture.

Plain ELA (Krawetz 2007) re-saves a photo as JPEG and shows the difference; edges, text and
fine texture light up as much as any edit. Here the luminance is requantized in the DCT
domain on the photo's own 8x8 grid, and each block's error is divided by the error a fresh
quantization of that block would make (``_ela.block_levels``): texture cancels out, and
what is left says whether a block went through the photo's earlier compression or not.

A photo saved once carries a single compression, and requantizing at its own table is
idempotent everywhere, edits included: there is nothing to compare. A photo that was
compressed, edited and saved again (or saved as PNG) keeps the earlier compression in every
untouched block; the earlier table is estimated from the coefficients themselves
(``_ela.history_steps``), and blocks that lost it (pasted, painted, blurred, resampled
locally) stand out against the rest: robust statistics over blocks (median and MAD), then
compact regions. PNG and other lossless photos are analyzed too: many are screenshots or
exports of an earlier JPEG, found by its blocking grid.

The method card is ``docs/analyzers/ela.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vericlaim.analyzers._ela import (
    BlockLevels,
    block_dct,
    block_mean,
    grid_offset,
    history_levels,
    history_steps,
    ijg_table,
    jpeg_quality,
    luma,
    plain_ela,
)
from vericlaim.analyzers._orientation import as_stored, upright_map
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["ElaAnalyzer", "ElaConfig"]


class ElaConfig(AnalyzerConfig):
    """Options of the ELA analyzer."""

    min_side: int = 64  # pixels; below this no block statistics are meaningful
    sample_blocks: int = 8_000  # blocks sampled to estimate the earlier quantization
    min_history_positions: int = 3  # frequencies with an earlier step needed to say anything
    window_blocks: int = 5  # side of the smoothing window, in 8x8 blocks
    min_window_count: int = 12  # informative coefficients a window needs to be trusted
    seed_excess: float = 0.35  # level above the photo's median that seeds a region
    grow_excess: float = 0.2  # level above the median a region grows over
    seed_z: float = 4.0  # robust z-score a seed must also reach
    min_region_share: float = 0.002  # smallest region, share of the frame
    max_region_share: float = 0.35  # a larger change is global, not a local edit
    flag_excess: float = 0.5  # mean excess of a region that scores 0.5 (half-way to fresh)
    max_regions: int = 5
    baseline_quality: int = 90  # JPEG quality of the plain ELA baseline


@register
class ElaAnalyzer(Analyzer):
    """Finds compact regions that lost the compression history the rest of the photo keeps."""

    name = "ela"
    version = "1.0.0"
    requires = frozenset({"pixels", "image"})
    Config = ElaConfig

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: ElaConfig = self.config  # type: ignore[assignment]
        rgb = np.asarray(media.full_pixels())
        details: dict[str, Any] = {"format": media.format}
        own: np.ndarray | None = None
        if media.format == "jpeg":
            rgb = as_stored(rgb, media.orientation)
            offset = (0, 0)
            tables = media.metadata.jpeg_quant_tables
            if tables and len(tables[0]) == 64:
                own = np.asarray(tables[0], np.float32).reshape(8, 8)
                details["file_quality"] = jpeg_quality(tables[0])
        y = luma(rgb)
        details.update(_baseline(rgb, config))
        candidates = [(0, 0)]
        if own is None:
            # A lossless photo may be an earlier JPEG, cropped: try where its grid shows.
            found, strength = grid_offset(y)
            details["grid_strength"] = round(strength, 3)
            if found != (0, 0):
                candidates.append(found)
        best: tuple[int, tuple[int, int], np.ndarray, np.ndarray] | None = None
        for offset in candidates:
            coeffs = block_dct(y, offset)
            if coeffs.shape[0] < 4 or coeffs.shape[1] < 4:
                return [self._none(media, details, confidence=0.0, why="too small")]
            flat = coeffs.reshape(-1, 8, 8)
            pick = np.linspace(0, len(flat) - 1, min(len(flat), config.sample_blocks))
            steps, _ = history_steps(flat[pick.astype(int)], own_table=own)
            positions = int((steps > 0).sum())
            if best is None or positions > best[0]:
                best = (positions, offset, coeffs, steps)
        assert best is not None
        positions, offset, coeffs, steps = best
        rows, cols = coeffs.shape[:2]
        details["grid_offset"] = list(offset)
        details["history_positions"] = positions
        if positions:
            details["history_quality"] = _history_quality(steps)
        if positions < config.min_history_positions:
            why = "no earlier compression to compare blocks against"
            return [self._none(media, details, confidence=0.1, why=why)]
        levels = history_levels(coeffs, steps)
        clipped = _clipped_blocks(rgb, offset, levels.level.shape)
        smooth, valid = _smooth(levels, clipped, config)
        if valid.sum() < 16:
            return [self._none(media, details, confidence=0.1, why="too few informative blocks")]
        median = float(np.median(smooth[valid]))
        mad = float(np.median(np.abs(smooth[valid] - median))) * 1.4826
        spread = max(mad, 0.05)
        details.update(
            median_level=round(median, 4),
            level_spread=round(mad, 4),
            informative_share=round(float(valid.mean()), 4),
        )
        confidence = _confidence(median, positions, float(valid.mean()), rows * cols)
        excess = np.where(valid, smooth - median, 0.0)
        regions, heat, strongest = _regions(excess, valid, spread, config)
        details["max_excess"] = round(strongest, 4)
        # A measurement that cannot be trusted cannot raise a flag on its own.
        score = _score(strongest, config.flag_excess) * min(1.0, confidence / 0.5)
        full_regions = [
            _orient_region(r, offset, media, stored=media.format == "jpeg") for r in regions
        ]
        heatmap = upright_map(heat, media.orientation if media.format == "jpeg" else 1)
        details["regions"] = len(full_regions)
        if score >= 0.5 and full_regions:
            return [
                self.finding(
                    media,
                    "ela.inconsistent_region",
                    score=score,
                    confidence=confidence,
                    params={"count": len(full_regions)},
                    details=details,
                    heatmap=heatmap,
                    regions=full_regions,
                )
            ]
        return [
            self.finding(
                media,
                "ela.none",
                score=min(score, 0.49),
                confidence=confidence,
                details=details,
                heatmap=heatmap,
                regions=full_regions,
            )
        ]

    def _none(
        self, media: Evidence, details: dict[str, Any], *, confidence: float, why: str
    ) -> Finding:
        details["why"] = why
        return self.finding(media, "ela.none", score=0.0, confidence=confidence, details=details)


def _baseline(rgb: np.ndarray, config: ElaConfig) -> dict[str, Any]:
    """Plain ELA's block outlier measure, for benchmarks that compare both."""
    ela = plain_ela(rgb, config.baseline_quality)
    if ela.size < 16:
        return {"baseline_score": 0.0, "baseline_z": 0.0}
    k = config.window_blocks
    smooth = cv2.blur(ela, (k, k), borderType=cv2.BORDER_REFLECT)
    med = float(np.median(smooth))
    mad = max(float(np.median(np.abs(smooth - med))) * 1.4826, 1e-3)
    z = float(np.max((smooth - med) / mad))
    return {"baseline_z": round(z, 3), "baseline_score": round(1.0 - float(np.exp(-z / 12)), 4)}


def _history_quality(steps: np.ndarray) -> float:
    """The IJG quality whose table best matches the earlier steps found (a rough label)."""
    used = steps > 0
    qualities = np.arange(5, 101)
    errs = [np.mean(np.abs(np.log(ijg_table(float(q))[used] / steps[used]))) for q in qualities]
    return float(qualities[int(np.argmin(errs))])


def _clipped_blocks(rgb: np.ndarray, offset: tuple[int, int], shape: tuple[int, ...]) -> np.ndarray:
    """Blocks with more than an eighth of their pixels clipped at 0 or 255: clipping breaks
    the requantization arithmetic, so they are left out instead of flagged."""
    oy, ox = offset
    rows, cols = shape[0], shape[1]
    px = np.ascontiguousarray(rgb[oy : oy + 8 * rows, ox : ox + 8 * cols])
    lo, hi = (1, 1, 1), (254, 254, 254)
    inside = cv2.inRange(px, lo, hi) if px.ndim == 3 else cv2.inRange(px, 1, 254)
    return np.asarray(block_mean((inside == 0).astype(np.float32)) > 0.125)


def _smooth(
    levels: BlockLevels, clipped: np.ndarray, config: ElaConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Count-weighted mean level over a window of blocks, and where it is trustworthy."""
    count = np.where(clipped, 0, levels.count).astype(np.float32)
    level = np.nan_to_num(levels.level, nan=0.0)
    k = config.window_blocks
    num = cv2.boxFilter(level * count, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(count, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    smooth = np.where(den > 0, num / np.maximum(den, 1e-6), 0.0).astype(np.float32)
    valid = (den >= config.min_window_count) & ~clipped
    return smooth, valid


def _confidence(median: float, positions: int, informative: float, blocks: int) -> float:
    """Trust grows with how clearly the photo keeps its history (low median level), how many
    frequencies carry it, how much of the photo is informative and how many blocks there are."""
    clear = float(np.clip((0.6 - median) / 0.45, 0.0, 1.0))
    freq = min(1.0, positions / 8)
    size = min(1.0, blocks / 4096)
    return round(clear * freq * min(1.0, informative / 0.5) * (0.4 + 0.6 * size), 4)


def _regions(
    excess: np.ndarray, valid: np.ndarray, spread: float, config: ElaConfig
) -> tuple[list[tuple[int, int, int, int, float]], np.ndarray, float]:
    """Compact regions of high excess level on the block grid: boxes in blocks with their
    mean excess, a heatmap in [0, 1] and the strongest region's mean excess."""
    seed_at = max(config.seed_excess, config.seed_z * spread)
    seeds = valid & (excess >= seed_at)
    grow = (valid & (excess >= max(config.grow_excess, 0.5 * seed_at))).astype(np.uint8)
    heat = np.clip(excess / (2 * config.flag_excess), 0, 1).astype(np.float32)
    rows, cols = excess.shape
    if not seeds.any():
        return [], heat * 0.3, 0.0
    n, labels = cv2.connectedComponents(grow, connectivity=8)
    min_blocks = max(4.0, config.min_region_share * rows * cols)
    found: list[tuple[int, int, int, int, float]] = []
    keep = np.zeros_like(seeds)
    for i in range(1, n):
        member = labels == i
        if not (member & seeds).any() or member.sum() < min_blocks:
            continue
        ys, xs = np.nonzero(member)
        x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        if (x1 - x0) * (y1 - y0) > config.max_region_share * rows * cols:
            continue
        strength = float(np.mean(excess[member]))
        found.append((x0, y0, x1 - x0, y1 - y0, strength))
        keep |= member
    found.sort(key=lambda r: -r[4])
    found = found[: config.max_regions]
    heat[~keep] *= 0.3
    return found, heat, (found[0][4] if found else 0.0)


def _score(excess: float, flag_excess: float) -> float:
    """Monotone in the region's mean excess level; 0.5 at ``flag_excess``."""
    if excess <= 0:
        return 0.0
    return float(1.0 - 0.5 ** ((excess / flag_excess) ** 2))


def _orient_region(
    block_box: tuple[int, int, int, int, float],
    offset: tuple[int, int],
    media: Evidence,
    *,
    stored: bool,
) -> Region:
    """A box on the block grid as a Region in full-resolution pixels after orientation."""
    bx, by, bw, bh, strength = block_box
    oy, ox = offset
    x0, y0 = ox + 8 * bx, oy + 8 * by
    x1, y1 = x0 + 8 * bw, y0 + 8 * bh
    orientation = media.orientation if stored else 1
    # Stored size: the displayed size with width and height swapped for the 90-degree turns.
    sw, sh = (
        (media.height, media.width) if orientation in (5, 6, 7, 8) else (media.width, media.height)
    )
    corners = np.array([[x0, y0], [x1, y1]], np.float64)
    xs, ys = corners[:, 0], corners[:, 1]
    mapped = {
        1: (xs, ys),
        2: (sw - xs, ys),
        3: (sw - xs, sh - ys),
        4: (xs, sh - ys),
        5: (ys, xs),
        6: (sh - ys, xs),
        7: (sh - ys, sw - xs),
        8: (ys, sw - xs),
    }[orientation if orientation in range(1, 9) else 1]
    width, height = media.width, media.height
    ax = np.clip(np.sort(mapped[0]), 0, width)
    ay = np.clip(np.sort(mapped[1]), 0, height)
    x, y = int(ax[0]), int(ay[0])
    return Region(
        x,
        y,
        max(1, int(ax[1]) - x),
        max(1, int(ay[1]) - y),
        label="error_level",
        score=round(min(1.0, strength), 4),
    )
