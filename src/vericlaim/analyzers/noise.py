"""Noise: regions whose sensor noise does not fit the rest of the photo.

Every camera photo carries sensor noise whose level depends on brightness, not on place.
The level is estimated per block from flat pixels only (``_noise.block_noise``: median of
the finest diagonal wavelet band), the photo's noise-level function (log noise against
brightness) is fitted robustly over all blocks (``_noise.fit_noise_function``), and compact
regions whose level departs from it by a large factor are reported: too little noise (a
smoothed or inpainted area, a crack or stain painted on with a flat colour) or too much (a
patch pasted from a noisier photo). Recompression and resizing change the noise of an
honest photo everywhere at once, which the fit absorbs; an edit changes it in one place.

The method card is ``docs/analyzers/noise.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vericlaim.analyzers._noise import (
    BlockNoise,
    block_noise,
    fit_noise_function,
    luma,
    noise_function,
)
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["NoiseAnalyzer", "NoiseConfig"]


class NoiseConfig(AnalyzerConfig):
    """Options of the noise analyzer."""

    min_side: int = 64  # pixels; below this there are too few blocks to compare
    max_pixels: int = 16_000_000  # larger photos are analysed at a reduced size
    block: int = 32  # block side in pixels (16 for photos under 640 pixels on the short side)
    floor: float = 0.35  # grey levels: noise below this is not measurable in 8-bit pixels
    window_blocks: int = 3  # side of the smoothing window, in blocks
    min_valid_blocks: int = 24  # blocks with a noise estimate needed to say anything
    seed_log2: float = 0.8  # |log2 ratio| to the noise-level function that seeds a region
    grow_log2: float = 0.5  # |log2 ratio| a region grows over
    seed_z: float = 4.0  # robust z-score a seed must also reach
    flag_log2: float = 1.8  # region mean |log2 ratio| that scores 0.5 (a factor of 3.5)
    min_region_share: float = 0.004  # smallest region, share of the frame
    min_region_blocks: int = 6  # and in blocks: fewer give no stable noise estimate
    max_region_share: float = 0.35  # a larger change is global, not a local edit
    max_regions: int = 5
    min_support: float = 0.08  # share of blocks within 16 grey levels a block's brightness needs


@register
class NoiseAnalyzer(Analyzer):
    """Finds compact regions whose noise level breaks the photo's noise-brightness law."""

    name = "noise"
    version = "1.0.1"
    requires = frozenset({"pixels", "image"})
    Config = NoiseConfig

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: NoiseConfig = self.config  # type: ignore[assignment]
        rgb = np.asarray(media.full_pixels())
        scale = 1.0
        if rgb.shape[0] * rgb.shape[1] > config.max_pixels:
            # Noise survives a whole-factor box reduction (its level drops uniformly).
            factor = int(np.ceil(np.sqrt(rgb.shape[0] * rgb.shape[1] / config.max_pixels)))
            rgb = cv2.resize(
                rgb,
                (rgb.shape[1] // factor, rgb.shape[0] // factor),
                interpolation=cv2.INTER_AREA,
            )
            scale = 1.0 / factor
        y = luma(rgb)
        block = config.block if min(y.shape) >= 640 else config.block // 2
        noise = block_noise(y, block=block)
        details: dict[str, Any] = {"block": block, "analysis_scale": round(scale, 4)}
        details.update(_baseline(noise, config))
        valid = np.isfinite(noise.sigma)
        details["valid_blocks"] = int(valid.sum())
        if valid.sum() < config.min_valid_blocks:
            details["why"] = "too few flat blocks to measure noise"
            return [self.finding(media, "noise.none", confidence=0.0, details=details)]
        log_sigma = np.log2(np.maximum(np.nan_to_num(noise.sigma), 0) + config.floor)
        coef = fit_noise_function(noise.mean[valid], log_sigma[valid])
        # The fit is trusted only over the brightness it saw: no extrapolation.
        lo, hi = np.percentile(noise.mean[valid], [1, 99])
        expected = noise_function(coef, np.clip(np.nan_to_num(noise.mean), lo, hi))
        ratio = np.where(valid, log_sigma - expected, 0.0).astype(np.float32)
        # The function is trusted only at brightness levels many blocks share: a few white
        # or black objects do not pin it down (glossy plastic, a lamp).
        valid &= _supported(noise.mean, valid, config.min_support)
        ratio[~valid] = 0.0
        # Extra "noise" in a block whose detail is not white is texture: it may not speak
        # for too much noise (blurred blocks, not white either, still speak for too little).
        valid &= ~((ratio > 0) & ~noise.noise_like)
        ratio[~valid] = 0.0
        smooth, trusted = _smooth(ratio, valid, config.window_blocks)
        # No block left to trust (a photo smoothed and re-sharpened all over): no spread.
        kept = smooth[trusted]
        spread = 1.4826 * float(np.median(np.abs(kept - np.median(kept)))) if kept.size else 0.0
        global_sigma = float(np.median(noise.sigma[valid]))
        details.update(
            global_noise=round(global_sigma, 3),
            noise_function=[round(float(c), 4) for c in coef],
            ratio_spread_log2=round(spread, 4),
        )
        confidence = _confidence(global_sigma, int(valid.sum()), float(valid.mean()), config)
        regions, heat, strongest, direction = _regions(smooth, trusted, max(spread, 0.1), config)
        details["max_log2_ratio"] = round(strongest, 4)
        # A measurement that cannot be trusted cannot raise a flag on its own.
        score = _score(abs(strongest), config.flag_log2) * min(1.0, confidence / 0.5)
        to_full = block / scale
        width, height = media.width, media.height
        boxes = [_region(r, to_full, width, height) for r in regions]
        details["regions"] = len(boxes)
        if score >= 0.5 and boxes:
            code = "noise.too_little_noise" if direction < 0 else "noise.too_much_noise"
            return [
                self.finding(
                    media,
                    code,
                    score=score,
                    confidence=confidence,
                    params={"count": len(boxes), "factor": f"{2 ** abs(strongest):.1f}"},
                    details=details,
                    heatmap=heat,
                    regions=boxes,
                )
            ]
        return [
            self.finding(
                media,
                "noise.none",
                score=min(score, 0.49),
                confidence=confidence,
                details=details,
                heatmap=heat,
                regions=boxes,
            )
        ]


def _baseline(noise: BlockNoise, config: NoiseConfig) -> dict[str, Any]:
    """The plain measure: robust outliers of every block's noise, texture and brightness
    included, and the global noise level."""
    plain = noise.plain
    ok = np.isfinite(plain)
    if ok.sum() < 16:
        return {"baseline_score": 0.0, "baseline_z": 0.0, "baseline_global_noise": 0.0}
    v = np.log2(np.where(ok, plain, 0) + config.floor)
    k = config.window_blocks
    smooth = cv2.blur(v.astype(np.float32), (k, k), borderType=cv2.BORDER_REFLECT)
    med = float(np.median(smooth[ok]))
    mad = max(1.4826 * float(np.median(np.abs(smooth[ok] - med))), 1e-3)
    z = float(np.max(np.abs(smooth[ok] - med)) / mad)
    return {
        "baseline_z": round(z, 3),
        "baseline_score": round(1.0 - float(np.exp(-z / 12)), 4),
        "baseline_global_noise": round(float(np.median(plain[ok])), 3),
    }


def _supported(brightness: np.ndarray, valid: np.ndarray, share: float) -> np.ndarray:
    """Blocks whose brightness (within 16 grey levels) is shared by ``share`` of valid blocks."""
    levels = np.clip(np.nan_to_num(brightness), 0, 255)
    hist = np.bincount(levels[valid].astype(int), minlength=256).astype(np.float64)
    near = np.convolve(hist, np.ones(33), mode="same")
    return np.asarray(near[levels.astype(int)] >= share * max(1, int(valid.sum())))


def _smooth(ratio: np.ndarray, valid: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean log ratio over a window of valid blocks; trusted where most of it is valid."""
    w = valid.astype(np.float32)
    num = cv2.boxFilter(ratio * w, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    den = cv2.boxFilter(w, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    smooth = np.where(den > 0, num / np.maximum(den, 1e-6), 0.0).astype(np.float32)
    return smooth, valid & (den >= 0.5 * k * k)


def _confidence(sigma: float, valid: int, share: float, config: NoiseConfig) -> float:
    """Low when the photo has almost no measurable noise (heavily compressed or denoised),
    few blocks, or little flat area."""
    level = float(np.clip((sigma - config.floor) / 1.5, 0.0, 1.0))
    count = min(1.0, valid / 400)
    return round(level * (0.3 + 0.7 * count) * min(1.0, share / 0.3), 4)


def _regions(
    smooth: np.ndarray, trusted: np.ndarray, spread: float, config: NoiseConfig
) -> tuple[list[tuple[int, int, int, int, float]], np.ndarray, float, int]:
    """Compact regions of too little or too much noise on the block grid.

    Returns boxes in blocks with their mean log2 ratio, a heatmap in [0, 1], the strongest
    region's mean log2 ratio (signed) and its sign.
    """
    rows, cols = smooth.shape
    seed_at = max(config.seed_log2, config.seed_z * spread)
    grow_at = max(config.grow_log2, 0.6 * seed_at)
    heat = np.clip(np.abs(smooth) / (2 * config.flag_log2), 0, 1).astype(np.float32)
    heat[~trusted] = 0.0
    keep = np.zeros((rows, cols), bool)
    found: list[tuple[int, int, int, int, float]] = []
    min_blocks = max(float(config.min_region_blocks), config.min_region_share * rows * cols)
    for sign in (-1, 1):
        signed = sign * smooth
        seeds = trusted & (signed >= seed_at)
        if not seeds.any():
            continue
        grow = (trusted & (signed >= grow_at)).astype(np.uint8)
        n, labels = cv2.connectedComponents(grow, connectivity=8)
        for i in range(1, n):
            member = labels == i
            if not (member & seeds).any() or member.sum() < min_blocks:
                continue
            ys, xs = np.nonzero(member)
            x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
            if (x1 - x0) * (y1 - y0) > config.max_region_share * rows * cols:
                continue
            found.append((x0, y0, x1 - x0, y1 - y0, sign * float(np.mean(signed[member]))))
            keep |= member
    found.sort(key=lambda r: -abs(r[4]))
    found = found[: config.max_regions]
    heat[~keep] *= 0.3
    if not found:
        return [], heat, 0.0, 0
    return found, heat, found[0][4], 1 if found[0][4] > 0 else -1


def _score(log2_ratio: float, flag: float) -> float:
    """Monotone in the region's mean |log2 ratio|; 0.5 at ``flag``."""
    if log2_ratio <= 0:
        return 0.0
    return float(1.0 - 0.5 ** ((log2_ratio / flag) ** 2))


def _region(
    box: tuple[int, int, int, int, float], to_full: float, width: int, height: int
) -> Region:
    bx, by, bw, bh, strength = box
    x0 = min(width - 1, int(bx * to_full))
    y0 = min(height - 1, int(by * to_full))
    x1 = min(width, int(np.ceil((bx + bw) * to_full)))
    y1 = min(height, int(np.ceil((by + bh) * to_full)))
    label = "low_noise" if strength < 0 else "high_noise"
    return Region(
        x0,
        y0,
        max(1, x1 - x0),
        max(1, y1 - y0),
        label=label,
        score=round(min(1.0, abs(strength) / 3), 4),
    )
