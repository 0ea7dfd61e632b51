"""JPEG double quantization: a region edited between two JPEG compressions.

A photo that was JPEG-compressed, edited and saved as JPEG again carries the first
compression's trace (a periodic histogram of DCT coefficients on the aligned grid, or
blocking artefacts on a shifted grid) everywhere except where it was edited or where a patch
from elsewhere was pasted. Whole-photo double compression is what every platform and chat
app does to honest photos, so only a *locally* inconsistent trace is suspicious. The
quantization tables themselves say at what quality and by what kind of encoder the photo was
last saved (reported, never flagged).

The method card is ``docs/analyzers/jpeg_dq.md``.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from vericlaim.analyzers._jpeg_dq import (
    block_dct,
    block_llr,
    estimate_first_step,
    grid_phase_sums,
    phase_excess,
    zigzag_order,
)
from vericlaim.analyzers._jpeg_tables import describe_tables, ijg_table
from vericlaim.analyzers._orientation import upright_map
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["JpegDqAnalyzer", "JpegDqConfig"]


class JpegDqConfig(AnalyzerConfig):
    """Options of the JPEG double-quantization analyzer."""

    min_side: int = 64  # photos narrower than this (pixels) have too few blocks to say anything
    frequencies: int = 15  # AC frequencies examined, in zigzag order
    min_gain_per_coefficient: float = 0.05  # nats: a frequency shows double quantization above
    min_gain: float = 30.0  # nats over the whole photo, for the same
    min_dq_frequencies: int = 3  # frequencies that must agree before the photo counts as DQ
    smooth_blocks: int = 5  # side of the block window the likelihood map is summed over
    region_llr: float = 8.0  # summed log-likelihood (nats) below which a window looks edited
    flag_density: float = 3.0  # mean nats per block against double compression: score 0.5
    density_scale: float = 0.4  # nats per block per logistic unit of the A-DJPG score
    min_evidence: float = 100.0  # nats a region needs in all before it can be flagged
    max_misfit_share: float = 0.3  # share of blocks that may contradict the fitted history
    max_region_share: float = 0.4  # a region larger than this share of the photo is not local
    grid_window: int = 8  # blocks pooled per side to measure a local grid
    grid_excess: float = 0.6  # local excess of an off-grid phase (rows and columns) to count
    global_grid_excess: float = 0.15  # whole-photo excess of an off-grid phase to report
    grid_flag_blocks: int = 400  # misaligned blocks (both directions) for a score of 0.5 ...
    grid_flag_share: float = 0.04  # ... or this share of the photo's blocks, if more
    max_regions: int = 5


@dataclass(frozen=True, slots=True)
class _Plane:
    """The analysed channel in the file's stored orientation, and its last table."""

    luma: np.ndarray
    table: np.ndarray
    channel: str
    subsampling: str
    clipped: np.ndarray  # pixels at the end of a colour's range


@register
class JpegDqAnalyzer(Analyzer):
    """Aligned and non-aligned double JPEG compression, localised on the 8x8 block grid."""

    name = "jpeg_dq"
    version = "1.0.0"
    requires = frozenset({"pixels", "image", "jpeg"})
    Config = JpegDqConfig

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: JpegDqConfig = self.config  # type: ignore[assignment]
        plane = _luma_plane(media.data)
        if plane is None:
            why = "the JPEG's luminance or its quantization table could not be read"
            return [self._not_applicable(media, why)]
        tables = describe_tables(media.metadata.jpeg_quant_tables)
        details: dict[str, Any] = {
            "channel": plane.channel,
            "subsampling": plane.subsampling,
            "progressive": media.metadata.jpeg_progressive,
        }
        if tables is not None:
            details.update(
                quality=tables.quality,
                table_qualities=list(tables.qualities),
                table_provenance=tables.provenance,
                software_tables=tables.software_tables,
            )
        adq = _aligned(plane, config)
        grid = _grid(plane, config)
        details.update(adq.details)
        details.update(grid.details)
        details["baseline_score"] = grid.baseline
        h, w = plane.luma.shape
        orientation = media.orientation
        score, kind, boxes, heat = 0.0, "", [], adq.heat
        if adq.score >= grid.score and adq.boxes:
            score, kind, boxes = adq.score, "double_quantization", adq.boxes
        elif grid.boxes:
            score, kind, boxes = grid.score, "grid", grid.boxes
            heat = np.maximum(heat, grid.heat)
        details["score_aligned"] = round(adq.score, 4)
        details["score_grid"] = round(grid.score, 4)
        regions = [
            Region(*_orient_box(b, w, h, orientation), label="edit", score=round(s, 3))
            for b, s in boxes[: config.max_regions]
        ]
        heatmap = upright_map(_full_grid(heat, h, w), orientation)
        confidence = _confidence(plane, adq, grid)
        quality = details.get("quality", "?")
        if score >= 0.5 and kind == "double_quantization":
            code = "jpeg_dq.inconsistent_region"
            params: dict[str, Any] = {"count": len(regions), "quality": quality}
        elif score >= 0.5:
            code = "jpeg_dq.misaligned_grid"
            params = {"count": len(regions)}
        elif adq.double or (tables is not None and tables.software_tables):
            code, params = "jpeg_dq.resaved", {"quality": quality}
        else:
            code, params = "jpeg_dq.none", {"quality": quality}
        if score < 0.5:
            regions = []
        return [
            self.finding(
                media,
                code,
                score=score,
                confidence=confidence,
                params=params,
                details=details,
                heatmap=heatmap,
                regions=regions,
            )
        ]

    def _not_applicable(self, media: Evidence, why: str) -> Finding:
        return self.finding(
            media,
            "jpeg_dq.not_applicable",
            status="not_applicable",
            confidence=0.0,
            params={"why": why},
            details={"why": why},
        )


