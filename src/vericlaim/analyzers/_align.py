"""Pure functions that align a claim photo with a reference photo.

Local binary features (ORB, Rublee et al. 2011) are matched with Lowe's ratio test
(Lowe 2004) and a robust homography is fitted with MAGSAC++ (Barath et al. 2020). The
mirror image is tried when the direct match is weak, because mirroring is the cheapest
disguise of a copied photo. Where a small region must be found in a larger scene, SIFT
(Lowe 2004) with RootSIFT descriptors (Arandjelovic & Zisserman 2012) holds on to weak,
soft texture that ORB loses; its mirror image comes from permuting the descriptors
(:func:`mirror_sift`) rather than from a second detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Alignment",
    "Features",
    "align",
    "align_repeated",
    "detect_features",
    "detect_sift",
    "ecc_refine",
    "gray_scale",
    "mirror_sift",
    "residual_shift",
    "shrink",
    "to_gray",
]


@dataclass(frozen=True, slots=True)
class Features:
    """Keypoints (N x 2, in the pixels of the image they were found in) and descriptors."""

    points: np.ndarray
    descriptors: np.ndarray | None
    shape: tuple[int, int]

    @property
    def count(self) -> int:
        return 0 if self.descriptors is None else len(self.descriptors)


@dataclass(frozen=True, slots=True)
class Alignment:
    """A verified homography mapping reference pixels to claim pixels.

    Both sets of pixels are those of the images given to :func:`align`. ``mirrored`` says
    the claim is a mirror image of the reference (already folded into ``homography``).
    """

    homography: np.ndarray
    inliers: int
    matches: int
    inlier_ratio: float
    spread: float
    mirrored: bool
    reference_inliers: np.ndarray | None = None
    """The inlier matches' points in the reference image given to :func:`align` (unmirrored),
    N x 2: where the reference agrees with the claim."""


def to_gray(pixels: np.ndarray, area: int) -> tuple[np.ndarray, float]:
    """Grayscale copy with at most ``area`` pixels; returns (image, scale factor).

    Sizing by area rather than by long side keeps a tall phone screenshot, whose photo fills
    only its middle, at a useful resolution.
    """
    f = gray_scale(pixels.shape, area)
    gray = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY) if pixels.ndim == 3 else pixels
    if f < 1.0:
        gray = shrink(gray, f)
    return np.ascontiguousarray(gray), f


def gray_scale(shape: tuple[int, ...], area: int) -> float:
    """The factor :func:`to_gray` scales a photo of ``shape`` by for ``area`` pixels (at most
    1: a smaller photo is used as it is)."""
    h, w = shape[:2]
    return min(1.0, float(np.sqrt(area / max(h * w, 1))))


def shrink(image: np.ndarray, f: float) -> np.ndarray:
    """Resize by ``f`` < 1 without aliasing: halve with a Gaussian pyramid while that stays
    above the target, then one bilinear step (far cheaper than area resampling at a
    fractional factor)."""
    h, w = image.shape[:2]
    size = (max(1, round(w * f)), max(1, round(h * f)))
    while image.shape[1] >= 2 * size[0] and image.shape[0] >= 2 * size[1]:
        image = cv2.pyrDown(image)
    if (image.shape[1], image.shape[0]) == size:
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def detect_features(gray: np.ndarray, *, n_features: int = 1200) -> Features:
    """ORB keypoints and descriptors, with a low FAST threshold so that soft, recompressed
    photos still yield enough points."""
    if min(gray.shape[:2]) < 32:
        return Features(np.zeros((0, 2), np.float32), None, gray.shape[:2])
    orb = cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=n_features,
        scaleFactor=1.2,
        nlevels=8,
        fastThreshold=7,
        edgeThreshold=15,
        patchSize=31,
    )
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return Features(points, descriptors, gray.shape[:2])


_SIFT_MIRROR = np.arange(128).reshape(4, 4, 8)[::-1][..., (-np.arange(8)) % 8].reshape(-1).copy()
"""The permutation of a SIFT descriptor's 128 bins that gives the descriptor of the same
point in the mirror image. In the keypoint's own frame (turned to its dominant orientation),
a left-right mirror of the photo is a reflection across that orientation's axis: the 4 x 4
grid of cells is read with its rows reversed and each cell's 8 orientation bins negated."""


