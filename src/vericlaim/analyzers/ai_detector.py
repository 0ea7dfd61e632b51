"""AI-image detector: a learned, advisory hint that a photo may be AI-generated.

A frozen ImageNet EfficientNet-Lite0 describes three crops of the photo; a small logistic
head, trained on 25 generated images and 99 honest photos through a normalisation chain that
hides their resolution and JPEG settings, turns the description into a probability. It is
far too small a training set for a verdict: the finding is advisory, with low confidence,
and the threshold is set so that honest photos are almost never flagged. It needs the
optional ``ai`` extra (torch); without it the analyzer says it does not apply.

The method card is ``docs/analyzers/ai_detector.md``; the model card is
``src/vericlaim/models/MODEL_CARD.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from vericlaim.analyzers import _ai_model
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["AiDetectorAnalyzer", "AiDetectorConfig"]


class AiDetectorConfig(AnalyzerConfig):
    """Options of the AI-image detector; see ``docs/analyzers/ai_detector.md``."""

    view_side: int = _ai_model.VIEW_SIDE
    """Short side, in pixels, at which the photo is looked at (training jitters around it)."""
    crops: int = 3
    """Crops of 224 px along the long side; their log-odds are averaged."""
    threshold: float = 0.97
    """Head probability at which the score reaches 0.5 (flagged): above every honest photo's
    probability measured, in cross-validation (at most 0.90) and on honest sets the head never
    saw (at most 0.94: intact tiles, NoSo camera photos, grocery held out). At this threshold
    the head flags almost nothing, AI images included: its score ranks, it does not decide."""
    min_side: int = 64
    """Photos with a shorter side than this are not examined."""
    min_contrast: float = 2.0
    """Standard deviation (0..255) below which the photo is too flat to examine."""
    max_confidence: float = 0.3
    """Ceiling of the confidence: the head was trained on 124 images."""
    threads: int = 0
    """Torch threads for the backbone; 0 keeps the process's setting (OMP_NUM_THREADS)."""


@register
class AiDetectorAnalyzer(Analyzer):
    """Scores photos with a frozen backbone and a small learned head; advisory only."""

    name = "ai_detector"
    version = "1.0.0"
    requires = frozenset({"pixels", "image"})
    Config = AiDetectorConfig

    def applicable(self, media: Evidence, context: ClaimContext) -> str | None:
        why = super().applicable(media, context)
        if why is None:
            why = _ai_model.backbone_missing()
        return why

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: AiDetectorConfig = self.config  # type: ignore[assignment]
        why = self.applicable(media, context)
        if why is not None:
            return [self._not_applicable(media, why)]
        pixels = np.asarray(media.frames[0].pixels)
        image = _ai_model.view(pixels, config.view_side)
        contrast = float(image.std())
        if contrast < config.min_contrast:
            return [self._not_applicable(media, "the photo is too flat to examine")]
        crops, _ = _ai_model.crops_for_view(image, config.crops)
        feats = _ai_model.features(crops, threads=config.threads or None)
        head = _ai_model.load_head()
        logits = head.logit(feats)
        logit = float(logits.mean())
        probability = float(1.0 / (1.0 + np.exp(-np.clip(logit, -50.0, 50.0))))
        score = flag_score(probability, config.threshold)
        confidence = _confidence(media, contrast, logits, config)
        details = {
            "probability": round(probability, 4),
            "threshold": config.threshold,
            "crop_probabilities": [
                round(float(1.0 / (1.0 + np.exp(-np.clip(v, -50.0, 50.0)))), 4) for v in logits
            ],
            "view": [int(image.shape[1]), int(image.shape[0])],
            "model": "efficientnet-lite0 + logistic head (25 AI, 99 real training images)",
        }
        code = "ai_detector.possible_ai" if score >= 0.5 else "ai_detector.none"
        params = {"probability": f"{probability:.2f}"}
        return [
            self.finding(
                media, code, score=score, confidence=confidence, params=params, details=details
            )
        ]

    def _not_applicable(self, media: Evidence, why: str) -> Finding:
        return self.finding(
            media,
            "analyzer.not_applicable",
            status="not_applicable",
            confidence=0.0,
            params={"analyzer": self.name, "why": why},
            details={"why": why},
        )


def flag_score(probability: float, threshold: float) -> float:
    """Map the head's probability to a score that is 0.5 exactly at ``threshold``.

    Piecewise linear and increasing, so the order of photos (and an AUC) is the head's.
    """
    threshold = min(max(threshold, 1e-6), 1 - 1e-6)
    if probability < threshold:
        return 0.5 * probability / threshold
    return 0.5 + 0.5 * (probability - threshold) / (1.0 - threshold)


def _confidence(
    media: Evidence, contrast: float, logits: np.ndarray, config: AiDetectorConfig
) -> float:
    """Low by construction (a 124-image head), lower still for small, flat photos and for
    crops that disagree with each other."""
    confidence = config.max_confidence
    short = min(media.width, media.height)
    if short < config.view_side:
        confidence *= max(0.3, short / config.view_side)
    confidence *= min(1.0, contrast / 20.0)
    if logits.size > 1:
        confidence *= 1.0 / (1.0 + float(np.std(logits)))
    return confidence
