"""Pure functions for copy-move detection: candidate transforms and their dense verification.

A cloned region is the same pixels twice in one photo, noise included. Candidates come from
two cheap searches (keypoints matched against the photo itself, and overlapping blocks
sorted by their low-frequency DCT coefficients); each candidate transform is then checked
densely: the band-passed photo is correlated with its transformed self in small windows,
and only regions that agree almost exactly survive.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Candidate",
    "CloneRegion",
    "bandpass",
    "block_shifts",
    "clone_regions",
    "correlation_map",
    "keypoint_pairs",
    "pair_transforms",
]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A transform ``target = M @ [x, y, 1]`` that maps a possible source onto its copy."""

    matrix: tuple[tuple[float, float, float], tuple[float, float, float]]
    support: int
    origin: str  # "keypoints" or "blocks"

    def as_array(self) -> np.ndarray:
        return np.asarray(self.matrix, np.float32)

    @property
    def shift(self) -> tuple[float, float]:
        return float(self.matrix[0][2]), float(self.matrix[1][2])


@dataclass(frozen=True, slots=True)
class CloneRegion:
    """One verified duplicated region, at working resolution."""

    source: tuple[int, int, int, int]  # x, y, w, h
    target: tuple[int, int, int, int]
    area: int  # pixels of agreement in the source region
    correlation: float  # mean windowed correlation over the region
    sharpness: float  # drop of correlation when the transform is nudged by 2 px
    repeat: float  # correlation one more step along the transform (repetition, not a clone)


def bandpass(gray: np.ndarray, *, sigma: float = 2.0) -> np.ndarray:
    """Fine detail of a grayscale photo: the photo minus its Gaussian blur.

    Fine detail carries the sensor noise and texture that a clone copies exactly and a
    natural repetition (a second carton, another tile) does not.
    """
    gray = np.asarray(gray, np.float32)
    return gray - cv2.GaussianBlur(gray, (0, 0), sigma)


def keypoint_pairs(
    gray: np.ndarray,
    *,
    max_features: int = 2500,
    ratio: float = 0.6,
    max_distance: int = 64,
    min_offset: float = 10.0,
    neighbours: int = 4,
) -> np.ndarray:
    """Pairs of keypoints of one photo whose descriptors match each other (g2NN).

    ORB keypoints (Rublee et al. 2011) are matched against the same photo. Following the
    generalised 2NN test of Amerini et al., a keypoint keeps its ``k``-th neighbour while
    each distance is below ``ratio`` times the next one, so a region cloned several times
    keeps all its copies. Pairs closer than ``min_offset`` pixels are dropped.

    Returns
    -------
    ndarray, shape (n, 4)
        ``x1, y1, x2, y2`` per pair, with the first point the leftmost (then topmost).

    References
    ----------
    I. Amerini, L. Ballan, R. Caldelli, A. Del Bimbo, G. Serra. A SIFT-based forensic method
    for copy-move attack detection and transformation recovery. IEEE TIFS 6(3), 2011.
    """
    gray = np.ascontiguousarray(gray, np.uint8)
    empty = np.zeros((0, 4), np.float32)
    if min(gray.shape[:2]) < 32:
        return empty
    orb = cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=max_features,
        scaleFactor=1.3,
        nlevels=3,
        edgeThreshold=15,
        patchSize=15,
        fastThreshold=5,
    )
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or len(keypoints) < 3:
        return empty
    k = min(neighbours + 1, len(keypoints))
    matches = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(descriptors, descriptors, k=k)
    rows = [r for r in matches if len(r) == k]
    if not rows:
        return empty
    query = np.array([[m.queryIdx for m in r] for r in rows], np.int64)
    train = np.array([[m.trainIdx for m in r] for r in rows], np.int64)
    dist = np.array([[m.distance for m in r] for r in rows], np.float32)
    # Drop the keypoint's match with itself (distance 0, usually first).
    not_self = train != query
    order = np.argsort(~not_self, axis=1, kind="stable")
    train = np.take_along_axis(train, order, 1)[:, : k - 1]
    dist = np.take_along_axis(dist, order, 1)[:, : k - 1]
    query = query[:, : k - 1]
    if dist.shape[1] < 2:
        return empty
    # g2NN: keep the first j neighbours while d_j / d_{j+1} < ratio.
    passes = dist[:, :-1] < ratio * np.maximum(dist[:, 1:], 1.0)
    keep = np.cumprod(passes, axis=1).astype(bool) & (dist[:, :-1] <= max_distance)
    q, t = query[:, :-1][keep], train[:, :-1][keep]
    points = np.array([kp.pt for kp in keypoints], np.float32)
    first, second = points[np.minimum(q, t)], points[np.maximum(q, t)]
    pairs = np.unique(np.hstack([first, second]), axis=0)
    far = np.hypot(pairs[:, 2] - pairs[:, 0], pairs[:, 3] - pairs[:, 1]) >= min_offset
    pairs = pairs[far]
    swap = (pairs[:, 2] < pairs[:, 0]) | (
        (pairs[:, 2] == pairs[:, 0]) & (pairs[:, 3] < pairs[:, 1])
    )
    pairs[swap] = pairs[swap][:, [2, 3, 0, 1]]
    return pairs.astype(np.float32)


