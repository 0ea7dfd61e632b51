"""Recapture: a photo of a screen or of a printed picture, not of the goods themselves.

A buyer who photographs someone else's damaged item on a monitor, a phone or a printout
leaves the display's trace in the photo: the screen's sub-pixel grid (or a print's halftone
screen), sampled by the camera's sensor into fine periodic texture and moire over the whole
picture shown, even where that picture is flat. This analyzer looks for a strong, isolated
peak shared by the power spectra of the photo's fine residual, tile by tile, away from
JPEG's 8-pixel block grid, and for a dark straight-edged frame (a bezel) around the picture.
It is a no-reference signal: honest photos of fine periodic objects (fabric, grilles,
keyboards, fine print) can carry the same peak, so it asks for review, never convicts.

The method card is ``docs/analyzers/recapture.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vericlaim.analyzers._recapture import PeakMap, find_screen_frame, periodic_peaks
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["RecaptureAnalyzer", "RecaptureConfig"]

# Mean luminance quantizer step of the IJG table at quality 50, to estimate JPEG quality.
_IJG_LUMA_MEAN = 57.625


class RecaptureConfig(AnalyzerConfig):
    """Options of the recapture analyzer."""

    # Tile side in full-resolution pixels (a multiple of 8, aligned with JPEG blocks).
    tile: int = 64
    # Tiles examined at most, spread evenly over the photo (bounds the cost).
    max_tiles: int = 64
    # Lowest frequency searched, cycles per pixel: below it the scene's own texture lives.
    min_freq: float = 0.1
    # Cap on one tile's peak-to-background ratio, so one textured tile cannot decide alone.
    cap: float = 60.0
    # Shared peak strength at which the score reaches 0.5 with many tiles, and the extra
    # strength asked of a photo with few tiles (added as extra / sqrt(tiles)).
    strength_at_half: float = 10.0
    strength_extra_few_tiles: float = 10.0
    # Score steepness: a strength twice the threshold scores 0.9.
    steepness: float = math.log(9.0) / math.log(2.0)
    # A tile whose ratio at the shared peak exceeds this carries the pattern (heatmap, box).
    tile_ratio_carrying: float = 8.0
    # Tiles below this count lower the confidence (a small photo says little).
    confident_tiles: int = 16
    # Decoding above this many pixels uses the reduced frame instead of the full photo.
    max_full_pixels: int = 40_000_000


@register
class RecaptureAnalyzer(Analyzer):
    """Looks for a screen's pixel grid, moire or a print's halftone in a claim photo."""

    name = "recapture"
    version = "1.0.0"
    requires = frozenset({"pixels", "image"})
    Config = RecaptureConfig

    def applicable(self, media: Evidence, context: ClaimContext) -> str | None:
        why = super().applicable(media, context)
        if why is not None:
            return why
        config: RecaptureConfig = self.config  # type: ignore[assignment]
        if min(media.width, media.height) < config.tile:
            return (
                f"photo too small ({media.width}x{media.height}) to look for a screen's "
                f"pixel grid (needs {config.tile} px on each side)"
            )
        return None

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: RecaptureConfig = self.config  # type: ignore[assignment]
        frame = media.frames[0]
        if frame.scale >= 1.0 or media.width * media.height > config.max_full_pixels:
            rgb, scale = frame.pixels, frame.scale
        else:
            rgb, scale = media.full_pixels(), 1.0
        peaks = periodic_peaks(
            rgb,
            tile=config.tile,
            max_tiles=config.max_tiles,
            min_freq=config.min_freq,
            cap=config.cap,
        )
        if peaks is None:
            return [
                self.finding(
                    media,
                    "analyzer.not_applicable",
                    status="not_applicable",
                    confidence=0.0,
                    params={"analyzer": self.name, "why": "photo too small to examine"},
                    details={"why": "photo too small to examine"},
                )
            ]
        n = len(peaks.origins)
        threshold = config.strength_at_half + config.strength_extra_few_tiles / math.sqrt(n)
        strength = max(peaks.strength, 1e-6)
        score = 1.0 / (1.0 + (threshold / strength) ** config.steepness)
        carrying = peaks.tile_ratio >= config.tile_ratio_carrying
        quality = _jpeg_quality(media)
        confidence = _confidence(peaks, config, quality)
        gray = cv2.cvtColor(np.ascontiguousarray(frame.pixels), cv2.COLOR_RGB2GRAY)
        screen = find_screen_frame(gray)
        fy, fx = peaks.freq
        details: dict[str, Any] = {
            "strength": round(peaks.strength, 3),
            "threshold": round(threshold, 3),
            "peak_frequency": [round(fy, 4), round(fx, 4)],
            "period_px": round(1.0 / max(math.hypot(fy, fx), 1e-6), 3),
            "tiles": n,
            "carrying_share": round(float(carrying.mean()), 3),
            "analysis_scale": round(scale, 4),
            "jpeg_quality": quality,
            "screen_frame": screen is not None,
        }
        heatmap = _heatmap(peaks, rgb.shape[:2], config)
        regions = self._regions(media, peaks, carrying, screen, frame.scale, scale, score)
        if score < 0.5:
            return [
                self.finding(
                    media,
                    "recapture.none",
                    score=score,
                    confidence=confidence,
                    details=details,
                    heatmap=heatmap,
                )
            ]
        code = "recapture.screen_frame" if screen is not None else "recapture.periodic_pattern"
        return [
            self.finding(
                media,
                code,
                score=score,
                confidence=confidence,
                params={
                    "period": f"{details['period_px']:.1f}",
                    "share": f"{100 * details['carrying_share']:.0f}",
                },
                details=details,
                heatmap=heatmap,
                regions=regions,
            )
        ]

    def _regions(
        self,
        media: Evidence,
        peaks: PeakMap,
        carrying: np.ndarray,
        screen: Any,
        frame_scale: float,
        scale: float,
        score: float,
    ) -> list[Region]:
        """The screen's box when a bezel was found, else the box of the carrying tiles."""
        if score < 0.5:
            return []
        if screen is not None:
            x, y, w, h = (v / frame_scale for v in screen.box)
        elif carrying.any():
            ys = [peaks.origins[i][0] for i in np.flatnonzero(carrying)]
            xs = [peaks.origins[i][1] for i in np.flatnonzero(carrying)]
            x, y = min(xs) / scale, min(ys) / scale
            w = (max(xs) + peaks.tile) / scale - x
            h = (max(ys) + peaks.tile) / scale - y
        else:
            return []
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(media.width, math.ceil(x + w)), min(media.height, math.ceil(y + h))
        if x1 <= x0 or y1 <= y0:
            return []
        return [Region(x0, y0, x1 - x0, y1 - y0, label="screen", score=round(score, 4))]


