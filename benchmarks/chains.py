"""Re-save chains and the upload chain, each carrying the edit mask along.

Every step transforms the pixels and the ground-truth mask together, so that after the
last step the mask is in the claim photo's own pixel coordinates. A mask is a float
coverage map in [0, 1] (the share of each pixel the edit covers); it is resampled like the
pixels and binarized only at the end (:func:`benchmarks.imaging.binarize`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from benchmarks.imaging import decode_rgb, encode_jpeg, encode_png, resize

__all__ = [
    "CHAINS",
    "MAX_SIDE",
    "MIN_SIDE",
    "Tracked",
    "UploadParams",
    "apply_chain",
    "crop",
    "draw_upload",
    "jpeg",
    "mirror",
    "scale_to",
    "upload",
]

MIN_SIDE = 96  # a chain never shrinks the long side below this
MAX_SIDE = 4096  # ... nor grows it above this


@dataclass(frozen=True)
class Tracked:
    """A photo on its way to becoming a claim, with the edit mask in its coordinates."""

    pixels: np.ndarray
    mask: np.ndarray | None = None
    steps: tuple[str, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]

    def step(
        self, name: str, pixels: np.ndarray, mask: np.ndarray | None, **params: Any
    ) -> Tracked:
        merged = dict(self.params)
        merged.update(params)
        return replace(self, pixels=pixels, mask=mask, steps=(*self.steps, name), params=merged)


def _mask(t: Tracked, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray | None:
    return None if t.mask is None else fn(t.mask).astype(np.float32)


def scale_to(t: Tracked, size: tuple[int, int], *, name: str = "resize") -> Tracked:
    pixels = resize(t.pixels, size)
    return t.step(name, pixels, _mask(t, lambda m: resize(m, size, is_mask=True)))


def scale_by(t: Tracked, factor: float) -> Tracked:
    w, h = t.size
    long_side = max(w, h)
    factor = float(np.clip(factor, MIN_SIDE / long_side, MAX_SIDE / long_side))
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return scale_to(t, size, name=f"scale {factor:.2f}x")


def crop(t: Tracked, x: int, y: int, w: int, h: int) -> Tracked:
    sl = (slice(y, y + h), slice(x, x + w))
    return t.step(f"crop {w}x{h}+{x}+{y}", t.pixels[sl].copy(), _mask(t, lambda m: m[sl].copy()))


def mirror(t: Tracked) -> Tracked:
    return t.step("mirror", t.pixels[:, ::-1].copy(), _mask(t, lambda m: m[:, ::-1].copy()))


def jpeg(t: Tracked, quality: int, subsampling: int = 2) -> Tracked:
    pixels = decode_rgb(encode_jpeg(t.pixels, quality=quality, subsampling=subsampling))
    return t.step(f"jpeg q{quality}", pixels, t.mask)


def png(t: Tracked) -> Tracked:
    return t.step("png", decode_rgb(encode_png(t.pixels)), t.mask)


def warp(t: Tracked, matrix: np.ndarray, size: tuple[int, int], *, border: int = 0) -> Tracked:
    """Apply a homography to the pixels and, identically, to the mask."""
    pixels = cv2.warpPerspective(
        t.pixels,
        matrix,
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(border, border, border),
    )
    mask = _mask(
        t,
        lambda m: cv2.warpPerspective(
            m, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
        ),
    )
    return t.step("warp", pixels, mask)


def random_crop(t: Tracked, rng: np.random.Generator, *, keep: float) -> Tracked:
    """Crop to an area share ``keep`` of the frame, preferring windows that keep the edit.

    The window's shape comes from ``rng``; of a few positions, the one keeping most of the
    edit wins, so that a crop rarely cuts the forger's own addition away.
    """
    w, h = t.size
    aspect = float(np.exp(rng.uniform(np.log(0.75), np.log(1.33))))
    cw = min(w, round(w * np.sqrt(keep * aspect)))
    ch = min(h, round(w * h * keep / max(cw, 1)))
    ch = max(1, min(h, ch))
    options = [
        (int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))) for _ in range(8)
    ]
    if t.mask is not None and t.mask.sum() > 0:
        integral = cv2.integral(t.mask.astype(np.float64))

        def kept(xy: tuple[int, int]) -> float:
            x, y = xy
            return float(
                integral[y + ch, x + cw]
                - integral[y, x + cw]
                - integral[y + ch, x]
                + integral[y, x]
            )

        options.sort(key=kept, reverse=True)
    x, y = options[0]
    return crop(t, x, y, cw, ch)


# --- the re-save chains: what a forger (or an honest buyer) does before uploading ---------


def _recompress(t: Tracked, rng: np.random.Generator) -> Tracked:
    for _ in range(int(rng.integers(1, 4))):
        t = jpeg(t, int(rng.integers(60, 96)))
    return t


def _scale(t: Tracked, rng: np.random.Generator) -> Tracked:
    t = scale_by(t, float(np.exp(rng.uniform(np.log(0.3), np.log(3.0)))))
    return jpeg(t, int(rng.integers(75, 96)))


def _crop(t: Tracked, rng: np.random.Generator) -> Tracked:
    t = random_crop(t, rng, keep=float(rng.uniform(0.4, 0.9)))
    return jpeg(t, int(rng.integers(75, 96)))


def _mirror(t: Tracked, rng: np.random.Generator) -> Tracked:
    return jpeg(mirror(t), int(rng.integers(75, 96)))


def _mirror_crop_scale(t: Tracked, rng: np.random.Generator) -> Tracked:
    t = mirror(t)
    t = random_crop(t, rng, keep=float(rng.uniform(0.45, 0.9)))
    t = scale_by(t, float(np.exp(rng.uniform(np.log(0.5), np.log(2.0)))))
    return jpeg(t, int(rng.integers(70, 96)))


def _screenshot(t: Tracked, rng: np.random.Generator) -> Tracked:
    from benchmarks.framing import screenshot

    t = screenshot(t, rng)
    return png(t) if rng.random() < 0.5 else jpeg(t, int(rng.integers(80, 96)))


def _rephoto(t: Tracked, rng: np.random.Generator) -> Tracked:
    from benchmarks.framing import rephotograph

    t = rephotograph(t, rng)
    return jpeg(t, int(rng.integers(85, 96)))


CHAINS: dict[str, Callable[[Tracked, np.random.Generator], Tracked]] = {
    "recompress": _recompress,
    "scale": _scale,
    "crop": _crop,
    "mirror": _mirror,
    "mirror+crop+scale": _mirror_crop_scale,
    "screenshot": _screenshot,
    "rephoto": _rephoto,
}


def apply_chain(t: Tracked, name: str, rng: np.random.Generator) -> Tracked:
    """Run the re-save chain ``name`` (a key of :data:`CHAINS`)."""
    return CHAINS[name](t, rng)


# --- the upload chain: the same for every claim, fake or honest -----------------------------


@dataclass(frozen=True, slots=True)
class UploadParams:
    """What the platform's upload does to every claim photo, drawn once per slot."""

    long_side: int  # 480..2048 px
    crop: tuple[float, float, float, float]  # share cut from left, top, right, bottom
    quality: int  # 50..95
    subsampling: int  # 2 = 4:2:0, 0 = 4:4:4


