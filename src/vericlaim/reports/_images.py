"""Pure image helpers for the HTML report: display copies, overlays, warps, data URIs.

Every function takes and returns ``uint8`` RGB arrays (``(h, w, 3)``) and never touches
files. Coordinates in findings are in a photo's full-resolution pixels; the helpers take
the per-axis factor from full resolution to the displayed copy.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from vericlaim.analyzers.finding import Region

__all__ = [
    "Scale",
    "claim_footprint",
    "display_copy",
    "draw_footprint",
    "draw_regions",
    "heatmap_legend_stops",
    "overlay_heatmap",
    "parse_homography",
    "to_data_uri",
    "warp_reference",
]

# (sx, sy): displayed pixels per full-resolution pixel, per axis.
Scale = tuple[float, float]

_REGION_COLOURS = ((255, 255, 255), (0, 0, 0))  # a white box inside a black one reads on any photo
_FOOTPRINT_COLOUR = (255, 200, 0)


def display_copy(pixels: np.ndarray, *, max_side: int) -> np.ndarray:
    """A copy of ``pixels`` whose long side is at most ``max_side`` (never enlarged)."""
    h, w = pixels.shape[:2]
    factor = min(1.0, max_side / max(h, w, 1))
    if factor >= 1.0:
        return np.ascontiguousarray(pixels, dtype=np.uint8).copy()
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)


def to_data_uri(pixels: np.ndarray, *, quality: int = 85) -> str:
    """``pixels`` as a ``data:image/jpeg;base64,...`` URI."""
    bgr = cv2.cvtColor(np.ascontiguousarray(pixels, dtype=np.uint8), cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:  # pragma: no cover - OpenCV encodes any non-empty uint8 image
        raise ValueError("cannot encode image as JPEG")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def overlay_heatmap(
    pixels: np.ndarray, heatmap: Any, *, strength: float = 0.6
) -> np.ndarray | None:
    """``pixels`` with ``heatmap`` (values in [0, 1], any resolution) colour-mapped on top.

    The blend weight grows with the heat, so cool areas keep the photo readable. Returns
    ``None`` when ``heatmap`` is not a 2-D map (a malformed finding must not break a
    report).
    """
    heat: np.ndarray = np.asarray(heatmap, dtype=np.float32)
    if heat.ndim == 3 and heat.shape[2] == 1:
        heat = heat[:, :, 0]
    if heat.ndim != 2 or heat.shape[0] == 0 or heat.shape[1] == 0:
        return None
    heat = np.clip(np.nan_to_num(heat, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    h, w = pixels.shape[:2]
    heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.applyColorMap((heat * 255).astype(np.uint8), cv2.COLORMAP_JET)
    coloured = cv2.cvtColor(coloured, cv2.COLOR_BGR2RGB).astype(np.float32)
    alpha = (0.15 + (strength - 0.15) * heat)[:, :, None]
    blended = pixels.astype(np.float32) * (1.0 - alpha) + coloured * alpha
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def heatmap_legend_stops() -> list[str]:
    """CSS colours of the JET colour map from 0 to 1, for a legend bar."""
    ramp = cv2.applyColorMap(np.linspace(0, 255, 9).astype(np.uint8)[:, None], cv2.COLORMAP_JET)
    return [f"#{r:02x}{g:02x}{b:02x}" for b, g, r in ramp[:, 0, :].tolist()]


def draw_regions(pixels: np.ndarray, regions: Sequence[Region], scale: Scale) -> np.ndarray:
    """``pixels`` with each region drawn as a numbered box (numbers follow ``regions``)."""
    out = np.ascontiguousarray(pixels, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    sx, sy = scale
    thickness = max(2, round(max(h, w) / 400))
    font_scale = max(0.6, max(h, w) / 700)
    for number, region in enumerate(regions, start=1):
        x0 = int(np.clip(math.floor(region.x * sx), 0, w - 1))
        y0 = int(np.clip(math.floor(region.y * sy), 0, h - 1))
        x1 = int(np.clip(math.ceil((region.x + region.w) * sx), x0 + 1, w - 1))
        y1 = int(np.clip(math.ceil((region.y + region.h) * sy), y0 + 1, h - 1))
        cv2.rectangle(out, (x0, y0), (x1, y1), _REGION_COLOURS[1], thickness + 2)
        cv2.rectangle(out, (x0, y0), (x1, y1), _REGION_COLOURS[0], thickness)
        label = str(number)
        (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, 2)
        ty = y0 - 4 if y0 - th - base - 4 >= 0 else min(h - 1, y1 + th + 4)
        cv2.rectangle(out, (x0, ty - th - 3), (x0 + tw + 6, ty + base), _REGION_COLOURS[1], -1)
        cv2.putText(
            out, label, (x0 + 3, ty), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (255, 255, 255), 2
        )
    return out


def parse_homography(value: Any) -> np.ndarray | None:
    """A finite, invertible 3x3 matrix from a finding's ``details``, or ``None``."""
    if value is None:
        return None
    try:
        matrix = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if matrix.shape != (3, 3) or not np.all(np.isfinite(matrix)):
        return None
    if abs(np.linalg.det(matrix)) < 1e-12 or abs(matrix[2, 2]) < 1e-12:
        return None
    return matrix


def _scale_matrix(scale: Scale) -> np.ndarray:
    return np.diag([scale[0], scale[1], 1.0])


def warp_reference(
    reference: np.ndarray,
    reference_scale: Scale,
    claim_shape: tuple[int, int],
    claim_scale: Scale,
    homography: np.ndarray,
) -> np.ndarray:
    """The reference's pixels warped into the claim's displayed frame.

    ``homography`` maps reference full-resolution pixels to claim full-resolution pixels;
    ``reference_scale`` and ``claim_scale`` take each photo from full resolution to the
    arrays at hand, so the displayed mapping is ``S_claim @ H @ inv(S_reference)``. Claim
    pixels that the reference does not cover are mid grey.
    """
    mapping = (
        _scale_matrix(claim_scale) @ homography @ np.linalg.inv(_scale_matrix(reference_scale))
    )
    h, w = claim_shape
    return cv2.warpPerspective(
        np.ascontiguousarray(reference),
        mapping,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(128, 128, 128),
    )


def claim_footprint(
    claim_size: tuple[int, int], homography: np.ndarray, reference_scale: Scale
) -> np.ndarray | None:
    """Where the claim's frame lies on the displayed reference: 4 corners, or ``None``.

    ``claim_size`` is the claim's full-resolution ``(width, height)``. ``None`` when a
    corner maps to infinity (the claim sees past the reference's horizon).
    """
    w, h = claim_size
    corners = np.array([[0, 0, 1], [w, 0, 1], [w, h, 1], [0, h, 1]], dtype=np.float64).T
    mapped = _scale_matrix(reference_scale) @ np.linalg.inv(homography) @ corners
    if np.any(mapped[2] <= 1e-9):
        return None
    points = (mapped[:2] / mapped[2]).T
    if not np.all(np.isfinite(points)) or np.abs(points).max() > 1e6:
        return None
    return points


def draw_footprint(pixels: np.ndarray, corners: np.ndarray) -> np.ndarray:
    """``pixels`` with the polygon ``corners`` drawn on it."""
    out = np.ascontiguousarray(pixels, dtype=np.uint8).copy()
    thickness = max(2, round(max(out.shape[:2]) / 350))
    polygon = np.round(corners).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(out, [polygon], True, (0, 0, 0), thickness + 2, lineType=cv2.LINE_AA)
    cv2.polylines(out, [polygon], True, _FOOTPRINT_COLOUR, thickness, lineType=cv2.LINE_AA)
    return out
