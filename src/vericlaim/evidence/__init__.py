"""Evidence loading at the edge: bytes or a path in, a frozen :class:`Evidence` out."""

from vericlaim.evidence.load import decode_full, load_bytes, load_path
from vericlaim.evidence.model import C2paStore, Evidence, Frame, MediaMetadata, Role
from vericlaim.evidence.sniff import sniff_format

__all__ = [
    "C2paStore",
    "Evidence",
    "Frame",
    "MediaMetadata",
    "Role",
    "decode_full",
    "load_bytes",
    "load_path",
    "sniff_format",
]
