"""Read a C2PA manifest store offline (c2pa-python). Being built: returns None for now."""

from __future__ import annotations

from vericlaim.evidence.model import C2paStore

__all__ = ["read_c2pa"]


def read_c2pa(data: bytes, mime: str, *, source: str = "<bytes>") -> C2paStore | None:
    """The file's C2PA manifest store, or ``None`` when it carries none."""
    return None
