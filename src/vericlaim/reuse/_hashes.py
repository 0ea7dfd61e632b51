"""Pure functions for 64-bit perceptual hashes of a grayscale photo.

Two classic hashes, both robust to recompression, rescaling, mild blur and global colour
or tone filters (they see only the coarse luminance structure):

- **pHash** (DCT hash, Zauner 2010): the photo shrunk to 32x32 by area averaging, its 2-D
  DCT-II, and the 8x8 lowest frequencies thresholded at their median (the DC term left
  out of the median, because it only says how bright the photo is).
- **dHash** (difference hash, Krawetz 2013): the photo shrunk to 9x8, one bit per
  horizontally adjacent pair, set where brightness rises to the right.

Codes are ``uint64`` with bit 63 the first (top-left) cell, row by row. Distances are
Hamming distances (``bitwise_count`` of the XOR). Uniform margins (a white studio backdrop,
a solid frame or letterbox) can be trimmed first with :func:`trim_uniform_margins`, so
that a photo and the same photo with a plain border added or removed hash alike.

References
----------
C. Zauner, "Implementation and Benchmarking of Perceptual Image Hash Functions", Master's
thesis, Upper Austria University of Applied Sciences, 2010.
N. Krawetz, "Kind of Like That", The Hacker Factor Blog, 2013.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = [
    "dhash64",
    "hamming",
    "luma",
    "pack_bits",
    "phash64",
    "structure",
    "trim_uniform_margins",
]

_BIT_WEIGHTS = (np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luminance of an RGB (or already grey) ``uint8`` array, as ``float32``."""
    arr = np.asarray(pixels)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"expected an (h, w) or (h, w, 3) array, got shape {arr.shape}")
    rgb = np.ascontiguousarray(arr[:, :, :3]).astype(np.float32)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def pack_bits(bits: np.ndarray) -> np.uint64:
    """64 booleans (any shape, row-major) to one ``uint64``, first bit the most significant."""
    flat = np.asarray(bits, dtype=bool).reshape(-1)
    if flat.size != 64:
        raise ValueError(f"expected 64 bits, got {flat.size}")
    return np.uint64(np.bitwise_or.reduce(np.where(flat, _BIT_WEIGHTS, np.uint64(0))))


def _shrink(gray: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = gray.shape
    # Area averaging when shrinking (the anti-aliasing the hashes rely on); linear when a
    # tiny photo has to grow.
    interp = cv2.INTER_AREA if w >= size[0] and h >= size[1] else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(gray, dtype=np.float32), size, interpolation=interp)


def phash64(gray: np.ndarray) -> np.uint64:
    """The 64-bit DCT perceptual hash of a grayscale photo.

    Parameters
    ----------
    gray : (h, w) array
        Luminance, any numeric type; at least 1x1.

    Returns
    -------
    numpy.uint64

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> g = cv2.resize(rng.uniform(0, 255, (6, 8)).astype(np.float32), (160, 120))
    >>> int(hamming(phash64(g), phash64(g * 0.5 + 20)))  # tone changes keep the hash
    0
    """
    small = _shrink(gray, (32, 32))
    low = cv2.dct(small)[:8, :8]
    median = np.median(low.reshape(-1)[1:])
    return pack_bits(low > median)


def dhash64(gray: np.ndarray) -> np.uint64:
    """The 64-bit horizontal difference hash of a grayscale photo."""
    small = _shrink(gray, (9, 8))
    return pack_bits(small[:, 1:] > small[:, :-1])


def structure(gray: np.ndarray) -> float:
    """How much coarse structure the hashes can see: the standard deviation (grey levels)
    of the photo shrunk to 32x32. Below about 2 the bits are decided by noise."""
    return float(_shrink(gray, (32, 32)).std())


_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def _popcount(x: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(x)
    as_bytes = np.ascontiguousarray(x).view(np.uint8).reshape(*x.shape, 8)
    return _POPCOUNT8[as_bytes].sum(axis=-1)


def hamming(a: np.ndarray | np.uint64 | int, b: np.ndarray | np.uint64 | int) -> np.ndarray:
    """Element-wise Hamming distance between ``uint64`` codes (broadcasting)."""
    xa = np.asarray(a, dtype=np.uint64)
    xb = np.asarray(b, dtype=np.uint64)
    return _popcount(np.bitwise_xor(xa, xb)).astype(np.int64)


def trim_uniform_margins(
    gray: np.ndarray, *, tolerance: float = 20.0, min_keep: float = 0.05
) -> tuple[int, int, int, int]:
    """The box ``(x0, y0, x1, y1)`` left after peeling uniform margins off every side.

    A margin is a run of outer rows (or columns) whose pixels all lie within ``tolerance``
    grey levels of the colour of the outermost pixels on that side (their median): a plain
    frame, a letterbox, a studio backdrop. Trimming stops before less than ``min_keep`` of
    a side would remain; a photo that is uniform throughout keeps its full box.
    """
    g = np.asarray(gray, dtype=np.float32)
    h, w = g.shape
    if h < 3 or w < 3:
        return 0, 0, w, h

    def run(lines: np.ndarray, ref: float) -> int:
        # lines: (n, m), outermost first; the length of the uniform run from the outside.
        # The 98th percentile rather than the max, so JPEG speckle does not stop a run.
        dev = np.percentile(np.abs(lines - ref), 98, axis=1)
        bad = np.flatnonzero(dev > tolerance)
        return int(bad[0]) if bad.size else lines.shape[0]

    top = run(g, float(np.median(g[0])))
    bottom = run(g[::-1], float(np.median(g[-1])))
    left = run(g.T, float(np.median(g[:, 0])))
    right = run(g.T[::-1], float(np.median(g[:, -1])))
    y0, y1 = top, h - bottom
    x0, x1 = left, w - right
    keep_h, keep_w = max(3, round(min_keep * h)), max(3, round(min_keep * w))
    if y1 - y0 < keep_h or x1 - x0 < keep_w:
        return 0, 0, w, h
    return x0, y0, x1, y1
