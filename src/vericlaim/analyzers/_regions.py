"""Pure functions that turn residual maps into compact regions (heatmaps and boxes)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Box", "Component", "edit_regions", "largest_component", "soft_regions"]


@dataclass(frozen=True, slots=True)
class Box:
    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    def scaled(self, f: float) -> Box:
        x0, y0 = int(np.floor(self.x * f)), int(np.floor(self.y * f))
        x1, y1 = int(np.ceil((self.x + self.w) * f)), int(np.ceil((self.y + self.h) * f))
        return Box(x0, y0, max(1, x1 - x0), max(1, y1 - y0), self.score)


@dataclass(frozen=True, slots=True)
class Component:
    """A connected set of blocks on a block grid."""

    box: Box
    blocks: int
    informative: int
    block_size: int
    labels: np.ndarray

    def mask_like(self, shape: tuple[int, int]) -> np.ndarray:
        grid = self.labels.astype(np.float32)
        up = np.kron(grid, np.ones((self.block_size, self.block_size), np.float32))
        out = np.zeros(shape, np.float32)
        h, w = min(shape[0], up.shape[0]), min(shape[1], up.shape[1])
        out[:h, :w] = up[:h, :w]
        return out


def edit_regions(
    zmap: np.ndarray,
    valid: np.ndarray,
    *,
    z: float,
    min_area: float,
    to_full: float,
    z_low: float | None = None,
    max_regions: int = 12,
    max_share: float = 0.3,
    diffuse_share: float = 0.05,
) -> tuple[list[Box], np.ndarray]:
    """Compact regions where the claim departs from the aligned reference.

    Hysteresis thresholding (Canny 1986): pixels above ``z`` seed a region, which grows over
    connected pixels above ``z_low`` (0.6 ``z`` by default), so a soft stain or an
    inpainted patch is boxed whole rather than only its core. Pieces are grouped by a small
    dilation (the fragments of one thin crack form one region, which an opening would
    erase). A region is kept when its seed pixels cover at least ``min_area`` of the frame
    and stand out on average by ``1.25 z``; a box wider than ``diffuse_share`` of the frame
    must also be more than scattered specks (its 90th percentile above ``z_low``). Returns
    boxes in full-resolution pixels (``to_full`` times comparison pixels) and a heatmap in
    [0, 1] at comparison resolution.
    """
    h, w = zmap.shape
    z_low = 0.6 * z if z_low is None else z_low
    seeds = (zmap > z) & valid
    low = ((zmap > z_low) & valid).astype(np.uint8)
    k = max(3, round(min(h, w) / 80) | 1)
    grouped = cv2.dilate(low, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    n, labels = cv2.connectedComponents(grouped, connectivity=8)
    min_px = max(min_area * h * w, 10.0)
    heat = np.clip(zmap / (3 * z), 0.0, 1.0).astype(np.float32)
    keep_mask = np.zeros((h, w), bool)
    boxes: list[Box] = []
    seed_labels = labels[seeds]
    if seed_labels.size == 0:
        return [], heat * 0.3
    counts = np.bincount(seed_labels, minlength=n)
    sums = np.bincount(seed_labels, weights=zmap[seeds], minlength=n)
    for i in np.flatnonzero(counts >= min_px):
        if i == 0 or sums[i] / counts[i] < 1.25 * z:
            continue
        member = (labels == i) & (low > 0)
        if member.sum() > 12 * counts[i]:
            # Weak residual spread far beyond the seeds (a soft texture mismatch): box the
            # seeds and their close surroundings only.
            near = cv2.dilate(
                ((labels == i) & seeds).astype(np.uint8), np.ones((3 * k, 3 * k), np.uint8)
            )
            member = member & (near > 0)
        ys, xs = np.nonzero(member)
        x0, y0 = int(xs.min()), int(ys.min())
        bw_, bh_ = int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1
        if bw_ * bh_ > max_share * h * w:
            continue  # a change over most of the frame is light or a filter, not a local edit
        if min(bw_, bh_) < 0.012 * min(h, w) and max(bw_, bh_) > 10 * min(bw_, bh_):
            continue  # a hairline along a straight edge: the border of a framed copy
        if bw_ * bh_ > diffuse_share * h * w:
            inside = zmap[y0 : y0 + bh_, x0 : x0 + bw_][valid[y0 : y0 + bh_, x0 : x0 + bw_]]
            if inside.size and float(np.quantile(inside, 0.9)) < z_low:
                # A wide box nearly all at the noise level: scattered specks over a stretch
                # of uneven light (a re-photographed screen's falloff, moire), not an edit.
                continue
        strength = float(sums[i] / counts[i])
        box = Box(
            x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1, min(1.0, strength / (4 * z))
        )
        boxes.append(box.scaled(to_full))
        keep_mask |= member
    heat[~keep_mask] *= 0.3
    boxes.sort(key=lambda b: -b.w * b.h)
    return boxes[:max_regions], heat


def soft_regions(
    zmap: np.ndarray,
    valid: np.ndarray,
    *,
    to_full: float,
    z_floor: float = 3.0,
    robust_sigmas: float = 8.0,
    window: float = 1 / 40,
    clip: float = 8.0,
    min_area: float = 0.002,
    max_share: float = 0.3,
) -> tuple[list[Box], np.ndarray]:
    """Broad, soft changes that no single pixel shows: a faint stain or a smooth inpainted
    patch raises the residual a little over a wide area, below any per-pixel threshold that
    resampling along edges can also reach.

    The residual is averaged over a window (``window`` of the short side; each pixel clipped
    at ``clip`` so that one sharp edge cannot carry a window), and the photo's own averaged
    residual sets the bar, as in constant-false-alarm-rate detection: a region must stand
    ``robust_sigmas`` robust standard deviations (1.4826 x MAD) above the median, and at
    least ``z_floor`` noise units, over ``min_area`` of the frame. Returns boxes in
    full-resolution pixels and a heatmap in [0, 1] at comparison resolution.
    """
    h, w = zmap.shape
    r = max(3, round(min(h, w) * window) | 1)
    inside = valid.astype(np.float32)
    total = cv2.blur(np.minimum(zmap, clip) * inside, (r, r))
    weight = cv2.blur(inside, (r, r))
    mean = np.where(weight > 0.5, total / np.maximum(weight, 1e-6), 0.0).astype(np.float32)
    values = mean[valid]
    if values.size < 100:
        return [], np.zeros((h, w), np.float32)
    median = float(np.median(values))
    spread = 1.4826 * float(np.median(np.abs(values - median)))
    bar = max(z_floor, median + robust_sigmas * spread)
    seeds = (mean > bar) & valid
    grown = ((mean > 0.7 * bar) & valid).astype(np.uint8)
    heat = np.clip(mean / (2 * bar), 0.0, 1.0).astype(np.float32)
    if not seeds.any():
        return [], heat * 0.3
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    counts = np.bincount(labels[seeds], minlength=n)
    boxes: list[Box] = []
    kept = np.zeros((h, w), bool)
    for i in np.flatnonzero(counts >= max(min_area * h * w, 10.0)):
        if i == 0:
            continue
        x, y, bw, bh, _ = (int(v) for v in stats[i])
        if bw * bh > max_share * h * w:
            continue  # most of the frame: light or a filter, not a local edit
        strength = float(mean[labels == i].max())
        boxes.append(Box(x, y, bw, bh, min(1.0, strength / (2 * bar))).scaled(to_full))
        kept |= labels == i
    heat[~kept] *= 0.3
    boxes.sort(key=lambda b: -b.w * b.h)
    return boxes, heat


def largest_component(grid: np.ndarray, block_size: int = 16) -> Component | None:
    """The largest 4-connected component of a boolean block grid, or ``None``."""
    if not grid.any():
        return None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grid.astype(np.uint8), connectivity=4)
    if n <= 1:
        return None
    i = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, bw, bh, area = (int(v) for v in stats[i])
    box = Box(x * block_size, y * block_size, bw * block_size, bh * block_size)
    inside = labels[y : y + bh, x : x + bw]
    return Component(box, area, int(inside.size), block_size, labels == i)
