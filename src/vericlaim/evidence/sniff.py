"""Recognise a media format from its first bytes, never from a file name."""

from __future__ import annotations

__all__ = ["sniff_format"]

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif"}
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"M4VP", b"dash", b"3gp4", b"3gp5", b"3g2a", b"MSNV", b"f4v "}


def sniff_format(data: bytes) -> str | None:
    """Return ``jpeg``, ``png``, ``webp``, ``heif``, ``bmp``, ``tiff``, ``gif``, ``mp4``,
    ``mov`` or ``None`` for anything else."""
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"BM") and len(data) > 26:
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        major = head[8:12]
        brands = {major} | {head[i : i + 4] for i in range(16, min(len(head), 64) - 3, 4)}
        if major in _HEIF_BRANDS:
            return "heif"
        if major in _MOV_BRANDS:
            return "mov"
        if major in _MP4_BRANDS or brands & _MP4_BRANDS:
            return "mp4"
        if brands & _HEIF_BRANDS:
            return "heif"
        return "mp4"
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov"
    return None
