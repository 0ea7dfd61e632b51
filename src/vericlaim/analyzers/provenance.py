"""Provenance: C2PA manifests, the GB 45438-2025 implicit AIGC label, generator metadata
and invisible watermarks. (Being built; this first version reports nothing.)"""

from __future__ import annotations

from collections.abc import Sequence

from vericlaim.analyzers.base import Analyzer, ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence


@register
class ProvenanceAnalyzer(Analyzer):
    name = "provenance"
    version = "0.0.1"
    requires = frozenset()

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        return [self.finding(media, "provenance.none", confidence=0.5)]
