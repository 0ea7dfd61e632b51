"""Screenshot framing and re-photographing a screen, with the edit mask carried along."""

from __future__ import annotations

import cv2
import numpy as np

from benchmarks.chains import MAX_SIDE, Tracked, warp
from benchmarks.imaging import resize

__all__ = ["rephotograph", "screenshot"]

_WORDS = (
    "order",
    "refund",
    "item",
    "received",
    "damaged",
    "photo",
    "seller",
    "store",
    "shipping",
    "details",
    "review",
    "quantity",
    "return",
    "after-sales",
    "service",
    "delivered",
    "broken",
    "package",
    "official",
    "price",
)


def _text(canvas: np.ndarray, text: str, org: tuple[int, int], scale: float, color, thick: int):
    cv2.putText(canvas, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, thick, cv2.LINE_AA)


def screenshot(t: Tracked, rng: np.random.Generator) -> Tracked:
    """Place the photo inside a phone app's chrome: status bar, title bar, borders, text.

    The canvas is a phone screen (720..1242 px wide, about 2:1); the photo is scaled to fit
    between the title bar and a block of product text and buttons below it.
    """
    w, h = t.size
    cw = int(rng.choice([720, 828, 1080, 1170, 1242]))
    ch = round(cw * rng.uniform(2.0, 2.2))
    dark = rng.random() < 0.3
    paper = (22, 22, 24) if dark else tuple(int(v) for v in rng.integers(236, 256, 3))
    ink = (230, 230, 230) if dark else (30, 30, 30)
    accent = tuple(int(v) for v in rng.integers(0, 256, 3))
    canvas = np.empty((ch, cw, 3), np.uint8)
    canvas[:] = paper
    u = cw / 1080  # layout unit

    status_h, title_h = round(66 * u), round(132 * u)
    _text(
        canvas,
        f"{int(rng.integers(0, 24)):d}:{int(rng.integers(0, 60)):02d}",
        (round(40 * u), round(48 * u)),
        1.2 * u,
        ink,
        max(1, round(3 * u)),
    )
    bx = cw - round(130 * u)
    cv2.rectangle(
        canvas, (bx, round(22 * u)), (bx + round(70 * u), round(50 * u)), ink, max(1, round(3 * u))
    )
    cv2.rectangle(
        canvas,
        (bx + 4, round(26 * u)),
        (bx + round(70 * u * rng.uniform(0.2, 0.95)), round(46 * u)),
        ink,
        -1,
    )
    for i in range(4):
        x = cw - round((260 - 22 * i) * u)
        cv2.rectangle(
            canvas, (x, round((50 - 8 * i) * u)), (x + round(14 * u), round(50 * u)), ink, -1
        )
    bar = accent if rng.random() < 0.5 else paper
    canvas[status_h : status_h + title_h] = bar
    title_ink = (255, 255, 255) if bar == accent and sum(accent) < 380 else ink
    cv2.line(
        canvas,
        (round(60 * u), status_h + title_h // 2),
        (round(90 * u), status_h + title_h // 2 - round(30 * u)),
        title_ink,
        max(2, round(5 * u)),
    )
    cv2.line(
        canvas,
        (round(60 * u), status_h + title_h // 2),
        (round(90 * u), status_h + title_h // 2 + round(30 * u)),
        title_ink,
        max(2, round(5 * u)),
    )
    title = " ".join(rng.choice(_WORDS, size=2)).title()
    _text(
        canvas,
        title,
        (round(150 * u), status_h + title_h // 2 + round(16 * u)),
        1.5 * u,
        title_ink,
        max(1, round(3 * u)),
    )

    border = int(rng.integers(0, round(0.05 * cw) + 1))
    top = status_h + title_h + border
    avail_w, avail_h = cw - 2 * border, round(0.62 * ch) - top
    scale = min(avail_w / w, avail_h / h)
    pw, ph = max(1, round(w * scale)), max(1, round(h * scale))
    x0, y0 = (cw - pw) // 2, top
    canvas[y0 : y0 + ph, x0 : x0 + pw] = resize(t.pixels, (pw, ph))
    if border and rng.random() < 0.5:
        cv2.rectangle(canvas, (x0 - 1, y0 - 1), (x0 + pw, y0 + ph), (160, 160, 160), 1)
    mask = None
    if t.mask is not None:
        mask = np.zeros((ch, cw), np.float32)
        mask[y0 : y0 + ph, x0 : x0 + pw] = resize(t.mask, (pw, ph), is_mask=True)

    y = y0 + ph + round(70 * u)
    _text(
        canvas,
        f"CNY {rng.uniform(9, 999):.2f}",
        (round(40 * u), y),
        1.6 * u,
        (40, 40, 220) if not dark else (255, 120, 90),
        max(1, round(4 * u)),
    )
    for _ in range(int(rng.integers(2, 6))):
        y += round(60 * u)
        if y > ch - round(200 * u):
            break
        _text(
            canvas,
            " ".join(rng.choice(_WORDS, size=int(rng.integers(3, 7)))),
            (round(40 * u), y),
            1.0 * u,
            ink,
            max(1, round(2 * u)),
        )
    nav = ch - round(150 * u)
    cv2.line(canvas, (0, nav), (cw, nav), (180, 180, 180), 1)
    cv2.rectangle(
        canvas, (cw // 2, nav + round(25 * u)), (cw - round(40 * u), ch - round(30 * u)), accent, -1
    )
    for i in range(3):
        cx = round((80 + 130 * i) * u)
        cv2.circle(canvas, (cx, nav + round(70 * u)), round(26 * u), ink, max(1, round(3 * u)))
    return t.step(
        f"screenshot {cw}x{ch}", canvas, mask, screen=(cw, ch), photo_box=(x0, y0, pw, ph)
    )


def rephotograph(t: Tracked, rng: np.random.Generator) -> Tracked:
    """Photograph the photo shown on a screen: perspective, blur, moire, gamma, vignetting.

    The screen (the photo inside a dark bezel) is warped by a homography into a camera frame
    with some surroundings; then the optics and the sensor: a slight blur, a moire pattern
    from the screen's pixel grid beating with the sensor's, gamma, vignetting and noise.
    """
    w, h = t.size
    bezel = max(2, round(rng.uniform(0.01, 0.04) * max(w, h)))
    padded = np.zeros((h + 2 * bezel, w + 2 * bezel, 3), np.uint8)
    padded[:] = int(rng.integers(5, 30))
    padded[bezel : bezel + h, bezel : bezel + w] = t.pixels
    mask = None
    if t.mask is not None:
        mask = np.zeros(padded.shape[:2], np.float32)
        mask[bezel : bezel + h, bezel : bezel + w] = t.mask
    t = t.step("bezel", padded, mask)

    sw, sh = t.size
    s = float(np.clip(rng.uniform(0.8, 1.3), 256 / max(sw, sh), MAX_SIDE / max(sw, sh)))
    ow, oh = round(sw * s), round(sh * s)
    inset = rng.uniform(0.02, 0.12, size=(4, 2)) * np.array([ow, oh])
    src = np.float32([[0, 0], [sw, 0], [sw, sh], [0, sh]])
    dst = np.float32(
        [
            [inset[0, 0], inset[0, 1]],
            [ow - inset[1, 0], inset[1, 1]],
            [ow - inset[2, 0], oh - inset[2, 1]],
            [inset[3, 0], oh - inset[3, 1]],
        ]
    )
    matrix = cv2.getPerspectiveTransform(src, dst)
    coverage = cv2.warpPerspective(np.ones((sh, sw), np.float32), matrix, (ow, oh))
    t = warp(t, matrix, (ow, oh))

    yy, xx = np.mgrid[0:oh, 0:ow].astype(np.float32)
    surround = np.array(rng.integers(40, 200, 3), np.float32)
    gradient = 0.75 + 0.5 * (xx / ow * rng.uniform(-0.5, 0.5) + yy / oh * rng.uniform(-0.5, 0.5))
    scene = surround[None, None, :] * gradient[..., None]
    img = t.pixels.astype(np.float32) * coverage[..., None] + scene * (1 - coverage[..., None])

    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.4))
    angle1, angle2 = rng.uniform(0, np.pi, 2)
    period = rng.uniform(2.2, 3.5)
    f1 = 1 / period
    f2 = f1 * rng.uniform(0.9, 1.1)
    beat = np.cos(2 * np.pi * f1 * (xx * np.cos(angle1) + yy * np.sin(angle1))) * np.cos(
        2 * np.pi * f2 * (xx * np.cos(angle2) + yy * np.sin(angle2))
    )
    beat = cv2.GaussianBlur(beat, (0, 0), period / 2)
    beat /= max(1e-6, float(np.abs(beat).max()))
    img *= (1 + rng.uniform(0.03, 0.08) * beat * coverage)[..., None]
    img *= rng.uniform(0.94, 1.06, 3)[None, None, :].astype(np.float32)
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.8, 1.25)
    r2 = ((xx - ow / 2) / (ow / 2)) ** 2 + ((yy - oh / 2) / (oh / 2)) ** 2
    img *= (1 - rng.uniform(0.15, 0.45) * r2 / 2)[..., None]
    img += rng.normal(0, rng.uniform(1.5, 5.0), img.shape).astype(np.float32)
    pixels = np.clip(img + 0.5, 0, 255).astype(np.uint8)
    return t.step("rephoto optics", pixels, t.mask, camera=(ow, oh))
