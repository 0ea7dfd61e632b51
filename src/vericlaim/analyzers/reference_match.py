"""Reference match: is a claim photo derived from one of the merchant's own photos?"""

from __future__ import annotations

from collections.abc import Sequence

from vericlaim.analyzers.base import Analyzer, ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence


@register
class ReferenceMatchAnalyzer(Analyzer):
    name = "reference_match"
    version = "0.0.1"
    requires = frozenset({"pixels", "references"})

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        return [self.finding(media, "reference_match.no_match", params={"reference": ""})]