def _luma_plane(data: bytes) -> _Plane | None:
    """Decode the JPEG's luminance exactly as stored (libjpeg hands out Y without colour
    conversion); for a CMYK file its K channel, for a grayscale file its only channel."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            layers = list(getattr(image, "layer", []) or [])
            tables = dict(getattr(image, "quantization", {}) or {})
            if image.mode in ("RGB", "YCbCr"):
                image.draft("YCbCr", image.size)
            image.load()
            mode = image.mode
            pixels = np.asarray(image)
    except Exception:
        return None
    if not layers or not tables:
        return None
    clipped: np.ndarray | None = None
    if mode == "CMYK" and len(layers) >= 4 and pixels.ndim == 3:
        luma, layer, channel = pixels[:, :, 3], layers[3], "K"
    elif mode == "YCbCr" and pixels.ndim == 3:
        luma, layer, channel = pixels[:, :, 0], layers[0], "Y"
        clipped = _colour_clipped(pixels)
    elif pixels.ndim == 2:
        luma, layer, channel = pixels, layers[0], "Y"
    else:
        return None
    table = tables.get(layer[3])
    if table is None or len(table) != 64:
        return None
    if len(layers) >= 3:
        h0, v0 = layers[0][1], layers[0][2]
        h1, v1 = layers[1][1], layers[1][2]
        subsampling = f"{h0 // max(h1, 1)}x{v0 // max(v1, 1)}"
    else:
        subsampling = "none"
    if clipped is None:
        clipped = (luma >= _CLIP_HIGH) | (luma <= _CLIP_LOW)
    return _Plane(
        luma=np.ascontiguousarray(luma),
        table=np.asarray(table, np.float32).reshape(8, 8),
        channel=channel,
        subsampling=subsampling,
        clipped=clipped,
    )


_CLIP_LOW, _CLIP_HIGH = 4, 251


def _colour_clipped(ycc: np.ndarray) -> np.ndarray:
    """Pixels whose red, green or blue was at (or, after the last compression's ringing,
    near) the end of its range: there the luminance the previous decoder handed on was
    changed by clipping a colour, so it left the previous lattice for honest reasons."""
    y = ycc[:, :, 0].astype(np.float32)
    cb = ycc[:, :, 1].astype(np.float32) - 128.0
    cr = ycc[:, :, 2].astype(np.float32) - 128.0
    out = (y <= _CLIP_LOW) | (y >= _CLIP_HIGH)
    for channel in (y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb):
        out |= (channel <= _CLIP_LOW) | (channel >= _CLIP_HIGH)
    return out


@dataclass(slots=True)
class _Evidence:
    score: float
    boxes: list[tuple[tuple[int, int, int, int], float]]
    heat: np.ndarray
    details: dict[str, Any]
    double: bool = False
    informative: float = 0.0
    baseline: float = 0.0


def _aligned(plane: _Plane, config: JpegDqConfig) -> _Evidence:
    """A-DJPG: the first quantization per frequency, and a block map of where it is absent."""
    coeffs = block_dct(plane.luma)
    bh, bw = coeffs.shape[:2]
    llr = np.zeros((bh, bw), np.float32)
    first: dict[tuple[int, int], int] = {}
    total_gain = 0.0
    for r, c in zigzag_order()[1 : config.frequencies + 1]:
        q2 = int(plane.table[r, c])
        quotients = np.rint(coeffs[:, :, r, c] / q2).astype(np.int32)
        step = estimate_first_step(quotients.ravel(), q2)
        if step.gain >= config.min_gain and step.per_coefficient >= config.min_gain_per_coefficient:
            first[(r, c)] = step.q1
            total_gain += step.gain
            llr += block_llr(quotients, step.pattern)
    double = len(first) >= config.min_dq_frequencies
    extreme = plane.clipped[: bh * 8, : bw * 8].astype(np.uint8)
    clipped = cv2.resize(extreme, (bw, bh), interpolation=cv2.INTER_AREA) > 0
    details: dict[str, Any] = {
        "double_compressed": double,
        "dq_frequencies": len(first),
        "dq_gain": round(total_gain, 1),
    }
    heat = np.zeros((bh, bw), np.float32)
    if not double:
        return _Evidence(0.0, [], heat, details)
    first_quality = _first_quality(first)
    details["first_quality"] = first_quality
    llr[clipped] = 0.0
    k = config.smooth_blocks
    window = cv2.boxFilter(llr, -1, (k, k), normalize=False, borderType=cv2.BORDER_REFLECT)
    heat = (1.0 / (1.0 + np.exp(np.clip(window / 4.0, -30, 30)))).astype(np.float32)
    informative = float((np.abs(llr) > 0.5).mean())
    suspicious = (window < -config.region_llr).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(suspicious, connectivity=8)
    boxes: list[tuple[tuple[int, int, int, int], float]] = []
    best, top_evidence, top_density = 0.0, 0.0, 0.0
    limit = config.max_region_share * bh * bw
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area > limit:
            continue
        evidence = float(-llr[labels == i].sum())
        if evidence > top_evidence:
            top_evidence, top_density = evidence, evidence / area
        s = _logistic(evidence / area, config.flag_density, config.density_scale) * _logistic(
            evidence, config.min_evidence, config.min_evidence / 4
        )
        boxes.append(((8 * x, 8 * y, 8 * w, 8 * h), s))
        best = max(best, s)
    boxes.sort(key=lambda b: -b[1])
    share = float(suspicious.sum()) / max(1, bh * bw)
    if share > config.max_misfit_share:
        # Most of the photo contradicts the fitted first compression: the fit is wrong (a
        # finer first table, heavy processing), not the photo locally edited.
        best, boxes = 0.0, []
    details["suspicious_blocks"] = int(suspicious.sum())
    details["region_evidence"] = round(top_evidence, 1)
    details["region_density"] = round(top_density, 2)
    details["suspicious_share"] = round(share, 3)
    return _Evidence(best, boxes, heat, details, double=True, informative=informative)


def _first_quality(first: dict[tuple[int, int], int]) -> int:
    """The IJG quality whose luminance steps best match the first steps found."""
    best, best_err = 0, np.inf
    for quality in range(1, 101):
        candidate = ijg_table(quality)
        err = sum(abs(np.log(candidate[8 * r + c]) - np.log(q)) for (r, c), q in first.items())
        if err < best_err:
            best, best_err = quality, err
    return best


def _grid(plane: _Plane, config: JpegDqConfig) -> _Evidence:
    """NA-DJPG: blocking of an earlier compression on a grid other than the last one."""
    cols, rows = grid_phase_sums(plane.luma)
    bh, bw = cols.shape[:2]
    details: dict[str, Any] = {}
    col_profile, row_profile = cols.sum(axis=(0, 1)), rows.sum(axis=(0, 1))
    col_phase, col_excess = (float(v) for v in phase_excess(col_profile, 1))
    row_phase, row_excess = (float(v) for v in phase_excess(row_profile, 1))
    shifted = min(col_excess, row_excess) >= config.global_grid_excess
    global_offset = (int(row_phase), int(col_phase)) if shifted else (0, 0)
    details["grid_offset"] = list(global_offset)
    details["grid_excess"] = round(float(min(col_excess, row_excess)), 3)
    details["last_grid_strength"] = round(
        float(col_profile[0] / max(np.median(col_profile[1:]), 1e-6) - 1.0), 3
    )
    # Baseline for benchmarks: how unevenly the last grid's blocking spreads over the photo.
    k = config.grid_window
    if min(bh, bw) >= 2:
        own = cv2.boxFilter(cols[:, :, 0] + rows[:, :, 0], -1, (k, k))
        rest = cv2.boxFilter(cols[:, :, 1:].mean(-1) + rows[:, :, 1:].mean(-1), -1, (k, k))
        ratio = own / np.maximum(rest, 1e-3)
        baseline = float(np.clip(ratio.std() / max(ratio.mean(), 1e-6), 0.0, 1.0))
    else:
        baseline = 0.0
    heat = np.zeros((bh, bw), np.float32)
    if min(bh, bw) < k:
        return _Evidence(0.0, [], heat, details, baseline=round(baseline, 4))
    cphase, cexcess = phase_excess(cols, k)
    rphase, rexcess = phase_excess(rows, k)
    local = np.minimum(cexcess, rexcess)
    odd = (local >= config.grid_excess) & (
        (rphase != global_offset[0]) | (cphase != global_offset[1])
    )
    # A texture with a period of 8 px raises one phase in one direction; a JPEG grid raises
    # one phase in both, over a compact area.
    heat = np.clip(local / (2 * config.grid_excess), 0.0, 1.0).astype(np.float32) * odd
    n, labels, stats, _ = cv2.connectedComponentsWithStats(odd.astype(np.uint8), connectivity=8)
    boxes: list[tuple[tuple[int, int, int, int], float]] = []
    best, top_strength = 0.0, 0.0
    # Texture phases add up over a large photo: the bar rises with its size.
    flag_at = max(float(config.grid_flag_blocks), config.grid_flag_share * bh * bw)
    limit = config.max_region_share * bh * bw
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area > limit:
            continue
        member = labels == i
        phases = (rphase[member] * 8 + cphase[member]).ravel()
        consistent = float(np.bincount(phases).max() / phases.size)
        strength = area * consistent
        top_strength = max(top_strength, strength)
        s = _logistic(strength, flag_at, flag_at / 3)
        boxes.append(((8 * x, 8 * y, 8 * w, 8 * h), s))
        best = max(best, s)
    boxes.sort(key=lambda b: -b[1])
    details["misaligned_blocks"] = int(odd.sum())
    details["grid_region_strength"] = round(top_strength, 1)
    return _Evidence(best, boxes, heat, details, baseline=round(baseline, 4))


def _logistic(value: float, middle: float, scale: float) -> float:
    return float(1.0 / (1.0 + np.exp(-(value - middle) / max(scale, 1e-6))))


def _confidence(plane: _Plane, adq: _Evidence, grid: _Evidence) -> float:
    h, w = plane.luma.shape
    size = min(1.0, (h * w) / (256 * 256))
    q2 = float(np.median(plane.table[:3, :3]))
    coarse = 1.0 if q2 <= 12 else 12.0 / q2
    evidence = 1.0 if adq.double else 0.6
    return round(float(size * coarse * evidence), 3)


def _full_grid(blocks: np.ndarray, h: int, w: int) -> np.ndarray:
    """The block map padded to cover partial edge blocks (one cell per 8x8 pixels)."""
    rows, cols = -(-h // 8), -(-w // 8)
    if blocks.size == 0:
        return np.zeros((max(rows, 1), max(cols, 1)), np.float32)
    out = np.pad(blocks, ((0, rows - blocks.shape[0]), (0, cols - blocks.shape[1])), mode="edge")
    return np.ascontiguousarray(out, np.float32)


def _orient_box(
    box: tuple[int, int, int, int], w: int, h: int, orientation: int
) -> tuple[int, int, int, int]:
    """A box in stored pixels (photo ``w`` x ``h`` as stored) in upright pixels, clipped."""
    x, y, bw, bh = box
    bw, bh = min(bw, w - x), min(bh, h - y)
    if orientation == 2:
        x = w - x - bw
    elif orientation == 3:
        x, y = w - x - bw, h - y - bh
    elif orientation == 4:
        y = h - y - bh
    elif orientation == 5:
        x, y, bw, bh = y, x, bh, bw
    elif orientation == 6:
        x, y, bw, bh = h - y - bh, x, bh, bw
    elif orientation == 7:
        x, y, bw, bh = h - y - bh, w - x - bw, bh, bw
    elif orientation == 8:
        x, y, bw, bh = y, w - x - bw, bh, bw
    return x, y, max(1, bw), max(1, bh)
