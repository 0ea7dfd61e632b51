"""Pure functions that compare two independent views of one scene for local damage.

Two honest photos of the same damaged surface differ in viewpoint, light, sharpness and
sensor noise, but not in what the surface carries: a crack, a dent or a tear sits at the
same place on the surface in both. After a homography aligns the dominant plane, the
coarse structure of the two views is compared block by block with a Weber-normalised
band-pass (robust to light), whose block energy says how much structure each view holds
and whose normalised cross-correlation says whether it is the same structure. A compact
set of blocks where one view holds strong structure and the other holds none, inside
surroundings that agree, is a damage that one photo shows and the other does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vericlaim.analyzers._regions import Box

__all__ = [
    "DamageComparison",
    "DamageRegion",
    "block_structure",
    "compare_views",
    "region_contrast",
    "weber_band",
]


@dataclass(frozen=True, slots=True)
class DamageRegion:
    """A compact region where one view holds structure the other lacks.

    ``box`` is in comparison pixels; ``side`` is ``"this"`` when the photo being analysed
    holds the structure and ``"other"`` when the other photo does. ``excess`` is the log
    energy ratio of the region above that of its surroundings (natural log; 1.4 is four
    times the energy, twice the amplitude); ``surround`` the share of the surrounding blocks
    that are consistent (both plain, or the same structure).
    """

    box: Box
    blocks: int
    excess: float
    surround: float
    side: str
    evidence: float


@dataclass(frozen=True, slots=True)
class DamageComparison:
    """What the view comparison measured, at comparison resolution.

    ``agreement`` is the share of informative blocks of the overlap whose structure
    correlates; ``regions`` the candidate damage regions, strongest first; ``heatmap`` a map
    in [0, 1] over the comparison frame.
    """

    agreement: float
    informative_blocks: int
    overlap_blocks: int
    sharpen_sigma: float
    regions: tuple[DamageRegion, ...]
    heatmap: np.ndarray

    @property
    def strength(self) -> float:
        return self.regions[0].evidence if self.regions else 0.0


def weber_band(gray: np.ndarray, *, fine: float = 1.2, coarse: float = 4.0) -> np.ndarray:
    """Band-pass luminance divided by the local mean luminance (Weber contrast).

    A change of light multiplies luminance and leaves the ratio unchanged, so the two views
    of one surface under different light give the same map up to noise.

    Parameters
    ----------
    gray : ndarray
        Luminance, float32, 0..255.
    fine, coarse : float
        Gaussian scales (pixels) of the difference of Gaussians.

    Returns
    -------
    ndarray
        The Weber band-pass map, float32, same shape.

    References
    ----------
    D. Marr, E. Hildreth. Theory of edge detection. Proc. R. Soc. Lond. B 207, 1980.
    """
    low = cv2.GaussianBlur(gray, (0, 0), coarse)
    high = cv2.GaussianBlur(gray, (0, 0), fine)
    return ((high - low) / (low + 16.0)).astype(np.float32)


def _block_mean(x: np.ndarray, bh: int, bw: int, block: int) -> np.ndarray:
    crop = np.ascontiguousarray(x[: bh * block, : bw * block], dtype=np.float32)
    return cv2.resize(crop, (bw, bh), interpolation=cv2.INTER_AREA)


def block_structure(
    a: np.ndarray, b: np.ndarray, valid: np.ndarray, *, block: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-block energy of ``a`` and ``b`` (mean square), their normalised cross-correlation,
    and the valid share of each block.

    References
    ----------
    J. P. Lewis. Fast normalized cross-correlation. Vision Interface, 1995.
    """
    h, w = a.shape
    bh, bw = h // block, w // block
    v = _block_mean(valid.astype(np.float32), bh, bw, block)
    ma, mb = _block_mean(a, bh, bw, block), _block_mean(b, bh, bw, block)
    ea, eb = _block_mean(a * a, bh, bw, block), _block_mean(b * b, bh, bw, block)
    sa = np.sqrt(np.maximum(ea - ma * ma, 0.0))
    sb = np.sqrt(np.maximum(eb - mb * mb, 0.0))
    ncc = (_block_mean(a * b, bh, bw, block) - ma * mb) / np.maximum(sa * sb, 1e-9)
    return ea, eb, ncc, v


