"""Pure functions for error level analysis (ELA) normalised by local texture.

Plain ELA (Krawetz 2007) recompresses a photo and shows the difference: a region with a
different compression history stands out, but so do edges, text and fine texture, because
the error of a fresh quantization grows with local detail. Here the photo's luminance is
recompressed in the DCT domain on its own 8x8 grid (the same arithmetic as a JPEG encoder,
without the entropy coding) and each block's error is divided by the error a *fresh*
quantization of that same block would make: for every coefficient that quantizes to a
non-zero value the fresh error is uniform over one step, ``Q**2 / 12`` in energy. The
ratio, the *normalised error level*, is near 1 for content that never went through this
quantization and near 0 for content that did (a JPEG ghost, Farid 2009), whatever its
texture. Flat blocks, whose coefficients all quantize to zero, carry no information and are
left out rather than flagged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "BlockLevels",
    "block_dct",
    "block_levels",
    "block_mean",
    "grid_offset",
    "ijg_table",
    "jpeg_quality",
    "luma",
    "plain_ela",
]

# ITU-T T.81 Annex K luminance table (natural order), the base of the IJG quality scale.
_IJG_LUMA = np.array(
    [
        [16, 11, 10, 16, 24, 40, 51, 61],
        [12, 12, 14, 19, 26, 58, 60, 55],
        [14, 13, 16, 24, 40, 57, 69, 56],
        [14, 17, 22, 29, 51, 87, 80, 62],
        [18, 22, 37, 56, 68, 109, 103, 77],
        [24, 35, 55, 64, 81, 104, 113, 92],
        [49, 64, 78, 87, 103, 121, 120, 101],
        [72, 92, 95, 98, 112, 100, 103, 99],
    ],
    np.float64,
)


def _dct_matrix() -> np.ndarray:
    k = np.arange(8)
    m = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * np.sqrt(2 / 8)
    m[0] /= np.sqrt(2)
    return m.astype(np.float32)


_DCT = _dct_matrix()


def luma(rgb: np.ndarray) -> np.ndarray:
    """JPEG (JFIF) luminance of an RGB uint8 image, float32, level-shifted by -128."""
    pixels = np.asarray(rgb)
    if pixels.ndim == 2:
        return pixels.astype(np.float32) - 128.0
    weights = np.array([[0.299, 0.587, 0.114]], np.float32)
    y = cv2.transform(np.ascontiguousarray(pixels).astype(np.float32), weights)
    return np.asarray(y, np.float32).reshape(pixels.shape[:2]) - 128.0


def ijg_table(quality: float) -> np.ndarray:
    """The IJG (libjpeg) luminance quantization table at ``quality`` (1..100), 8x8 float.

    References
    ----------
    Independent JPEG Group, libjpeg ``jcparam.c`` (``jpeg_quality_scaling``).
    """
    q = float(np.clip(quality, 1, 100))
    scale = 5000.0 / q if q < 50 else 200.0 - 2.0 * q
    return np.clip(np.floor((_IJG_LUMA * scale + 50.0) / 100.0), 1, 255)


def jpeg_quality(table: Sequence[int]) -> float:
    """The IJG quality whose luminance table is closest (in total step) to ``table``.

    ``table`` is 64 steps in natural order. Other encoders (phones) use their own tables;
    the estimate then says how coarse the table is on the IJG scale.

    Examples
    --------
    >>> round(jpeg_quality(ijg_table(75).ravel().astype(int).tolist()))
    75
    """
    target = float(np.sum(np.asarray(table, np.float64)))
    qualities = np.arange(1, 101)
    sums = np.array([ijg_table(float(q)).sum() for q in qualities])
    return float(qualities[int(np.argmin(np.abs(sums - target)))])


def block_dct(y: np.ndarray, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """2-D DCT-II (orthonormal, as JPEG) of every whole 8x8 block of ``y`` from ``offset``.

    Returns an array of shape ``(rows, cols, 8, 8)``.
    """
    oy, ox = offset
    h, w = (y.shape[0] - oy) // 8, (y.shape[1] - ox) // 8
    if h <= 0 or w <= 0:
        return np.zeros((0, 0, 8, 8), np.float32)
    blocks = y[oy : oy + 8 * h, ox : ox + 8 * w].reshape(h, 8, w, 8).transpose(0, 2, 1, 3)
    return np.asarray(_DCT @ blocks @ _DCT.T, np.float32)


@dataclass(frozen=True, slots=True)
class BlockLevels:
    """Normalised error levels of one recompression, per 8x8 block.

    ``level`` is the block's recompression error energy divided by a fresh quantization's
    expected error energy (NaN where ``count`` is 0); ``count`` the number of coefficients
    that quantize to a non-zero value (the informative ones); ``raw`` the plain error energy
    per pixel (what unnormalised ELA shows).
    """

    level: np.ndarray
    count: np.ndarray
    raw: np.ndarray


def block_levels(coeffs: np.ndarray, table: np.ndarray) -> BlockLevels:
    """Normalised error level of requantizing ``coeffs`` (from :func:`block_dct`) by ``table``.

    Only coefficients with ``|c| >= Q/2`` count: a smaller one quantizes to zero whether or
    not it was quantized before, so it tells nothing about the block's history.

    References
    ----------
    H. Farid. Exposing digital forgeries from JPEG ghosts. IEEE TIFS 4(1), 2009.
    N. Krawetz. A picture's worth: digital image analysis and forensics. Black Hat 2007.
    """
    q = np.asarray(table, np.float32).reshape(8, 8)
    ratio = coeffs / q
    err = ratio - np.round(ratio)  # error in units of the step
    informative = np.abs(ratio) >= 0.5
    count = informative.sum(axis=(2, 3))
    energy = np.where(informative, err * err, 0.0).sum(axis=(2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(count > 0, 12.0 * energy / np.maximum(count, 1), np.nan)
    raw = ((err * q) ** 2).sum(axis=(2, 3)) / 64.0
    return BlockLevels(level.astype(np.float32), count.astype(np.int32), raw.astype(np.float32))


def grid_offset(y: np.ndarray) -> tuple[tuple[int, int], float]:
    """Where an earlier JPEG's 8x8 grid lies in a decoded image, and how clearly.

    Blocking (Fan & de Queiroz 2003): a JPEG leaves a step between neighbouring pixels that
    sit on either side of a block boundary. The mean absolute difference across each row
    (column) phase modulo 8 peaks at the boundary phase. The strength is the peak over the
    largest of the phases 2, 4 and 6 away, so that the period-2 and period-4 patterns of
    demosaicing and resampling do not pass for a grid (1.0: no grid).

    References
    ----------
    Z. Fan, R. L. de Queiroz. Identification of bitmap compression history: JPEG detection
    and quantizer estimation. IEEE TIP 12(2), 2003.
    """
    if y.shape[0] < 17 or y.shape[1] < 17:
        return (0, 0), 1.0
    phases = []
    strength = []
    for axis in (0, 1):
        d = np.minimum(np.abs(np.diff(y, axis=axis)), 20.0)  # strong edges are not blocking
        prof = d.mean(axis=1 - axis)
        per = np.array([prof[i::8].mean() for i in range(8)])
        # A boundary between pixels i-1 and i shows as a larger step at difference i-1.
        best = int(np.argmax(per))
        phases.append((best + 1) % 8)
        rivals = max(per[(best + k) % 8] for k in (2, 4, 6))
        strength.append(float(per[best] / max(rivals, 1e-6)))
    return (phases[0], phases[1]), float(min(strength))


def plain_ela(rgb: np.ndarray, quality: int = 90, block: int = 8) -> np.ndarray:
    """Plain ELA (Krawetz 2007): mean absolute RGB difference after one JPEG re-save at
    ``quality``, averaged per ``block`` x ``block`` block. The baseline the normalised
    measure is compared with in benchmarks.
    """
    pixels = np.ascontiguousarray(rgb)
    if pixels.ndim == 3:
        pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", pixels, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        return np.zeros((0, 0), np.float32)
    back = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if back is None or back.shape != pixels.shape:
        return np.zeros((0, 0), np.float32)
    diff = cv2.absdiff(back, pixels)
    if diff.ndim == 3:
        diff = cv2.transform(diff.astype(np.float32), np.full((1, 3), 1 / 3, np.float32))
    return block_mean(np.asarray(diff, np.float32).reshape(pixels.shape[:2]), block)


def block_mean(values: np.ndarray, block: int = 8) -> np.ndarray:
    """Mean of every whole ``block`` x ``block`` block of a 2-D array."""
    h, w = values.shape[0] // block, values.shape[1] // block
    if h == 0 or w == 0:
        return np.zeros((h, w), np.float32)
    crop = np.ascontiguousarray(values[: h * block, : w * block], dtype=np.float32)
    return np.asarray(cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA), np.float32)


def _zigzag_positions(n: int) -> list[tuple[int, int]]:
    order = sorted(((i, j) for i in range(8) for j in range(8)), key=lambda p: (p[0] + p[1], p))
    return order[:n]


def history_steps(
    coeffs: np.ndarray,
    *,
    own_table: np.ndarray | None = None,
    positions: int = 15,
    max_step: int = 40,
    max_level: float = 0.3,
    min_samples: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimate the quantization steps of an earlier JPEG compression, one per frequency.

    For each of the first ``positions`` frequencies in zigzag order, the largest step ``s``
    for which the informative coefficients (``|c| >= s/2``) sit on multiples of ``s``
    (mean normalised error below ``max_level``; a fresh quantization gives 1) is the
    earlier step. Steps that divide the file's own step (``own_table``), or nearly do, are
    skipped: every coefficient of a JPEG sits on multiples of its own steps, which says
    nothing about earlier history. ``coeffs`` may be a sample of blocks.

    Returns ``(steps, levels)``: 8x8 arrays, step 0 where no history was found, and the
    mean normalised error at the chosen step (1.0 where none).

    References
    ----------
    J. Lukáš, J. Fridrich. Estimation of primary quantization matrix in double compressed
    JPEG images. DFRWS 2003.
    Z. Fan, R. L. de Queiroz. Identification of bitmap compression history. IEEE TIP 2003.
    """
    steps = np.zeros((8, 8), np.float32)
    levels = np.ones((8, 8), np.float32)
    flat = coeffs.reshape(-1, 8, 8)
    candidates = np.arange(max_step, 1, -1, dtype=np.float32)  # largest first
    for i, j in _zigzag_positions(positions):
        values = np.abs(flat[:, i, j]).astype(np.float32)
        ratio = values[None, :] / candidates[:, None]
        informative = ratio >= 0.5
        count = informative.sum(axis=1)
        err = ratio - np.round(ratio)
        level = 12.0 * np.where(informative, err * err, 0.0).sum(axis=1) / np.maximum(count, 1)
        own = float(own_table[i, j]) if own_table is not None else 0.0
        ok = (count >= min_samples) & (level < max_level)
        if own >= 1:
            ok &= ~np.array([_near_divisor(own, int(c)) for c in candidates])
        if ok.any():
            k = int(np.argmax(ok))
            steps[i, j] = candidates[k]
            levels[i, j] = level[k]
    return steps, levels


