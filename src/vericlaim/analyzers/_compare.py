"""Pure functions that compare a claim photo with a reference warped into its frame.

After alignment the reference is brought to the claim's colours with a robust polynomial
colour fit (which also absorbs global filters), matched in sharpness, and compared block
by block (normalised cross-correlation, as in classical image registration checks) and
pixel by pixel (a residual normalised by the noise of the agreeing area and by local
contrast, so that resampling along edges does not light up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import cv2
import numpy as np

__all__ = [
    "Comparison",
    "block_contrast",
    "compare",
    "departure_map",
    "fine_correlation",
    "grow_copied_region",
    "region_consistency",
    "remove_moire",
    "tone_departure",
    "warp_reference",
]

_BLOCK = 16


@dataclass(eq=False)
class Comparison:
    """What the dense comparison measured, at comparison resolution.

    ``footprint`` is the share of the claim frame covered by the warped reference;
    ``agreement`` the share of informative blocks inside it that agree in structure;
    ``fine_agreement`` the share that also agree in fine detail; ``colour_change`` the mean
    absolute change (0..255) the colour fit applies; ``block_agree`` / ``block_informative``
    boolean block grids. The normalised residual ``zmap`` (and ``residual_noise``) is worked
    out on first use: alignment candidates that are not kept never need it.
    """

    footprint: float
    agreement: float
    fine_agreement: float
    colour_change: float
    valid: np.ndarray
    block_agree: np.ndarray
    block_fine: np.ndarray
    block_informative: np.ndarray
    informative_blocks: int
    block_fine_ncc: np.ndarray
    _residual: Callable[[], tuple[np.ndarray, float]] = field(repr=False)
    softness: float = 0.0
    """The Gaussian blur (sigma, comparison pixels) that best matched the reference's
    sharpness to the claim's: large when the claim holds less detail than this resolution
    shows (a photo enlarged from a small one)."""

    @cached_property
    def _zmap_and_noise(self) -> tuple[np.ndarray, float]:
        return self._residual()

    @property
    def zmap(self) -> np.ndarray:
        return self._zmap_and_noise[0]

    @property
    def residual_noise(self) -> float:
        return self._zmap_and_noise[1]


def warp_reference(
    reference: np.ndarray, homography: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Warp ``reference`` (H x W x 3) with ``homography`` into an image of ``size`` (w, h);
    returns the warped image and the mask of pixels it covers."""
    w, h = size
    warped = cv2.warpPerspective(
        reference, homography, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    ones = np.full(reference.shape[:2], 255, np.uint8)
    mask = cv2.warpPerspective(ones, homography, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    return warped, mask > 0


_COLOUR_RIDGE = 0.002
"""Weight of the colour fit's pull towards identity, per sample."""

_LUMA = np.array([[0.299, 0.587, 0.114]], np.float32)


def _shading(
    claim: np.ndarray,
    fitted: np.ndarray,
    agree: np.ndarray,
    *,
    grid: int = 6,
    max_local: float = 0.08,
) -> np.ndarray:
    """A smooth multiplicative light field (claim / fitted reference): a quadratic surface
    over the frame, fitted robustly to the block ratios of the trusted blocks; 1 where unknown.

    Uneven light (a screen's vignetting, a lamp's falloff over a re-photographed print) is
    smooth across the frame, and a quadratic in x and y holds it, vignetting included. An
    edit is not smooth: the robust fit treats its blocks as outliers, so a large stain is not
    mistaken for a shadow (a free field per grid cell would absorb a stain that fills a cell).
    A correction per grid cell of at most ``max_local`` follows what is left.
    """
    h, w = claim.shape[:2]
    bh, bw = agree.shape
    if bh < 2 or bw < 2 or agree.sum() < 12:
        return np.ones((h, w), np.float32)
    lc = _block_mean(np.ascontiguousarray(_luma(claim)[: bh * _BLOCK, : bw * _BLOCK]), bh, bw)
    lf = _block_mean(np.ascontiguousarray(_luma(fitted)[: bh * _BLOCK, : bw * _BLOCK]), bh, bw)
    use = agree & (lf > 20)
    if use.sum() < 12:
        return np.ones((h, w), np.float32)
    ys, xs = np.nonzero(use)
    ratio = (lc[use] / np.maximum(lf[use], 1e-3)).astype(np.float64)

    def design(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)

    # Block centres in [-1, 1], so the terms are of one size.
    a = design((xs + 0.5) / bw * 2 - 1, (ys + 0.5) / bh * 2 - 1)
    weights = np.ones(len(ratio))
    coef = np.zeros(6)
    for _ in range(4):  # iteratively reweighted least squares, Tukey's biweight
        aw = a * weights[:, None]
        coef = np.linalg.solve(aw.T @ a + 1e-6 * np.eye(6), aw.T @ ratio)
        resid = ratio - a @ coef
        scale = 1.4826 * float(np.median(np.abs(resid))) + 1e-3
        u = resid / (4.685 * scale)
        weights = np.where(np.abs(u) < 1, (1 - u * u) ** 2, 0.0)
        if weights.sum() < 6:
            return np.ones((h, w), np.float32)
    # What the surface leaves (a moire beat of a few percent, a lamp that is not quite
    # smooth): a median per grid cell, held to a few percent so that it cannot hide an edit.
    left = np.full((bh, bw), np.nan)
    left[use] = ratio / np.maximum(a @ coef, 1e-3)
    gy_, gx_ = min(grid, bh), min(grid, bw)
    cells = np.ones((gy_, gx_), np.float32)
    for i in range(gy_):
        for j in range(gx_):
            cell = left[i * bh // gy_ : (i + 1) * bh // gy_, j * bw // gx_ : (j + 1) * bw // gx_]
            cell = cell[np.isfinite(cell)]
            if len(cell) >= 2:
                cells[i, j] = float(np.median(cell))
    cells = np.clip(cells, 1 - max_local, 1 + max_local)
    gx = (np.arange(w, dtype=np.float64) + 0.5) / (bw * _BLOCK) * 2 - 1
    gy = (np.arange(h, dtype=np.float64) + 0.5) / (bh * _BLOCK) * 2 - 1
    xx, yy = np.meshgrid(gx[:: _BLOCK // 2], gy[:: _BLOCK // 2])
    field = (design(xx, yy) @ coef).astype(np.float32)
    field *= cv2.resize(cells, (field.shape[1], field.shape[0]), interpolation=cv2.INTER_CUBIC)
    return cv2.resize(np.clip(field, 0.5, 2.0), (w, h), interpolation=cv2.INTER_LINEAR)


def _normalised_residual(
    claim: np.ndarray, fitted: np.ndarray, ref_area: np.ndarray, sigma: float
) -> tuple[np.ndarray, float]:
    """|claim - fitted| after a Gaussian blur of ``sigma``, divided by the noise floor (measured
    on calm, agreeing pixels: along edges the residual is resampling and registration
    error, which the contrast term accounts for) plus a quarter of the local contrast.

    Each colour channel's residual is divided by that channel's own contrast where it exceeds
    luma's, and the largest result is kept: a small, saturated mark (a yellow logo on a pale
    blue sky) has little contrast in luma, yet JPEG's coarse, subsampled chroma fades it in
    one channel, as resampling does along a grey edge. A crack or a stain changes every
    channel, so the channel where it stands out most still counts against luma's contrast.
    The noise floor is measured where luma is calm."""
    a = cv2.GaussianBlur(claim, (0, 0), sigma)
    b = cv2.GaussianBlur(fitted, (0, 0), sigma)
    residual = np.abs(a - b)
    diff = residual.max(axis=2)
    kernel = np.ones((3, 3), np.uint8)
    grad = cv2.morphologyEx(_luma(b), cv2.MORPH_GRADIENT, kernel)
    calm = ref_area & (grad <= np.median(grad[ref_area])) if ref_area.any() else ref_area
    if calm.sum() < 200:
        calm = ref_area
    noise = float(np.median(diff[calm][::3])) * 1.4826 + 1.0 if calm.any() else 8.0
    # Each channel's residual against that channel's contrast (or luma's, where larger).
    contrast = np.maximum(grad[..., None], cv2.morphologyEx(b, cv2.MORPH_GRADIENT, kernel))
    z = (residual / (noise + 0.25 * contrast)).max(axis=2)
    return z, noise


def _fit_colour(
    reference: np.ndarray, claim: np.ndarray, valid: np.ndarray, *, samples: int = 6000
) -> np.ndarray:
    """Least-squares map from reference colours to claim colours (each output channel a
    linear plus quadratic function of the three input channels), refit twice without the
    worst-fitting pixels so that edits do not bend it. Returns the fitted reference.

    The fit is pulled gently towards the identity (a ridge centred on "no change"): a studio
    photo is mostly one white, and colours the samples hardly cover must keep their own
    values rather than whatever a fit to white alone extrapolates. Pixels are dropped as
    outliers relative to the fit's typical error, not by a fixed share: a product filling a
    fifth of a white frame is not an outlier of the background.
    """
    idx = np.flatnonzero(valid.ravel())
    if len(idx) < 50:
        return reference.astype(np.float32)
    if len(idx) > samples:
        idx = idx[:: len(idx) // samples]
    x = reference.reshape(-1, 3)[idx].astype(np.float32) / 255.0
    a = np.concatenate([x, x * x, np.ones((len(x), 1), np.float32)], axis=1)
    b = claim.reshape(-1, 3)[idx].astype(np.float32)
    prior = np.zeros((7, 3), np.float64)
    prior[:3] = 255.0 * np.eye(3)
    keep = np.ones(len(idx), bool)
    coef = np.zeros((7, 3), np.float32)
    for _ in range(3):
        ak64 = a[keep].astype(np.float64)
        # Normal equations (a 7 x 7 solve, cheaper than an SVD) with the ridge towards identity.
        ridge = _COLOUR_RIDGE * max(int(keep.sum()), 1)
        coef = np.linalg.solve(
            ak64.T @ ak64 + ridge * np.eye(7), ak64.T @ b[keep] + ridge * prior
        ).astype(np.float32)
        err = np.abs(a @ coef - b).sum(axis=1)
        keep = err <= max(float(np.quantile(err, 0.7)), 3.0 * float(np.median(err)), 12.0)
    # The map is a sum of one function per input channel: nine 256-entry tables, several
    # times faster than evaluating the polynomial on every pixel.
    level = np.arange(256, dtype=np.float32) / 255.0
    tables = level * coef[:3, :, None] + level * level * coef[3:6, :, None]  # [in, out, 256]
    inputs = cv2.split(np.asarray(reference, np.uint8))  # the photos' own 8-bit pixels
    out = np.empty(reference.shape, np.float32)
    for c in range(3):
        looked = [
            cv2.LUT(inputs[k], np.ascontiguousarray(tables[k, c], dtype=np.float32))
            for k in range(3)
        ]
        out[..., c] = looked[0] + looked[1] + looked[2] + coef[6, c]
    return out


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.transform(img.astype(np.float32, copy=False), _LUMA)


def _band(x: np.ndarray) -> np.ndarray:
    """Structure: band-pass detail between about 1 and 4 pixels, the local mean removed."""
    return cv2.GaussianBlur(x, (0, 0), 0.7) - cv2.blur(x, (13, 13))


def _fine_detail(x: np.ndarray) -> np.ndarray:
    """The finest band, where each camera leaves its own noise and blur."""
    return x - cv2.GaussianBlur(x, (0, 0), 1.5)


def _block_mean(x: np.ndarray, bh: int, bw: int) -> np.ndarray:
    # INTER_AREA with an integer factor is an exact block average, and far faster than
    # reshaping and reducing in numpy.
    return cv2.resize(x, (bw, bh), interpolation=cv2.INTER_AREA)


def block_contrast(x: np.ndarray, block: int = _BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each whole ``block``-pixel block of a float32 image."""
    bh, bw = x.shape[0] // block, x.shape[1] // block
    x = np.ascontiguousarray(x[: bh * block, : bw * block])
    mean = _block_mean(x, bh, bw)
    return mean, np.sqrt(np.maximum(_block_mean(x * x, bh, bw) - mean * mean, 0.0))


def _block_stats(
    a: np.ndarray, b: np.ndarray, valid: np.ndarray, block: int = _BLOCK
) -> tuple[np.ndarray, ...]:
    """Per-block std of a and b, their correlation, and the valid share of each block."""
    h, w = a.shape
    bh, bw = h // block, w // block
    a = np.ascontiguousarray(a[: bh * block, : bw * block])
    b = np.ascontiguousarray(b[: bh * block, : bw * block])
    v = _block_mean(
        np.ascontiguousarray(valid[: bh * block, : bw * block], dtype=np.float32), bh, bw
    )
    ma, sa = block_contrast(a, block)
    mb, sb = block_contrast(b, block)
    ncc = (_block_mean(a * b, bh, bw) - ma * mb) / np.maximum(sa * sb, 1e-6)
    return sa, sb, ncc, v


def compare(
    claim: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    *,
    texture: float = 3.0,
    agree_ncc: float = 0.8,
    fine_ncc: float = 0.7,
) -> Comparison:
    """Compare ``claim`` with the aligned reference ``warped`` (both H x W x 3 uint8) on the
    pixels in ``valid``."""
    h, w = claim.shape[:2]
    # Stay clear of the warped reference's edge, where interpolation and the frame of a
    # screenshot or re-photograph leave residue that is not an edit.
    margin = max(5, round(0.02 * min(h, w)) | 1)
    framed = valid.astype(np.uint8)
    # The claim's own frame edge too: blurs and warps treat borders differently.
    framed[: margin // 2 + 1, :] = 0
    framed[-(margin // 2 + 1) :, :] = 0
    framed[:, : margin // 2 + 1] = 0
    framed[:, -(margin // 2 + 1) :] = 0
    inner = cv2.erode(framed, np.ones((margin, margin), np.uint8)).astype(bool)
    footprint = float(valid.mean())
    claim_f = claim.astype(np.float32)
    fitted = _fit_colour(warped, claim, inner)
    sample = np.flatnonzero(inner.ravel())[::7]
    if len(sample):
        change = fitted.reshape(-1, 3)[sample] - warped.reshape(-1, 3)[sample]
        colour_change = float(np.abs(change).mean())
    else:
        colour_change = 0.0

    # Match sharpness: the claim may have been softened by resizing or re-photographing.
    lc = _luma(claim_f)
    lr0 = _luma(fitted)
    # Judge sharpness on textured pixels only: on a flat studio background every blur fits.
    edges = cv2.morphologyEx(lc, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8)).ravel()
    textured = sample[edges[sample] > 8.0]
    if len(textured) >= 200:
        sample = textured
    best: tuple[float, float, np.ndarray] | None = None
    for sigma in (0.0, 0.8, 1.6, 2.6):
        lr = lr0 if sigma == 0 else cv2.GaussianBlur(lr0, (0, 0), sigma)
        err = (
            float(np.median(np.abs(lc.ravel()[sample] - lr.ravel()[sample])))
            if len(sample)
            else 0.0
        )
        if best is None or err < best[0]:
            best = (err, sigma, lr)
    assert best is not None
    _, sigma, lr = best
    if sigma > 0:
        fitted = cv2.GaussianBlur(fitted, (0, 0), sigma)

    sa, sb, ncc, vshare = _block_stats(_band(lc), _band(lr), inner)
    fa, fb, fncc, _ = _block_stats(_fine_detail(lc), _fine_detail(lr), inner)
    if colour_change > 4.0:
        # A colour fit driven by pixels that do not correspond (a pasted region in another
        # scene) can distort the part that does: judge structure on the raw reference too.
        raw = _luma(warped.astype(np.float32))
        if sigma > 0:
            raw = cv2.GaussianBlur(raw, (0, 0), sigma)
        _, sb_raw, ncc_raw, _ = _block_stats(_band(lc), _band(raw), inner)
        _, fb_raw, fncc_raw, _ = _block_stats(_fine_detail(lc), _fine_detail(raw), inner)
        better = ncc_raw > ncc
        ncc, sb = np.where(better, ncc_raw, ncc), np.where(better, sb_raw, sb)
        fncc, fb = np.where(better, fncc_raw, fncc), np.where(better, fb_raw, fb)
    in_fp = vshare > 0.9
    informative = in_fp & (np.maximum(sa, sb) > texture)
    ratio = np.minimum(sa, sb) / np.maximum(np.maximum(sa, sb), 1e-6)
    agree = informative & (ncc > agree_ncc) & (ratio > 0.5)
    fine = agree & (fncc > fine_ncc) & (np.maximum(fa, fb) > 1.0)
    n_inf = int(informative.sum())
    agreement = float(agree.sum() / n_inf) if n_inf else 0.0
    fine_agreement = float(
        fine.sum() / max(int((informative & (np.maximum(fa, fb) > 1.0)).sum()), 1)
    )

    def residual() -> tuple[np.ndarray, float]:
        # Pixel residual, normalised by the residual noise of agreeing areas and by local
        # contrast, at two scales: fine (thin cracks) and coarse (stains, inpainted patches,
        # whose soft edges drown in resampling and recompression noise at the fine scale).
        agree_px = np.kron(agree, np.ones((_BLOCK, _BLOCK), bool))
        agree_mask = np.zeros((h, w), bool)
        agree_mask[: agree_px.shape[0], : agree_px.shape[1]] = agree_px
        ref_area = inner & agree_mask if (inner & agree_mask).sum() > 500 else inner
        coarse = max(2.0, min(h, w) / 150)
        zfine, noise = _normalised_residual(claim_f, fitted, ref_area, 1.0)
        # At the coarse scale, uneven light (a screen's vignetting, a re-photographed print)
        # is a smooth gain over the frame: take it out, estimated from trusted blocks only.
        flat = (vshare > 0.9) & ~informative  # plain background: where vignetting shows most
        lit = fitted * _shading(claim_f, fitted, agree | flat)[..., None]
        # Blurred anyway: work at half size and bring the map back up.
        zhalf, _ = _normalised_residual(
            cv2.pyrDown(claim_f), cv2.pyrDown(lit), ref_area[::2, ::2], coarse / 2
        )
        zcoarse = cv2.resize(zhalf, (w, h), interpolation=cv2.INTER_LINEAR)
        zmap = np.maximum(zfine, zcoarse)
        zmap[~inner] = 0.0
        return zmap.astype(np.float32), noise

    return Comparison(
        footprint=footprint,
        agreement=agreement,
        fine_agreement=fine_agreement,
        colour_change=colour_change,
        valid=inner,
        block_agree=agree,
        block_fine=fine,
        block_informative=informative,
        informative_blocks=n_inf,
        block_fine_ncc=fncc,
        _residual=residual,
        softness=sigma,
    )


def departure_map(
    claim: np.ndarray,
    reference: np.ndarray,
    valid: np.ndarray,
    *,
    delta: float = 10.0,
    window: int = 9,
) -> tuple[np.ndarray, np.ndarray]:
    """Where the colour of ``claim`` departs from the aligned ``reference`` once one global
    colour map (the fit of :func:`compare`) is taken out: the CIELAB distance of
    ``window``-pixel means above ``delta``. Both images H x W x 3 uint8 RGB of one size;
    ``valid`` where the reference covers the claim. Returns the departing pixels and the
    pixels judged (``valid`` less its edge, ``window`` wide)."""
    inner = cv2.erode(valid.astype(np.uint8), np.ones((window, window), np.uint8)) > 0
    if not inner.any():
        return np.zeros_like(inner), inner
    fitted = np.clip(_fit_colour(reference, claim, valid), 0, 255)
    lab_c = cv2.cvtColor(claim.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    lab_r = cv2.cvtColor(fitted.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    mean_diff = cv2.blur(lab_c - lab_r, (window, window))
    distance = np.sqrt((mean_diff * mean_diff).sum(axis=2))
    return (distance > delta) & inner, inner


def tone_departure(
    claim: np.ndarray,
    reference: np.ndarray,
    valid: np.ndarray,
    *,
    delta: float = 10.0,
    window: int = 9,
) -> float:
    """Share of the overlap whose colour departs from the aligned ``reference`` (see
    :func:`departure_map`); 1 where nothing can be judged.

    A photo re-drawn from the reference keeps its colours and light everywhere but in what
    was added; another photo of the goods (other light, another background) or another
    print of one carton template departs over much of the frame."""
    departed, inner = departure_map(claim, reference, valid, delta=delta, window=window)
    if not inner.any():
        return 1.0
    return float(departed[inner].mean())


def region_consistency(
    claim: np.ndarray, warped: np.ndarray, blocks: np.ndarray
) -> dict[str, float]:
    """How consistently one global tone map explains a region, block by block.

    A region pasted from the reference went through the same global operations (resizing,
    recompression, a filter) everywhere, so one monotone map relates its block means and
    one gain relates its block contrasts. An independent photo of the same printed face
    was lit differently across the face: its block means scatter about any single map and
    its gains vary. Returns the R^2 of a quadratic fit of block means (``mean_r2``), the
    robust spread of block gains (``gain_spread``, median absolute deviation / median) and
    the same spread measured on the blocks' detail (``detail_gain_spread``: band-pass, the
    local mean removed). A smooth field added to the pixels, such as the membrane of a
    seamless (Poisson) clone, shifts the raw gains of plain blocks but leaves their detail
    as it was; light that differs across a face scales the detail too.
    """
    lc = _luma(claim.astype(np.float32))
    lr = _luma(warped.astype(np.float32))
    bh, bw = blocks.shape
    lc = np.ascontiguousarray(lc[: bh * _BLOCK, : bw * _BLOCK])
    lr = np.ascontiguousarray(lr[: bh * _BLOCK, : bw * _BLOCK])
    mc, mr, vr, cov = _block_moments(lc, lr, bh, bw)
    x, y = mr[blocks].astype(np.float64), mc[blocks].astype(np.float64)
    if len(x) < 6 or np.ptp(x) < 1e-3:
        return {"mean_r2": 0.0, "gain_spread": 1.0, "detail_gain_spread": 1.0}
    design = np.stack([np.ones_like(x), x, x * x], axis=1)
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    r2 = 1.0 - float(resid.var() / max(y.var(), 1e-9))
    # Clipped pixels (a highlight at white, a shadow at black, or a colour pushed past
    # either by a clone's colour shift) hold no contrast: their blocks' gains say nothing.
    crop = (slice(0, bh * _BLOCK), slice(0, bw * _BLOCK))
    clipped = np.maximum(_clipped(claim[crop]), _clipped(warped[crop]))
    unclipped = _block_mean(clipped, bh, bw) <= _CLIPPED_SHARE
    if int((blocks & unclipped).sum()) >= 6:
        blocks = blocks & unclipped
    spread = _gain_spread(cov, vr, blocks & (vr > 9.0))
    _, _, vdr, cdr = _block_moments(_band(lc), _band(lr), bh, bw)
    detail = _gain_spread(cdr, vdr, blocks & (vdr > 4.0))
    return {
        "mean_r2": round(r2, 4),
        "gain_spread": round(spread, 4),
        "detail_gain_spread": round(detail, 4),
    }


_CLIPPED_SHARE = 0.1


def _clipped(img: np.ndarray) -> np.ndarray:
    """Pixels with a channel at (or within 3 levels of) either end of its range, as 0/1
    floats."""
    x = img if img.ndim == 3 else img[..., None]
    clipped = np.logical_or(x >= 252, x <= 3).any(axis=2)
    return np.asarray(clipped, dtype=np.float32)


def _block_moments(
    a: np.ndarray, b: np.ndarray, bh: int, bw: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per block: the means of ``a`` and ``b``, the variance of ``b`` and their covariance."""
    ma, mb = _block_mean(a, bh, bw), _block_mean(b, bh, bw)
    var = np.maximum(_block_mean(b * b, bh, bw) - mb * mb, 0.0)
    return ma, mb, var, _block_mean(a * b, bh, bw) - ma * mb


def fine_correlation(claim: np.ndarray, warped: np.ndarray, comparison: Comparison) -> float:
    """Correlation of the finest band of ``claim`` and the aligned reference ``warped``
    (both H x W x 3 uint8) over the whole compared area of ``comparison``, the reference
    first blurred as much as the comparison found the claim softer: one figure for a region
    too small or too plain to count agreeing blocks. 0 when either side has no such detail
    (a standard deviation under one grey level) or the area is under 64 pixels."""
    mask = comparison.valid
    if int(mask.sum()) < 64:
        return 0.0
    lc = cv2.cvtColor(claim, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lr = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if comparison.softness > 0:
        lr = cv2.GaussianBlur(lr, (0, 0), comparison.softness).astype(np.float32)
    a = _fine_detail(lc)[mask].astype(np.float64)
    b = _fine_detail(lr)[mask].astype(np.float64)
    a, b = a - a.mean(), b - b.mean()
    if float(a.std()) < 1.0 or float(b.std()) < 1.0:
        return 0.0
    return float((a * b).sum() / np.sqrt(float((a * a).sum()) * float((b * b).sum())))


def _gain_spread(cov: np.ndarray, var: np.ndarray, blocks: np.ndarray) -> float:
    """Robust spread (median absolute deviation / median) of the gains ``cov / var`` of
    ``blocks``; 1.0 when fewer than 4 blocks say anything."""
    gains = (cov[blocks] / np.maximum(var[blocks], 1e-6)).astype(np.float64)
    if len(gains) < 4 or abs(float(np.median(gains))) <= 1e-6:
        return 1.0
    med = float(np.median(gains))
    return float(np.median(np.abs(gains - med)) / abs(med))


def remove_moire(
    claim: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    *,
    min_peak: float = 50.0,
    dominance: float = 3.0,
    min_frequency: float = 0.05,
    width: float = 0.006,
) -> np.ndarray | None:
    """The claim with a screen's moire taken out, or ``None`` when it shows none.

    A photo of a screen carries a beat between the screen's pixel grid and the sensor's: a
    fine periodic pattern over the whole picture, which no alignment or tone map removes and
    which breaks the block-by-block comparison. It is one narrow peak (and its mirror) in the
    spectrum of the claim's departure from the aligned reference (both high-passed, so that
    light and colour do not count). It is notched out of the claim only when one peak
    stands ``min_peak`` times above the median of the spectrum, ``dominance`` times above
    any other, at a frequency of at least ``min_frequency`` cycles per pixel: a difference
    of scene content spreads over the spectrum and never forms such a peak.
    """
    h, w = valid.shape
    if h < 64 or w < 64:
        return None
    lc, lw = _luma(claim), _luma(warped)
    residual = (lc - cv2.GaussianBlur(lc, (0, 0), 4.0)) - (lw - cv2.GaussianBlur(lw, (0, 0), 4.0))
    spectrum = np.abs(np.fft.rfft2(residual * valid))
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    band = (radius > 0.02) & (radius < 0.45)
    level = float(np.median(spectrum[band]))
    if level <= 0:
        return None
    scored = np.where(band, spectrum, 0.0)
    i = np.unravel_index(int(np.argmax(scored)), scored.shape)
    peak = float(scored[i])
    py, px = float(fy[i[0], 0]), float(fx[0, i[1]])
    away = np.sqrt((fy - py) ** 2 + (fx - px) ** 2) > 0.02
    mirror = np.sqrt((fy + py) ** 2 + (fx + px) ** 2) > 0.02  # the conjugate, where rfft keeps it
    second = float(scored[away & mirror].max(initial=0.0))
    if (
        peak < min_peak * level
        or peak < dominance * second
        or float(np.hypot(px, py)) < min_frequency
    ):
        return None
    notch = np.ones((h, w // 2 + 1), np.float32)
    for cy, cx in ((py, px), (-py, -px)):  # the peak and its conjugate
        d2 = (fy - cy) ** 2 + (fx - cx) ** 2
        notch *= (1.0 - np.exp(-d2 / (2 * width * width))).astype(np.float32)
    channels = [
        np.fft.irfft2(np.fft.rfft2(claim[..., c].astype(np.float32)) * notch, s=(h, w))
        for c in range(claim.shape[2])
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def grow_copied_region(
    claim: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    seed: np.ndarray,
    *,
    block: int = 8,
    plain: float = 2.5,
    min_ncc: float = 0.6,
) -> np.ndarray:
    """The whole of a copied region, grown from the part of it already verified.

    A region lifted from a photo is verified where it holds detail, yet it often reaches
    over plain parts (a wooden board, a wall, sky) that hold none. ``claim`` and the aligned
    reference ``warped`` (H x W x 3 uint8, one size) are compared block by block
    (``block`` pixels) over ``valid``: a block agrees when its colour is what the tone map of
    the ``seed`` (bool, the verified region) predicts, within the spread the seed itself
    shows, and its structure agrees too (both plain, under ``plain`` grey levels of
    contrast, or correlated at ``min_ncc`` or more with a similar contrast). Returns the
    seed joined with every group of agreeing blocks that touches it (bool, H x W).
    """
    h, w = claim.shape[:2]
    bh, bw = h // block, w // block
    if bh < 2 or bw < 2:
        return seed

    c = claim.astype(np.float32)
    r = warped.astype(np.float32)
    mc = block_contrast(c, block)[0].reshape(bh, bw, 3)
    mr = block_contrast(r, block)[0].reshape(bh, bw, 3)
    sc, sr, ncc, share = _block_stats(_luma(c), _luma(r), valid, block)
    inside = share > 0.99
    seeded = (block_contrast(seed.astype(np.float32), block)[0] > 0.5) & inside
    if int(seeded.sum()) < 4:
        return seed
    # One tone map per channel (gain and offset) fitted on the verified blocks; the colour
    # tolerance is what those blocks themselves leave unexplained.
    residual = np.zeros((bh, bw), np.float32)
    spread = []
    for ch in range(3):
        x, y = mr[..., ch][seeded], mc[..., ch][seeded]
        design = np.stack([x, np.ones_like(x)], axis=1)
        (gain, offset), *_ = np.linalg.lstsq(design, y, rcond=None)
        off = np.abs(mc[..., ch] - (gain * mr[..., ch] + offset))
        residual = np.maximum(residual, off)
        spread.append(float(np.percentile(off[seeded], 90)))
    tolerance = max(4.0, 1.5 * max(spread))
    both_plain = np.maximum(sc, sr) < plain
    ratio = np.minimum(sc, sr) / np.maximum(np.maximum(sc, sr), 1e-6)
    alike = both_plain | ((ncc >= min_ncc) & (ratio > 0.5))
    agree = (inside & (residual <= tolerance) & alike) | seeded
    _, labels = cv2.connectedComponents(agree.astype(np.uint8), connectivity=4)
    touching = np.unique(labels[seeded])
    grown_blocks = np.isin(labels, touching[touching > 0])
    grown = np.zeros((h, w), bool)
    grown[: bh * block, : bw * block] = np.kron(grown_blocks, np.ones((block, block), bool))
    return grown | seed
