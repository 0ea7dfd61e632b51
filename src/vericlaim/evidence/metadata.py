"""Read raw metadata once at load time: EXIF, XMP, PNG text chunks, ICC, JPEG tables, C2PA."""

from __future__ import annotations

from typing import Any

from PIL import ExifTags, Image

from vericlaim.evidence.model import MediaMetadata

__all__ = ["read_image_metadata"]


def read_image_metadata(image: Image.Image, data: bytes, fmt: str) -> MediaMetadata:
    """Collect what the file says about itself, without interpreting it."""
    return MediaMetadata(
        exif=_exif(image),
        xmp=_xmp(image, data),
        png_text=_png_text(image) if fmt == "png" else {},
        jpeg_quant_tables=_quant_tables(image) if fmt == "jpeg" else (),
        jpeg_progressive=bool(image.info.get("progressive") or image.info.get("progression")),
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").rstrip("\x00")
    if isinstance(value, (int, float, str)) or value is None:
        return value
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _exif(image: Image.Image) -> dict[str, Any]:
    try:
        exif = image.getexif()
    except Exception:
        return {}
    out: dict[str, Any] = {}
    try:
        items = list(exif.items())
        for ifd in (ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo):
            try:
                items.extend(exif.get_ifd(ifd).items())
            except Exception:
                continue
    except Exception:
        return out
    for tag, value in items:
        name = ExifTags.TAGS.get(tag, f"0x{tag:04x}")
        if name in ("MakerNote", "ExifOffset", "GPSInfo"):
            continue
        out[name] = _jsonable(value)
    return out


def _xmp(image: Image.Image, data: bytes) -> str | None:
    raw = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw
    start = data.find(b"<x:xmpmeta")
    if start >= 0:
        end = data.find(b"</x:xmpmeta>", start)
        if end > 0:
            return data[start : end + len(b"</x:xmpmeta>")].decode("utf-8", "replace")
    return None


def _png_text(image: Image.Image) -> dict[str, str]:
    text = getattr(image, "text", None) or {}
    return {str(k): str(v) for k, v in text.items() if k != "XML:com.adobe.xmp"}


def _quant_tables(image: Image.Image) -> tuple[tuple[int, ...], ...]:
    tables = getattr(image, "quantization", None) or {}
    return tuple(tuple(int(v) for v in tables[k]) for k in sorted(tables))
