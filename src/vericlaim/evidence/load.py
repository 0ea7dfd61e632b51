"""Load evidence at the edge: sniff, check limits, decode, orient, hash, read metadata.

Everything a buyer uploads passes through here, so nothing from here may escape as a
foreign exception or a traceback: every failure becomes an :class:`EvidenceError`
whose text is one line, ``<file>: <cause>``.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from vericlaim.errors import (
    CorruptMedia,
    EvidenceError,
    EvidenceNotFound,
    LimitExceeded,
    UnsupportedFormat,
)
from vericlaim.evidence.metadata import read_image_metadata
from vericlaim.evidence.model import Evidence, Frame, Role
from vericlaim.evidence.sniff import sniff_format
from vericlaim.settings import Settings, get_settings

__all__ = ["decode_full", "load_bytes", "load_path"]

# sniffed format -> (Pillow plugin, media type)
_IMAGE_FORMATS = {
    "jpeg": ("JPEG", "image/jpeg"),
    "png": ("PNG", "image/png"),
    "webp": ("WEBP", "image/webp"),
    "heif": ("HEIF", "image/heif"),
    "avif": ("AVIF", "image/avif"),
    "bmp": ("BMP", "image/bmp"),
    "tiff": ("TIFF", "image/tiff"),
    "gif": ("GIF", "image/gif"),
}
_VIDEO_FORMATS = {"mp4": "video/mp4", "mov": "video/quicktime"}
_SUPPORTED = "JPEG, PNG, WebP, HEIC, BMP, TIFF, MP4 or MOV"
# A photo up to this much larger than the analysis size is kept as decoded: resampling it
# would cost detail for little speed.
_SHRINK_MARGIN = 1.5
# Formats whose reader turns the photo upright itself, and reports the turned size from
# the header: libheif applies HEIF's rotation and mirroring, Pillow's TIFF reader the
# orientation tag. Turning these again would turn them twice. Pillow's AVIF reader, like
# the JPEG, PNG and WebP ones, leaves the orientation to us.
_DECODER_ORIENTS = {"heif", "tiff"}
# Modes Pillow's box reduction handles; others (palette, 16-bit) are converted first.
_BOXABLE = {"RGB", "RGBA", "RGBX", "L", "LA", "CMYK", "I", "F"}
# Full-resolution decodes kept for analyzers that ask again (a 48 MP photo is 144 MB).
_FULL_CACHE_BYTES = 512 * 1024 * 1024


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
        The path does not exist, is not a regular file, or cannot be read.
    LimitExceeded, UnsupportedFormat, CorruptMedia
        See :func:`load_bytes`.
    """
    settings = settings or get_settings()
    p = Path(path)
    source = str(path)
    try:
        if not p.exists():
            raise EvidenceNotFound(source, "no such file")
        if not p.is_file():
            what = "a directory" if p.is_dir() else "not a regular file"
            raise EvidenceNotFound(source, f"{what}, expected a photo or video file")
        size = p.stat().st_size
        if size > settings.max_bytes:
            raise LimitExceeded(source, _too_many_bytes(size, settings))
        data = p.read_bytes()
    except OSError as exc:  # permissions, a path too long, a file vanishing mid-read
        raise EvidenceNotFound(source, f"cannot read file ({exc.strerror or exc})") from exc
    return load_bytes(
        data, source=source, role=role, media_id=media_id or p.name, settings=settings
    )


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
    :func:`decode_full` for full resolution. Videos are sampled at scene changes
    (see :func:`vericlaim.evidence.video.load_video`).

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
    data = bytes(data)
    if len(data) == 0:
        raise UnsupportedFormat(source, "file is empty (0 bytes)")
    if len(data) > settings.max_bytes:
        raise LimitExceeded(source, _too_many_bytes(len(data), settings))
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedFormat(source, f"not a supported image or video ({_SUPPORTED})")
    digest = hashlib.sha256(data).hexdigest()
    media_id = media_id or source
    if fmt in _VIDEO_FORMATS:
        from vericlaim.evidence.video import load_video

        return load_video(
            data,
            fmt=fmt,
            mime=_VIDEO_FORMATS[fmt],
            source=source,
            role=role,
            media_id=media_id,
            sha256=digest,
            settings=settings,
        )
    return _load_image(
        data, fmt=fmt, source=source, role=role, media_id=media_id, sha256=digest, settings=settings
    )


