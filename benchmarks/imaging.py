"""Small pixel helpers shared by the case builders: encode, decode, resize, product masks."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

__all__ = [
    "binarize",
    "changed_mask",
    "decode_rgb",
    "dilate",
    "encode_jpeg",
    "encode_png",
    "fill_holes",
    "product_mask",
    "resize",
]


def decode_rgb(data: bytes) -> np.ndarray:
    """Decode image bytes to an RGB ``uint8`` array (grey photos become three channels)."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def encode_jpeg(pixels: np.ndarray, *, quality: int, subsampling: int = 2) -> bytes:
    """Encode with Pillow's libjpeg; ``subsampling`` 0 = 4:4:4, 2 = 4:2:0."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=int(quality), subsampling=subsampling)
    return buf.getvalue()


def encode_png(pixels: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def resize(pixels: np.ndarray, size: tuple[int, int], *, is_mask: bool = False) -> np.ndarray:
    """Resize to ``size`` = (width, height): area averaging down, bicubic up.

    Masks (float coverage in [0, 1]) use area averaging down and bilinear up, so that a
    pixel's value stays the share of it that the edit covers.
    """
    w, h = max(1, int(size[0])), max(1, int(size[1]))
    if (w, h) == (pixels.shape[1], pixels.shape[0]):
        return pixels.copy()
    shrinking = w * h < pixels.shape[0] * pixels.shape[1]
    upsample = cv2.INTER_LINEAR if is_mask else cv2.INTER_CUBIC
    interp = cv2.INTER_AREA if shrinking else upsample
    return cv2.resize(pixels, (w, h), interpolation=interp)


def binarize(mask: np.ndarray | None) -> np.ndarray | None:
    """A coverage mask as booleans: a pixel is edited when at least half of it is."""
    return None if mask is None else np.asarray(mask) >= 0.5


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a boolean mask by ``radius`` pixels (square neighbourhood)."""
    if radius <= 0:
        return mask.astype(bool)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the parts of a boolean mask's complement that do not reach the border."""
    padded = np.pad(mask.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((flood.shape[0] + 2, flood.shape[1] + 2), np.uint8), (0, 0), 2)
    return (flood != 2)[1:-1, 1:-1]


def changed_mask(
    before: np.ndarray, after: np.ndarray, *, within: np.ndarray, levels: int = 8
) -> np.ndarray:
    """Pixels an edit actually changed: any channel moved by more than ``levels``.

    Small gaps are closed and holes filled so that a crack's or stain's faint interior
    still counts; the result is clipped to ``within`` (the region the edit could touch).
    """
    out = np.zeros(within.shape, bool)
    if not within.any():
        return out
    ys, xs = np.nonzero(within)
    m = 4
    sl = (
        slice(max(0, ys.min() - m), ys.max() + 1 + m),
        slice(max(0, xs.min() - m), xs.max() + 1 + m),
    )
    diff = np.abs(before[sl].astype(np.int16) - after[sl].astype(np.int16)).max(axis=2) > levels
    diff = cv2.morphologyEx(diff.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    out[sl] = fill_holes(diff) & within[sl]
    return out


def product_mask(pixels: np.ndarray) -> np.ndarray:
    """Where the product is in a studio photo on a plain background.

    The background is what can be reached from the border through pixels of the border's
    colour; the rest is the product. A boxy part (a carton, whose white print may touch
    the white backdrop) becomes its convex hull; an irregular one (a leek, a bunch of
    bananas) keeps its outline. A photo whose product cannot be found this way (a full
    scene) gets its central region instead.
    """
    h, w = pixels.shape[:2]
    img = pixels.astype(np.int16)
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]])
    background = np.median(border, axis=0)
    if np.mean(np.abs(border - background).max(axis=1) <= 24) > 0.8:
        near = np.abs(img - background).max(axis=2) <= 14
        walls = cv2.dilate((~near).astype(np.uint8), np.ones((3, 3), np.uint8))
        flood = np.pad((walls == 0).astype(np.uint8), 1, constant_values=1)
        cv2.floodFill(flood, None, (0, 0), 2)
        fg = (flood != 2)[1:-1, 1:-1].astype(np.uint8)
        fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
        n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        if n > 1:
            sizes = stats[1:, cv2.CC_STAT_AREA]
            product = np.zeros((h, w), np.uint8)
            for i in 1 + np.flatnonzero(sizes >= 0.05 * sizes.max()):
                part = (labels == i).astype(np.uint8)
                points = cv2.findNonZero(part)
                _, (rw, rh), _ = cv2.minAreaRect(points)
                if part.sum() >= 0.75 * rw * rh:
                    cv2.fillConvexPoly(product, cv2.convexHull(points), 1)
                else:
                    product |= part
            if 0.03 <= product.mean() <= 0.95:
                return product > 0
    central = np.zeros((h, w), bool)
    central[int(0.08 * h) : int(0.92 * h), int(0.08 * w) : int(0.92 * w)] = True
    return central
