"""Pure functions that find a merchant's product, cut out of its studio photo, inside a claim
photo of another scene: the partial copy that local features miss.

Local features fail on a pasted product for two reasons: a smooth product (a banana, a
pepper, a plain carton) has few corners, and the scene around it (paving, grass, a shelf)
takes most of a detector's budget. A studio listing photo, however, shows its product on a
plain background, so the product's outline is known: a masked normalised cross-correlation
(Lewis 1995) of the product over scales and both orientations finds where it sits, and a
masked enhanced-correlation fit (Evangelidis & Psarakis 2008) brings that rough placement
to sub-pixel precision. Whether the pixels there were *copied* is not decided here: the
caller compares them with the reference exactly as it does for a feature alignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vericlaim.analyzers._align import shrink

__all__ = [
    "Located",
    "ProductSearch",
    "ProductTemplate",
    "locate_product",
    "product_mask",
    "product_template",
    "refine_placement",
]


@dataclass(frozen=True, slots=True)
class ProductTemplate:
    """A studio photo's product: grayscale pixels of its bounding box and the mask of the
    product inside it, both at ``scale`` times the photo's pixels; ``box`` is the bounding
    box ``(x, y, w, h)`` in the photo's own pixels."""

    gray: np.ndarray
    mask: np.ndarray
    scale: float
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Located:
    """Where the product sits in the claim: ``homography`` maps reference-photo pixels to
    claim-photo pixels; ``score`` is the masked correlation of the search (-1..1) and
    ``fit`` the enhanced correlation coefficient of the refinement (0..1)."""

    homography: np.ndarray
    score: float
    fit: float
    mirrored: bool


