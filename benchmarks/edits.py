"""The edit families: what a forger adds to (or removes from) the merchant's photo.

Each edit takes RGB pixels and returns an :class:`Edit`: the edited pixels and the mask of
the pixels it actually changed (``None`` for a global filter, which changes every pixel).
Edits are deterministic for a given generator state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from benchmarks.imaging import changed_mask, dilate

__all__ = [
    "Edit",
    "add_defect",
    "add_stain",
    "colour_filter",
    "defect_texture",
    "inpaint_region",
    "paste_region",
    "regenerate",
]


@dataclass(frozen=True)
class Edit:
    pixels: np.ndarray
    mask: np.ndarray | None  # bool, the pixels the edit changed; None = the whole frame
    info: dict[str, Any] = field(default_factory=dict)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def _soft(mask: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, sigma))


def _centre_on(fg: np.ndarray, rng: np.random.Generator, half: tuple[int, int]) -> tuple[int, int]:
    """A point of the product (``fg``) where a patch of half-size ``half`` (w, h) fits."""
    h, w = fg.shape
    hw, hh = half
    inner = np.zeros_like(fg)
    inner[hh + 1 : max(hh + 2, h - hh - 1), hw + 1 : max(hw + 2, w - hw - 1)] = True
    ys, xs = np.nonzero(fg & inner)
    if len(xs) == 0:
        ys, xs = np.nonzero(inner)
    i = int(rng.integers(0, len(xs)))
    return int(xs[i]), int(ys[i])


# --- real crack and break textures from the magnetic-tile set -------------------------------


def defect_texture(
    tile: np.ndarray, defect: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a tile's defect out as a shading map, a blend weight and its raw grey texture.

    The shading map is the defect's brightness divided by the tile's local surface (the
    tile with the defect inpainted away), so multiplying a product photo by it darkens it
    the way the crack darkens the tile.
    """
    grey = tile if tile.ndim == 2 else cv2.cvtColor(tile, cv2.COLOR_RGB2GRAY)
    around = dilate(defect, 3)
    surface = cv2.inpaint(grey, around.astype(np.uint8) * 255, 5, cv2.INPAINT_TELEA)
    surface = cv2.medianBlur(surface, 5).astype(np.float32)
    ratio = np.where(around, (grey.astype(np.float32) + 4) / (surface + 4), 1.0)
    ratio = np.clip(ratio, 0.15, 1.6).astype(np.float32)
    weight = np.maximum(_soft(defect, 1.0), defect.astype(np.float32))
    x, y, w, h = _bbox(around)
    m = 4
    sl = (slice(max(0, y - m), y + h + m), slice(max(0, x - m), x + w + m))
    return ratio[sl], weight[sl]


def _transform_patch(
    patches: list[np.ndarray], borders: list[float], long_side: float, angle: float, flip: bool
) -> list[np.ndarray]:
    h, w = patches[0].shape[:2]
    scale = long_side / max(h, w)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    nw, nh = max(3, int(h * sin + w * cos) + 2), max(3, int(h * cos + w * sin) + 2)
    rot[0, 2] += nw / 2 - w / 2
    rot[1, 2] += nh / 2 - h / 2
    out = []
    for p, b in zip(patches, borders, strict=True):
        q = cv2.warpAffine(
            p.astype(np.float32), rot, (nw, nh), flags=cv2.INTER_LINEAR, borderValue=float(b)
        )
        out.append(q[:, ::-1].copy() if flip else q)
    return out