def _near_divisor(own: float, step: int) -> bool:
    """Whether multiples of ``own`` sit close to multiples of ``step`` (within a fifth of a
    step): then every coefficient of the file looks consistent with ``step``."""
    ratio = own / step
    return round(ratio) >= 1 and abs(ratio - round(ratio)) < 0.2


def history_levels(coeffs: np.ndarray, steps: np.ndarray) -> BlockLevels:
    """Per-block normalised error level of ``coeffs`` against the earlier ``steps``.

    Like :func:`block_levels`, restricted to the frequencies with a known earlier step:
    near 0 where a block kept the photo's compression history, near 1 (or above) where it
    lost it (pasted from elsewhere, painted, blurred or resampled locally).
    """
    used = steps > 0
    if not used.any():
        shape = coeffs.shape[:2]
        return BlockLevels(
            np.full(shape, np.nan, np.float32),
            np.zeros(shape, np.int32),
            np.zeros(shape, np.float32),
        )
    c = coeffs[:, :, used]
    s = steps[used].astype(np.float32)
    ratio = c / s
    err = ratio - np.round(ratio)
    informative = np.abs(ratio) >= 0.5
    count = informative.sum(axis=2)
    energy = np.where(informative, err * err, 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(count > 0, 12.0 * energy / np.maximum(count, 1), np.nan)
    raw = ((err * s) ** 2).sum(axis=2) / 64.0
    return BlockLevels(level.astype(np.float32), count.astype(np.int32), raw.astype(np.float32))
