"""Documentation that must not drift: method cards, reason codes, settings."""

from __future__ import annotations

from pathlib import Path

from vericlaim.analyzers import all_analyzers
from vericlaim.reasons import catalogue
from vericlaim.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_analyzer_has_a_method_card() -> None:
    for name, cls in all_analyzers().items():
        card = DOCS / "analyzers" / f"{name}.md"
        assert card.is_file(), f"{name} has no method card at {card}"
        text = card.read_text("utf-8").lower()
        assert "limit" in text, f"{card} says nothing of known limits"
        assert cls.version and cls.requires is not None


def test_every_reason_code_has_both_languages_and_a_help_text() -> None:
    for code, entry in catalogue().items():
        assert entry.zh and entry.en and entry.help_en, code
        assert entry.severity in {"info", "low", "medium", "high"}, code
        assert code.split(".")[0] in {"analyzer", *all_analyzers()}, code


def test_every_setting_is_documented() -> None:
    page = (DOCS / "settings.md").read_text("utf-8")
    for name, field in Settings.model_fields.items():
        assert f"`{name}`" in page, f"setting {name} is missing from docs/settings.md"
        assert field.description, f"setting {name} has no help text"