def _load_image(
    data: bytes,
    *,
    fmt: str,
    source: str,
    role: Role,
    media_id: str,
    sha256: str,
    settings: Settings,
) -> Evidence:
    mime = _IMAGE_FORMATS[fmt][1]
    image = _open_image(data, fmt, source, max_pixels=settings.max_pixels)
    width, height = image.size  # before a reduced decode changes it
    pixels, orientation = _decode(image, fmt, source, max_side=settings.analysis_side)
    metadata = read_image_metadata(
        image,
        data,
        fmt,
        mime=mime,
        source=source,
        orientation=orientation if fmt in _DECODER_ORIENTS else None,
    )
    if orientation in (5, 6, 7, 8) and fmt not in _DECODER_ORIENTS:
        width, height = height, width
    return Evidence(
        media_id=media_id,
        source=source,
        role=role,
        sha256=sha256,
        format=fmt,
        mime=mime,
        kind="image",
        byte_size=len(data),
        width=width,
        height=height,
        orientation=orientation,
        metadata=metadata,
        frames=(Frame(pixels=pixels, scale=pixels.shape[1] / width),),
        data=data,
    )


@contextmanager
def _decoding(source: str, fmt: str) -> Iterator[None]:
    """Translate whatever a decoder raises into one of our errors.

    Fuzzed files make Pillow and its codecs raise far more than ``OSError`` (``struct.error``,
    ``IndexError``, ``ValueError``, ``ZeroDivisionError``, ...), and they warn on odd but
    readable files; neither may reach the user.
    """
    label = fmt.upper()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except EvidenceError:
        raise
    except Image.DecompressionBombError as exc:
        raise LimitExceeded(source, f"{label} image is too large to decode safely") from exc
    except MemoryError as exc:
        raise LimitExceeded(source, f"not enough memory to decode this {label} image") from exc
    except Exception as exc:
        message = describe(exc)
        if "truncated" in message or isinstance(exc, EOFError):
            raise CorruptMedia(source, f"truncated {label} data") from exc
        if isinstance(exc, Image.UnidentifiedImageError | SyntaxError):
            # Pillow's plugins raise SyntaxError for a header that is not theirs.
            raise CorruptMedia(source, f"not a valid {label} file ({message})") from exc
        raise CorruptMedia(source, f"cannot decode {label} data ({message})") from exc


def _open_image(data: bytes, fmt: str, source: str, *, max_pixels: int | None) -> Image.Image:
    """Read the header only, and refuse an image too large before any pixel is decoded."""
    plugin = _IMAGE_FORMATS[fmt][0]
    if fmt == "heif":
        _register_heif()
    with _decoding(source, fmt):
        if plugin not in Image.OPEN:
            Image.init()
        if plugin not in Image.OPEN:
            raise UnsupportedFormat(source, f"{fmt.upper()} decoding is not available here")
        factory, accept = Image.OPEN[plugin]
        verdict = accept(data[:16]) if accept else True
        if not verdict or isinstance(verdict, str):
            raise CorruptMedia(source, f"not a valid {fmt.upper()} file")
        # The plugin's factory, rather than Image.open, so that our limit (with the real
        # size in the message) decides, not Pillow's process-wide one.
        image = factory(io.BytesIO(data), "")
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptMedia(source, f"{fmt.upper()} header gives an empty size {width}x{height}")
    if max_pixels is not None and width * height > max_pixels:
        raise LimitExceeded(
            source,
            f"image is {width}x{height} = {width * height:,} pixels, "
            f"more than the limit of {max_pixels:,}",
        )
    return image


def _decode(
    image: Image.Image, fmt: str, source: str, *, max_side: int | None
) -> tuple[np.ndarray, int]:
    """Decode (reduced when ``max_side`` allows), convert to RGB and orient.

    Returns the read-only pixels and the EXIF orientation that was applied.
    """
    width, height = image.size
    # A photo up to _SHRINK_MARGIN times the analysis size is kept as it is.
    target = max_side if max_side and max(width, height) > max_side * _SHRINK_MARGIN else None
    # Pillow's TIFF reader deletes the tag once it has applied it: read it first.
    tiff_orientation = _orientation(image) if fmt == "tiff" else 1
    with _decoding(source, fmt):
        if target and fmt == "jpeg" and max(width, height) >= 2 * target:
            # libjpeg's DCT scaling decodes at 1/2, 1/4 or 1/8 size, never below the
            # requested size: most of the speed of a reduced decode comes from here.
            factor = max(width, height) / target
            image.draft("RGB", (max(1, int(width / factor)), max(1, int(height / factor))))
        image.load()
        pixels = _shrink(_to_rgb(_box_reduce(image, target)), target)
    if fmt == "heif":
        orientation = _heif_orientation(image)
    elif fmt == "tiff":
        orientation = tiff_orientation
    else:
        # After decoding: a PNG may keep its EXIF after the pixel data.
        orientation = _orientation(image)
        pixels = _orient(pixels, orientation)
    pixels = np.ascontiguousarray(pixels)
    pixels.setflags(write=False)
    return pixels, orientation


