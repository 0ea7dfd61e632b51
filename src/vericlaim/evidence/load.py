"""Load evidence at the edge: sniff, check limits, decode, orient, hash, read metadata."""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from vericlaim.errors import (
    CorruptMedia,
    EvidenceNotFound,
    LimitExceeded,
    UnsupportedFormat,
)
from vericlaim.evidence.metadata import read_image_metadata
from vericlaim.evidence.model import Evidence, Frame, Role
from vericlaim.evidence.sniff import sniff_format
from vericlaim.settings import Settings, get_settings

__all__ = ["decode_full", "load_bytes", "load_path"]

_IMAGE_MIME = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heif": "image/heif",
    "bmp": "image/bmp",
    "tiff": "image/tiff",
    "gif": "image/gif",
}


def load_path(
    path: str | Path,
    *,
    role: Role = "claim",
    media_id: str | None = None,
    settings: Settings | None = None,
) -> Evidence:
    """Load a photo or video from a file path.

    Raises
    ------
    EvidenceNotFound
        The path does not exist or is not a regular file.
    LimitExceeded, UnsupportedFormat, CorruptMedia
        See :func:`load_bytes`.
    """
    settings = settings or get_settings()
    p = Path(path)
    source = str(path)
    if not p.exists():
        raise EvidenceNotFound(source, "no such file")
    if not p.is_file():
        raise EvidenceNotFound(source, "not a regular file")
    size = p.stat().st_size
    if size > settings.max_bytes:
        raise LimitExceeded(source, f"file is {size} bytes, more than the limit of {settings.max_bytes}")
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise EvidenceNotFound(source, f"cannot read file ({exc.strerror or exc})") from exc
    return load_bytes(data, source=source, role=role, media_id=media_id or p.name, settings=settings)


def load_bytes(
    data: bytes,
    *,
    source: str = "<bytes>",
    role: Role = "claim",
    media_id: str | None = None,
    settings: Settings | None = None,
) -> Evidence:
    """Load a photo or video from its bytes.

    The format is sniffed from the content, never from a name. Photos are decoded at
    a reduced size (long side about ``settings.analysis_side``) for analysis; use
    :func:`decode_full` for full resolution.

    Raises
    ------
    LimitExceeded
        Too many bytes, pixels, or (for video) seconds.
    UnsupportedFormat
        The content is not a supported image or video (an empty file, text, ...).
    CorruptMedia
        The content is truncated or cannot be decoded.
    """
    settings = settings or get_settings()
    if len(data) == 0:
        raise UnsupportedFormat(source, "file is empty (0 bytes)")
    if len(data) > settings.max_bytes:
        raise LimitExceeded(source, f"file is {len(data)} bytes, more than the limit of {settings.max_bytes}")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedFormat(source, "not a supported image or video (JPEG, PNG, WebP, HEIC, BMP, TIFF, MP4, MOV)")
    digest = hashlib.sha256(data).hexdigest()
    media_id = media_id or source
    if fmt in ("mp4", "mov"):
        from vericlaim.evidence.video import load_video

        return load_video(data, fmt=fmt, source=source, role=role, media_id=media_id, sha256=digest, settings=settings)
    return _load_image(data, fmt=fmt, source=source, role=role, media_id=media_id, sha256=digest, settings=settings)


def _open_image(data: bytes, fmt: str, source: str, settings: Settings) -> Image.Image:
    if fmt == "heif":
        _register_heif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise LimitExceeded(source, f"image has too many pixels ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise CorruptMedia(source, f"cannot decode {fmt.upper()} data ({exc})") from exc
    w, h = image.size
    if w <= 0 or h <= 0:
        raise CorruptMedia(source, f"{fmt.upper()} header gives an empty size {w}x{h}")
    if w * h > settings.max_pixels:
        raise LimitExceeded(
            source, f"image is {w}x{h} = {w * h} pixels, more than the limit of {settings.max_pixels}"
        )
    return image


def _decode(image: Image.Image, fmt: str, source: str, max_side: int | None) -> tuple[np.ndarray, int]:
    """Decode (reduced when ``max_side`` allows), orient and convert to RGB."""
    orientation = _orientation(image)
    try:
        if max_side and fmt == "jpeg":
            w, h = image.size
            factor = max(w, h) / max_side
            if factor >= 2:
                # libjpeg's DCT scaling: decode at 1/2, 1/4 or 1/8 size, no smaller than max_side.
                image.draft("RGB", (max(1, int(w / factor)), max(1, int(h / factor))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
        oriented = ImageOps.exif_transpose(image) if orientation not in (0, 1) else image
        rgb = _to_rgb(oriented)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptMedia(source, f"cannot decode {fmt.upper()} data: {exc}") from exc
    pixels = np.asarray(rgb, dtype=np.uint8)
    if max_side and max(pixels.shape[:2]) > max_side * 1.5:
        import cv2

        f = max_side / max(pixels.shape[:2])
        pixels = cv2.resize(
            pixels,
            (max(1, round(pixels.shape[1] * f)), max(1, round(pixels.shape[0] * f))),
            interpolation=cv2.INTER_AREA,
        )
    pixels = np.ascontiguousarray(pixels)
    pixels.setflags(write=False)
    return pixels, orientation


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(image, dtype=np.float64)
        top = max(float(arr.max()), 1.0)
        return Image.fromarray((arr * (255.0 / max(top, 255.0))).clip(0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
        return int(value) if int(value) in range(1, 9) else 1
    except Exception:  # malformed EXIF must not make a photo unreadable
        return 1


def _load_image(
    data: bytes, *, fmt: str, source: str, role: Role, media_id: str, sha256: str, settings: Settings
) -> Evidence:
    image = _open_image(data, fmt, source, settings)
    metadata = read_image_metadata(image, data, fmt)
    w, h = image.size
    pixels, orientation = _decode(image, fmt, source, settings.analysis_side)
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    scale = pixels.shape[1] / w
    return Evidence(
        media_id=media_id,
        source=source,
        role=role,
        sha256=sha256,
        format=fmt,
        mime=_IMAGE_MIME.get(fmt, "application/octet-stream"),
        kind="image",
        byte_size=len(data),
        width=w,
        height=h,
        orientation=orientation,
        metadata=metadata,
        frames=(Frame(pixels=pixels, scale=scale),),
        data=data,
    )


_FULL_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_FULL_LOCK = threading.Lock()


def decode_full(evidence: Evidence) -> np.ndarray:
    """Full-resolution RGB pixels of a photo (first frame of a video), cached per sha256."""
    if evidence.is_video or evidence.frames[0].scale == 1.0:
        return evidence.frames[0].pixels
    with _FULL_LOCK:
        if evidence.sha256 in _FULL_CACHE:
            _FULL_CACHE.move_to_end(evidence.sha256)
            return _FULL_CACHE[evidence.sha256]
    image = _open_image(evidence.data, evidence.format, evidence.source, get_settings(max_pixels=10**12))
    pixels, _ = _decode(image, evidence.format, evidence.source, None)
    with _FULL_LOCK:
        _FULL_CACHE[evidence.sha256] = pixels
        while len(_FULL_CACHE) > 4:
            _FULL_CACHE.popitem(last=False)
    return pixels


_HEIF_REGISTERED = False


def _register_heif() -> None:
    global _HEIF_REGISTERED
    if not _HEIF_REGISTERED:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _HEIF_REGISTERED = True