def _heatmap(peaks: PeakMap, shape: tuple[int, int], config: RecaptureConfig) -> np.ndarray:
    """Each tile's peak ratio, log-scaled to [0, 1], on a grid of 8-pixel cells."""
    cell = 8
    h, w = max(1, shape[0] // cell), max(1, shape[1] // cell)
    heat = np.zeros((h, w), np.float32)
    level = np.clip(np.log(np.maximum(peaks.tile_ratio, 1.0)) / math.log(config.cap), 0.0, 1.0)
    span = peaks.tile // cell
    for (y, x), v in zip(peaks.origins, level, strict=True):
        heat[y // cell : y // cell + span, x // cell : x // cell + span] = v
    return heat


def _jpeg_quality(media: Evidence) -> int | None:
    """Rough IJG quality from the first quantization table (None when not a JPEG)."""
    tables = media.metadata.jpeg_quant_tables
    if media.format != "jpeg" or not tables or not tables[0]:
        return None
    s = float(np.mean(tables[0])) / _IJG_LUMA_MEAN
    quality = 50.0 / s if s > 1.0 else 100.0 - 50.0 * s
    return round(min(100.0, max(1.0, quality)))


def _confidence(peaks: PeakMap, config: RecaptureConfig, quality: int | None) -> float:
    """Lower on small photos (few tiles), flat photos and heavily compressed JPEGs."""
    n = len(peaks.origins)
    confidence = min(1.0, math.sqrt(n / config.confident_tiles))
    textured = float(np.mean(peaks.tile_rms > 0.5))
    confidence *= 0.3 + 0.7 * textured
    if quality is not None and quality < 60:
        confidence *= 0.5 + 0.5 * quality / 60
    return round(confidence, 4)
