"""Read raw metadata once at load time: EXIF, XMP, PNG text, ICC, JPEG tables, C2PA.

Nothing here interprets what the metadata means (that is the analyzers' job), and
nothing here may make a photo unreadable: a malformed EXIF block or text chunk is
skipped, not raised, because the pixels are still evidence.
"""

from __future__ import annotations

import io
import math
import warnings
import zlib
from collections.abc import Mapping
from typing import Any

from PIL import ExifTags, Image

from vericlaim.evidence.c2pa import read_c2pa
from vericlaim.evidence.model import C2paStore, MediaMetadata

__all__ = ["read_c2pa_safely", "read_image_metadata", "read_video_metadata"]

_SKIPPED_TAGS = {"MakerNote", "ExifOffset", "GPSInfo", "InteropOffset"}
_USER_COMMENT = 0x9286
_XP_TAGS = {0x9C9B, 0x9C9C, 0x9C9D, 0x9C9E, 0x9C9F}  # Windows XPTitle ... XPSubject, UTF-16LE
_XMP_OPEN = (b"<x:xmpmeta", b"<x:xapmeta")
_XMP_CLOSE = (b"</x:xmpmeta>", b"</x:xapmeta>")
# PNG text limits, as Pillow's: a text chunk is not a place for megabytes (or a zip bomb).
_PNG_TEXT_CHUNK_MAX = 1 << 20
_PNG_TEXT_TOTAL_MAX = 8 << 20


def read_image_metadata(
    image: Image.Image,
    data: bytes,
    fmt: str,
    *,
    mime: str,
    source: str,
    orientation: int | None = None,
) -> MediaMetadata:
    """Collect what a photo says about itself, without interpreting it.

    Parameters
    ----------
    image : PIL.Image.Image
        The opened (and, for PNG, already loaded) photo.
    data : bytes
        The file's bytes, for what Pillow does not expose (PNG text, stray XMP, C2PA).
    fmt, mime : str
        The sniffed format and its media type.
    source : str
        The file's name, for C2PA error messages.
    orientation : int, optional
        The orientation the file declared, where the decoder applied it and dropped the
        tag (HEIF, TIFF): raw metadata records what the file said.
    """
    with warnings.catch_warnings():
        # Pillow warns about, rather than refuses, odd EXIF; those warnings are noise here.
        warnings.simplefilter("ignore")
        return MediaMetadata(
            exif=_exif(image, orientation),
            xmp=_xmp(image.info, data),
            png_text=_png_text(data) if fmt == "png" else {},
            c2pa=read_c2pa_safely(data, mime, source=source),
            icc_profile=_icc_description(image.info.get("icc_profile")),
            jpeg_quant_tables=_quant_tables(image) if fmt == "jpeg" else (),
            jpeg_progressive=bool(image.info.get("progressive") or image.info.get("progression")),
        )


def read_video_metadata(
    tags: Mapping[str, Any], data: bytes, *, mime: str, source: str
) -> MediaMetadata:
    """Metadata of a video: its container tags, any XMP packet, and its C2PA store."""
    return MediaMetadata(
        xmp=_xmp({}, data),
        c2pa=read_c2pa_safely(data, mime, source=source),
        container=dict(tags),
    )


def read_c2pa_safely(data: bytes, mime: str, *, source: str) -> C2paStore | None:
    """The C2PA manifest store, with any reader failure recorded instead of raised."""
    try:
        return read_c2pa(data, mime, source=source)
    except Exception as exc:  # a broken manifest is a finding, never an unreadable photo
        message = " ".join(str(exc).split()) or "no details"
        return C2paStore(
            manifest_store=None, validation_state=None, error=f"{type(exc).__name__}: {message}"
        )


def _exif(image: Image.Image, declared_orientation: int | None) -> dict[str, Any]:
    try:
        exif = image.getexif()
        entries = [(tag, value, ExifTags.TAGS) for tag, value in exif.items()]
    except Exception:
        return {}
    for ifd, names in (
        (ExifTags.IFD.Exif, ExifTags.TAGS),
        (ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),  # GPS tag numbers reuse the main ones
        (ExifTags.IFD.Interop, ExifTags.TAGS),
    ):
        try:
            entries.extend((tag, value, names) for tag, value in exif.get_ifd(ifd).items())
        except Exception:
            continue
    out: dict[str, Any] = {}
    for tag, value, names in entries:
        name = names.get(tag, f"0x{tag:04x}")
        if name in _SKIPPED_TAGS or isinstance(value, dict):
            continue
        try:
            out[name] = _exif_value(tag, value)
        except Exception:
            continue
    if declared_orientation is not None and (declared_orientation != 1 or "Orientation" in out):
        out["Orientation"] = declared_orientation
    return out


