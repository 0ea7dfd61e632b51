"""The GB 45438-2025 implicit label (``TC260:AIGC``) and leftovers of a stripped one.

GB 45438-2025 (网络安全技术 人工智能生成合成内容标识方法, in force 1 September 2025)
asks generators and platforms to write an implicit label into a file's metadata: a JSON
object of seven elements (annex E) whose ``Label`` says ``1`` (AI-generated), ``2``
(possibly AI-generated) or ``3`` (suspected AI-generated). For images it is written as
the ``AIGC`` property of the ``http://www.tc260.org.cn/ns/AIGC/1.0/`` XMP namespace
(prefix ``TC260``); tools also put it in a PNG text chunk named ``AIGC`` and in EXIF
``UserComment``. The parser accepts all of these, escaped or not, nested under an
``AIGC`` key or flat.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vericlaim.analyzers._provenance_common import (
    clean_text,
    iter_json_objects,
    loose_json,
    short,
    unescape_all,
)
from vericlaim.analyzers._provenance_xmp import TC260_FIELDS

__all__ = [
    "LABEL_CODES",
    "Remnant",
    "Tc260Label",
    "find_remnants",
    "label_from_fields",
    "merge_where",
    "parse_aigc",
]

LABEL_CODES = {
    "1": "provenance.tc260_ai_generated",
    "2": "provenance.tc260_possibly_ai",
    "3": "provenance.tc260_suspected_ai",
}
_FIELD_BY_LOWER = {name.lower(): name for name in TC260_FIELDS}
_SNAKE = {
    "Label": "label",
    "ContentProducer": "content_producer",
    "ProduceID": "produce_id",
    "ReservedCode1": "reserved_code1",
    "ContentPropagator": "content_propagator",
    "PropagateID": "propagate_id",
    "ReservedCode2": "reserved_code2",
}


@dataclass(frozen=True, slots=True)
class Tc260Label:
    """One implicit label as read: its elements (strings) and where it was found."""

    fields: Mapping[str, str]
    where: str

    @property
    def label(self) -> str:
        return self.fields.get("Label", "")

    def as_details(self) -> dict[str, str]:
        out = {"where": self.where}
        for name, value in self.fields.items():
            out[_SNAKE.get(name, name)] = short(value, 120)
        return out


def label_from_fields(fields: Mapping[str, Any], where: str) -> Tc260Label | None:
    """A label from a mapping of elements (any key case), or ``None`` without ``Label``."""
    normalized: dict[str, str] = {}
    for key, value in fields.items():
        name = _FIELD_BY_LOWER.get(str(key).strip().lower())
        if name and value is not None and not isinstance(value, dict | list):
            normalized[name] = clean_text(value).strip()
    if not normalized.get("Label"):
        return None
    return Tc260Label(fields=normalized, where=where)


def _from_object(obj: Any, where: str, depth: int = 0) -> Tc260Label | None:
    if not isinstance(obj, dict) or depth > 4:
        return None
    for key, value in obj.items():
        if str(key).strip().lower() == "aigc":
            inner = loose_json(value) if isinstance(value, str) else value
            found = _from_object(inner, where, depth + 1)
            if found:
                return found
    return label_from_fields(obj, where)


_LOOSE_FIELD = re.compile(
    r"[\"']?(" + "|".join(TC260_FIELDS) + r")[\"']?\s*[:=]\s*"
    r"(?:\"([^\"]{0,2000})\"|'([^']{0,2000})'|(\d{1,20}))",
    re.I,
)


def parse_aigc(text: Any, where: str, *, strict: bool = False) -> Tc260Label | None:
    """The label in ``text`` (JSON, escaped JSON, or JSON-like text), or ``None``.

    With ``strict``, only a JSON object that parses counts; otherwise the elements of
    broken JSON (cut off, single-quoted) are read one by one as a last resort.
    """
    raw = clean_text(text)
    if not raw.strip():
        return None
    obj = loose_json(raw)
    found = _from_object(obj, where)
    if found:
        return found
    for candidate in iter_json_objects(unescape_all(raw)):
        found = _from_object(candidate, where)
        if found:
            return found
    if strict:
        return None
    # Broken JSON (cut off, single quotes): read the elements one by one.
    fields: dict[str, str] = {}
    for match in _LOOSE_FIELD.finditer(unescape_all(raw)):
        value = next((g for g in match.groups()[1:] if g is not None), "")
        fields.setdefault(match.group(1), value)
    return label_from_fields(fields, where)


# --- leftovers of a stripped label -----------------------------------------------------
_MARKERS = ("TC260", "AIGC")
_FIELD_MARKERS = (
    "ContentProducer",
    "ProduceID",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode1",
    "ReservedCode2",
    '"Label"',
    "&quot;Label&quot;",
    "Label=",
)
_WINDOW = 1024
_MAX_HITS = 64


_ENCODINGS = ("utf-8", "utf-16-le", "utf-16-be")


def _encode(text: str, encoding: str) -> bytes:
    return text.encode("ascii" if encoding == "utf-8" else encoding)


def _decode(window: bytes, encoding: str) -> str:
    if encoding == "utf-8":
        return window.decode("utf-8", "replace")
    # The window may start on either byte of a UTF-16 unit; dropping the NULs keeps the
    # ASCII element names and digits, which is all the parser needs.
    return window.replace(b"\x00", b"").decode("utf-8", "replace")


def _positions(data: bytes, needle: bytes) -> Iterator[int]:
    pos = data.find(needle)
    hits = 0
    while pos >= 0 and hits < _MAX_HITS:
        yield pos
        hits += 1
        pos = data.find(needle, pos + 1)


@dataclass(frozen=True, slots=True)
class Remnant:
    """Label bytes in the file: a whole label when one still parses, else fragments."""

    offset: int
    encoding: str
    fragment: str
    label: Tc260Label | None  # a whole label that still parses as JSON
    label_value: str | None  # the Label element read from the fragments, if any


def find_remnants(data: bytes, *, max_bytes: int) -> list[Remnant]:
    """Places where ``TC260``/``AIGC`` sits near a label element in the raw bytes.

    Scans the first ``max_bytes`` bytes in UTF-8 and both UTF-16 byte orders (EXIF
    ``UserComment`` stores UTF-16). A marker counts only with a label element within
    1 KiB, so four random bytes spelling ``AIGC`` in compressed data do not.
    """
    view = data[:max_bytes]
    remnants: list[Remnant] = []
    seen: set[int] = set()
    for encoding in _ENCODINGS:
        fields = [_encode(f, encoding) for f in _FIELD_MARKERS]
        for marker in _MARKERS:
            for pos in _positions(view, _encode(marker, encoding)):
                lo, hi = max(0, pos - _WINDOW), min(len(view), pos + _WINDOW)
                window = view[lo:hi]
                if not any(f in window for f in fields):
                    continue
                bucket = pos // _WINDOW
                if bucket in seen:
                    continue
                seen.add(bucket)
                text = _decode(window, encoding)
                where = f"file bytes at offset {pos}"
                label = parse_aigc(text, where, strict=True)
                loose = label or parse_aigc(text, where)
                remnants.append(
                    Remnant(
                        offset=pos,
                        encoding=encoding,
                        fragment=_fragment(text),
                        label=label,
                        label_value=loose.label if loose else None,
                    )
                )
    return remnants


def _fragment(text: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text)
    for marker in ("AIGC", "TC260", "ContentProducer", "Label"):
        at = printable.find(marker)
        if at >= 0:
            return short(printable[max(0, at - 40) : at + 160], 200)
    return short(printable, 200)


def merge_where(labels: Iterable[Tc260Label]) -> str:
    """The distinct places of ``labels``, joined for a message."""
    places: list[str] = []
    for label in labels:
        if label.where not in places:
            places.append(label.where)
    return ", ".join(places)