def _box_reduce(image: Image.Image, target: int | None) -> Image.Image:
    """Reduce by a whole factor inside Pillow first, never below ``target``: cheaper than
    copying the full-size pixels out and resampling them all."""
    factor = max(image.size) // target if target else 1
    if factor < 2 or image.mode not in _BOXABLE:
        return image
    return image.reduce(factor)


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode == "RGB":
        return np.asarray(image)
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels carry arbitrary colour; show them on white, as a viewer does.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(background)
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float32)
        if mode == "F" and values.size and float(values.max()) <= 1.0:
            values = values * 255.0  # floating-point samples in [0, 1]
        elif mode != "F" and values.size and float(values.max()) > 255.0:
            values = values / 257.0  # 16-bit samples: 65535 -> 255
        gray = np.clip(values, 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def _shrink(pixels: np.ndarray, target: int | None) -> np.ndarray:
    long_side = max(pixels.shape[:2])
    if not target or long_side <= target:
        return pixels
    import cv2

    f = target / long_side
    size = (max(1, round(pixels.shape[1] * f)), max(1, round(pixels.shape[0] * f)))
    # What is left after the DCT scaling and the whole-factor reduction is less than 2x:
    # bilinear is enough there, and OpenCV's area resampling at a fractional factor costs
    # as much as the decode itself.
    interpolation = cv2.INTER_LINEAR if f >= 0.5 else cv2.INTER_AREA
    return cv2.resize(pixels, size, interpolation=interpolation)


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Turn pixels stored with EXIF ``orientation`` upright (as ``ImageOps.exif_transpose``)."""
    if orientation == 2:
        return pixels[:, ::-1]
    if orientation == 3:
        return pixels[::-1, ::-1]
    if orientation == 4:
        return pixels[::-1]
    if orientation == 5:
        return pixels.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(pixels, k=-1)
    if orientation == 7:
        return pixels[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(pixels, k=1)
    return pixels


def _orientation(image: Image.Image) -> int:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = int(image.getexif().get(0x0112, 1))
    except Exception:  # malformed EXIF must not make a photo unreadable: treat as upright
        return 1
    return value if 1 <= value <= 8 else 1


def _heif_orientation(image: Image.Image) -> int:
    value = image.info.get("original_orientation")
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def describe(exc: BaseException) -> str:
    """A foreign exception's message on one line (it becomes part of an error's cause)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _too_many_bytes(size: int, settings: Settings) -> str:
    return f"file is {size:,} bytes, more than the limit of {settings.max_bytes:,}"


_FULL_CACHE: OrderedDict[str, np.ndarray] = OrderedDict()
_FULL_LOCK = threading.Lock()


def decode_full(evidence: Evidence) -> np.ndarray:
    """Full-resolution RGB pixels of a photo, or of a video's first sampled frame.

    Decoded again from ``evidence.data`` when the loaded frame is reduced, and cached
    per sha256 (a few at a time, bounded in bytes). The array is read-only.
    """
    if evidence.frames[0].scale >= 1.0:
        return evidence.frames[0].pixels
    with _FULL_LOCK:
        cached = _FULL_CACHE.get(evidence.sha256)
        if cached is not None:
            _FULL_CACHE.move_to_end(evidence.sha256)
            return cached
    if evidence.is_video:
        from vericlaim.evidence.video import decode_first_frame

        pixels = decode_first_frame(evidence.data, source=evidence.source)
    else:
        # Limits were checked when the evidence was loaded.
        image = _open_image(evidence.data, evidence.format, evidence.source, max_pixels=None)
        pixels, _ = _decode(image, evidence.format, evidence.source, max_side=None)
    with _FULL_LOCK:
        _FULL_CACHE[evidence.sha256] = pixels
        while len(_FULL_CACHE) > 1 and sum(a.nbytes for a in _FULL_CACHE.values()) > (
            _FULL_CACHE_BYTES
        ):
            _FULL_CACHE.popitem(last=False)
    return pixels


_HEIF_LOCK = threading.Lock()
_heif_registered = False


def _register_heif() -> None:
    """Register pillow-heif's opener on first use: importing libheif costs start-up time."""
    global _heif_registered
    with _HEIF_LOCK:
        if not _heif_registered:
            import pillow_heif

            pillow_heif.register_heif_opener()
            _heif_registered = True
