"""Pure functions that measure a small, smooth drift between a claim photo and a reference
already aligned to it by a homography, and undo it.

An AI image editor asked to add a crack to a photo does not paste the crack into the
photo: it re-draws the whole frame. The result keeps the photo's layout, background and
light, but every part of it may have moved by a few pixels (a low-frequency drift no
homography takes out) and its fine detail and noise are new. After the homography such a
photo agrees with its source only in patches. A dense optical flow (DIS, Kroeger et al.
2016) between the two, smoothed so heavily that it can only describe a gentle drift of the
whole frame, brings it back into register; an independent photo of the same goods cannot
be brought into register that way, since its parallax, background and lighting differ in
ways no smooth drift of the studio photo explains.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Drift", "measure_drift", "rewarp"]


@dataclass(frozen=True, slots=True)
class Drift:
    """A smooth displacement field: ``field[y, x]`` is where, in the aligned reference, the
    claim's pixel (x, y) comes from, less (x, y). ``median`` and ``largest`` are its
    magnitudes over the overlap, as shares of the overlap's long side."""

    field: np.ndarray
    median: float
    largest: float


def _normalised(gray: np.ndarray) -> np.ndarray:
    """Local contrast normalisation, so that a colour filter or uneven light does not
    steer the flow: each pixel less its neighbourhood mean, over the neighbourhood spread."""
    g = gray.astype(np.float32)
    mean = cv2.GaussianBlur(g, (0, 0), 4.0)
    spread = cv2.GaussianBlur((g - mean) ** 2, (0, 0), 4.0)
    out = (g - mean) / np.sqrt(spread + 25.0)
    return np.clip(out * 40.0 + 128.0, 0, 255).astype(np.uint8)


def _smooth(values: np.ndarray, weights: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised (weighted) Gaussian smoothing with a wide ``sigma``, worked out on a copy
    about eight times smaller: a wide blur keeps nothing the small copy loses."""
    h, w = values.shape
    k = max(1, int(sigma // 4))
    small = (max(1, w // k), max(1, h // k))
    v = cv2.resize(values * weights, small, interpolation=cv2.INTER_AREA)
    wt = cv2.resize(weights, small, interpolation=cv2.INTER_AREA)
    s = sigma / k
    v = cv2.GaussianBlur(v, (0, 0), s, borderType=cv2.BORDER_REPLICATE)
    wt = cv2.GaussianBlur(wt, (0, 0), s, borderType=cv2.BORDER_REPLICATE)
    out = v / np.maximum(wt, 1e-3)
    return cv2.resize(out, (w, h), interpolation=cv2.INTER_LINEAR)


def _maps(field: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sampling maps of ``cv2.remap`` that move an image by ``field``: pixel (x, y)
    takes the value at (x, y) + field[y, x]."""
    h, w = field.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return gx + field[..., 0], gy + field[..., 1]


def _moved(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """``image`` moved by ``field`` (bilinear, edges repeated)."""
    mx, my = _maps(field)
    return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _flow(claim: np.ndarray, warped: np.ndarray) -> np.ndarray | None:
    """DIS optical flow from the (normalised) claim to the warped reference."""
    dis = cv2.DISOpticalFlow.create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    start = np.zeros((claim.shape[0], claim.shape[1], 2), np.float32)  # unused: DIS starts at 0
    flow = np.asarray(dis.calc(claim, warped, start))
    return flow if np.all(np.isfinite(flow)) else None


def measure_drift(
    claim_gray: np.ndarray,
    warped_gray: np.ndarray,
    valid: np.ndarray,
    *,
    smoothing: float,
    passes: int = 2,
    normalise: bool = True,
) -> Drift | None:
    """The smooth drift that brings ``warped_gray`` (the reference aligned to the claim)
    onto ``claim_gray``, both uint8 of one size, over ``valid`` (where the reference
    covers the claim); ``smoothing`` is the Gaussian's sigma as a share of the long side of
    that overlap. Coarse to fine: each of ``passes`` measures what the drift so far left,
    the first smoothed twice as wide per remaining pass (a large drift misleads the flow
    where the photos are furthest out of register; undone in broad strokes first, the rest
    is small). ``normalise`` measures the flow on locally contrast-normalised images (a
    filter or uneven light does not steer it); without it, on the grey images as they are
    (faint texture, such as the noise a re-drawing makes anew on a plain surface, does not
    steer it either). ``None`` when the photos are too small or barely overlap."""
    h, w = claim_gray.shape
    if min(h, w) < 48 or valid.mean() < 0.05:
        return None
    weights = valid.astype(np.float32)
    # The drift is judged against the photo's own extent in the frame (the reference's
    # footprint), not the frame's: a copy inside a screenshot fills only part of it.
    ys, xs = np.nonzero(valid)
    extent = float(max(np.ptp(xs), np.ptp(ys))) + 1.0
    claim = _normalised(claim_gray) if normalise else claim_gray
    reference = _normalised(warped_gray) if normalise else warped_gray
    field = np.zeros((h, w, 2), np.float32)
    for i in range(passes):
        flow = _flow(claim, _moved(reference, field) if i else reference)
        if flow is None:
            return None
        sigma = smoothing * extent * 2 ** (passes - 1 - i)
        step = np.dstack(
            [_smooth(flow[..., 0], weights, sigma), _smooth(flow[..., 1], weights, sigma)]
        ).astype(np.float32)
        # Composed: the claim's pixel x comes from x + step(x) in the moved reference,
        # which came from (x + step(x)) + field(x + step(x)) in the reference (the first
        # pass starts from no drift).
        field = step + _moved(field, step)
    magnitude = np.hypot(field[..., 0], field[..., 1])[valid]
    return Drift(
        field, float(np.median(magnitude)) / extent, float(magnitude.max(initial=0.0)) / extent
    )


def rewarp(
    image: np.ndarray, valid: np.ndarray, field: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``image`` (the aligned reference) and its ``valid`` mask moved by the drift
    ``field`` of the same size: after this, the reference sits where the claim shows it."""
    mx, my = _maps(field)
    moved = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.remap(valid.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderValue=0)
    return moved, (inside > 0) & valid