def draw_upload(rng: np.random.Generator) -> UploadParams:
    return UploadParams(
        long_side=int(rng.integers(480, 2049)),
        crop=tuple(float(v) for v in rng.uniform(0.0, 0.04, size=4)),  # type: ignore[arg-type]
        quality=int(rng.integers(50, 96)),
        subsampling=2 if rng.random() < 0.7 else 0,
    )


def upload(t: Tracked, params: UploadParams) -> tuple[bytes, Tracked]:
    """Crop a few percent, resize to the drawn long side, encode one JPEG.

    Returns the claim bytes and the tracked photo as decoded from them (pixels and mask in
    the claim's coordinates).
    """
    w, h = t.size
    left, top, right, bottom = params.crop
    x0, y0 = round(left * w), round(top * h)
    x1, y1 = w - round(right * w), h - round(bottom * h)
    t = crop(t, x0, y0, max(1, x1 - x0), max(1, y1 - y0))
    w, h = t.size
    factor = params.long_side / max(w, h)
    t = scale_to(t, (max(1, round(w * factor)), max(1, round(h * factor))), name="upload resize")
    data = encode_jpeg(t.pixels, quality=params.quality, subsampling=params.subsampling)
    return data, t.step(f"upload jpeg q{params.quality}", decode_rgb(data), t.mask)
