"""Recognise a media format from its first bytes, never from a file name.

A buyer's file name says little (``IMG_0001.jpg`` may be a HEIC, a screenshot may be
named ``.png`` and hold a JPEG), so the loader trusts only the content. Each check
below needs a signature, not just a prefix a text file could start with.
"""

from __future__ import annotations

__all__ = ["sniff_format"]

# ISO base media file format (ftyp) brands.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
_HEIF_GENERIC = {b"mif1", b"msf1"}  # image/sequence containers whose codec the others name
_AVIF_BRANDS = {b"avif", b"avis"}
_MOV_BRANDS = {b"qt  "}
# QuickTime files without an ftyp box start with one of these top-level atoms.
_MOV_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
# BMP info-header sizes: OS/2 v1 and v2, Windows v3, v4 and v5 (and the Adobe variants).
_BMP_INFO_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}


def sniff_format(data: bytes) -> str | None:
    """Name the media format of ``data`` from its signature.

    Parameters
    ----------
    data : bytes
        The file's content (only the first few dozen bytes are read).

    Returns
    -------
    str or None
        ``"jpeg"``, ``"png"``, ``"webp"``, ``"heif"``, ``"avif"``, ``"bmp"``, ``"tiff"``,
        ``"gif"``, ``"mp4"``, ``"mov"``, or ``None`` for anything else.

    Examples
    --------
    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n" + bytes(24))
    'png'
    >>> sniff_format(b"hello") is None
    True
    """
    head = data[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic and BigTIFF
        return "tiff"
    if head[:2] == b"BM" and len(head) >= 18:
        if int.from_bytes(head[14:18], "little") in _BMP_INFO_SIZES:
            return "bmp"
        return None
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _sniff_iso_bmff(head)
    if len(head) >= 8 and head[4:8] in _MOV_ATOMS:
        return "mov"
    return None


def _sniff_iso_bmff(head: bytes) -> str:
    """Tell HEIF, AVIF, QuickTime and MP4 apart by the ftyp box's brands."""
    box_size = int.from_bytes(head[:4], "big")
    # Compatible brands follow the major brand and minor version, up to the box's end.
    end = min(len(head), box_size) if box_size >= 16 else len(head)
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}
    if major in _HEIF_BRANDS:
        return "heif"
    if major in _AVIF_BRANDS:
        return "avif"
    if major in _HEIF_GENERIC:
        if brands & _HEIF_BRANDS:
            return "heif"
        return "avif" if brands & _AVIF_BRANDS else "heif"
    if major in _MOV_BRANDS:
        return "mov"
    # Any other brand (isom, mp42, M4V, 3gp, a camera's own) is read by the MP4 demuxer,
    # which names what it finds: a missing video track is reported as such.
    return "mp4"
