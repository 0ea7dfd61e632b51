"""Pure functions for recapture detection: periodic spectral peaks of a screen's pixel grid
or a print's halftone screen, their chroma, and a screen's dark bezel.

A camera that photographs an LCD sees the panel's sub-pixel grid (R, G and B stripes behind
a black matrix) at a pitch of a few camera pixels; the sensor samples it and aliases it into
moire. Either way the photo's fine residual carries strong, isolated peaks in its 2-D power
spectrum at the same frequency over the whole screen, even where the picture shown is flat.
A printed picture carries its halftone screen the same way. Honest photos have a smooth,
roughly isotropic residual spectrum, except for JPEG's 8-pixel block grid (excluded here),
straight lines through the origin from edges (excluded by the line backgrounds) and the
textures of periodic objects (fabric, grilles, tiles), which are the main look-alikes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

__all__ = [
    "PeakMap",
    "ScreenFrame",
    "find_screen_frame",
    "peak_prominence",
    "periodic_peaks",
    "tile_grid",
]

_TINY = 1e-12


@dataclass(frozen=True, slots=True)
class PeakMap:
    """The periodic peak shared by the tiles of a photo.

    ``strength`` is the mean (capped) peak-to-background power ratio at the shared peak over
    all tiles; ``freq`` its frequency in cycles per pixel ``(fy, fx)``; ``tile_ratio`` the
    ratio at that frequency in each tile (in the order of ``origins``, row-major over
    ``grid``) and ``tile_rms`` each tile's residual RMS (grey levels).
    """

    strength: float
    freq: tuple[float, float]
    tile_ratio: np.ndarray
    tile_rms: np.ndarray
    grid: tuple[int, int]
    origins: tuple[tuple[int, int], ...]
    tile: int


@dataclass(frozen=True, slots=True)
class ScreenFrame:
    """A dark quadrilateral frame (a bezel) around a brighter content area."""

    box: tuple[int, int, int, int]
    contrast: float
    straightness: float
    area_share: float


def tile_grid(
    height: int, width: int, *, tile: int, max_tiles: int, align: int = 8
) -> list[tuple[int, int]]:
    """Origins ``(y, x)`` of up to ``max_tiles`` tiles spread evenly over the photo.

    Origins are multiples of ``align`` so that a JPEG's 8-pixel block grid falls on the same
    spectral bins in every tile.
    """
    if height < tile or width < tile:
        return []
    ny_max, nx_max = height // tile, width // tile
    n = ny_max * nx_max
    if n > max_tiles:
        f = np.sqrt(max_tiles / n)
        ny, nx = max(1, int(ny_max * f)), max(1, int(nx_max * f))
    else:
        ny, nx = ny_max, nx_max
    ys = np.linspace(0, height - tile, ny).astype(int) // align * align
    xs = np.linspace(0, width - tile, nx).astype(int) // align * align
    return [(int(y), int(x)) for y in ys for x in xs]


def _excluded_bins(tile: int, *, min_freq: float) -> np.ndarray:
    """Bins never searched: low frequencies (content), and +-1 bin around the points of
    the JPEG block grid ``(k/8, l/8)``, the axes' ends included (``k`` or ``l`` = 0)."""
    f = np.fft.fftfreq(tile)
    fy, fx = f[:, None], f[None, :]
    out = np.hypot(fy, fx) < min_freq
    near = 1.01 / tile
    grid = np.arange(-4, 5) / 8
    on_grid = np.min(np.abs(f[:, None] - grid[None, :]), axis=1) <= near
    out |= on_grid[:, None] & on_grid[None, :]
    # Keep one half-plane: the spectrum of a real signal is symmetric.
    out |= (fy < 0) | ((fy == 0) & (fx < 0))
    return out