def pair_transforms(
    pairs: np.ndarray,
    *,
    min_pairs: int = 5,
    bin_px: float = 3.0,
    max_candidates: int = 6,
) -> list[Candidate]:
    """Group matched pairs into transforms: translations first, then similarities.

    Most clones are moved, not turned, so pairs are first voted by displacement (bins of
    ``bin_px``); what is left is searched for similarity transforms by RANSAC, one cluster at
    a time. Each cluster needs ``min_pairs`` consistent pairs.
    """
    pairs = np.asarray(pairs, np.float32).reshape(-1, 4)
    candidates: list[Candidate] = []
    left = np.ones(len(pairs), bool)
    if len(pairs) < min_pairs:
        return candidates
    shift = pairs[:, 2:] - pairs[:, :2]
    cells = np.round(shift / bin_px).astype(np.int64)
    keys, inverse, counts = np.unique(cells, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    for i in np.argsort(-counts, kind="stable"):
        if counts[i] < min_pairs or len(candidates) >= max_candidates:
            break
        near = left & (np.abs(cells - keys[i]).max(axis=1) <= 1)
        if near.sum() < min_pairs:
            continue
        dx, dy = np.median(shift[near], axis=0)
        member = left & (np.hypot(shift[:, 0] - dx, shift[:, 1] - dy) <= 1.5 * bin_px)
        left &= ~member
        candidates.append(
            Candidate(
                ((1.0, 0.0, float(dx)), (0.0, 1.0, float(dy))), int(member.sum()), "keypoints"
            )
        )
    for _ in range(3):
        if left.sum() < 2 * min_pairs or len(candidates) >= max_candidates:
            break
        src, dst = pairs[left, :2], pairs[left, 2:]
        matrix, inliers = cv2.estimateAffinePartial2D(
            src, dst, method=cv2.RANSAC, ransacReprojThreshold=3.0, maxIters=500, confidence=0.99
        )
        if matrix is None or inliers is None or int(inliers.sum()) < 2 * min_pairs:
            break
        scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
        index = np.flatnonzero(left)[inliers.ravel().astype(bool)]
        left[index] = False
        if not 0.5 <= scale <= 2.0:
            continue
        rows = tuple(tuple(float(v) for v in row) for row in matrix)
        candidates.append(Candidate(rows, len(index), "keypoints"))  # type: ignore[arg-type]
    return candidates


def _dct_kernels(block: int, order: int) -> list[tuple[np.ndarray, np.ndarray]]:
    x = np.arange(block)
    kernels = []
    for u in range(order):
        for v in range(order - u):
            if u == 0 and v == 0:
                continue
            cu = np.cos((2 * x + 1) * u * np.pi / (2 * block))
            cv_ = np.cos((2 * x + 1) * v * np.pi / (2 * block))
            kernels.append(
                (
                    (cu / np.linalg.norm(cu)).astype(np.float32),
                    (cv_ / np.linalg.norm(cv_)).astype(np.float32),
                )
            )
    return kernels


def block_shifts(
    gray: np.ndarray,
    *,
    block: int = 8,
    step: float = 3.0,
    min_std: float = 3.0,
    min_offset: int = 16,
    neighbours: int = 3,
    max_candidates: int = 4,
    min_votes: int = 12,
) -> list[Candidate]:
    """Shifts shared by many pairs of identical blocks (Fridrich et al. 2003).

    Every overlapping ``block``-pixel block with some texture (standard deviation above
    ``min_std``) is described by its low-frequency DCT coefficients, quantised by ``step``;
    the rows are sorted lexicographically so equal blocks become neighbours, and each
    agreeing pair votes for its shift. A cloned region gives one shift many votes.

    References
    ----------
    J. Fridrich, D. Soukal, J. Lukáš. Detection of copy-move forgery in digital images.
    Digital Forensic Research Workshop, 2003.
    V. Christlein, C. Riess, J. Jordan, C. Riess, E. Angelopoulou. An evaluation of popular
    copy-move forgery detection approaches. IEEE TIFS 7(6), 2012.
    """
    gray = np.asarray(gray, np.float32)
    h, w = gray.shape
    if h < 2 * block or w < 2 * block:
        return []
    rows, cols = h - block + 1, w - block + 1
    features = [
        cv2.sepFilter2D(gray, cv2.CV_32F, kx, ky, anchor=(0, 0), borderType=cv2.BORDER_REFLECT)[
            :rows, :cols
        ]
        for ky, kx in _dct_kernels(block, 4)
    ]
    mean = cv2.boxFilter(gray, -1, (block, block), anchor=(0, 0))[:rows, :cols]
    square = cv2.boxFilter(gray * gray, -1, (block, block), anchor=(0, 0))[:rows, :cols]
    textured = np.flatnonzero(np.sqrt(np.maximum(square - mean * mean, 0.0)) > min_std)
    if textured.size < 2:
        return []
    quantised = np.round(np.stack(features, -1).reshape(-1, len(features))[textured] / step)
    quantised = np.clip(quantised, -1000, 1000).astype(np.int32)
    ys, xs = np.divmod(textured, cols)
    # Sort by the first four coefficients packed in one key (cheaper than a lexsort).
    key = np.zeros(len(quantised), np.int64)
    for c in range(4):
        key = key * 2048 + (quantised[:, c] + 1024)
    order = np.argsort(key, kind="stable")
    quantised, ys, xs = quantised[order], ys[order], xs[order]
    votes = []
    for off in range(1, neighbours + 1):
        same = np.abs(quantised[off:] - quantised[:-off]).max(axis=1) <= 1
        dx, dy = xs[off:] - xs[:-off], ys[off:] - ys[:-off]
        same &= dx * dx + dy * dy >= min_offset * min_offset
        flip = (dx < 0) | ((dx == 0) & (dy < 0))
        votes.append(np.stack([np.where(flip, -dx, dx), np.where(flip, -dy, dy)], 1)[same])
    shifts = np.concatenate(votes).astype(np.int64)
    if len(shifts) == 0:
        return []
    packed = shifts[:, 0] * 8192 + shifts[:, 1] + 4096
    keys, counts = np.unique(packed, return_counts=True)
    out: list[Candidate] = []
    for i in np.argsort(-counts, kind="stable"):
        if counts[i] < min_votes or len(out) >= max_candidates:
            break
        sx, rest = divmod(int(keys[i]), 8192)
        sy = rest - 4096
        if any(abs(sx - c.shift[0]) <= 2 and abs(sy - c.shift[1]) <= 2 for c in out):
            continue
        near = np.abs(shifts - [sx, sy]).max(axis=1) <= 1
        out.append(
            Candidate(((1.0, 0.0, float(sx)), (0.0, 1.0, float(sy))), int(near.sum()), "blocks")
        )
    return out


def correlation_map(
    detail: np.ndarray,
    matrix: np.ndarray,
    *,
    window: int = 7,
    roi: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windowed correlation between fine detail at ``x`` and at ``matrix @ x``.

    ``window`` is the side of the square averaging window; ``roi`` (``x, y, w, h``) limits
    the work to part of the photo. Returns the correlation (-1..1) and the smaller of the
    two local detail energies (variance of the band-passed photo), which says where the
    correlation means something.
    """
    h, w = detail.shape
    x0, y0, rw, rh = roi if roi is not None else (0, 0, w, h)
    m = np.asarray(matrix, np.float32).copy()
    m[:, 2] += m[:, :2] @ np.array([x0, y0], np.float32)
    moved = cv2.warpAffine(
        detail,
        m,
        (rw, rh),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    here = detail[y0 : y0 + rh, x0 : x0 + rw]

    def smooth(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(a, -1, (window, window), borderType=cv2.BORDER_REFLECT)

    sab, saa, sbb = smooth(here * moved), smooth(here * here), smooth(moved * moved)
    corr = sab / np.sqrt(saa * sbb + 1e-3)
    return corr, np.minimum(saa, sbb)


def _mean_on(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else 0.0


def clone_regions(
    detail: np.ndarray,
    candidate: Candidate,
    *,
    min_correlation: float = 0.9,
    min_energy: float = 1.0,
    min_area: int = 100,
    nudge: float = 2.0,
    max_regions: int = 3,
    grow_correlation: float = 0.6,
) -> tuple[list[CloneRegion], np.ndarray, np.ndarray]:
    """Verify one candidate densely and return the regions that agree almost exactly.

    A pixel agrees when the windowed correlation of fine detail with its transformed self
    exceeds ``min_correlation`` and both places carry detail energy above ``min_energy``
    (flat, saturated or smoothed-out areas say nothing). Agreeing pixels are cleaned by a
    small opening and grouped; a group of at least ``min_area`` pixels is a region. Each
    region also reports how much the agreement drops when the transform is nudged by
    ``nudge`` pixels (a clone agrees only at the exact offset; a straight edge or a smooth
    gradient still agrees when shifted along itself) and how well it agrees one more step
    along the transform (a repeating pattern does; a clone does not).

    Returns the regions, the source mask and the target mask (uint8, working resolution).
    """
    h, w = detail.shape
    matrix = candidate.as_array()
    corr, energy = correlation_map(detail, matrix)
    agree: np.ndarray = ((corr > min_correlation) & (energy > min_energy)).astype(np.uint8)
    agree = cv2.morphologyEx(agree, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    # Hysteresis: a region seeded by near-exact agreement grows over looser agreement, so
    # a recompressed copy is outlined whole; its statistics stay those of the seeds.
    loose = ((corr > grow_correlation) & (energy > 0.25 * min_energy)).astype(np.uint8)
    _, grown_labels = cv2.connectedComponents(np.maximum(loose, agree), connectivity=8)
    source_mask: np.ndarray = np.zeros((h, w), np.uint8)
    target_mask: np.ndarray = np.zeros((h, w), np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(agree, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    big = [
        1 + int(i) for i in np.argsort(-areas, kind="stable")[:max_regions] if areas[i] >= min_area
    ]
    if not big:
        return [], source_mask, target_mask
    twice = matrix[:, :2] @ matrix
    twice[:, 2] += matrix[:, 2]
    steps = [twice, cv2.invertAffineTransform(matrix)]
    if np.allclose(matrix[:, :2], np.eye(2), atol=0.02):
        # A pattern's pitch may be a fraction of the offset that was found.
        for k in (2, 3, 4, 5, 6):
            if np.hypot(*matrix[:, 2]) / k >= 8:
                pitch = [[1.0, 0.0, matrix[0, 2] / k], [0.0, 1.0, matrix[1, 2] / k]]
                steps.append(np.array(pitch, np.float32))
    regions: list[CloneRegion] = []
    for i in big:
        x0, y0, bw, bh = (int(v) for v in stats[i, :4])
        window = (slice(y0, y0 + bh), slice(x0, x0 + bw))
        member = labels[window] == i
        grown = np.isin(grown_labels, np.unique(grown_labels[window][member]))
        if grown.sum() > min(40 * member.sum(), 0.25 * h * w):
            # Loose agreement spreading far (smooth shading, a pattern): the seeds only.
            grown = np.zeros((h, w), bool)
            grown[window] = member
        gy, gx = np.nonzero(grown)
        tx = matrix[0, 0] * gx + matrix[0, 1] * gy + matrix[0, 2]
        ty = matrix[1, 0] * gx + matrix[1, 1] * gy + matrix[1, 2]
        inside = (tx >= 0) & (tx <= w - 1) & (ty >= 0) & (ty <= h - 1)
        if inside.sum() < min_area:
            continue
        source_mask[grown] = 1
        target_mask[np.round(ty[inside]).astype(int), np.round(tx[inside]).astype(int)] = 1
        mean_corr = _mean_on(corr[window], member)
        box = (x0, y0, bw, bh)
        best_nudge = -1.0
        for ddx, ddy in ((nudge, 0.0), (-nudge, 0.0), (0.0, nudge), (0.0, -nudge)):
            m = matrix.copy()
            m[0, 2] += ddx
            m[1, 2] += ddy
            best_nudge = max(best_nudge, _mean_on(correlation_map(detail, m, roi=box)[0], member))
        repeat = _repeat(detail, member, box, tuple(steps), min_energy)
        tx, ty = tx[inside], ty[inside]
        regions.append(
            CloneRegion(
                source=(
                    int(gx.min()),
                    int(gy.min()),
                    int(np.ptp(gx)) + 1,
                    int(np.ptp(gy)) + 1,
                ),
                target=(
                    int(np.floor(tx.min())),
                    int(np.floor(ty.min())),
                    int(np.ceil(np.ptp(tx))) + 1,
                    int(np.ceil(np.ptp(ty))) + 1,
                ),
                area=int(member.sum()),
                correlation=mean_corr,
                sharpness=mean_corr - best_nudge,
                repeat=repeat,
            )
        )
    if target_mask.any():
        target_mask = cv2.morphologyEx(target_mask, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    return regions, source_mask, target_mask


def _repeat(
    detail: np.ndarray,
    member: np.ndarray,
    box: tuple[int, int, int, int],
    steps: tuple[np.ndarray, ...],
    min_energy: float,
) -> float:
    """Best agreement of a region one step further along, or back along, its transform.

    Items on a shelf or tiles are not spaced to the pixel, so each step is searched within
    two pixels. A clone agrees with its copy only; a row of equal things agrees onwards.
    """
    best = 0.0
    nudges = [(0.0, 0.0)] + [(x, y) for x in (-2.0, 0.0, 2.0) for y in (-2.0, 0.0, 2.0) if x or y]
    for step in steps:
        for ddx, ddy in nudges:
            m = np.asarray(step, np.float32).copy()
            m[0, 2] += ddx
            m[1, 2] += ddy
            corr, energy = correlation_map(detail, m, roi=box)
            seen = member & (energy > min_energy)
            if seen.sum() < 0.3 * member.sum():
                break  # this step leaves the photo
            best = max(best, _mean_on(corr, seen))
            if best >= 0.6:
                return best  # clearly a repeating pattern: no need to look further
    return best