def _match_sharpness(la: np.ndarray, lb: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """Blur (Gaussian sigma) to apply to ``la`` and to ``lb`` so that they are equally sharp:
    the one whose blurring best brings its band-pass towards the other's."""
    sample = np.flatnonzero(valid.ravel())[::5]
    if len(sample) < 100:
        return 0.0, 0.0
    base_a, base_b = weber_band(la).ravel()[sample], weber_band(lb).ravel()[sample]
    best = (float(np.mean(np.abs(base_a - base_b))), 0.0, 0.0)
    for sigma in (0.7, 1.2, 2.0):
        ba = weber_band(cv2.GaussianBlur(la, (0, 0), sigma)).ravel()[sample]
        err = float(np.mean(np.abs(ba - base_b)))
        if err < best[0]:
            best = (err, sigma, 0.0)
        bb = weber_band(cv2.GaussianBlur(lb, (0, 0), sigma)).ravel()[sample]
        err = float(np.mean(np.abs(base_a - bb)))
        if err < best[0]:
            best = (err, 0.0, sigma)
    return best[1], best[2]


def compare_views(
    this: np.ndarray,
    other: np.ndarray,
    valid: np.ndarray,
    *,
    block: int = 8,
    agree_ncc: float = 0.5,
    differ_ncc: float = 0.5,
    min_ratio: float = 2.5,
    strong: float = 3.0,
    floor: float = 2.5e-5,
    max_share: float = 0.15,
    saturated: float = 245.0,
) -> DamageComparison:
    """Compare two views of one scene, the ``other`` already warped into ``this`` frame.

    Parameters
    ----------
    this, other : ndarray
        Luminance (float32, 0..255) of the two views, same shape.
    valid : ndarray
        Boolean mask of the pixels the warped ``other`` covers.
    block : int
        Block side in pixels.
    agree_ncc : float
        Correlation of the band-passed blocks above which they show the same structure.
    differ_ncc : float
        Correlation below which a block with structure in one view only is a candidate.
    min_ratio : float
        Energy ratio (stronger / weaker view, after the global ratio is divided out) a
        candidate block must reach.
    strong : float
        A candidate's energy must reach this multiple of the median block energy of the
        view that holds it: damage stands out of the texture of its own surface.
    floor : float
        Energy floor (Weber units squared) below which a block is plain in both views.
    max_share : float
        Largest region, as a share of the overlap; anything larger is light or parallax.
    saturated : float
        Luminance from which a pixel is a specular highlight rather than surface.

    Returns
    -------
    DamageComparison

    References
    ----------
    R. Szeliski. Computer Vision: Algorithms and Applications, 2nd ed., 2022, ch. 9
    (image alignment and comparison).
    """
    h, w = this.shape
    margin = max(3, round(0.03 * min(h, w)))
    inner = cv2.erode(valid.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8))
    inner[:margin, :] = 0
    inner[-margin:, :] = 0
    inner[:, :margin] = 0
    inner[:, -margin:] = 0
    inside = inner.astype(bool)
    sa, sb = _match_sharpness(this, other, inside)
    la = cv2.GaussianBlur(this, (0, 0), sa) if sa > 0 else this
    lb = cv2.GaussianBlur(other, (0, 0), sb) if sb > 0 else other
    ba, bb = weber_band(la), weber_band(lb)
    ea, eb, ncc, vshare = block_structure(ba, bb, inside, block=block)
    bright = np.maximum(this, other) >= saturated
    bh, bw = ea.shape
    glare = _block_mean(bright.astype(np.float32), bh, bw, block) > 0.02
    in_overlap = vshare > 0.95
    empty = DamageComparison(
        0.0, 0, int(in_overlap.sum()), max(sa, sb), (), np.zeros((h, w), np.float32)
    )
    if in_overlap.sum() < 24:
        return empty
    informative = in_overlap & (np.maximum(ea, eb) > floor)
    n_inf = int(informative.sum())
    if n_inf < 12:
        return DamageComparison(
            0.0, n_inf, int(in_overlap.sum()), max(sa, sb), (), np.zeros((h, w), np.float32)
        )
    agree = informative & (ncc > agree_ncc)
    agreement = float(agree.sum() / n_inf)
    # Energy floors: a plain block's energy is mostly noise, and a ratio of two noises means
    # nothing. The median block energy of each view is the texture of its own surface.
    med_a = float(np.median(ea[in_overlap]))
    med_b = float(np.median(eb[in_overlap]))
    fa, fb = max(med_a, floor), max(med_b, floor)
    ratio = np.log(ea + fa) - np.log(eb + fb)
    # One view is softer or more contrasted overall: only the departure from that counts.
    ratio = ratio - float(np.median(ratio[informative]))
    stand_a = ea > strong * fa
    stand_b = eb > strong * fb
    limit = float(np.log(min_ratio))
    cand_this = in_overlap & ~glare & stand_a & (ratio > limit) & (ncc < differ_ncc)
    cand_other = in_overlap & ~glare & stand_b & (ratio < -limit) & (ncc < differ_ncc)
    consistent = in_overlap & (~informative | agree)
    regions: list[DamageRegion] = []
    heat_grid = np.zeros((bh, bw), np.float32)
    for side, cand, sign in (("this", cand_this, 1.0), ("other", cand_other, -1.0)):
        if not cand.any():
            continue
        n, labels, stats, _ = cv2.connectedComponentsWithStats(
            cand.astype(np.uint8), connectivity=8
        )
        for i in range(1, n):
            x, y, cw, ch, area = (int(v) for v in stats[i])
            member = labels == i
            if cw * ch > max_share * in_overlap.sum():
                continue
            grown = cv2.dilate(member.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            ring = grown & ~member & in_overlap & ~cand_this & ~cand_other
            if ring.sum() < 6:
                continue
            surround = float(consistent[ring].mean())
            local = float(np.median(sign * ratio[ring]))
            excess = float(np.mean(sign * ratio[member])) - max(local, 0.0)
            # Evidence: how far the region stands out, discounted when it is a single block
            # (a speck) and when its surroundings do not agree (parallax, moved objects).
            size = min(1.0, float(np.sqrt(area / 3.0)))
            evidence = max(0.0, excess) * size * surround
            box = Box(x * block, y * block, cw * block, ch * block, min(1.0, evidence / 4.0))
            regions.append(DamageRegion(box, area, excess, surround, side, evidence))
            heat_grid[member] = np.maximum(heat_grid[member], min(1.0, evidence / 4.0))
    regions.sort(key=lambda r: -r.evidence)
    heat = np.zeros((h, w), np.float32)
    up = cv2.resize(heat_grid, (bw * block, bh * block), interpolation=cv2.INTER_NEAREST)
    heat[: up.shape[0], : up.shape[1]] = up
    return DamageComparison(
        agreement, n_inf, int(in_overlap.sum()), max(sa, sb), tuple(regions), heat
    )


def region_contrast(
    this: np.ndarray,
    other: np.ndarray,
    valid: np.ndarray,
    box: tuple[int, int, int, int],
    *,
    sigma: float = 1.0,
    clip: float = 250.0,
) -> float:
    """How strongly two aligned copies of one photo differ in luminance inside ``box``, in units
    of the noise of their difference around it.

    The other photo is brought to this one by a gain and an offset fitted on a ring around
    the box (local light, a filter), both are smoothed by ``sigma`` (resampling and block
    artefacts), and the mean of the largest differences inside the box is divided by the
    robust spread of the difference on the ring, discounting a quarter of the contrast of edges
    present in both photos (resampling redraws them). Chroma is ignored on purpose: chroma
    subsampling redraws saturated colour edges differently in every JPEG re-save, while a
    painted crack, stain or tear changes luminance. A box that is clipped white in either
    photo (a highlight pushed over the top by a tone change) returns 0.

    Parameters
    ----------
    this, other : ndarray
        Luminance (float32, 0..255), ``other`` aligned to ``this``.
    valid : ndarray
        Boolean mask of the pixels ``other`` covers.
    box : tuple of int
        ``(x, y, w, h)`` in the pixels of ``this``.

    Returns
    -------
    float
        The contrast in noise units; 0 when it cannot be measured.

    References
    ----------
    P. J. Rousseeuw, C. Croux. Alternatives to the median absolute deviation. JASA 88, 1993.
    """
    h, w = this.shape
    x, y, bw, bh = box
    pad = max(6, round(0.5 * max(bw, bh)))
    x0, y0 = max(0, x - pad), max(0, y - pad)
    x1, y1 = min(w, x + bw + pad), min(h, y + bh + pad)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return 0.0
    a = cv2.GaussianBlur(this[y0:y1, x0:x1], (0, 0), sigma)
    b = cv2.GaussianBlur(other[y0:y1, x0:x1], (0, 0), sigma)
    ok = valid[y0:y1, x0:x1]
    inside = np.zeros_like(ok)
    inside[max(0, y - y0) : y + bh - y0, max(0, x - x0) : x + bw - x0] = True
    inside &= ok
    ring = ok & ~inside
    if inside.sum() < 9 or ring.sum() < 30:
        return 0.0
    raw_a, raw_b = this[y0:y1, x0:x1], other[y0:y1, x0:x1]
    if max(float((raw_a[inside] >= clip).mean()), float((raw_b[inside] >= clip).mean())) > 0.05:
        return 0.0
    design = np.stack([b[ring], np.ones(int(ring.sum()), np.float32)], axis=1)
    (gain, offset), *_ = np.linalg.lstsq(design, a[ring], rcond=None)
    diff = a - (gain * b + offset)
    ring_d = diff[ring]
    noise = 1.4826 * float(np.median(np.abs(ring_d - np.median(ring_d)))) + 0.5
    # Along edges both photos share, resampling redraws every pixel: a fraction of the edge's
    # contrast is expected there. An edit has an edge in one photo only.
    kernel = np.ones((3, 3), np.uint8)
    shared = np.minimum(
        cv2.morphologyEx(a, cv2.MORPH_GRADIENT, kernel),
        cv2.morphologyEx(b, cv2.MORPH_GRADIENT, kernel),
    )
    diff = np.abs(diff) * noise / (noise + 0.25 * shared)
    top = np.sort(diff[inside])[::-1]
    k = max(5, int(0.03 * len(top)))
    return float(top[:k].mean() / noise)
