"""Video evidence: sample frames at scene changes, with a cap."""

from __future__ import annotations

from vericlaim.errors import CorruptMedia
from vericlaim.evidence.model import Evidence, Role
from vericlaim.settings import Settings

__all__ = ["load_video"]


def load_video(
    data: bytes, *, fmt: str, source: str, role: Role, media_id: str, sha256: str, settings: Settings
) -> Evidence:
    raise CorruptMedia(source, "video decoding is not available yet")