def _exif_value(tag: int, value: Any) -> Any:
    if isinstance(value, bytes):
        if tag == _USER_COMMENT:
            return _user_comment(value)
        if tag in _XP_TAGS:
            return value.decode("utf-16-le", "replace").rstrip("\x00")
        return _bytes_text(value)
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, bytes):
        return _bytes_text(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    try:
        number = float(value)  # IFDRational and friends
    except (TypeError, ValueError, ZeroDivisionError):
        return str(value)
    return number if math.isfinite(number) else None


def _bytes_text(value: bytes) -> str:
    """Text when the bytes are text, else ``hex:...`` so the value stays JSON-able."""
    try:
        text = value.decode("utf-8").rstrip("\x00")
    except UnicodeDecodeError:
        return "hex:" + value.hex()
    if all(c.isprintable() or c in "\t\n\r" for c in text):
        return text
    return "hex:" + value.hex()


def _user_comment(value: bytes) -> str:
    """EXIF UserComment: an 8-byte character-set code, then the text."""
    code, body = value[:8], value[8:]
    if code.startswith(b"UNICODE"):
        # The byte order is the EXIF block's, which Pillow does not pass on; a BOM or the
        # position of the zero bytes in ASCII-range text tells it.
        if body[:2] in (b"\xff\xfe", b"\xfe\xff"):
            return body.decode("utf-16", "replace").rstrip("\x00")
        little = body[1:2] == b"\x00" and body[:1] != b"\x00"
        return body.decode("utf-16-le" if little else "utf-16-be", "replace").rstrip("\x00")
    if code.startswith(b"JIS"):
        return body.decode("shift_jis", "replace").rstrip("\x00")
    if code.startswith(b"ASCII") or code == bytes(8):
        return body.decode("utf-8", "replace").rstrip("\x00 ")
    return _bytes_text(value)


def _xmp(info: Mapping[Any, Any], data: bytes) -> str | None:
    raw = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw
    # Where the decoder does not expose the packet (HEIF item, video uuid box, odd APP1),
    # the packet is still plain text in the file.
    for opening, closing in zip(_XMP_OPEN, _XMP_CLOSE, strict=True):
        start = data.find(opening)
        if start >= 0:
            end = data.find(closing, start)
            if end > 0:
                return data[start : end + len(closing)].decode("utf-8", "replace")
    return None


def _png_text(data: bytes) -> dict[str, str]:
    """tEXt, zTXt and iTXt chunks, read from the bytes (Pillow would decode the pixels,
    and every frame of an animated PNG, to reach chunks after the image data)."""
    out: dict[str, str] = {}
    budget = _PNG_TEXT_TOTAL_MAX
    pos = 8
    while pos + 8 <= len(data) and budget > 0:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IEND" or len(body) < length:
            break
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                key, text = _png_text_chunk(kind, body)
            except (ValueError, zlib.error):
                key, text = "", ""
            if key and key != "XML:com.adobe.xmp":  # the XMP packet has its own field
                out[key] = text
                budget -= len(text)
        pos += 12 + length
    return out


def _png_text_chunk(kind: bytes, body: bytes) -> tuple[str, str]:
    key, _, rest = body.partition(b"\x00")
    keyword = key.decode("latin-1")
    if kind == b"tEXt":
        return keyword, rest.decode("latin-1")
    if kind == b"zTXt":
        return keyword, _inflate(rest[1:]).decode("latin-1")
    compressed, rest = rest[:1] == b"\x01", rest[2:]
    _language, _, rest = rest.partition(b"\x00")
    _translated, _, text = rest.partition(b"\x00")
    return keyword, (_inflate(text) if compressed else text).decode("utf-8", "replace")


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    text = inflater.decompress(data, _PNG_TEXT_CHUNK_MAX)
    if inflater.unconsumed_tail:
        raise ValueError("text chunk too large")
    return text


def _icc_description(profile: Any) -> str | None:
    """The ICC profile's description (``"sRGB IEC61966-2.1"``, ``"Display P3"``)."""
    if not isinstance(profile, bytes) or not profile:
        return None
    try:
        from PIL import ImageCms

        description = ImageCms.ImageCmsProfile(io.BytesIO(profile)).profile.profile_description
    except Exception:
        return None
    if not isinstance(description, str):
        return None
    return description.strip() or None


def _quant_tables(image: Image.Image) -> tuple[tuple[int, ...], ...]:
    try:
        tables = getattr(image, "quantization", None) or {}
        return tuple(tuple(int(v) for v in tables[k]) for k in sorted(tables))
    except Exception:
        return ()
