"""What an analyzer says about one photo: a :class:`Finding`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vericlaim.reasons import message

__all__ = ["Finding", "Region", "Status"]

Status = Literal["ok", "not_applicable", "failed"]


@dataclass(frozen=True, slots=True)
class Region:
    """A box ``[x, y, w, h]`` in the photo's full-resolution pixels after EXIF orientation.

    ``label`` says what the box is (``edit``, ``copied``, ``source``, ``label``, ...);
    ``score`` is how strongly the region stands out, 0..1.
    """

    x: int
    y: int
    w: int
    h: int
    label: str = "edit"
    score: float = 1.0

    def as_box(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


@dataclass(frozen=True, slots=True)
class Finding:
    """One analyzer's conclusion about one piece of evidence.

    ``score`` is the strength of the suspicion (0 = nothing suspicious, 1 = certain),
    ``confidence`` how much the analyzer trusts its own measurement. ``heatmap`` is an
    optional float32 map in [0, 1] covering the whole photo (any resolution; it is scaled
    to the photo's size when drawn). ``details`` is JSON-able.
    """

    analyzer: str
    version: str
    media_id: str
    status: Status
    reason_code: str
    score: float = 0.0
    confidence: float = 1.0
    message_zh: str = ""
    message_en: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    heatmap: np.ndarray | None = field(default=None, repr=False, compare=False)
    regions: tuple[Region, ...] = ()

    @classmethod
    def make(
        cls,
        *,
        analyzer: str,
        version: str,
        media_id: str,
        reason_code: str,
        status: Status = "ok",
        score: float = 0.0,
        confidence: float = 1.0,
        params: Mapping[str, Any] | None = None,
        details: Mapping[str, Any] | None = None,
        heatmap: np.ndarray | None = None,
        regions: tuple[Region, ...] = (),
    ) -> Finding:
        """Build a finding whose messages come from the reason catalogue."""
        zh, en = message(reason_code, **dict(params or {}))
        return cls(
            analyzer=analyzer,
            version=version,
            media_id=media_id,
            status=status,
            reason_code=reason_code,
            score=float(min(1.0, max(0.0, score))),
            confidence=float(min(1.0, max(0.0, confidence))),
            message_zh=zh,
            message_en=en,
            details=dict(details or {}),
            heatmap=heatmap,
            regions=tuple(regions),
        )

    def to_json(self) -> dict[str, Any]:
        """The finding as it appears in the verdict JSON (the heatmap is not inlined)."""
        return {
            "analyzer": self.analyzer,
            "version": self.version,
            "status": self.status,
            "reason_code": self.reason_code,
            "score": round(self.score, 4),
            "confidence": round(self.confidence, 4),
            "message_zh": self.message_zh,
            "message_en": self.message_en,
            "details": finite(dict(self.details)),
            "regions": [r.as_box() for r in self.regions],
            "region_labels": [r.label for r in self.regions],
            "has_heatmap": self.heatmap is not None,
        }


def finite(value: Any) -> Any:
    """``value`` with every NaN and infinity (a measurement over nothing) replaced by
    ``None``, in nested mappings, lists and tuples too: the verdict JSON is strict JSON,
    which a JSON column or a client's parser accepts."""
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, tuple):
        return tuple(finite(v) for v in value)
    return value
