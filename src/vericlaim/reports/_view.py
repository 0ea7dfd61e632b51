"""What the HTML report shows, built from a :class:`CheckResult`: plain data for the template.

Pictures are made here (display copies, overlays, warps) and carried as data URIs; every
string stays raw, the template escapes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vericlaim.analyzers.finding import Finding
from vericlaim.check import CheckResult
from vericlaim.evidence import Evidence, Frame
from vericlaim.reports import _images
from vericlaim.reports._images import Scale

__all__ = ["Card", "EvidenceRow", "FindingRow", "MediaView", "RegionRow", "build_media_views"]

# Display copies shrink as a claim grows, so a report stays a few MB.
_MAX_SIDE = 900
_MIN_SIDE = 480
_THUMB_SIDE = 160
_FRAME_SIDE = 220
_MAX_STRIP_FRAMES = 48
_JPEG_QUALITY = 85
# Reference-match verdicts that name the closest reference without having matched it.
_NOT_MATCHED = frozenset({"reference_match.no_match", "reference_match.different_product"})


@dataclass(frozen=True, slots=True)
class RegionRow:
    number: int
    label: str
    score: float
    box: str


@dataclass(frozen=True, slots=True)
class Card:
    """One picture panel: a title in both languages, the image and what to read under it."""

    title_zh: str
    title_en: str
    uri: str
    width: int
    height: int
    subtitle: str = ""
    captions: tuple[str, ...] = ()
    regions: tuple[RegionRow, ...] = ()
    legend: bool = False
    kind: str = "photo"


@dataclass(frozen=True, slots=True)
class FindingRow:
    analyzer: str
    version: str
    status: str
    reason_code: str
    score: str
    confidence: str
    message_zh: str
    message_en: str
    details: str


@dataclass(frozen=True, slots=True)
class FrameThumb:
    uri: str
    caption: str


@dataclass(slots=True)
class MediaView:
    """A claim photo or video: its pictures, notes and findings."""

    number: int
    media_id: str
    kind: str
    cards: list[Card] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    frames: list[FrameThumb] = field(default_factory=list)
    findings: list[FindingRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    media_id: str
    role: str
    kind: str
    format: str
    byte_size: str
    size: str
    sha256: str
    frames: str
    duration: str
    thumb: str


def display_side(claim_count: int) -> int:
    """Long side of display copies: full size for a few photos, smaller for many."""
    if claim_count <= 4:
        return _MAX_SIDE
    return max(_MIN_SIDE, int(_MAX_SIDE * math.sqrt(4 / claim_count)))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _scale_of(evidence: Evidence, shown: np.ndarray) -> Scale:
    """Displayed pixels per full-resolution pixel, per axis."""
    h, w = shown.shape[:2]
    if evidence.width > 0 and evidence.height > 0:
        return (w / evidence.width, h / evidence.height)
    frame = evidence.frames[0]
    factor = w / max(frame.pixels.shape[1], 1) * frame.scale
    return (factor, factor)


def _frame(evidence: Evidence, index: object = None) -> Frame | None:
    """The frame whose ``Frame.index`` is ``index`` (a video's matched frame), else the first."""
    if not evidence.frames:
        return None
    if isinstance(index, int) and not isinstance(index, bool):
        for frame in evidence.frames:
            if frame.index == index:
                return frame
    return evidence.frames[0]


def _frame_label(frame: Frame) -> str:
    when = f" · {frame.time_s:.2f} s" if frame.time_s is not None else ""
    return f"#{frame.index}{when}"


class _Pictures:
    """Display copies, made once per frame."""

    def __init__(self, side: int) -> None:
        self.side = side
        self._copies: dict[int, np.ndarray] = {}

    def shown(self, frame: Frame) -> np.ndarray:
        key = id(frame)
        if key not in self._copies:
            self._copies[key] = _images.display_copy(frame.pixels, max_side=self.side)
        return self._copies[key]


def _card(title_zh: str, title_en: str, pixels: np.ndarray, **extra: Any) -> Card:
    h, w = pixels.shape[:2]
    uri = _images.to_data_uri(pixels, quality=_JPEG_QUALITY)
    return Card(title_zh=title_zh, title_en=title_en, uri=uri, width=w, height=h, **extra)


def _finding_row(f: Finding) -> FindingRow:
    return FindingRow(
        analyzer=f.analyzer,
        version=f.version,
        status=f.status,
        reason_code=f.reason_code,
        score=f"{f.score:.2f}",
        confidence=f"{f.confidence:.2f}",
        message_zh=f.message_zh,
        message_en=f.message_en,
        details=compact_json(dict(f.details)) if f.details else "",
    )


def _comparison_cards(
    claim: Evidence,
    finding: Finding,
    reference: Evidence,
    pictures: _Pictures,
) -> tuple[list[Card], list[tuple[str, str]]]:
    claim_frame = _frame(claim, finding.details.get("claim_frame"))
    ref_frame = _frame(reference, finding.details.get("reference_frame"))
    if claim_frame is None or ref_frame is None:
        return [], [("没有可显示的画面", f"{reference.media_id}: no pixels to show")]
    claim_shown = pictures.shown(claim_frame)
    ref_shown = pictures.shown(ref_frame)
    cards: list[Card] = []
    if claim_frame is not claim.frames[0]:
        cards.append(
            _card(
                "匹配的申诉视频帧",
                "Matched claim video frame",
                claim_shown,
                subtitle=f"{claim.media_id} · {_frame_label(claim_frame)}",
            )
        )
    ref_subtitle = f"{reference.media_id} · {reference.role}"
    if reference.is_video:
        ref_subtitle += f" · {_frame_label(ref_frame)}"
    ref_scale = _scale_of(reference, ref_shown)
    claim_scale = _scale_of(claim, claim_shown)
    homography = _images.parse_homography(finding.details.get("homography"))
    mirrored = bool(finding.details.get("mirrored"))
    captions = []
    if mirrored:
        captions.append("镜像匹配 · matched as a mirror image")
    notes: list[tuple[str, str]] = []
    ref_picture = ref_shown
    if homography is not None:
        corners = _images.claim_footprint((claim.width, claim.height), homography, ref_scale)
        if corners is not None:
            ref_picture = _images.draw_footprint(ref_shown, corners)
            captions.append("黄框：申诉照片对应的范围 · yellow outline: the claim photo's frame")
    cards.append(
        _card(
            "匹配的商家照片",
            "Matched merchant photo",
            ref_picture,
            subtitle=ref_subtitle,
            captions=tuple(captions),
        )
    )
    if homography is None:
        notes.append(
            (
                "该比对没有提供对齐变换，无法显示对齐后的商家照片",
                "This match carries no alignment (homography), "
                "so the warped reference is not shown",
            )
        )
        return cards, notes
    warped = _images.warp_reference(
        ref_shown, ref_scale, claim_shown.shape[:2], claim_scale, homography
    )
    cards.append(
        _card(
            "商家照片对齐到申诉照片",
            "Reference warped onto the claim",
            warped,
            subtitle=f"{reference.media_id} → {claim.media_id}",
            captions=("灰色：商家照片未覆盖的部分 · grey: not covered by the reference",),
        )
    )
    return cards, notes


def _overlay_card(
    evidence: Evidence, frame: Frame, finding: Finding, pictures: _Pictures
) -> tuple[Card | None, list[tuple[str, str]]]:
    shown = pictures.shown(frame)
    picture = shown
    notes: list[tuple[str, str]] = []
    has_heat = False
    if finding.heatmap is not None:
        overlaid = _images.overlay_heatmap(shown, finding.heatmap)
        if overlaid is None:
            notes.append(
                (
                    f"{finding.analyzer} 的热力图格式无效，未绘制",
                    f"The heatmap of {finding.analyzer} ({finding.reason_code}) is malformed "
                    "and was not drawn",
                )
            )
        else:
            picture, has_heat = overlaid, True
    if finding.regions:
        picture = _images.draw_regions(picture, finding.regions, _scale_of(evidence, shown))
    if not has_heat and not finding.regions:
        return None, notes
    captions = [f"score {finding.score:.2f} · confidence {finding.confidence:.2f}"]
    if evidence.is_video:
        label = _frame_label(frame)
        captions.append(f"绘制于视频帧 {label} · drawn on video frame {label}")
    regions = tuple(
        RegionRow(n, r.label, r.score, f"[{r.x}, {r.y}, {r.w}, {r.h}]")
        for n, r in enumerate(finding.regions, start=1)
    )
    card = _card(
        "热力图与可疑区域" if has_heat else "可疑区域",
        "Heatmap and regions" if has_heat else "Regions",
        picture,
        subtitle=f"{finding.analyzer} · {finding.reason_code}",
        captions=tuple(captions),
        regions=regions,
        legend=has_heat,
        kind="overlay",
    )
    return card, notes


def _frame_strip(evidence: Evidence) -> list[FrameThumb]:
    strip = []
    for frame in evidence.frames[:_MAX_STRIP_FRAMES]:
        thumb = _images.display_copy(frame.pixels, max_side=_FRAME_SIDE)
        strip.append(FrameThumb(_images.to_data_uri(thumb, quality=80), _frame_label(frame)))
    return strip


def _no_match_note(findings: Sequence[Finding], has_references: bool) -> tuple[str, str]:
    if not has_references:
        return ("未提供商家参考照片，无法与商家照片比对", "No merchant reference photos were given")
    for f in findings:
        if f.analyzer == "reference_match" and f.message_en:
            return (f.message_zh, f.message_en)
    return ("没有与此照片匹配的商家照片", "No merchant photo was matched to this photo")


def _media_view(
    number: int,
    evidence: Evidence,
    findings: Sequence[Finding],
    references: Mapping[str, Evidence],
    pictures: _Pictures,
) -> MediaView:
    view = MediaView(number=number, media_id=evidence.media_id, kind=evidence.kind)
    view.findings = [_finding_row(f) for f in findings]
    first = _frame(evidence)
    if evidence.is_video:
        view.frames = _frame_strip(evidence)
    if first is None:
        view.notes.append(("此媒体没有可显示的画面", "This media has no decoded pixels to show"))
        return view
    view.cards.append(
        _card(
            "申诉照片" if not evidence.is_video else "申诉视频（第一帧）",
            "Claim photo" if not evidence.is_video else "Claim video (first frame)",
            pictures.shown(first),
            subtitle=f"{evidence.media_id} · {evidence.width}×{evidence.height}",
        )
    )
    matched = False
    for f in findings:
        if f.analyzer != "reference_match" or f.status != "ok" or f.reason_code in _NOT_MATCHED:
            continue
        ref_id = f.details.get("reference")
        if not isinstance(ref_id, str) or not ref_id:
            continue
        reference = references.get(ref_id)
        if reference is None:
            view.notes.append(
                (
                    f"匹配的商家照片 {ref_id} 不在参考照片中",
                    f"The matched reference {ref_id} is not among the references",
                )
            )
            continue
        cards, notes = _comparison_cards(evidence, f, reference, pictures)
        view.cards.extend(cards)
        view.notes.extend(notes)
        matched = matched or bool(cards)
    if not matched:
        view.notes.insert(0, _no_match_note(findings, bool(references)))
    for f in findings:
        if f.heatmap is None and not f.regions:
            continue
        frame = _frame(evidence, f.details.get("claim_frame")) or first
        card, notes = _overlay_card(evidence, frame, f, pictures)
        view.notes.extend(notes)
        if card is not None:
            view.cards.append(card)
    return view


def build_media_views(result: CheckResult) -> list[MediaView]:
    """One view per claim media, plus one for findings whose media is missing."""
    pictures = _Pictures(display_side(len(result.claim_media)))
    references = {r.media_id: r for r in result.references}
    views = [
        _media_view(n, m, result.findings.get(m.media_id, ()), references, pictures)
        for n, m in enumerate(result.claim_media, start=1)
    ]
    known = {m.media_id for m in result.claim_media}
    for media_id, findings in result.findings.items():
        if media_id not in known:
            view = MediaView(number=len(views) + 1, media_id=media_id, kind="unknown")
            view.findings = [_finding_row(f) for f in findings]
            view.notes.append(("找不到该媒体文件", "The media for these findings is missing"))
            views.append(view)
    return views


def evidence_rows(result: CheckResult) -> list[EvidenceRow]:
    """Every claim media and reference, with a small thumbnail."""
    rows = []
    for m in (*result.claim_media, *result.references):
        thumb = ""
        if m.frames:
            small = _images.display_copy(m.frames[0].pixels, max_side=_THUMB_SIDE)
            thumb = _images.to_data_uri(small, quality=80)
        rows.append(
            EvidenceRow(
                media_id=m.media_id,
                role=m.role,
                kind=m.kind,
                format=m.format,
                byte_size=f"{m.byte_size:,}",
                size=f"{m.width} × {m.height}",
                sha256=m.sha256,
                frames=str(len(m.frames)) if m.is_video else "",
                duration=f"{m.duration_s:.2f} s" if m.is_video and m.duration_s is not None else "",
                thumb=thumb,
            )
        )
    return rows
