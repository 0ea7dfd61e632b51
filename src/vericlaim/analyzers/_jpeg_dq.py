"""Pure functions for JPEG double-quantization and grid analysis on 8x8 block DCTs.

The photo's luminance is cut on the JPEG grid of its last compression, transformed with
the JPEG DCT and divided by the last quantization table: the quotients sit near integers.
A photo that was JPEG-compressed before, on the same grid, with another table, has
quotients whose histogram is periodic (Lin et al. 2009); a region edited or pasted between
the two compressions lacks that pattern. Blocking artefacts of an earlier compression on
another grid show as an 8-periodic jump at a phase other than 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

__all__ = [
    "FirstStep",
    "block_dct",
    "block_llr",
    "dq_gain",
    "estimate_first_step",
    "grid_phase_sums",
    "phase_excess",
    "zigzag_order",
]


def zigzag_order() -> list[tuple[int, int]]:
    """The (row, column) of each DCT frequency in JPEG zigzag order (ITU-T T.81, Fig. 5)."""
    cells = [(r, c) for r in range(8) for c in range(8)]
    return sorted(cells, key=lambda rc: (rc[0] + rc[1], rc[0] if (rc[0] + rc[1]) % 2 else rc[1]))


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    m = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)


_DCT = _dct_matrix()


def block_dct(luma: np.ndarray) -> np.ndarray:
    """The JPEG DCT of every whole 8x8 block of ``luma`` on the grid at (0, 0).

    ``luma`` holds samples 0..255 (any numeric dtype); they are level-shifted by 128 as the
    encoder does. Partial blocks at the right and bottom edges (padded by the encoder) are
    left out. The transform is the orthonormal 2-D DCT-II, which is the JPEG forward DCT
    and what ``cv2.dct`` computes on one 8x8 block; it is applied here as two matrix
    products over all blocks at once.

    Returns
    -------
    numpy.ndarray
        float32 array of shape ``(rows // 8, cols // 8, 8, 8)``.

    References
    ----------
    ITU-T T.81 (1992), section A.3.3.

    Examples
    --------
    >>> block_dct(np.full((8, 8), 130))[0, 0, 0, 0]
    16.0
    """
    h, w = (luma.shape[0] // 8) * 8, (luma.shape[1] // 8) * 8
    y = np.asarray(luma[:h, :w], np.float32) - 128.0
    # Two plain (n, 8) x (8, 8) products, rows then columns: far faster than a batched
    # product over small blocks. The result is a view [block row, block col, u, v].
    across = (y.reshape(-1, 8) @ _DCT.T).reshape(h // 8, 8, w)
    turned = np.ascontiguousarray(across.transpose(0, 2, 1))
    both = (turned.reshape(-1, 8) @ _DCT.T).reshape(h // 8, w // 8, 8, 8)
    return both.transpose(0, 1, 3, 2)


def _normal_cdf(z: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (error below 1.5e-7): numpy has no erf.
    x = np.abs(z) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-x * x)
    return np.asarray(0.5 * (1.0 + np.sign(z) * erf))


@cache
def _dq_gain_cached(q1: int, q2: int, xmax: int, sigma: float) -> np.ndarray:
    x = np.arange(-xmax, xmax + 1, dtype=np.float64)
    m = np.arange(-(xmax * q2) // q1 - 2, (xmax * q2) // q1 + 3, dtype=np.float64)
    v = m * q1
    hi = _normal_cdf(((x[:, None] + 0.5) * q2 - v[None, :]) / sigma)
    lo = _normal_cdf(((x[:, None] - 0.5) * q2 - v[None, :]) / sigma)
    out = np.asarray((hi - lo).sum(axis=1) * q1 / q2)
    out.setflags(write=False)
    return out


def dq_gain(q1: int, q2: int, xmax: int, *, sigma: float = 0.6) -> np.ndarray:
    """How double quantization reshapes the histogram of quantized DCT values.

    A coefficient quantized with step ``q1``, decoded (rounding in the pixel domain adds
    noise of about ``sigma`` DCT units), then quantized again with step ``q2`` lands in bin
    ``x`` with a probability proportional to ``n(x)`` times what a single quantization with
    ``q2`` would give, for a smooth coefficient density. ``n`` averages to 1: bins that no
    multiple of ``q1`` reaches are (nearly) empty, bins that two reach are crowded.

    Returns
    -------
    numpy.ndarray
        ``n(x)`` for ``x = -xmax .. xmax``.

    References
    ----------
    T. Bianchi, A. Piva. Image forgery localization via block-grained analysis of JPEG
    artifacts. IEEE TIFS 7(3), 2012, eq. (6)-(8).
    Z. Lin, J. He, X. Tang, C.-K. Tang. Fast, automatic and fine-grained tampered JPEG image
    detection via DCT coefficient analysis. Pattern Recognition 42(11), 2009.

    Examples
    --------
    >>> np.round(dq_gain(3, 2, 3, sigma=0.01), 2).tolist()
    [1.5, 0.0, 1.5, 1.5, 1.5, 0.0, 1.5]
    """
    return _dq_gain_cached(int(q1), int(q2), int(xmax), float(sigma))


@dataclass(frozen=True, slots=True)
class FirstStep:
    """The first quantization step found for one DCT frequency.

    ``q1`` is the step (0 when no double quantization shows), ``gain`` the log-likelihood
    gain in nats over all non-zero coefficients, ``per_coefficient`` the same divided by
    their count, ``share`` the fitted share of coefficients that follow the pattern.
    """

    q1: int
    gain: float
    per_coefficient: float
    share: float
    pattern: np.ndarray


def _smooth_density(hist: np.ndarray, xmax: int) -> np.ndarray:
    """A smooth density under a symmetric histogram: a cubic in ``|x|`` fitted to the log
    counts of the non-zero bins (a periodic pattern of a few bins cannot bend a cubic)."""
    folded = hist[xmax + 1 :] + hist[:xmax][::-1]
    x = np.arange(1, xmax + 1, dtype=np.float64)
    keep = folded > 0
    if keep.sum() < 4:
        return np.maximum(hist, 1e-9)
    last = int(np.flatnonzero(keep)[-1]) + 1
    xs, ys = x[:last], np.log(folded[:last] + 0.5)
    coef = np.polyfit(xs / last, ys, min(3, last - 1), w=np.sqrt(folded[:last] + 0.5))
    log_fit = np.polyval(coef, np.abs(np.arange(-xmax, xmax + 1)) / last)
    fit = np.exp(np.clip(log_fit, -50.0, 50.0)) / 2
    fit[np.abs(np.arange(-xmax, xmax + 1)) > last] = 1e-9
    return fit


_SHARES = (0.2, 0.35, 0.5, 0.65, 0.8, 0.9, 1.0)


def estimate_first_step(
    values: np.ndarray,
    q2: int,
    *,
    max_q1: int = 60,
    xmax: int = 40,
    sigma: float = 0.6,
) -> FirstStep:
    """Estimate the first quantization step of one DCT frequency from its quantized values.

    For each candidate step, the histogram of ``values`` (integers: coefficients divided by
    the last step ``q2`` and rounded) is explained as a mixture of single- and
    double-quantized coefficients, ``f(x) (1 - a + a n(x))``, with ``f`` the histogram
    averaged over one period of ``n`` (:func:`dq_gain`). The step with the largest
    likelihood gain over plain single quantization wins. Zero values are left out (flat
    areas say nothing).

    References
    ----------
    T. Bianchi, A. Piva. Image forgery localization via block-grained analysis of JPEG
    artifacts. IEEE TIFS 7(3), 2012, section III-A (EM estimate of the mixture).
    """
    v = np.clip(np.asarray(values, np.int64), -xmax, xmax)
    hist = np.bincount(v + xmax, minlength=2 * xmax + 1).astype(np.float64)
    hist[0] = hist[-1] = 0.0  # clipped tails
    nonzero = np.ones_like(hist, bool)
    nonzero[xmax] = False
    total = hist[nonzero].sum()
    empty = FirstStep(0, 0.0, 0.0, 0.0, np.ones_like(hist))
    if total < 50:
        return empty
    density = _smooth_density(hist, xmax)[nonzero]
    patterns, usable = _gain_matrix(q2, max_q1, xmax, sigma)
    shares = np.asarray(_SHARES)[None, :, None]
    g = 1.0 - shares + shares * patterns[:, None, :]  # (step, share, bin)
    z = (g[:, :, nonzero] * density).sum(axis=-1) / max(float(density.sum()), 1e-9)
    log_g = np.log(np.maximum(g[:, :, nonzero], 1e-6))
    gains = (log_g * hist[nonzero]).sum(axis=-1) - total * np.log(np.maximum(z, 1e-12))
    gains[~usable] = -np.inf
    best = empty
    for row in range(max_q1):
        k = int(np.argmax(gains[row]))
        gain = float(gains[row, k])
        # A multiple of the true step with a smaller share fits almost as well: a larger
        # step must fit clearly better to be preferred.
        if gain > best.gain * 1.01 + 2.0:
            best = FirstStep(row + 1, gain, gain / total, _SHARES[k], g[row, k] / z[row, k])
    return best


@cache
def _gain_matrix(q2: int, max_q1: int, xmax: int, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """``n(x)`` of :func:`dq_gain` for every first step 1..``max_q1``, and which steps leave
    a trace (not ``q2`` itself, and not a pattern flat to within 5 %)."""
    rows = np.stack([dq_gain(q1, q2, xmax, sigma=sigma) for q1 in range(1, max_q1 + 1)])
    inner = np.ones(2 * xmax + 1, bool)
    inner[xmax] = False
    usable = np.abs(rows[:, inner] - 1.0).max(axis=1) >= 0.05
    usable[q2 - 1 : q2] = False
    rows.setflags(write=False)
    usable.setflags(write=False)
    return rows, usable


def block_llr(values: np.ndarray, pattern: np.ndarray, *, floor: float = 0.05) -> np.ndarray:
    """Per-coefficient log-likelihood ratio, double (untouched) against single (edited).

    ``values`` are quantized values of one frequency (any shape), ``pattern`` the
    normalised ``n(x)`` for ``x = -xmax .. xmax`` from :func:`estimate_first_step`. Zero
    values and values beyond ``xmax`` say nothing (0); a value in an empty bin counts at
    most ``log(floor)`` against double quantization, so one clipped or noisy coefficient
    cannot decide a block.

    References
    ----------
    T. Bianchi, A. Piva. IEEE TIFS 7(3), 2012, eq. (11): the likelihood map.
    """
    xmax = (len(pattern) - 1) // 2
    llr_table = np.log(np.maximum(pattern, floor))
    llr_table[xmax] = 0.0
    llr_table[0] = llr_table[-1] = 0.0
    idx = np.clip(np.asarray(values, np.int64), -xmax, xmax) + xmax
    return np.asarray(llr_table[idx], np.float32)


def grid_phase_sums(luma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 8x8 block, the summed jumps across columns and rows at each of the 8 phases.

    Phase ``p`` of the column sums is the jump between columns ``8 j + p - 1`` and
    ``8 j + p``; a JPEG grid whose block edges fall on columns ``= p (mod 8)`` raises
    phase ``p``. The jump is the absolute first difference less the mean of its two
    neighbours (a smooth gradient is not a block edge), floored at 0.

    Returns
    -------
    (columns, rows)
        float32 arrays of shape ``(rows // 8, cols // 8, 8)``.

    References
    ----------
    Z. Fan, R. L. de Queiroz. Identification of bitmap compression history: JPEG detection
    and quantizer estimation. IEEE TIP 12(2), 2003.
    W. Li, Y. Yuan, N. Yu. Passive detection of doctored JPEG image via block artifact grid
    extraction. Signal Processing 89(9), 2009.
    """
    y = np.ascontiguousarray(np.clip(luma, 0, 255).astype(np.uint8, copy=False))
    h, w = (y.shape[0] // 8) * 8, (y.shape[1] // 8) * 8

    def jumps(a: np.ndarray) -> np.ndarray:
        # Saturating uint8 arithmetic: |a - b| is exact and the floor at 0 comes free.
        d = np.zeros_like(a)
        d[:, 1:] = cv2.absdiff(a[:, 1:], a[:, :-1])
        nb = np.zeros_like(a)
        nb[:, 2:-1] = cv2.addWeighted(d[:, 1:-2], 0.5, d[:, 3:], 0.5, 0.0)
        return cv2.subtract(d, nb)

    cols = jumps(y)[:h, :w].reshape(h // 8, 8, w // 8, 8).sum(axis=1, dtype=np.float32)
    rows = (
        jumps(np.ascontiguousarray(y.T))[:w, :h]
        .reshape(w // 8, 8, h // 8, 8)
        .sum(axis=1, dtype=np.float32)
    )
    return cols, rows.transpose(1, 0, 2)


_PARTNER_PHASES = np.array([1, 2, 3, 5, 6, 7])


def phase_excess(sums: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Strongest off-grid phase in each block's neighbourhood and its excess.

    ``sums`` is one output of :func:`grid_phase_sums` (or a single profile of shape
    ``(8,)``), pooled over ``window`` x ``window`` blocks. A JPEG grid at phase ``p`` raises
    ``p`` alone; demosaicing, chroma upsampling and resampling raise phases with a period of
    2 or 4 px, which raise ``p`` and ``p + 4`` alike; and the last compression's own
    quantization error, mirror-symmetric inside each block, raises ``p`` and ``8 - p`` alike.
    The excess of ``p`` is therefore its pooled jump less the larger of those two rivals',
    over the mean of the off-grid phases. Phase 4 cannot be told from the last grid this
    way and is never reported.

    Returns
    -------
    (phase, excess)
        int array of the strongest phase (1, 2, 3, 5, 6 or 7) and its float32 excess.
    """
    if sums.ndim == 1:
        pooled = np.asarray(sums, np.float32)[None, None, :]
    else:
        pooled = np.stack(
            [
                cv2.boxFilter(
                    np.ascontiguousarray(sums[:, :, p]),
                    -1,
                    (window, window),
                    normalize=False,
                    borderType=cv2.BORDER_REFLECT,
                )
                for p in range(8)
            ],
            axis=-1,
        )
    rivals = np.maximum(pooled[..., 8 - _PARTNER_PHASES], pooled[..., (_PARTNER_PHASES + 4) % 8])
    diff = pooled[..., _PARTNER_PHASES] - rivals
    best = np.argmax(diff, axis=-1)
    top = np.take_along_axis(diff, best[..., None], axis=-1)[..., 0]
    base = pooled[..., 1:].mean(axis=-1)
    excess = (top / np.maximum(base, 1e-3)).astype(np.float32)
    phase = _PARTNER_PHASES[best].astype(np.int64)
    if sums.ndim == 1:
        return phase[0, 0], excess[0, 0]
    return phase, excess
