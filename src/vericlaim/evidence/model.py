"""The frozen record of one piece of evidence: a photo or a video, as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["C2paStore", "Evidence", "Frame", "MediaMetadata", "Role"]

Role = Literal["claim", "listing", "packing", "reshoot"]
MediaKind = Literal["image", "video"]


@dataclass(frozen=True, slots=True)
class C2paStore:
    """A C2PA manifest store as read (offline) from the file.

    ``manifest_store`` is the reader's JSON report, parsed; ``validation_state`` is
    ``"Valid"``, ``"Trusted"`` or ``"Invalid"``; ``error`` is set when a store is present
    but could not be parsed at all.
    """

    manifest_store: Mapping[str, Any] | None
    validation_state: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class MediaMetadata:
    """Raw metadata, recorded once at load time and never interpreted here.

    ``exif`` maps tag names (``"Software"``, ``"UserComment"``, ``"GPSLatitude"``, ...) from
    the main, Exif, GPS and Interop directories to JSON-able values (binary values that are
    not text as ``"hex:..."``; UserComment decoded by its character-set code);
    ``xmp`` is the XMP packet text; ``png_text`` holds tEXt/iTXt/zTXt chunks (the XMP
    packet excepted); ``c2pa`` is the manifest store, ``None`` when the file has none;
    ``icc_profile`` is the embedded ICC profile's description (``"Display P3"``);
    ``jpeg_quant_tables`` holds the quantization tables in natural (row-major) order;
    ``container`` holds a video container's tags, then its video stream's prefixed
    ``video.`` (``"video.handler_name"``).
    """

    exif: Mapping[str, Any] = field(default_factory=dict)
    xmp: str | None = None
    png_text: Mapping[str, str] = field(default_factory=dict)
    c2pa: C2paStore | None = None
    icc_profile: str | None = None
    jpeg_quant_tables: tuple[tuple[int, ...], ...] = ()
    jpeg_progressive: bool = False
    container: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded picture: a photo, or a frame sampled from a video.

    ``pixels`` is a read-only ``uint8`` RGB array of shape ``(height, width, 3)`` after
    EXIF orientation, possibly decoded at reduced size: ``scale`` is its size divided by
    the full size, so full-resolution coordinates are ``pixel / scale``.
    """

    pixels: np.ndarray
    scale: float = 1.0
    index: int = 0
    time_s: float | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Evidence:
    """A photo or video as received, with its decoded frames and metadata.

    ``width`` and ``height`` are the full size after EXIF orientation; regions in
    findings are always in that coordinate system. ``orientation`` is the EXIF
    orientation that was applied (1: none); for a video, the one with the same effect as
    its display matrix (6 for the usual portrait phone video). ``data`` is the original
    bytes, kept for analyzers that read the encoding itself (JPEG tables, C2PA,
    watermarks). A video has ``duration_s`` and one frame per sampled scene, first frame
    first.
    """

    media_id: str
    source: str
    role: Role
    sha256: str
    format: str
    mime: str
    kind: MediaKind
    byte_size: int
    width: int
    height: int
    orientation: int
    metadata: MediaMetadata
    frames: tuple[Frame, ...]
    data: bytes = field(repr=False)
    duration_s: float | None = None

    @property
    def is_video(self) -> bool:
        return self.kind == "video"

    def full_pixels(self) -> np.ndarray:
        """Decode the first frame at full resolution (photos only; cached by the loader)."""
        from vericlaim.evidence.load import decode_full

        return decode_full(self)