@cache
def _radial_maps(tile: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Remap coordinates (on the ``fftshift``-ed spectrum) of the points 2 to 5 bins
    further from and nearer to the origin than each bin, along its own radius."""
    c = tile // 2
    yy, xx = np.mgrid[0:tile, 0:tile].astype(np.float32) - c
    r = np.hypot(yy, xx)
    uy, ux = yy / np.maximum(r, 1.0), xx / np.maximum(r, 1.0)
    maps = []
    for d in (-5.0, -4.0, -3.0, -2.0, 2.0, 3.0, 4.0, 5.0):
        maps.append(((xx + c + d * ux).astype(np.float32), (yy + c + d * uy).astype(np.float32)))
    return tuple(maps)


def peak_prominence(power: np.ndarray) -> np.ndarray:
    """Ratio of each bin's power to its local background, for a stack of spectra.

    The background is the largest of four geometric means: over a 9x9 neighbourhood less
    its 3x3 centre, along the row (+-8 bins less +-1), along the column, and along the
    bin's own radius (2 to 5 bins either side). A point peak stands out of all four; a line
    through the spectrum does not stand out of its own line: straight edges of the scene
    draw radial lines, and blocking or resampling traces of one direction draw rows and
    columns.

    Parameters
    ----------
    power : (n, t, t) array
        Power spectra as ``numpy.fft.fft2`` orders them (not shifted).

    Returns
    -------
    (n, t, t) float32 array of ratios (about 1 for a bin of noise).
    """
    t = power.shape[1]
    logp = np.log(power.astype(np.float32) + _TINY)
    out = np.empty_like(logp)
    maps = _radial_maps(t)
    for i, lp in enumerate(logp):
        padded = cv2.copyMakeBorder(lp, 8, 8, 8, 8, cv2.BORDER_WRAP)
        box9 = cv2.boxFilter(padded, -1, (9, 9), normalize=False)[8:-8, 8:-8]
        box3 = cv2.boxFilter(padded, -1, (3, 3), normalize=False)[8:-8, 8:-8]
        ring = (box9 - box3) / 72.0
        row17 = cv2.boxFilter(padded, -1, (17, 1), normalize=False)[8:-8, 8:-8]
        row3 = cv2.boxFilter(padded, -1, (3, 1), normalize=False)[8:-8, 8:-8]
        col17 = cv2.boxFilter(padded, -1, (1, 17), normalize=False)[8:-8, 8:-8]
        col3 = cv2.boxFilter(padded, -1, (1, 3), normalize=False)[8:-8, 8:-8]
        row = (row17 - row3) / 14.0
        col = (col17 - col3) / 14.0
        shifted = np.fft.fftshift(lp)
        radial = np.zeros_like(shifted)
        for mx, my in maps:
            radial += cv2.remap(shifted, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        radial = np.fft.ifftshift(radial / len(maps))
        background = np.maximum(np.maximum(ring, radial), np.maximum(row, col))
        out[i] = lp - background
    # exp(mean log) underestimates the mean of an exponential variable by e^0.577: undo it
    # so that a bin of pure noise has ratio about 1.
    return np.exp(out - 0.5772).astype(np.float32)


def _tiles(
    rgb: np.ndarray, origins: list[tuple[int, int]], tile: int
) -> tuple[np.ndarray, np.ndarray]:
    """Luma high-pass residual of each tile (the tile less its Gaussian blur, sigma 1.5 px,
    computed with a margin so that the tile's own border does not leak in), and each tile's
    residual RMS."""
    height, width = rgb.shape[:2]
    m = 6
    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    stack = np.empty((len(origins), tile, tile), np.float32)
    for i, (y, x) in enumerate(origins):
        y0, x0 = max(0, y - m), max(0, x - m)
        y1, x1 = min(height, y + tile + m), min(width, x + tile + m)
        crop = rgb[y0:y1, x0:x1].astype(np.float32)
        luma = 0.299 * crop[..., 0] + 0.587 * crop[..., 1] + 0.114 * crop[..., 2]
        residual = luma - cv2.GaussianBlur(luma, (0, 0), 1.5)
        stack[i] = residual[y - y0 : y - y0 + tile, x - x0 : x - x0 + tile]
    stack -= stack.mean(axis=(1, 2), keepdims=True)
    rms = np.sqrt((stack**2).mean(axis=(1, 2)))
    return stack * window, rms


def periodic_peaks(
    rgb: np.ndarray,
    *,
    tile: int = 64,
    max_tiles: int = 64,
    min_freq: float = 0.1,
    cap: float = 60.0,
) -> PeakMap | None:
    """Find the periodic peak shared by the tiles of a photo.

    Each tile's high-pass luma residual is windowed (Hann) and its power spectrum divided by
    its local background (:func:`peak_prominence`); each tile's ratios are dilated by one
    bin (perspective moves the peak a little from tile to tile), capped at ``cap`` (one
    strongly textured tile must not decide alone) and averaged over the tiles (Welch 1967).
    The shared peak is the largest mean ratio outside the excluded bins (frequencies below
    ``min_freq`` cycles per pixel, where the scene's own content lives, and the points of
    JPEG's 8-pixel block grid).

    Parameters
    ----------
    rgb : (h, w, 3) uint8 array
        The photo at full resolution: a screen's grid is a few pixels wide.

    Returns
    -------
    PeakMap, or ``None`` when the photo holds no whole tile.

    References
    ----------
    H. Cao, A. C. Kot. Identification of recaptured photographs on LCD screens. ICASSP 2010.
    P. D. Welch. The use of fast Fourier transform for the estimation of power spectra.
    IEEE Trans. Audio Electroacoustics 15(2), 1967.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:256, 0:256]
    >>> grid = 128 + 60 * np.cos(2 * np.pi * (0.31 * xx + 0.05 * yy))
    >>> rgb = np.repeat(grid[..., None], 3, axis=2).astype(np.uint8)
    >>> periodic_peaks(rgb).strength > 30
    True
    """
    height, width = rgb.shape[:2]
    origins = tile_grid(height, width, tile=tile, max_tiles=max_tiles)
    if not origins:
        return None
    windowed, rms = _tiles(rgb, origins, tile)
    spectra = np.fft.fft2(windowed)
    ratio = peak_prominence((spectra.real**2 + spectra.imag**2).astype(np.float32))
    kernel = np.ones((3, 3), np.uint8)
    dilated = np.stack([cv2.dilate(r, kernel) for r in ratio])
    np.minimum(dilated, cap, out=dilated)
    mean = dilated.mean(axis=0)
    mean[_excluded_bins(tile, min_freq=min_freq)] = 0.0
    # The dilation and the cap make a plateau around a strong peak: its centre is the bin
    # of the plateau where the undilated ratios are largest.
    plateau = mean >= 0.99 * float(mean.max())
    centre = np.where(plateau, np.log(np.maximum(ratio, _TINY)).mean(axis=0), -np.inf)
    ky, kx = divmod(int(np.argmax(centre)), tile)
    f = np.fft.fftfreq(tile)
    ys = sorted({y for y, _ in origins})
    xs = sorted({x for _, x in origins})
    return PeakMap(
        strength=float(mean[ky, kx]),
        freq=(float(f[ky]), float(f[kx])),
        tile_ratio=dilated[:, ky, kx].copy(),
        tile_rms=rms,
        grid=(len(ys), len(xs)),
        origins=tuple(origins),
        tile=tile,
    )


def find_screen_frame(gray: np.ndarray, *, max_side: int = 512) -> ScreenFrame | None:
    """A dark, straight-edged quadrilateral frame (a screen's bezel) around brighter content.

    Edges (Canny) are closed into contours; a contour that simplifies to a convex
    quadrilateral (Douglas-Peucker) covering 10-95 % of the photo is a candidate when the
    band just outside it is dark (mean below 70 of 255) and much darker than the inside
    (below half its mean). The largest candidate wins. A frame alone is not evidence: honest
    photos show televisions, picture frames, windows and doors.

    Returns ``None`` when there is none; the box is in the coordinates of ``gray``.
    """
    height, width = gray.shape[:2]
    if min(height, width) < 32:
        return None
    f = min(1.0, max_side / max(height, width))
    small = cv2.resize(gray, (max(1, round(width * f)), max(1, round(height * f))))
    small = cv2.GaussianBlur(small, (0, 0), 1.0)
    h, w = small.shape
    edges = cv2.Canny(small, 40, 120)
    edges = cv2.dilate(edges, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    band = max(3, round(0.02 * max(h, w)))
    best: ScreenFrame | None = None
    for contour in contours:
        area = cv2.contourArea(contour)
        if not 0.1 * h * w <= area <= 0.95 * h * w:
            continue
        quad = cv2.approxPolyDP(contour, 0.02 * cv2.arcLength(contour, True), True)
        if len(quad) != 4 or not cv2.isContourConvex(quad):
            continue
        inside = np.zeros((h, w), np.uint8)
        cv2.fillPoly(inside, [quad], 1)
        ring = cv2.dilate(inside, np.ones((2 * band + 1, 2 * band + 1), np.uint8)) - inside
        inner = cv2.erode(inside, np.ones((2 * band + 1, 2 * band + 1), np.uint8))
        if ring.sum() < 10 or inner.sum() < 10:
            continue
        ring_mean = float(small[ring > 0].mean())
        inner_mean = float(small[inner > 0].mean())
        if ring_mean >= 70 or ring_mean >= 0.5 * inner_mean:
            continue
        x, y, bw, bh = cv2.boundingRect(quad)
        quad_area = float(cv2.contourArea(quad))
        frame = ScreenFrame(
            box=(round(x / f), round(y / f), round(bw / f), round(bh / f)),
            contrast=inner_mean / max(ring_mean, 1.0),
            straightness=min(1.0, area / max(quad_area, 1.0)),
            area_share=quad_area / (h * w),
        )
        if best is None or frame.area_share > best.area_share:
            best = frame
    return best