def add_defect(
    pixels: np.ndarray,
    fg: np.ndarray,
    texture: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
    *,
    size: tuple[float, float] = (0.2, 0.5),
) -> Edit:
    """Blend a real crack or break (a :func:`defect_texture`) onto the product, by multiply
    or Poisson blending.

    The defect is scaled so its long side is a share ``size`` of the product's long side,
    rotated and flipped at random, and centred on a random product pixel.
    """
    ratio, weight = texture
    h, w = pixels.shape[:2]
    _, _, bw, bh = _bbox(fg)
    long_side = min(rng.uniform(*size) * max(bw, bh), 0.8 * min(h, w))
    ratio, weight = _transform_patch(
        [ratio, weight], [1.0, 0.0], long_side, rng.uniform(0, 360), rng.random() < 0.5
    )
    ph, pw = weight.shape
    cx, cy = _centre_on(fg, rng, (pw // 2 + 1, ph // 2 + 1))
    x0, y0 = cx - pw // 2, cy - ph // 2
    region = (slice(y0, y0 + ph), slice(x0, x0 + pw))
    product = _soft(dilate(fg, 2), 1.5)[region]
    weight = weight * product
    mode = "multiply" if rng.random() < 0.6 else "poisson"
    # Darker than the tile itself: a crack on a printed carton is a deep, shadowed line.
    strength = rng.uniform(1.0, 2.0)
    shading = np.exp(weight * np.log(ratio) * strength)
    shaded = np.clip(pixels[region] * shading[..., None], 0, 255).astype(np.uint8)
    out = pixels.copy()
    if mode == "multiply":
        out[region] = shaded
    else:
        # Poisson: the shaded crack's gradients are cloned into a band around it, so its
        # borders take the product's colours seamlessly.
        band = cv2.dilate((weight > 0.15).astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
        band[[0, -1], :] = 0
        band[:, [0, -1]] = 0
        if band.any():
            out = cv2.seamlessClone(
                shaded, pixels, band, (x0 + pw // 2, y0 + ph // 2), cv2.NORMAL_CLONE
            )
    allowed = np.zeros((h, w), bool)
    allowed[region] = dilate(weight > 0.05, 3)
    mask = changed_mask(pixels, out, within=allowed)
    return Edit(out, mask, {"blend": mode, "size_px": round(long_side)})


# --- stains -----------------------------------------------------------------------------


_STAINS = {
    "coffee": (0.55, 0.38, 0.22),
    "tea": (0.78, 0.58, 0.32),
    "dirt": (0.52, 0.48, 0.42),
    "rust": (0.72, 0.45, 0.3),
    "grease": (0.9, 0.82, 0.6),
}


def _stain_alpha(diameter: int, rng: np.random.Generator) -> np.ndarray:
    """An irregular blob with soft edges, a darker rim and an uneven interior, in [0, 1]."""
    radius = diameter / 2
    size = int(diameter * 1.8) + 4
    c = size / 2
    theta = np.linspace(0, 2 * np.pi, 240, endpoint=False)
    r = np.ones_like(theta)
    for k in range(2, 8):
        r += rng.uniform(0, 0.25 / k * 2) * np.sin(k * theta + rng.uniform(0, 2 * np.pi))
    pts = np.stack([c + radius * r * np.cos(theta), c + radius * r * np.sin(theta)], axis=1)
    blob = np.zeros((size, size), np.uint8)
    cv2.fillPoly(blob, [np.round(pts).astype(np.int32)], 1)
    for _ in range(int(rng.integers(0, 4))):
        a, d = rng.uniform(0, 2 * np.pi), radius * rng.uniform(1.0, 1.5)
        cv2.circle(
            blob,
            (int(c + d * np.cos(a)), int(c + d * np.sin(a))),
            max(1, int(radius * rng.uniform(0.05, 0.18))),
            1,
            -1,
        )
    soft = _soft(blob, radius * rng.uniform(0.03, 0.1))
    rim = np.clip(soft - _soft(cv2.erode(blob, np.ones((5, 5), np.uint8)), radius * 0.15), 0, 1)
    grain = cv2.resize(rng.uniform(0.6, 1.0, (6, 6)).astype(np.float32), (size, size))
    alpha = soft * grain + rng.uniform(0.0, 1.2) * rim
    return np.clip(alpha, 0, 1)


def add_stain(pixels: np.ndarray, fg: np.ndarray, rng: np.random.Generator) -> Edit:
    """A coffee, tea, dirt, rust or grease stain, multiply-blended onto the product."""
    h, w = pixels.shape[:2]
    _, _, bw, bh = _bbox(fg)
    diameter = max(8, int(min(rng.uniform(0.12, 0.35) * max(bw, bh), 0.5 * min(h, w))))
    alpha = _stain_alpha(diameter, rng)
    kind = str(rng.choice(sorted(_STAINS)))
    colour = np.array(_STAINS[kind], np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    size = alpha.shape[0]
    cx, cy = _centre_on(fg, rng, (size // 2 + 1, size // 2 + 1))
    x0, y0 = cx - size // 2, cy - size // 2
    region = (slice(y0, y0 + size), slice(x0, x0 + size))
    alpha = alpha * _soft(dilate(fg, 2), 1.5)[region]
    alpha *= rng.uniform(0.6, 0.95)
    out = pixels.copy()
    factor = 1 - alpha[..., None] * (1 - np.clip(colour, 0, 1))[None, None, :]
    out[region] = np.clip(pixels[region] * factor, 0, 255).astype(np.uint8)
    allowed = np.zeros((h, w), bool)
    allowed[region] = alpha > 0.02
    return Edit(
        out, changed_mask(pixels, out, within=allowed), {"stain": kind, "size_px": diameter}
    )


# --- inpainting: a label or logo removed --------------------------------------------------


def inpaint_region(pixels: np.ndarray, fg: np.ndarray, rng: np.random.Generator) -> Edit:
    """Inpaint over a textured region of the product (where a label or logo would be).

    Of several candidate boxes on the product, the one with the most edges is erased, so
    that the edit removes something rather than repainting a flat area.
    """
    h, w = pixels.shape[:2]
    _, _, bw, bh = _bbox(fg)
    rw = max(6, int(rng.uniform(0.12, 0.35) * bw))
    rh = max(6, int(rng.uniform(0.06, 0.22) * bh))
    edges = cv2.Canny(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY), 60, 160) > 0
    integral = cv2.integral(edges.astype(np.float64))
    best, best_score = None, -1.0
    for _ in range(16):
        cx, cy = _centre_on(fg, rng, (rw // 2 + 1, rh // 2 + 1))
        x0, y0 = cx - rw // 2, cy - rh // 2
        s = (
            integral[y0 + rh, x0 + rw]
            - integral[y0, x0 + rw]
            - integral[y0 + rh, x0]
            + integral[y0, x0]
        )
        score = float(s) * float(fg[y0 : y0 + rh, x0 : x0 + rw].mean())
        if score > best_score:
            best, best_score = (x0, y0), score
    assert best is not None
    x0, y0 = best
    region = np.zeros((h, w), np.uint8)
    ellipse = rng.random() < 0.3
    if ellipse:
        cv2.ellipse(region, (x0 + rw // 2, y0 + rh // 2), (rw // 2, rh // 2), 0, 0, 360, 1, -1)
    else:
        region[y0 : y0 + rh, x0 : x0 + rw] = 1
    method = cv2.INPAINT_TELEA if rng.random() < 0.5 else cv2.INPAINT_NS
    out = cv2.inpaint(pixels, region * 255, float(rng.uniform(3, 9)), method)
    allowed = dilate(region > 0, 2)
    return Edit(
        out,
        changed_mask(pixels, out, within=allowed),
        {"method": "telea" if method == cv2.INPAINT_TELEA else "ns", "box": [x0, y0, rw, rh]},
    )


# --- global colour filters ----------------------------------------------------------------


def _luma(img: np.ndarray) -> np.ndarray:
    return img @ np.array([0.299, 0.587, 0.114], np.float32)


def _filter_ops(img: np.ndarray, op: str, rng: np.random.Generator) -> np.ndarray:
    if op == "warm":
        a = rng.uniform(0.06, 0.18)
        return img * np.array([1 + a, 1 + a / 3, 1 - a], np.float32)
    if op == "cool":
        a = rng.uniform(0.06, 0.18)
        return img * np.array([1 - a, 1, 1 + a], np.float32)
    if op == "saturation":
        f = rng.uniform(0.35, 0.7) if rng.random() < 0.5 else rng.uniform(1.3, 1.8)
        y = _luma(img)[..., None]
        return y + f * (img - y)
    if op == "contrast":
        f = rng.uniform(0.65, 0.85) if rng.random() < 0.5 else rng.uniform(1.15, 1.45)
        return img.mean() + f * (img - img.mean())
    if op == "brightness":
        return img + rng.choice([-1, 1]) * rng.uniform(15, 40)
    if op == "gamma":
        g = rng.uniform(0.6, 0.8) if rng.random() < 0.5 else rng.uniform(1.25, 1.6)
        return 255 * (np.clip(img, 0, 255) / 255) ** g
    if op == "sepia":
        m = np.array(
            [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32
        )
        k = rng.uniform(0.4, 0.9)
        return (1 - k) * img + k * (img @ m.T)
    if op == "fade":
        a = rng.uniform(0.08, 0.2) * 255
        return a + (1 - a / 255) * img
    raise ValueError(op)


FILTERS = ("warm", "cool", "saturation", "contrast", "brightness", "gamma", "sepia", "fade")


def colour_filter(pixels: np.ndarray, rng: np.random.Generator) -> Edit:
    """One to three global tone/colour operations, strong enough to see (mean change >= 6)."""
    for _ in range(8):
        ops = [str(o) for o in rng.choice(FILTERS, size=int(rng.integers(1, 4)), replace=False)]
        img = pixels.astype(np.float32)
        for op in ops:
            img = _filter_ops(img, op, rng)
        out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        change = float(np.abs(out.astype(np.int16) - pixels).mean())
        if change >= 6:
            break
    return Edit(out, None, {"filters": ops, "mean_change": round(change, 1)})


# --- partial copy: a region of the merchant's photo pasted into another scene -------------


def paste_region(
    scene: np.ndarray,
    patch: np.ndarray,
    alpha: np.ndarray,
    rng: np.random.Generator,
) -> Edit:
    """Paste ``patch`` (with coverage ``alpha`` in [0, 1]) at a random place of ``scene``.

    Blended by its feathered alpha, or by Poisson cloning (which shifts its colours to the
    scene's, as a careful forger would). The mask is the pasted region.
    """
    h, w = scene.shape[:2]
    ph, pw = alpha.shape
    x0, y0 = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
    region = (slice(y0, y0 + ph), slice(x0, x0 + pw))
    out = scene.copy()
    mode = "alpha" if rng.random() < 0.7 else "poisson"
    inner = alpha >= 0.5
    if mode == "poisson" and pw > 4 and ph > 4:
        clone = inner.astype(np.uint8) * 255
        clone[[0, -1], :] = 0
        clone[:, [0, -1]] = 0
        out = cv2.seamlessClone(patch, scene, clone, (x0 + pw // 2, y0 + ph // 2), cv2.NORMAL_CLONE)
    else:
        mode = "alpha"
        a = alpha[..., None]
        out[region] = np.clip(patch * a + scene[region] * (1 - a) + 0.5, 0, 255).astype(np.uint8)
    mask = np.zeros((h, w), bool)
    mask[region] = inner
    return Edit(out, mask, {"blend": mode, "box": [x0, y0, pw, ph]})


# --- re-drawing: an AI image editor re-renders the whole edited photo ------------------------


@dataclass(frozen=True)
class Redrawing:
    """How strongly :func:`regenerate` re-draws a photo (shares are drawn uniformly from each
    range). The default is the core benchmark's; ``benchmarks.redraw`` sweeps others."""

    drift: tuple[float, float] = (0.001, 0.012)
    """Standard deviation of the displacement field, as a share of the long side."""
    reach: tuple[float, float] = (8.0, 12.0)
    """The field is correlated over the long side divided by this."""
    detail: int = 4
    """Detail with periods under about this many pixels (of the re-drawn frame) is partly
    re-synthesised."""
    kept: tuple[float, float] = (0.3, 0.7)
    """The share of that detail kept; the rest is new texture of the same local energy."""
    working_side: int | None = None
    """The long side the editor works and answers at (``None``: the photo's own)."""


CORE_REDRAWING = Redrawing()


def regenerate(
    pixels: np.ndarray,
    mask: np.ndarray,
    rng: np.random.Generator,
    redrawing: Redrawing = CORE_REDRAWING,
) -> Edit:
    """A stand-in for what a generative image editor does to the photo it is asked to edit.

    Such an editor (an image model prompted "add a crack here") does not paste its change
    into the photo: it re-draws the whole frame from a latent code. The layout, background
    and light stay, but the frame drifts by a few pixels in a smooth, low-frequency field
    that no homography removes, its fine texture and noise are re-synthesised, and its tones
    shift slightly. No generator's weights can be shipped here, so this proxy models those
    three effects (see docs/benchmarks.md for what it does and does not cover): a smooth
    random displacement field (standard deviation 0.1-1.2 % of the long side, correlated
    over about a tenth of it), the finest detail (periods under about 4 pixels) partly
    replaced by noise of the same local energy, and a per-channel gain and gamma jitter.
    ``mask`` (the local edit made before) moves with the frame. ``redrawing`` sets these
    strengths (the figures above are the default's).
    """
    r = redrawing
    if r.working_side is not None:
        h, w = pixels.shape[:2]
        f = r.working_side / max(h, w)
        size = (max(1, round(w * f)), max(1, round(h * f)))
        pixels = cv2.resize(
            pixels, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_CUBIC
        )
        mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    h, w = pixels.shape[:2]
    side = max(h, w)
    amplitude = float(rng.uniform(*r.drift)) * side
    reach = side / float(rng.uniform(*r.reach))
    fields = []
    for _ in range(2):
        noise = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), reach)
        fields.append(noise * (amplitude / (float(noise.std()) + 1e-9)))
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + fields[0], gy + fields[1]
    img = cv2.remap(
        pixels.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    moved = cv2.remap(mask.astype(np.uint8), mx, my, cv2.INTER_NEAREST, borderValue=0) > 0
    coarse = (max(1, w // r.detail), max(1, h // r.detail))
    low = cv2.resize(
        cv2.resize(img, coarse, interpolation=cv2.INTER_AREA),
        (w, h),
        interpolation=cv2.INTER_CUBIC,
    )
    detail = img - low
    energy = np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), 3.0)) + 1.0
    texture = cv2.GaussianBlur(rng.standard_normal(img.shape).astype(np.float32), (0, 0), 0.8)
    texture *= energy / (float(texture.std()) + 1e-9)
    kept = float(rng.uniform(*r.kept))
    img = low + kept * detail + (1.0 - kept) * 0.8 * texture
    gain = rng.uniform(0.96, 1.04, 3).astype(np.float32)
    gamma = float(rng.uniform(0.94, 1.06))
    img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** gamma * gain
    out = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    info = {
        "drift_px": round(amplitude, 1),
        "drift_share": round(amplitude / side, 4),
        "detail_kept": round(kept, 2),
    }
    if r.working_side is not None:
        info["redrawn_side"] = r.working_side
    return Edit(out, moved, info)
