"""Pull the provenance facts out of an XMP packet, defensively.

The packet is parsed with defusedxml (entity expansion and external references refused);
a packet that does not parse, as stripped or hand-edited ones often do not, is read with
regular expressions instead. Properties are matched on their local names (``AIGC``,
``DigitalSourceType``, ``CreatorTool``), not on namespace URIs, because writers disagree on
prefixes and URIs (``TC260``, ``C260``, a missing ``xmlns``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET

from vericlaim.analyzers._provenance_common import clean_text, unescape_all

__all__ = ["TC260_FIELDS", "XmpFacts", "read_xmp"]

# GB 45438-2025 annex E: the seven elements of the implicit label, in order.
TC260_FIELDS = (
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
)
_TC260_LOWER = {name.lower(): name for name in TC260_FIELDS}
# "Label" alone is also a standard XMP property (xmp:Label, a colour label): it counts as
# a TC260 field only next to one of these, or in a TC260 namespace.
_TC260_ONLY = {name.lower() for name in TC260_FIELDS if name != "Label"}

_TOOL_FIELDS = {
    "creatortool",
    "softwareagent",
    "software",
    "processingsoftware",
    "generator",
    "producer",
}
_MAX_XMP_CHARS = 4_000_000
_MAX_REGEX_CHARS = 1_000_000  # a broken packet is read this far


@dataclass
class XmpFacts:
    """What an XMP packet says about provenance; every list keeps document order."""

    aigc: list[str] = field(default_factory=list)  # raw AIGC values (JSON, maybe escaped)
    tc260_fields: list[dict[str, str]] = field(default_factory=list)  # field-per-property form
    source_types: list[str] = field(default_factory=list)  # DigitalSourceType values
    tools: list[tuple[str, str]] = field(default_factory=list)  # (property, value)
    parsed: bool = True  # False when the regular-expression fallback was used


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1].rsplit(":", 1)[-1]


def _namespace(name: str) -> str:
    return name[1:].split("}", 1)[0] if name.startswith("{") else ""


def read_xmp(xmp: str | None) -> XmpFacts:
    """The provenance facts of ``xmp``; an empty :class:`XmpFacts` for ``None``."""
    if not xmp:
        return XmpFacts()
    text = clean_text(xmp)[:_MAX_XMP_CHARS]
    start = text.find("<")
    if start < 0:
        return XmpFacts(parsed=False)
    try:
        root = SafeET.fromstring(text[start:].strip())
    except Exception:  # ParseError, defusedxml's refusals, anything odd: fall back
        return _read_with_regex(text[:_MAX_REGEX_CHARS])
    return _read_tree(root)


def _read_tree(root: Element) -> XmpFacts:
    facts = XmpFacts()
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments and processing instructions
        local = _local(element.tag).lower()
        value = (element.text or "").strip()
        resource = next(
            (v for k, v in element.attrib.items() if _local(k).lower() == "resource"), ""
        )
        _note(facts, local, value or resource)
        fields: dict[str, str] = {}
        tc260_namespace = False
        for key, attr in element.attrib.items():
            attr_local = _local(key).lower()
            _note(facts, attr_local, attr)
            if attr_local in _TC260_LOWER:
                fields[_TC260_LOWER[attr_local]] = attr.strip()
                tc260_namespace |= "tc260" in _namespace(key).lower()
        # Element form: <TC260:Label>1</TC260:Label><TC260:ContentProducer>...</...>
        for child in element:
            if not isinstance(child.tag, str) or len(child):
                continue
            child_local = _local(child.tag).lower()
            if child_local in _TC260_LOWER and (child.text or "").strip():
                fields.setdefault(_TC260_LOWER[child_local], (child.text or "").strip())
                tc260_namespace |= "tc260" in _namespace(child.tag).lower()
        if "Label" in fields and (tc260_namespace or _TC260_ONLY & {k.lower() for k in fields}):
            facts.tc260_fields.append(fields)
    return facts


def _note(facts: XmpFacts, local: str, value: str) -> None:
    value = value.strip()
    if not value:
        return
    if local == "aigc":
        facts.aigc.append(value)
    elif local == "digitalsourcetype":
        facts.source_types.append(value)
    elif local in _TOOL_FIELDS:
        facts.tools.append((local, value))


# Patterns start on a "<" or on the property's own name (prefixes are read afterwards, by
# looking back), and every repetition is bounded and stops at "<", so that a hostile
# packet (megabytes of openings without closings) costs linear time.
_NAME = r"(?:[A-Za-z_][\w.-]{0,40}:)?"
_AIGC_ELEMENT = re.compile(rf"<{_NAME}AIGC\b[^<>]{{0,500}}>([^<]{{1,65536}})<", re.I)
_AIGC_ATTRIBUTE = re.compile(r"\bAIGC\s*=\s*(?:\"([^\"<]{0,65536})\"|'([^'<]{0,65536})')", re.I)
_SOURCE_TYPE_RE = re.compile(
    r"\bDigitalSourceType\b(?:\s*=\s*[\"']([^\"'<]{0,2000})"
    r"|[^<>]{0,500}?resource\s*=\s*[\"']([^\"'<]{0,2000})"
    r"|[^<>]{0,500}>([^<]{0,2000})<)",
    re.I,
)
_TOOL_RE = re.compile(
    r"\b(CreatorTool|softwareAgent|Software|ProcessingSoftware)\b"
    r"(?:\s*=\s*[\"']([^\"'<]{0,2000})[\"']|\s*>([^<]{0,2000})<)",
    re.I,
)
_FIELD_RE = re.compile(
    rf"\b({'|'.join(TC260_FIELDS)})\b"
    r"(?:\s*=\s*[\"']([^\"'<]{0,2000})[\"']|\s*>([^<]{0,2000})<)",
    re.I,
)
_PREFIX_BEFORE = re.compile(r"([A-Za-z_][\w.-]{0,40}):$")


def _read_with_regex(text: str) -> XmpFacts:
    facts = XmpFacts(parsed=False)
    lowered = text.lower()  # literal tests first: each pattern runs only where it can match
    if "aigc" in lowered:
        for match in _AIGC_ELEMENT.finditer(text):
            if match.group(1).strip():
                facts.aigc.append(match.group(1).strip())
        for match in _AIGC_ATTRIBUTE.finditer(text):
            value = match.group(1) if match.group(1) is not None else match.group(2)
            if value and value.strip():
                facts.aigc.append(value.strip())
    if "digitalsourcetype" in lowered:
        for match in _SOURCE_TYPE_RE.finditer(text):
            value = next((g for g in match.groups() if g and g.strip()), "")
            if value:
                facts.source_types.append(unescape_all(value.strip()))
    if "software" in lowered or "creatortool" in lowered or "softwareagent" in lowered:
        for match in _TOOL_RE.finditer(text):
            value = match.group(2) if match.group(2) is not None else match.group(3)
            if value and value.strip():
                facts.tools.append((match.group(1).lower(), unescape_all(value.strip())))
    if "label" in lowered:
        _fields_with_regex(text, facts)
    return facts


def _fields_with_regex(text: str, facts: XmpFacts) -> None:
    fields: dict[str, str] = {}
    tc260_prefix = False
    for match in _FIELD_RE.finditer(text):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        name = _TC260_LOWER[match.group(1).lower()]
        if value and value.strip():
            fields.setdefault(name, unescape_all(value.strip()))
            prefix = _PREFIX_BEFORE.search(text, max(0, match.start() - 42), match.start())
            tc260_prefix |= prefix is not None and "tc260" in prefix.group(1).lower()
    if "Label" in fields and (tc260_prefix or _TC260_ONLY & {k.lower() for k in fields}):
        facts.tc260_fields.append(fields)
