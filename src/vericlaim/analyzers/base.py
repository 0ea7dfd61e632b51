"""The analyzer contract: a base class runs the checks, a subclass implements one hook."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from vericlaim.analyzers.finding import Finding, Region
from vericlaim.evidence import Evidence

__all__ = ["Analyzer", "AnalyzerConfig", "ClaimContext"]


class AnalyzerConfig(BaseModel):
    """Typed options of an analyzer; every field has a default."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # An analyzer whose config has an ``int`` field ``min_side`` does not apply to photos
    # smaller than that on a side (see :meth:`Analyzer.applicable`).


@dataclass(frozen=True, slots=True)
class ClaimContext:
    """What an analyzer may know beyond the photo itself: the claim's other media and the
    merchant's references (listing photos, packing photos, packing-video frames)."""

    claim_media: tuple[Evidence, ...] = ()
    references: tuple[Evidence, ...] = ()


class Analyzer(ABC):
    """Base of every analyzer.

    Subclasses declare ``name``, ``version``, ``requires`` and a ``Config``, and implement
    :meth:`analyze`. They never open files, touch a database or know about HTTP; they are
    deterministic for the same input. ``requires`` may hold:

    ``pixels``      needs decoded pixels (every photo and video frame has them)
    ``image``       works on still photos only, not video
    ``references``  needs at least one merchant reference
    ``jpeg``        needs a JPEG-encoded photo
    """

    name: ClassVar[str]
    version: ClassVar[str]
    requires: ClassVar[frozenset[str]] = frozenset({"pixels"})
    Config: ClassVar[type[AnalyzerConfig]] = AnalyzerConfig

    def __init__(self, config: AnalyzerConfig | dict[str, Any] | None = None) -> None:
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = self.Config(**config)
        self.config = config

    def applicable(self, media: Evidence, context: ClaimContext) -> str | None:
        """Why this analyzer does not apply to ``media``, or ``None`` when it does."""
        if "references" in self.requires and not context.references:
            return "no merchant reference was supplied"
        if "image" in self.requires and media.is_video:
            return "works on photos, not video"
        if "jpeg" in self.requires and media.format != "jpeg":
            return f"needs a JPEG photo, got {media.format.upper()}"
        side = getattr(self.config, "min_side", None)
        if side is not None and min(media.width, media.height) < side:
            return (
                f"photo is {media.width}x{media.height} px, too small: "
                f"needs at least {side} px on a side"
            )
        return None

    @abstractmethod
    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        """Examine one piece of claim evidence and return at least one finding."""

    # Helpers so subclasses build findings in one line.
    def finding(
        self,
        media: Evidence,
        reason_code: str,
        *,
        score: float = 0.0,
        confidence: float = 1.0,
        params: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
        heatmap: Any = None,
        regions: Sequence[Region] = (),
        status: str = "ok",
    ) -> Finding:
        return Finding.make(
            analyzer=self.name,
            version=self.version,
            media_id=media.media_id,
            reason_code=reason_code,
            status=status,  # type: ignore[arg-type]
            score=score,
            confidence=confidence,
            params=params,
            details=details,
            heatmap=heatmap,
            regions=tuple(regions),
        )