def product_template(
    rgb: np.ndarray,
    *,
    side: int = 256,
    border_share: float = 0.9,
    plain: float = 12.0,
    min_share: float = 0.03,
    max_share: float = 0.85,
) -> ProductTemplate | None:
    """The product of a studio photo, or ``None`` when the photo is not one.

    A studio photo has a plain border: at least ``border_share`` of its border pixels
    within ``plain`` (0..255, any channel) of the border's median colour. The product is
    what departs from that colour (closed, small specks dropped) and must cover between
    ``min_share`` and ``max_share`` of the frame: a photo of a scene has no single product
    to look for.
    """
    h, w = rgb.shape[:2]
    if min(h, w) < 24 or rgb.ndim != 3:
        return None
    b = max(2, min(h, w) // 50)
    border = np.concatenate(
        [
            rgb[:b].reshape(-1, 3),
            rgb[-b:].reshape(-1, 3),
            rgb[:, :b].reshape(-1, 3),
            rgb[:, -b:].reshape(-1, 3),
        ]
    ).astype(np.float32)
    colour = np.median(border, axis=0)
    off = np.abs(border - colour).max(axis=1)
    if float(np.mean(off < plain)) < border_share:
        return None
    spread = float(np.median(off))
    departs = np.abs(rgb.astype(np.float32) - colour).max(axis=2) > max(18.0, 4.0 * spread)
    k = max(3, min(h, w) // 100) | 1
    fg = cv2.morphologyEx(departs.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((k, k), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    if n <= 1:
        return None
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= 0.05 * areas.max()) + 1
    mask = np.isin(labels, keep)
    share = float(mask.mean())
    if not min_share <= share <= max_share:
        return None
    ys, xs = np.nonzero(mask)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    f = min(1.0, side / max(x1 - x0, y1 - y0))
    gray = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    crop: np.ndarray = mask[y0:y1, x0:x1].astype(np.float32)
    if f < 1.0:
        size = (max(8, round((x1 - x0) * f)), max(8, round((y1 - y0) * f)))
        gray = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return ProductTemplate(
        gray.astype(np.float32), (crop > 0.5).astype(np.uint8), f, (x0, y0, x1 - x0, y1 - y0)
    )


def product_mask(template: ProductTemplate, shape: tuple[int, ...]) -> np.ndarray:
    """The template's product mask (uint8, 0/1) at the studio photo's own size ``shape``."""
    mask = np.zeros(shape[:2], np.uint8)
    bx, by, bw, bh = template.box
    mask[by : by + bh, bx : bx + bw] = cv2.resize(
        template.mask, (bw, bh), interpolation=cv2.INTER_NEAREST
    )
    return mask


def _centred(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``image`` less its mean (which keeps the correlation sums well scaled) and its square:
    what :func:`_masked_ncc` needs of an image, worked out once for many templates."""
    centred = image.astype(np.float32) - float(image.mean())
    return centred, centred * centred


class _Spectra:
    """An image prepared for many masked correlations over the whole of it: its centred
    pixels and their squares (as :func:`_centred` gives them) with their Fourier transforms,
    taken once. Each template then costs two forward and three inverse transforms, where
    ``cv2.matchTemplate`` transforms the image again for each of its three correlations."""

    def __init__(self, image: np.ndarray) -> None:
        self.centred, self.squared = _centred(image)
        h, w = self.centred.shape
        # A circular correlation is exact for every placement that keeps the template
        # inside the image, so the transform need not be padded beyond the image itself.
        self.size = (cv2.getOptimalDFTSize(h), cv2.getOptimalDFTSize(w))
        self.of_centred = self._transform(self.centred)
        self.of_squared = self._transform(self.squared)

    @property
    def shape(self) -> tuple[int, int]:
        return self.centred.shape[0], self.centred.shape[1]

    def _transform(self, values: np.ndarray) -> np.ndarray:
        padded = np.zeros(self.size, np.float32)
        padded[: values.shape[0], : values.shape[1]] = values
        return cv2.dft(padded)

    def correlations(
        self, template: np.ndarray, weights: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The plain correlations of the centred image with ``template`` and of the centred
        image and its square with ``weights``, at every placement inside the image."""
        th, tw = template.shape
        rows, cols = self.shape[0] - th + 1, self.shape[1] - tw + 1
        of_template, of_weights = self._transform(template), self._transform(weights)

        def correlate(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
            product = cv2.mulSpectrums(image, kernel, 0, conjB=True)
            full = cv2.idft(product, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)
            return full[:rows, :cols]

        return (
            correlate(self.of_centred, of_template),
            correlate(self.of_centred, of_weights),
            correlate(self.of_squared, of_weights),
        )


Candidate = tuple[float, int, int, float, bool]
"""A template placement: (masked correlation, x, y, template long side, mirrored)."""


def _masked_ncc(
    image: tuple[np.ndarray, np.ndarray] | _Spectra, template: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """Zero-mean normalised cross-correlation of ``template`` over an image (given as
    :func:`_centred` returns it, or as :class:`_Spectra` when many templates are scanned
    over all of it), counting only the pixels where ``mask`` is set: what
    ``cv2.matchTemplate`` computes with ``TM_CCOEFF_NORMED`` and a mask, from three plain
    correlations, about twice as fast. Windows with no contrast under the mask (a standard
    deviation below half a grey level) score -1."""
    weights = mask.astype(np.float32)
    n = float(weights.sum())
    t = template.astype(np.float32)
    t = (t - float((t * weights).sum()) / max(n, 1.0)) * weights
    norm = float((t * t).sum())
    shape = image.shape if isinstance(image, _Spectra) else image[0].shape
    if n < 2 or norm <= 0:
        return np.full((shape[0] - t.shape[0] + 1, shape[1] - t.shape[1] + 1), -1.0, np.float32)
    if isinstance(image, _Spectra):
        cross, total, squares = image.correlations(t, weights)
    else:
        centred, squared = image
        cross = cv2.matchTemplate(centred, t, cv2.TM_CCORR)
        total = cv2.matchTemplate(centred, weights, cv2.TM_CCORR)
        squares = cv2.matchTemplate(squared, weights, cv2.TM_CCORR)
    spread = squares - total * total / n
    scores = cross / np.sqrt(np.maximum(spread, 1e-6) * norm)
    scores[spread < 0.25 * n] = -1.0
    return np.clip(scores, -1.0, 1.0)


def _scan(
    image: np.ndarray,
    template: ProductTemplate,
    sizes: list[float],
    mirrors: tuple[bool, ...],
    window: tuple[int, int, int, int] | None = None,
    *,
    spectra: _Spectra | None = None,
) -> list[Candidate]:
    """The best masked correlation of the template for each of ``sizes`` (template long
    side in image pixels) and ``mirrors``; ``window`` (x, y, w, h) limits where its top-left
    corner may be; ``spectra`` is ``image`` prepared already, for a whole-frame scan.
    Returns (score, x, y, size, mirrored) for each size and orientation."""
    h, w = image.shape
    th, tw = template.gray.shape
    found: list[Candidate] = []
    whole = (spectra if spectra is not None else _Spectra(image)) if window is None else None
    for size in sizes:
        k = size / max(th, tw)
        nw, nh = max(6, round(tw * k)), max(6, round(th * k))
        if nw >= w or nh >= h:
            continue
        # Resampled once for both orientations: the area filter is symmetric, so the
        # mirrored template is the resampled one mirrored (to a rounding of the sums).
        resized = cv2.resize(template.gray, (nw, nh), interpolation=cv2.INTER_AREA)
        plain: bool | None = None
        for mirrored in mirrors:
            t = np.ascontiguousarray(resized[:, ::-1]) if mirrored else resized
            source = np.ascontiguousarray(template.mask[:, ::-1]) if mirrored else template.mask
            m = cv2.resize(source, (nw, nh), interpolation=cv2.INTER_NEAREST)
            count = int(cv2.countNonZero(m))
            if plain is None and count >= 24:
                plain = float(cv2.meanStdDev(t, mask=m)[1][0, 0]) < 2.0
            if count < 24 or plain is not False:
                continue  # too small or too plain to say where it is
            if whole is not None:
                prepared: tuple[np.ndarray, np.ndarray] | _Spectra = whole
                ox, oy = 0, 0
            else:
                assert window is not None
                wx, wy, ww, wh = window
                ox, oy = max(0, wx), max(0, wy)
                region = image[oy : min(h, wy + wh + nh), ox : min(w, wx + ww + nw)]
                if region.shape[0] <= nh or region.shape[1] <= nw:
                    continue
                prepared = _centred(region)
            scores = _masked_ncc(prepared, t, m)
            _, value, _, (x, y) = cv2.minMaxLoc(scores)
            found.append((float(value), x + ox, y + oy, size, mirrored))
    return found


def _search(
    image: np.ndarray,
    template: ProductTemplate,
    sizes: list[float],
    mirrors: tuple[bool, ...],
    window: tuple[int, int, int, int] | None = None,
) -> Candidate:
    """The best of :func:`_scan`."""
    return max(_scan(image, template, sizes, mirrors, window), default=(-1.0, 0, 0, 0.0, False))


def _distinct(found: list[Candidate], keep: int) -> list[Candidate]:
    """The ``keep`` best placements, skipping any that repeats a better one (same
    orientation, a similar size and nearly the same place)."""
    kept: list[Candidate] = []
    for cand in sorted(found, reverse=True):
        _, x, y, size, mirrored = cand
        if any(
            m == mirrored
            and max(size, s) / min(size, s) < 1.3
            and abs(x - kx) + abs(y - ky) < 0.2 * size
            for _, kx, ky, s, m in kept
        ):
            continue
        kept.append(cand)
        if len(kept) == keep:
            break
    return kept


def _similarity(
    template: ProductTemplate, x: float, y: float, size: float, mirrored: bool, f: float
) -> np.ndarray:
    """Reference-photo pixels -> claim pixels for a template placed at (x, y) with long
    side ``size`` in an image ``f`` times the claim's size."""
    bx, by, bw, bh = template.box
    k = size / max(bw, bh) / f  # claim pixels per reference pixel
    ox, oy = x / f, y / f
    if mirrored:
        return np.array([[-k, 0.0, ox + (bx + bw - 1) * k], [0.0, k, oy - by * k], [0, 0, 1.0]])
    return np.array([[k, 0.0, ox - bx * k], [0.0, k, oy - by * k], [0, 0, 1.0]])


def _refine(
    claim_gray: np.ndarray,
    reference_gray: np.ndarray,
    mask: np.ndarray,
    homography: np.ndarray,
    *,
    side: int = 256,
    iterations: int = 50,
    flatten: float = 0.0,
) -> tuple[np.ndarray, float] | None:
    """Masked ECC, affine: the claim around the placement against the reference product
    (only its masked pixels count), with both at about ``side`` pixels across the product.
    Returns the refined homography and the correlation coefficient, or ``None``.

    ``flatten`` > 0 fits both sides' detail instead of their grey levels: what is left after
    removing a blur of ``flatten`` times the product's size (the reference's blur taken over
    the product alone, and the product's rim, where the blur mixes in what surrounds it, left
    out). A seamless (Poisson) clone adds such a smooth field to the pasted pixels, which
    pulls a plain fit off the product; its correlation is of detail, not of grey levels."""
    bx, by, bw, bh = cv2.boundingRect(mask)
    # Only the product's box of the reference takes part (the fit's cost follows the
    # template's pixels): the box, with a small margin, becomes the reference.
    m = 4
    cx0, cy0 = max(0, bx - m), max(0, by - m)
    cx1 = min(reference_gray.shape[1], bx + bw + m)
    cy1 = min(reference_gray.shape[0], by + bh + m)
    reference_gray = reference_gray[cy0:cy1, cx0:cx1]
    mask = mask[cy0:cy1, cx0:cx1]
    into = np.array([[1.0, 0.0, cx0], [0.0, 1.0, cy0], [0.0, 0.0, 1.0]])  # box -> photo
    homography = homography @ into
    bx, by = bx - cx0, by - cy0
    k = float(np.sqrt(abs(np.linalg.det(homography[:2, :2]))))  # claim px per reference px
    s = min(1.0, side / max(bw, bh, 1))  # reference scale for the fit
    c = min(1.0, s / max(k, 1e-6))  # claim scale giving the product the same size
    ref_small = cv2.resize(reference_gray, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    mask_small = cv2.resize(
        mask, (ref_small.shape[1], ref_small.shape[0]), interpolation=cv2.INTER_NEAREST
    )
    mask_small = cv2.erode(mask_small, np.ones((3, 3), np.uint8))
    if int(mask_small.sum()) < 64:
        return None
    # The claim crop around where the product was placed, with a margin for the fit.
    corners = np.array([[bx, by], [bx + bw, by], [bx, by + bh], [bx + bw, by + bh]], np.float64)
    placed = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), homography).reshape(-1, 2)
    margin = 0.15 * max(np.ptp(placed[:, 0]), np.ptp(placed[:, 1]))
    h, w = claim_gray.shape
    x0 = int(max(0, placed[:, 0].min() - margin))
    y0 = int(max(0, placed[:, 1].min() - margin))
    x1 = int(min(w, placed[:, 0].max() + margin))
    y1 = int(min(h, placed[:, 1].max() + margin))
    if x1 - x0 < 16 or y1 - y0 < 16:
        return None
    crop = claim_gray[y0:y1, x0:x1]
    crop_small = shrink(crop, c) if c < 1.0 else crop
    cs = crop_small.shape[1] / crop.shape[1]
    to_small = np.diag([cs, cs, 1.0]) @ np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1.0]])
    start = to_small @ homography @ np.diag([1 / s, 1 / s, 1.0])  # small ref -> small crop
    warp = (start / start[2, 2])[:2].astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    template, image = ref_small.astype(np.float32), crop_small.astype(np.float32)
    if flatten > 0:
        sigma = max(2.0, flatten * max(ref_small.shape))
        inside = (mask_small > 0).astype(np.float32)
        smooth = cv2.GaussianBlur(template * inside, (0, 0), sigma)
        cover = np.maximum(cv2.GaussianBlur(inside, (0, 0), sigma), np.float32(1e-3))
        template = (template - smooth / cover).astype(np.float32)
        image = (image - cv2.GaussianBlur(image, (0, 0), sigma)).astype(np.float32)
        rim = max(1, round(sigma / 2))
        mask_small = cv2.erode(mask_small, np.ones((2 * rim + 1, 2 * rim + 1), np.uint8))
        if int((mask_small > 0).sum()) < 64:
            return None
    try:
        # The reference's product is the template (only its pixels count); the claim crop
        # is the input, whatever surrounds the product there.
        fit, warp = cv2.findTransformECCWithMask(
            template,
            image,
            mask_small,
            np.full(crop_small.shape[:2], 255, np.uint8),
            warp,
            cv2.MOTION_AFFINE,
            criteria,
            3,
        )
    except cv2.error:
        return None
    refined = np.linalg.inv(to_small) @ np.vstack([warp, [0.0, 0.0, 1.0]])
    refined = refined @ np.diag([s, s, 1.0]) @ np.linalg.inv(into)
    return refined / refined[2, 2], float(fit)


refine_placement = _refine


def _padded(image: np.ndarray, k: int) -> np.ndarray:
    """``image`` with a ``k``-pixel border of its mean grey: no structure to correlate with,
    so a product partly outside the frame (a cropped claim) is still found."""
    fill = float(image.mean())
    return cv2.copyMakeBorder(image, k, k, k, k, cv2.BORDER_CONSTANT, value=fill)


class ProductSearch:
    """One claim frame prepared for product searches with any number of studio photos.

    The frame's grey levels at the scout, coarse and fine scales, padded so that the product
    may overhang the frame by ``overhang`` of its short side (a cropped claim), and the
    scout frame's spectra are worked out once, whatever the number of templates. The scout,
    coarse and fine sides are those of a frame at most ``aspect`` times as long as wide.
    Template sizes (the product's long side) run from ``smallest`` to ``largest`` of the
    claim's short side, in steps of ``step``: a product pasted as evidence is shown large
    enough to see, and a close-up may fill the frame and overflow it a little.

    The search runs in stages, each looking only where the one before found something:
    :meth:`scout` scans every size and orientation on a copy ``scout_side`` pixels across;
    :meth:`candidates` looks again at ``coarse_side`` pixels around its placements;
    :meth:`locate` refines those at ``fine_side`` pixels and fits the best by masked ECC.
    """

    def __init__(
        self,
        claim_rgb: np.ndarray,
        *,
        coarse_side: int = 160,
        fine_side: int = 384,
        scout_side: int = 80,
        smallest: float = 0.25,
        largest: float = 1.15,
        step: float = 1.15,
        overhang: float = 0.15,
        aspect: float = 4 / 3,
    ) -> None:
        gray = cv2.cvtColor(claim_rgb, cv2.COLOR_RGB2GRAY) if claim_rgb.ndim == 3 else claim_rgb
        self.gray = gray
        h, w = gray.shape
        self.step = step
        # The sides are the long side's for a frame up to ``aspect`` times as long as it is
        # wide (a camera photo); a longer frame (a phone screenshot, whose photo fills only
        # its middle) gets the pixels a frame of that shape would (0: the long side always),
        # at most twice the long side's sizing (a strip thinner than a phone screen would
        # otherwise cost in proportion to its length).
        long_side = max(h, w)
        longest = (
            max(min(long_side, aspect * min(h, w)), long_side / 2) if aspect > 0 else long_side
        )
        self.fc = min(1.0, coarse_side / longest)
        coarse = self._grey_at(self.fc)
        short = min(coarse.shape)
        self.p = round(overhang * short)
        self.coarse = _padded(coarse, self.p)
        self.sizes: list[float] = []
        size = smallest * short
        while size <= largest * short:
            self.sizes.append(size)
            size *= step
        # The full scan costs the same per size whatever the template's size, so it is done
        # where the frame is smallest; the coarse scale looks again only around its finds.
        fs = min(1.0, scout_side / longest)
        self.rs = self.fc / fs
        self.ps = round(self.p / self.rs)
        self.scout_frame = _padded(self._grey_at(fs), self.ps)
        self._scout_spectra = _Spectra(self.scout_frame)
        self.ff = min(1.0, fine_side / longest)
        self.pf = round(self.p * self.ff / self.fc)
        self._fine: np.ndarray | None = None

    @property
    def fine(self) -> np.ndarray:
        """The frame at the fine scale, padded (made on first use: most templates are
        dropped before it)."""
        if self._fine is None:
            self._fine = _padded(self._grey_at(self.ff), self.pf)
        return self._fine

    def _grey_at(self, f: float) -> np.ndarray:
        """The frame's grey levels at scale ``f`` (at most 1: as they are), as floats."""
        return shrink(self.gray, f).astype(np.float32)

    def likeness(self, reference_rgb: np.ndarray, homography: np.ndarray) -> float:
        """The correlation, across the whole claim frame at the coarse scale, of the claim's
        grey levels with the studio photo placed by ``homography`` (reference pixels ->
        claim pixels), its edges extended beyond its borders.

        A copy of the studio photo keeps its layout across the frame: a re-drawing's drift
        and new fine texture vanish at this scale, and a tone change does not alter a
        correlation. A photo of the product in a scene has the scene where the studio
        background was. Cheap (one small warp), so it can decide whether the full
        comparison is worth making."""
        p = self.p
        claim = self.coarse[p : self.coarse.shape[0] - p, p : self.coarse.shape[1] - p]
        reference = (
            cv2.cvtColor(reference_rgb, cv2.COLOR_RGB2GRAY)
            if reference_rgb.ndim == 3
            else reference_rgb
        ).astype(np.float32)
        to_coarse = np.diag([self.fc, self.fc, 1.0]) @ homography
        # Shrunk first to about its placed size: a warp alone would alias a large photo.
        k = float(np.sqrt(abs(np.linalg.det(to_coarse[:2, :2]))))
        if 0.0 < k < 1.0:
            reference = shrink(reference, k)
            f = reference.shape[1] / reference_rgb.shape[1]
            to_coarse = to_coarse @ np.diag([1 / f, 1 / f, 1.0])
        placed = cv2.warpPerspective(
            reference,
            to_coarse,
            (claim.shape[1], claim.shape[0]),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        a = claim - float(claim.mean())
        b = placed - float(placed.mean())
        norm = float(np.sqrt(float((a * a).sum()) * float((b * b).sum())))
        return float((a * b).sum()) / norm if norm > 1e-6 else 0.0

    def scout(self, template: ProductTemplate, kept: int = 6) -> list[Candidate]:
        """The ``kept`` best distinct placements of ``template`` on the scout frame, best
        first (in scout-frame pixels, padding included)."""
        sizes = [v / self.rs for v in self.sizes]
        found = _scan(self.scout_frame, template, sizes, (False, True), spectra=self._scout_spectra)
        return _distinct(found, kept)

    def candidates(
        self,
        template: ProductTemplate,
        scouted: list[Candidate] | None = None,
        *,
        kept: int = 3,
        min_score: float = 0.5,
        scout_kept: int = 6,
    ) -> list[Candidate]:
        """The ``kept`` best distinct placements scoring at least ``min_score`` at the coarse
        scale, best first (coarse-frame pixels, padding included), looking only around the
        scout's placements (``scouted``, or :meth:`scout`'s ``scout_kept`` best)."""
        if scouted is None:
            scouted = self.scout(template, scout_kept)
        step, rs, ps, p = self.step, self.rs, self.ps, self.p
        near = round(3 * rs)
        found: list[Candidate] = []
        for _, x, y, size, mirrored in scouted:
            window = (
                round((x - ps) * rs) + p - near,
                round((y - ps) * rs) + p - near,
                2 * near,
                2 * near,
            )
            found += _scan(
                self.coarse,
                template,
                [size * rs * step**i for i in (-0.5, 0.0, 0.5)],
                (mirrored,),
                window,
            )
        return [c for c in _distinct(found, kept) if c[0] >= min_score]

    def locate(
        self,
        reference_rgb: np.ndarray,
        template: ProductTemplate,
        candidates: list[Candidate] | None = None,
        *,
        min_score: float = 0.5,
        min_fit: float = 0.8,
        candidates_kept: int = 3,
        rough_side: int = 128,
        min_rough_fit: float = 0.5,
        scout_kept: int = 6,
    ) -> Located | None:
        """Where the studio photo's product appears in the claim frame, if anywhere.

        Refines the coarse placements (``candidates``, or :meth:`candidates`'
        ``candidates_kept`` best) at the fine scale over neighbouring sizes (at the coarse
        scale a busy scene can outscore the product, which the finer look settles); then
        fits the best by masked ECC, first at ``rough_side`` pixels (a placement fitting
        below ``min_rough_fit`` there is dropped) and then at full detail. ``None`` below
        ``min_score`` or ``min_fit``.
        """
        if candidates is None:
            candidates = self.candidates(
                template, kept=candidates_kept, min_score=min_score, scout_kept=scout_kept
            )
        if not candidates:
            return None
        step, p = self.step, self.p
        ff, pf = self.ff, self.pf
        r = ff / self.fc
        fine = self.fine
        pad = round(4 * r)
        best: Candidate = (-1.0, 0, 0, 0.0, False)
        for _, x, y, size, mirrored in candidates:
            # Each coarse candidate at the finer scale, over neighbouring sizes.
            window = (
                round((x - p) * r) + pf - pad,
                round((y - p) * r) + pf - pad,
                2 * pad,
                2 * pad,
            )
            sizes = [size * r * step**i for i in (-0.5, 0.0, 0.5)]
            best = max(best, _search(fine, template, sizes, (mirrored,), window))
        fine_score, fx, fy, fsize, mirrored = best
        if fine_score < min_score:
            return None
        fx, fy = fx - pf, fy - pf
        start = _similarity(template, fx, fy, fsize, mirrored, ff)
        reference_gray = cv2.cvtColor(reference_rgb, cv2.COLOR_RGB2GRAY)
        product = product_mask(template, reference_gray.shape)
        # A quick fit at a small size first: an unrelated placement does not converge and is
        # dropped there, at a fraction of the cost of the full fit.
        gray = self.gray
        rough = _refine(gray, reference_gray, product, start, side=rough_side, iterations=30)
        if rough is None or rough[1] < min_rough_fit:
            return None
        refined = _refine(gray, reference_gray, product, rough[0], iterations=25)
        if refined is None:
            return None
        homography, fit = refined
        if fit < min_fit:
            return None
        det = float(np.linalg.det(homography[:2, :2]))
        if not np.all(np.isfinite(homography)) or (det < 0) != mirrored or det == 0:
            return None
        return Located(homography, round(fine_score, 4), round(fit, 4), mirrored)


def locate_product(
    claim_rgb: np.ndarray,
    reference_rgb: np.ndarray,
    template: ProductTemplate,
    *,
    coarse_side: int = 160,
    fine_side: int = 384,
    smallest: float = 0.25,
    largest: float = 1.15,
    step: float = 1.15,
    min_score: float = 0.5,
    min_fit: float = 0.8,
    candidates_kept: int = 3,
    rough_side: int = 128,
    min_rough_fit: float = 0.5,
    overhang: float = 0.15,
    scout_side: int = 80,
    scout_kept: int = 6,
    aspect: float = 4 / 3,
) -> Located | None:
    """Where the studio photo's product appears in the claim photo, if anywhere: one
    :class:`ProductSearch` scouted and searched for one template (see there)."""
    search = ProductSearch(
        claim_rgb,
        coarse_side=coarse_side,
        fine_side=fine_side,
        scout_side=scout_side,
        smallest=smallest,
        largest=largest,
        step=step,
        overhang=overhang,
        aspect=aspect,
    )
    return search.locate(
        reference_rgb,
        template,
        search.candidates(
            template,
            search.scout(template, scout_kept),
            kept=candidates_kept,
            min_score=min_score,
        ),
        min_score=min_score,
        min_fit=min_fit,
        candidates_kept=candidates_kept,
        rough_side=rough_side,
        min_rough_fit=min_rough_fit,
    )
