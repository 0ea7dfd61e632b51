"""Provenance: what the file itself declares about where it came from.

C2PA content credentials, the GB 45438-2025 implicit label (``TC260:AIGC``) and its
leftovers, IPTC ``DigitalSourceType``, generator metadata (Stable Diffusion parameters,
ComfyUI graphs, AI tool names) and the Stable Diffusion DWT-DCT invisible watermark.
Each is strong evidence when present and nothing when absent: metadata is easy to strip,
so a file that declares nothing gets ``provenance.none`` with a score of 0.

The method card is ``docs/analyzers/provenance.md``.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from vericlaim.analyzers._dwtdct import MIN_PIXELS, detect_marks
from vericlaim.analyzers._orientation import as_stored
from vericlaim.analyzers._provenance_c2pa import c2pa_signals, c2pa_tool_fields
from vericlaim.analyzers._provenance_common import Signal, clean_text, source_type_kind
from vericlaim.analyzers._provenance_generators import (
    detect_generation_parameters,
    match_names,
)
from vericlaim.analyzers._provenance_labels import (
    LABEL_CODES,
    Tc260Label,
    find_remnants,
    label_from_fields,
    parse_aigc,
)
from vericlaim.analyzers._provenance_xmp import XmpFacts, read_xmp
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence

__all__ = ["ProvenanceAnalyzer", "ProvenanceConfig"]

_LABEL_SCORES = {"1": 1.0, "2": 0.7, "3": 0.6}
_MARK_NAMES = {
    "StableDiffusionV1": "StableDiffusionV1, Stable Diffusion 1.x",
    "SDV2": "SDV2, Stable Diffusion 2.x",
    "SDXL": "SDXL 48-bit",
    "FLUX/SVD": "FLUX / Stable Video Diffusion 48-bit",
}
_EXIF_TOOL_TAGS = ("Software", "ProcessingSoftware", "HostComputer", "Artist")
_PNG_TOOL_KEYS = {"software", "source", "generator", "creator", "tool", "creatortool"}
_CONTAINER_TOOL = re.compile(
    r"software|encoder|tool|generator|creator|producer|application|make|model|artist|author",
    re.I,
)
_LABEL_HINT = re.compile(r"contentproducer|produceid|aigc", re.I)
_WHOLE_VALUE = 65_536
_AROUND_HINT = 4_096
_XMP_SOURCE_URI = re.compile(r"digitalsourcetype/([A-Za-z]+)", re.I)
# IJG luminance table: its mean, to estimate a JPEG's quality from its first table.
_IJG_LUMA_MEAN = 57.625


class ProvenanceConfig(AnalyzerConfig):
    """Options of the provenance analyzer."""

    watermark: bool = True
    watermark_max_pixels: int = 2048 * 2048
    watermark_min_agreement: float = 0.9
    watermark_min_jpeg_quality: int = 90
    scan_max_bytes: int = 256 * 1024 * 1024


@register
class ProvenanceAnalyzer(Analyzer):
    """Reads the file's own provenance declarations; never needs pixels except for the
    invisible watermark, which runs on photos only."""

    name = "provenance"
    version = "1.0.0"
    requires = frozenset()
    Config = ProvenanceConfig

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        config: ProvenanceConfig = self.config  # type: ignore[assignment]
        xmp = read_xmp(media.metadata.xmp)
        notes: dict[str, Any] = {"xmp_parsed": xmp.parsed if media.metadata.xmp else None}
        checks: tuple[tuple[str, Callable[[], list[Signal]]], ...] = (
            ("c2pa", lambda: c2pa_signals(media.metadata.c2pa)),
            ("tc260", lambda: _label_signals(media, xmp, config.scan_max_bytes)),
            ("iptc", lambda: _iptc_signals(media, xmp)),
            ("generators", lambda: _generator_signals(media, xmp)),
            ("watermark", lambda: _watermark_signals(media, config, notes)),
        )
        signals: list[Signal] = []
        findings: list[Finding] = []
        for check, run in checks:
            try:
                signals.extend(run())
            except Exception as exc:  # one broken parser must not hide the other checks
                error = f"{check} check: {type(exc).__name__}: {exc}"[:300]
                findings.append(
                    self.finding(
                        media,
                        "analyzer.failed",
                        status="failed",
                        confidence=0.0,
                        params={"analyzer": self.name, "error": error},
                        details={"error": error},
                    )
                )
        for signal in _merge(signals):
            findings.append(
                self.finding(
                    media,
                    signal.code,
                    score=signal.score,
                    confidence=signal.confidence,
                    params=dict(signal.params),
                    details=dict(signal.details),
                )
            )
        if not any(f.status == "ok" for f in findings):
            notes["checked"] = [name for name, _ in checks]
            findings.append(self.finding(media, "provenance.none", score=0.0, details=notes))
        return findings


def _merge(signals: Iterable[Signal]) -> list[Signal]:
    """One signal per key: places joined, the strongest score kept."""
    merged: dict[str, Signal] = {}
    for signal in signals:
        first = merged.get(signal.key)
        if first is None:
            merged[signal.key] = signal
            continue
        places = list(first.details.get("locations", [first.details.get("where")]))
        for place in signal.details.get("locations", [signal.details.get("where")]):
            if place not in places:
                places.append(place)
        places = [p for p in places if p]
        params = dict(first.params)
        if "where" in params:
            params["where"] = ", ".join(places)
        details = {**first.details, "where": ", ".join(places), "locations": places}
        merged[signal.key] = Signal(
            first.code,
            max(first.score, signal.score),
            first.key,
            params,
            details,
            max(first.confidence, signal.confidence),
        )
    return list(merged.values())


# --- GB 45438-2025 implicit label -------------------------------------------------------
def _flat_strings(value: Any, prefix: str = "", depth: int = 0) -> Iterable[tuple[str, str]]:
    if depth > 4:
        return
    if isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flat_strings(inner, f"{prefix}{key}.", depth + 1)
    elif isinstance(value, list | tuple):
        for i, inner in enumerate(value[:200]):
            yield from _flat_strings(inner, f"{prefix}{i}.", depth + 1)
    elif isinstance(value, str | bytes):
        yield prefix.rstrip("."), clean_text(value)


def _metadata_labels(media: Evidence, xmp: XmpFacts) -> list[Tc260Label]:
    labels: list[Tc260Label | None] = []
    labels += [parse_aigc(value, "XMP TC260:AIGC") for value in xmp.aigc]
    labels += [label_from_fields(fields, "XMP TC260 properties") for fields in xmp.tc260_fields]
    meta = media.metadata
    for key, value in meta.png_text.items():
        if key.strip().lower() == "aigc" or _has_hint(value or ""):
            labels.append(_parse_value(clean_text(value), f"PNG text chunk {key}"))
    for container, items in (("EXIF", meta.exif), ("container", meta.container)):
        for key, value in _flat_strings(items):
            if _has_hint(value):
                labels.append(_parse_value(value, f"{container} {key}"))
    return [label for label in labels if label is not None]


def _has_hint(text: str) -> bool:
    lowered = text.lower()
    return "aigc" in lowered or "contentproducer" in lowered or "produceid" in lowered


def _parse_value(text: str, where: str) -> Tc260Label | None:
    """The label in one metadata value; a long value is read only around its hints, so a
    megabyte comment costs no more than a few small parses."""
    if len(text) <= _WHOLE_VALUE:
        return parse_aigc(text, where)
    for hint in itertools.islice(_LABEL_HINT.finditer(text), 8):
        lo = max(0, hint.start() - _AROUND_HINT)
        found = parse_aigc(text[lo : hint.end() + _AROUND_HINT], where)
        if found:
            return found
    return None


def _label_signals(media: Evidence, xmp: XmpFacts, max_bytes: int) -> list[Signal]:
    labels = _metadata_labels(media, xmp)
    signals: list[Signal] = []
    if not labels:
        remnants = find_remnants(media.data, max_bytes=max_bytes)
        labels = [r.label for r in remnants if r.label is not None]
        if remnants and not labels:
            where = ", ".join(f"offset {r.offset} ({r.encoding})" for r in remnants[:5])
            signals.append(
                Signal(
                    "provenance.label_remnant",
                    0.6,
                    "tc260:remnant",
                    {"where": where},
                    {
                        "where": where,
                        "fragments": [
                            {
                                "offset": r.offset,
                                "encoding": r.encoding,
                                "label_value": r.label_value,
                                "text": r.fragment,
                            }
                            for r in remnants[:5]
                        ],
                    },
                )
            )
    for label in labels:
        value = label.label
        code = LABEL_CODES.get(value, "provenance.tc260_label_other")
        params = {"where": label.where}
        if code == "provenance.tc260_label_other":
            params["label"] = value[:40]
        signals.append(
            Signal(
                code,
                _LABEL_SCORES.get(value, 0.5),
                f"tc260:{value}",
                params,
                {**label.as_details(), "locations": [label.where]},
            )
        )
    return signals


# --- IPTC DigitalSourceType ---------------------------------------------------------------
def _iptc_signals(media: Evidence, xmp: XmpFacts) -> list[Signal]:
    values = list(xmp.source_types)
    values += [m.group(1) for m in _XMP_SOURCE_URI.finditer(clean_text(media.metadata.xmp))]
    kinds: dict[str, list[str]] = {}
    for value in values:
        found = source_type_kind(value)
        if found and found[0] not in kinds.setdefault(found[1], []):
            kinds[found[1]].append(found[0])
    signals: list[Signal] = []
    declared_ai = kinds.get("ai", []) + kinds.get("ai_composite", [])
    if declared_ai:
        source_type = ", ".join(declared_ai)
        signals.append(
            Signal(
                "provenance.iptc_ai_generated",
                1.0,
                "iptc:ai",
                {"source_type": source_type},
                {
                    "where": "XMP Iptc4xmpExt:DigitalSourceType",
                    "source_types": declared_ai,
                    "composite": bool(kinds.get("ai_composite")),
                },
            )
        )
    if kinds.get("synthetic"):
        source_type = ", ".join(kinds["synthetic"])
        signals.append(
            Signal(
                "provenance.declared_synthetic",
                0.6,
                "declared_synthetic",
                {"where": "XMP", "source_type": source_type},
                {"where": "XMP", "source_types": kinds["synthetic"]},
            )
        )
    return signals


# --- generator metadata -----------------------------------------------------------------
def _generator_signals(media: Evidence, xmp: XmpFacts) -> list[Signal]:
    meta = media.metadata
    tools: list[tuple[str, Any]] = [
        (f"EXIF {t}", meta.exif[t]) for t in _EXIF_TOOL_TAGS if t in meta.exif
    ]
    tools += [(f"XMP {prop}", value) for prop, value in xmp.tools]
    tools += [(f"PNG text {k}", v) for k, v in meta.png_text.items() if k.lower() in _PNG_TOOL_KEYS]
    tools += c2pa_tool_fields(meta.c2pa)
    tools += [
        (f"container {k}", v) for k, v in _flat_strings(meta.container) if _CONTAINER_TOOL.search(k)
    ]
    texts: list[tuple[str, str, Any]] = [("PNG text", k, v) for k, v in meta.png_text.items()]
    texts += [("EXIF", k, v) for k, v in _flat_strings(meta.exif)]
    texts += [("container", k, v) for k, v in _flat_strings(meta.container)]
    if meta.xmp:
        texts.append(("XMP", "packet", meta.xmp))
    free_text = [(f"{where} {key}", value) for where, key, value in texts]

    signals: list[Signal] = []
    for hit in detect_generation_parameters(texts):
        signals.append(
            Signal(
                "provenance.generator_metadata",
                1.0,
                f"generator:{hit.tool}",
                {"generator": hit.tool},
                {
                    "where": hit.where,
                    "generator": hit.tool,
                    "kind": "generation parameters",
                    **hit.details,
                },
            )
        )
    for name in match_names(tools, free_text=free_text):
        if name.kind == "generator":
            code, score = "provenance.generator_metadata", 0.9
            params = {"generator": name.product}
        else:
            code, score = "provenance.ai_tool_software", 0.5
            params = {"software": name.product}
        signals.append(
            Signal(
                code,
                score,
                f"{name.kind}:{name.product}",
                params,
                {"where": name.where, "product": name.product, "value": name.value},
            )
        )
    return signals


# --- Stable Diffusion invisible watermark -----------------------------------------------
def _jpeg_quality(tables: Sequence[Sequence[int]]) -> float | None:
    """IJG quality that would give this luminance table (an estimate for other encoders)."""
    if not tables or len(tables[0]) != 64:
        return None
    scale = 100.0 * float(np.mean(tables[0])) / _IJG_LUMA_MEAN
    return (200.0 - scale) / 2.0 if scale <= 100 else 5000.0 / scale


def _watermark_signals(
    media: Evidence, config: ProvenanceConfig, notes: dict[str, Any]
) -> list[Signal]:
    why_not = _watermark_skip(media, config)
    if why_not:
        notes["watermark"] = f"skipped: {why_not}"
        return []
    frame = media.frames[0]
    pixels = frame.pixels if frame.scale == 1.0 else media.full_pixels()
    matches = detect_marks(as_stored(np.asarray(pixels), media.orientation))
    if not matches:
        notes["watermark"] = "skipped: image too small"
        return []
    best = matches[0]
    notes["watermark"] = f"checked: best agreement {best.bit_agreement:.2f} ({best.name})"
    if best.bit_agreement < config.watermark_min_agreement:
        return []
    mark = _MARK_NAMES.get(best.name, best.name)
    return [
        Signal(
            "provenance.sd_watermark",
            1.0,
            "watermark",
            {"mark": mark},
            {
                "where": "pixels (U channel, Haar LL, 4x4 blocks)",
                "mark": best.name,
                "pipeline": best.pipeline,
                "bit_agreement": round(best.bit_agreement, 4),
                "decision_rule": best.rule,
                "n_bits": best.n_bits,
                "n_blocks": best.n_blocks,
            },
            confidence=best.bit_agreement,
        )
    ]


def _watermark_skip(media: Evidence, config: ProvenanceConfig) -> str | None:
    if not config.watermark:
        return "turned off"
    if media.is_video:
        return "video (the mark is checked on photos only)"
    if media.width * media.height < MIN_PIXELS:
        return "image under 256x256 pixels"
    if media.width * media.height > config.watermark_max_pixels:
        return f"image over {config.watermark_max_pixels} pixels (generators mark at output size)"
    stored_width = media.height if media.orientation in (5, 6, 7, 8) else media.width
    if stored_width % 8:
        # Generators write sizes in multiples of 8 (latent-space models) and the mark's bits
        # follow the raster order of 8-pixel blocks: a photo whose stored width is not a
        # multiple of 8 was resized or cropped since, which loses the mark.
        return f"stored width {stored_width} px is not a multiple of 8: resized or cropped since"
    if media.format == "jpeg":
        quality = _jpeg_quality(media.metadata.jpeg_quant_tables)
        if quality is not None and quality < config.watermark_min_jpeg_quality:
            return f"JPEG quality about {quality:.0f}: the mark does not survive that compression"
    return None
