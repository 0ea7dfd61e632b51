"""The reason-code catalogue: one place (this package's ``*.toml`` files, one per
analyzer or policy) for every code, its severity and its zh-CN and
English messages.

Analyzers and the policy refer to reasons by code; messages are templates filled with
``str.format`` parameters. Codes are stable: a code's meaning never changes, a new
meaning gets a new code.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

__all__ = ["Reason", "Severity", "catalogue", "message", "reason"]

Severity = Literal["info", "low", "medium", "high"]


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    severity: Severity
    zh: str
    en: str
    help_en: str = ""


@cache
def catalogue() -> dict[str, Reason]:
    """All reason codes, loaded from ``catalogue.toml``."""
    entries: dict[str, Reason] = {}
    for file in sorted(resources.files(__package__).iterdir(), key=lambda f: f.name):
        if not file.name.endswith(".toml"):
            continue
        for code, entry in tomllib.loads(file.read_text("utf-8")).items():
            if code in entries:
                raise ValueError(f"reason code {code!r} is defined twice ({file.name})")
            entries[code] = Reason(
                code=code,
                severity=entry["severity"],
                zh=entry["zh"],
                en=entry["en"],
                help_en=entry.get("help", ""),
            )
    return entries


def reason(code: str) -> Reason:
    """The catalogue entry for ``code``; ``KeyError`` names the unknown code."""
    try:
        return catalogue()[code]
    except KeyError:
        raise KeyError(f"unknown reason code {code!r}") from None


def message(code: str, **params: Any) -> tuple[str, str]:
    """The (zh-CN, English) messages for ``code`` with ``params`` filled in."""
    entry = reason(code)
    return entry.zh.format(**params), entry.en.format(**params)