def detect_sift(gray: np.ndarray, *, n_features: int = 2000, contrast: float = 0.03) -> Features:
    """SIFT keypoints with RootSIFT descriptors (unit-length float32 rows).

    ``contrast`` is SIFT's contrast threshold; below the default 0.04 so that the soft,
    recompressed texture of an uploaded photo (wood grain, carpet) still yields points.
    """
    if min(gray.shape[:2]) < 32:
        return Features(np.zeros((0, 2), np.float32), None, gray.shape[:2])
    sift = cv2.SIFT_create(nfeatures=n_features, contrastThreshold=contrast)  # type: ignore[attr-defined]
    keypoints, descriptors = sift.detectAndCompute(gray, None)
    points = np.array([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    if descriptors is None or len(descriptors) == 0:
        return Features(points[:0], None, gray.shape[:2])
    d = descriptors / (np.abs(descriptors).sum(axis=1, keepdims=True) + 1e-7)
    return Features(points, np.sqrt(d).astype(np.float32), gray.shape[:2])


def mirror_sift(features: Features) -> Features:
    """The features of :func:`detect_sift` as found on the mirror image of their photo (points
    at x' = w - 1 - x), without detecting again. Mirroring keeps SIFT's keypoints (its
    scale space is symmetric) and turns their descriptors by :data:`_SIFT_MIRROR`."""
    if features.descriptors is None:
        return features  # nothing found (a plain photo): nothing to turn
    if features.descriptors.dtype == np.uint8:
        raise ValueError("mirror_sift takes SIFT features")
    points = features.points.copy()
    points[:, 0] = (features.shape[1] - 1) - points[:, 0]
    return Features(points, features.descriptors[:, _SIFT_MIRROR], features.shape)


def _nearest_two(query: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each float query row's nearest and second-nearest train row (Euclidean): indices and
    distances. One matrix product per block of rows, far cheaper than a brute-force
    matcher at these sizes."""
    t_sq = np.einsum("ij,ij->i", train, train)
    first_i, first_d, second_d = [], [], []
    for start in range(0, len(query), 1024):
        q = query[start : start + 1024]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + t_sq[None, :] - 2.0 * (q @ train.T)
        rows = np.arange(len(q))
        best = d2.argmin(axis=1)
        first = d2[rows, best]
        d2[rows, best] = np.inf
        first_i.append(best)
        first_d.append(first)
        second_d.append(d2.min(axis=1))

    def joined(parts: list[np.ndarray]) -> np.ndarray:
        return np.sqrt(np.maximum(np.concatenate(parts), 0.0))

    return np.concatenate(first_i), joined(first_d), joined(second_d)


def _ratio_matches(query: Features, train: Features, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    if query.count < 2 or train.count < 2:
        return np.zeros((0, 2), np.float32), np.zeros((0, 2), np.float32)
    assert query.descriptors is not None and train.descriptors is not None
    if query.descriptors.dtype != np.uint8:
        best, first, second = _nearest_two(query.descriptors, train.descriptors)
        keep = np.flatnonzero(first < ratio * second)
        return query.points[keep], train.points[best[keep]]
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, train.descriptors, k=2)
    q_idx, t_idx = [], []
    for pair in pairs:
        if len(pair) == 2 and pair[0].distance < ratio * pair[1].distance:
            q_idx.append(pair[0].queryIdx)
            t_idx.append(pair[0].trainIdx)
    return query.points[q_idx], train.points[t_idx]


def _spread(points: np.ndarray, shape: tuple[int, int]) -> float:
    """Share of a 4 x 4 grid over the image that holds at least one point."""
    if len(points) == 0:
        return 0.0
    h, w = shape
    gx = np.clip((points[:, 0] / max(w, 1) * 4).astype(int), 0, 3)
    gy = np.clip((points[:, 1] / max(h, 1) * 4).astype(int), 0, 3)
    return len(set(zip(gx.tolist(), gy.tolist(), strict=True))) / 16.0


def _plausible(h: np.ndarray) -> bool:
    """Reject degenerate homographies: folds, extreme scale changes, strong perspective."""
    if not np.all(np.isfinite(h)) or abs(h[2, 2]) < 1e-9:
        return False
    h = h / h[2, 2]
    det = float(np.linalg.det(h[:2, :2]))
    if det <= 0 or not (1 / 400 < det < 400):
        return False
    return bool(np.abs(h[2, :2]).max() < 0.01)


def _fit(
    claim_pts: np.ndarray, ref_pts: np.ndarray, threshold: float
) -> tuple[np.ndarray | None, np.ndarray]:
    if len(claim_pts) < 8:
        return None, np.zeros(0, bool)
    h, mask = cv2.findHomography(
        ref_pts, claim_pts, cv2.USAC_MAGSAC, threshold, maxIters=4000, confidence=0.999
    )
    if h is None or mask is None:
        return None, np.zeros(0, bool)
    mask = mask.ravel().astype(bool)
    # Prefer the simpler model when it explains nearly as many matches: most copies are
    # resized, cropped or rotated (a similarity), and a homography fitted to matches that
    # cluster on one part of the photo bends the rest. Re-photographs keep the homography.
    sim, sim_mask = cv2.estimateAffinePartial2D(
        ref_pts, claim_pts, method=cv2.RANSAC, ransacReprojThreshold=threshold, maxIters=2000
    )
    if sim is not None and sim_mask is not None:
        sim_mask = sim_mask.ravel().astype(bool)
        if sim_mask.sum() >= 0.85 * mask.sum():
            return np.vstack([sim, [0.0, 0.0, 1.0]]), sim_mask
    return h, mask


def align(
    claim: Features,
    reference: Features,
    *,
    ratio: float = 0.8,
    threshold: float = 3.0,
    min_inliers: int = 12,
    mirrored_width: int | None = None,
) -> Alignment | None:
    """Find the transform that maps ``reference`` onto ``claim``.

    When ``reference`` was detected on the mirror image of a photo ``mirrored_width``
    pixels wide, the flip is folded into the result, which then maps the unmirrored
    reference onto the claim. Returns ``None`` when no plausible alignment has at least
    ``min_inliers`` inliers.
    """
    claim_pts, ref_pts = _ratio_matches(claim, reference, ratio)
    h, inlier_mask = _fit(claim_pts, ref_pts, threshold)
    if h is None or not _plausible(h):
        return None
    n_in = int(inlier_mask.sum())
    if n_in < min_inliers:
        return None
    return _alignment(
        h / h[2, 2],
        claim_pts[inlier_mask],
        ref_pts[inlier_mask],
        len(claim_pts),
        claim.shape,
        mirrored_width,
    )


def _alignment(
    h: np.ndarray,
    claim_inliers: np.ndarray,
    ref_inliers: np.ndarray,
    matches: int,
    claim_shape: tuple[int, int],
    mirrored_width: int | None,
) -> Alignment:
    """The :class:`Alignment` of a fitted transform ``h`` and its inlier points, the flip
    folded in when the reference's features were found on its mirror image."""
    ref_inliers = ref_inliers.astype(np.float32)
    if mirrored_width is not None:
        # The mirror's x' = (w - 1) - x: fold the flip into the transform.
        w = mirrored_width
        flip = np.array([[-1.0, 0.0, w - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        h = h @ flip
        ref_inliers[:, 0] = (w - 1) - ref_inliers[:, 0]
    return Alignment(
        homography=h,
        inliers=len(claim_inliers),
        matches=matches,
        inlier_ratio=len(claim_inliers) / max(matches, 1),
        spread=_spread(claim_inliers, claim_shape),
        mirrored=mirrored_width is not None,
        reference_inliers=ref_inliers,
    )


def align_repeated(
    claim: Features,
    reference: Features,
    *,
    nearest: int = 3,
    max_distance: int = 64,
    threshold: float = 3.0,
    min_inliers: int = 12,
    mirrored_width: int | None = None,
) -> Alignment | None:
    """A similarity (scale, rotation, translation) mapping ``reference`` onto ``claim``,
    for photos of repeated structure: a braid, a weave, tiles, a row of printed logos.

    There the ratio test fails the true match, whose repeat a few pixels along is nearly as
    close; so every claim feature keeps its ``nearest`` reference features (Hamming
    distance at most ``max_distance``) and a RANSAC fit of a similarity, which only the
    consistent ones can join, picks among them. A similarity, not a homography: a region
    lifted from a photo is resized, turned or mirrored, not re-projected, and its two-point
    samples keep RANSAC fast among the many wrong candidates. Inliers are counted once per
    claim feature. ``None`` below ``min_inliers`` or for an implausible transform.
    """
    if claim.count < 2 or reference.count < 2:
        return None
    assert claim.descriptors is not None and reference.descriptors is not None
    if claim.descriptors.dtype != np.uint8 or reference.descriptors.dtype != np.uint8:
        raise ValueError("align_repeated takes binary (ORB) features")
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    q_idx, t_idx = [], []
    for candidates in matcher.knnMatch(claim.descriptors, reference.descriptors, k=nearest):
        for m in candidates:
            if m.distance <= max_distance:
                q_idx.append(m.queryIdx)
                t_idx.append(m.trainIdx)
    if len(q_idx) < 8:
        return None
    claim_pts, ref_pts = claim.points[q_idx], reference.points[t_idx]
    model, mask = cv2.estimateAffinePartial2D(
        ref_pts,
        claim_pts,
        method=cv2.RANSAC,
        ransacReprojThreshold=threshold,
        maxIters=5000,
        confidence=0.999,
    )
    if model is None or mask is None:
        return None
    h = np.vstack([model, [0.0, 0.0, 1.0]])
    if not _plausible(h):
        return None
    inlier_mask = mask.ravel().astype(bool)
    # One claim feature may join with two neighbouring repeats: it counts once.
    queries = np.asarray(q_idx)[inlier_mask]
    _, first = np.unique(queries, return_index=True)
    keep = np.flatnonzero(inlier_mask)[first]
    if len(keep) < min_inliers:
        return None
    queried = len(np.unique(q_idx))  # claim features with a candidate
    return _alignment(h, claim_pts[keep], ref_pts[keep], queried, claim.shape, mirrored_width)


def refine(
    claim_gray: np.ndarray,
    warped_gray: np.ndarray,
    valid: np.ndarray,
    *,
    window: int = 32,
    max_windows: int = 80,
) -> np.ndarray | None:
    """Sub-pixel correction of an alignment by phase correlation (Kuglin & Hines 1975).

    ``warped_gray`` is the reference already warped into the claim's frame. Textured
    windows are phase-correlated and a homography is fitted to their shifts; returns the
    3 x 3 correction ``K`` (warped pixels -> claim pixels) or ``None`` when too few windows
    are reliable.
    """
    h, w = claim_gray.shape
    half = window // 2
    if h < 2 * window or w < 2 * window:
        return None
    a = claim_gray.astype(np.float32)
    b = warped_gray.astype(np.float32)
    # Rank windows by texture (local std from box filters) so the budget goes where phase
    # correlation is reliable, and keep only windows wholly inside the warped reference.
    mean = cv2.boxFilter(a, -1, (window, window))
    var = cv2.boxFilter(a * a, -1, (window, window)) - mean * mean
    inside = cv2.erode(valid.astype(np.uint8), np.ones((window + 1, window + 1), np.uint8))
    ys, xs = np.mgrid[half : h - half : half, half : w - half : half]
    ys, xs = ys.ravel(), xs.ravel()
    ok = inside[ys, xs] > 0
    ys, xs = ys[ok], xs[ok]
    if len(ys) < 8:
        return None
    texture = var[ys, xs]
    order = np.argsort(-texture)[: 2 * max_windows]
    chosen = (
        [(int(xs[i]), int(ys[i])) for i in order[::2]]
        if len(order) > max_windows
        else [(int(xs[i]), int(ys[i])) for i in order]
    )
    hann = cv2.createHanningWindow((window, window), cv2.CV_32F)
    src, dst = [], []
    for x, y in chosen:
        pa = a[y - half : y + half, x - half : x + half]
        pb = b[y - half : y + half, x - half : x + half]
        (dx, dy), response = cv2.phaseCorrelate(pa, pb, hann)
        if response < 0.25 or abs(dx) > half / 2 or abs(dy) > half / 2:
            continue
        src.append((x + dx, y + dy))
        dst.append((x, y))
    if len(src) < 8:
        return None
    # An affine correction, not a homography: the windows may cluster on one part of the
    # photo, and a homography fitted there extrapolates wildly elsewhere.
    m, mask = cv2.estimateAffine2D(
        np.asarray(src, np.float32),
        np.asarray(dst, np.float32),
        method=cv2.RANSAC,
        ransacReprojThreshold=1.0,
    )
    if m is None or mask is None or int(mask.sum()) < 8:
        return None
    k = np.vstack([m, [0.0, 0.0, 1.0]])
    corners = np.asarray([[0, 0], [w, 0], [0, h], [w, h]], np.float64).reshape(-1, 1, 2)
    moved = cv2.perspectiveTransform(corners, k) - corners
    if float(np.abs(moved).max()) > 0.05 * max(h, w):
        return None  # a correction this large is not a refinement: keep the feature fit
    return k


def residual_shift(
    claim_gray: np.ndarray,
    warped_gray: np.ndarray,
    blocks: np.ndarray,
    *,
    block: int = 16,
    max_windows: int = 60,
) -> tuple[float, int]:
    """Mean sub-pixel misregistration left inside a region after alignment.

    Each block of ``blocks`` (a grid of ``block``-pixel cells) is phase-correlated with a
    24-pixel window; the result is the mean distance of the shifts from their median, in
    pixels, and the number of reliable windows. Pixels copied from the reference follow the
    alignment exactly (about 0.1 px after resampling and recompression), while an
    independent photo of the same printed surface carries the bends of a real carton and
    the distortion of a real lens (0.2 px and more).
    """
    a = claim_gray.astype(np.float32)
    b = warped_gray.astype(np.float32)
    half = 12
    hann = cv2.createHanningWindow((2 * half, 2 * half), cv2.CV_32F)
    shifts = []
    cells = list(zip(*np.nonzero(blocks), strict=True))
    if len(cells) > max_windows:  # an even sample is as good as all of them, and cheaper
        cells = cells[:: len(cells) // max_windows + 1]
    for by, bx in cells:
        y, x = int(by) * block + block // 2, int(bx) * block + block // 2
        if y < half or x < half or y + half > a.shape[0] or x + half > a.shape[1]:
            continue
        (dx, dy), response = cv2.phaseCorrelate(
            a[y - half : y + half, x - half : x + half],
            b[y - half : y + half, x - half : x + half],
            hann,
        )
        if response > 0.3:
            shifts.append((dx, dy))
    if len(shifts) < 4:
        return float("inf"), len(shifts)
    d = np.array(shifts) - np.median(np.array(shifts), axis=0)
    return float(np.sqrt((d**2).sum(axis=1)).mean()), len(shifts)


def ecc_refine(
    claim_gray: np.ndarray,
    reference_gray: np.ndarray,
    homography: np.ndarray,
    *,
    side: int = 320,
    iterations: int = 40,
) -> np.ndarray | None:
    """Refine a homography (reference pixels -> claim pixels) by maximising the enhanced
    correlation coefficient (Evangelidis & Psarakis 2008) at a reduced size.

    Works where phase correlation has too little detail (an enlarged studio photo): ECC
    uses every pixel's gradient. Returns the refined homography or ``None`` when it does not
    converge.
    """
    h, w = claim_gray.shape
    f = min(1.0, side / max(h, w))
    small = cv2.resize(
        claim_gray, (max(8, round(w * f)), max(8, round(h * f))), interpolation=cv2.INTER_AREA
    )
    scale = np.diag([f, f, 1.0])
    # ECC warps the whole input every iteration: bring the reference down to about the
    # template's size first.
    rf = min(1.0, 1.5 * side / max(reference_gray.shape))
    if rf < 1.0:
        reference_gray = shrink(reference_gray, rf)
    homography = homography @ np.diag([1 / rf, 1 / rf, 1.0])
    # ECC's warp maps template (claim) pixels to input (reference) pixels.
    warp = np.linalg.inv(scale @ homography).astype(np.float32)
    warp /= warp[2, 2]
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    try:
        _, warp = cv2.findTransformECC(  # type: ignore[call-overload]
            small.astype(np.float32),
            reference_gray.astype(np.float32),
            warp,
            cv2.MOTION_HOMOGRAPHY,
            criteria,
            None,
            3,
        )
    except cv2.error:
        return None
    refined = np.linalg.inv(scale) @ np.linalg.inv(warp.astype(np.float64)) @ np.diag([rf, rf, 1.0])
    refined /= refined[2, 2]
    return refined if _plausible(refined) else None
