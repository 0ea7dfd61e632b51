"""Flagged, localized and sprawl as the benchmark defines them; the report's markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks.metrics import claim_regions, localization, summarize, wilson
from benchmarks.report import MARK_END, MARK_START, family_table, write_doc


def _mask() -> np.ndarray:
    mask = np.zeros((1000, 1000), bool)
    mask[400:500, 300:400] = True  # 100 x 100 edit; margin is 2 % of 1000 = 20 px
    return mask


def test_a_tight_box_localizes() -> None:
    result = localization(_mask(), [[300, 400, 100, 100]])
    assert result["coverage"] == 1.0 and not result["sprawl"] and result["localized"]


def test_half_coverage_is_enough_and_less_is_not() -> None:
    assert localization(_mask(), [[300, 400, 50, 100]])["localized"]
    assert not localization(_mask(), [[300, 400, 49, 100]])["localized"]


def test_sprawl_is_4x_the_grown_bounding_box() -> None:
    allowed = 4 * 140 * 140  # (100 + 2 x 20) squared, four times
    side = int(np.sqrt(allowed))
    fits = localization(_mask(), [[280, 380, side, side]])
    assert fits["allowed_px"] == allowed and not fits["sprawl"] and fits["localized"]
    too_big = localization(_mask(), [[280, 380, side + 2, side + 2]])
    assert too_big["sprawl"] and not too_big["localized"]
    # Many small boxes sprawl too: it is the union's area that counts.
    scattered = [[x, y, 90, 90] for x in range(0, 1000, 100) for y in range(0, 300, 100)]
    assert localization(_mask(), [[300, 400, 100, 100], *scattered])["sprawl"]


def test_no_box_is_not_localized() -> None:
    result = localization(_mask(), [])
    assert result["coverage"] == 0.0 and not result["localized"]


def test_claim_regions_reads_every_finding_of_the_claim_photo() -> None:
    verdict = {
        "media": [
            {
                "media_id": "claim",
                "findings": [
                    {"regions": [[1, 2, 3, 4]]},
                    {"regions": []},
                    {"regions": [[5, 6, 7, 8]]},
                ],
            },
            {"media_id": "listing-1", "findings": [{"regions": [[9, 9, 9, 9]]}]},
        ]
    }
    assert claim_regions(verdict, "claim") == [[1, 2, 3, 4], [5, 6, 7, 8]]


def _outcome(family: str, kind: str, verdict: str, action: str, **extra: object) -> dict:
    record = {
        "family": family,
        "kind": kind,
        "chain": "scale",
        "verdict": verdict,
        "action": action,
        "flagged": verdict in ("likely_manipulated", "likely_ai_generated"),
        "error": None,
        "localization": None,
        "timing": {"check_ms": 100.0, "decode_ms": 10.0, "ratio": 10.0},
    }
    record.update(extra)
    return record


def test_summarize_counts_rates_per_family_and_totals() -> None:
    outcomes = [
        _outcome(
            "stain", "fake", "likely_manipulated", "human_review", localization={"localized": True}
        ),
        _outcome(
            "stain",
            "fake",
            "inconclusive",
            "request_more_evidence",
            localization={"localized": False},
        ),
        _outcome("honest_same_product", "honest", "likely_authentic", "approve"),
        _outcome("honest_same_product", "honest", "likely_ai_generated", "human_review"),
    ]
    summary = summarize(outcomes, ["stain", "honest_same_product"])
    stain, honest = summary["families"]
    assert (stain.n, stain.flagged, stain.human_review, stain.more_evidence) == (2, 1, 1, 1)
    assert (stain.localized, stain.local_n) == (1, 2)
    assert honest.flagged == 1 and honest.localized is None
    assert [t.name for t in summary["totals"]] == ["all fakes", "all honest"]
    assert stain.ratio == pytest.approx(10.0)
    table = family_table(summary["families"])
    assert "| stain | flag | 2 | 50.0 | 50.0 | 50.0 | 50.0 (of 2) | 100 | 10 | 10.0x |" in table


def test_wilson_interval() -> None:
    lo, hi = wilson(8, 10)
    assert lo == pytest.approx(0.4902, abs=1e-3) and hi == pytest.approx(0.9433, abs=1e-3)


def test_write_doc_replaces_only_its_section(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    write_doc(doc, f"{MARK_START}\nfirst\n{MARK_END}")
    assert "first" in doc.read_text()
    other = "\n## No-reference forensics\n<!-- forensics-benchmark:start -->\nkeep me\n"
    doc.write_text("# Benchmarks\nintro\n" + doc.read_text().split("intro", 1)[-1] + other)
    before = doc.read_text()
    write_doc(doc, f"{MARK_START}\nsecond\n{MARK_END}")
    after = doc.read_text()
    assert "second" in after and "first" not in after
    assert after.replace("second", "first") == before
    assert "keep me" in after and after.startswith("# Benchmarks\nintro")


def test_write_doc_appends_when_the_markers_are_missing(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nservice load: 1 claim/s\n")
    write_doc(doc, f"{MARK_START}\nrows\n{MARK_END}")
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nservice load: 1 claim/s\n")
    assert text.rstrip().endswith(MARK_END)


def test_relation_reads_the_reference_match_finding() -> None:
    from benchmarks.metrics import relation
    from benchmarks.report import false_alarms, relation_table

    def finding(code: str, status: str = "ok") -> dict:
        return {"analyzer": "reference_match", "status": status, "reason_code": code}

    local, failed = (
        finding("reference_match.local_edit"),
        finding("reference_match.no_match", "failed"),
    )
    pasted = finding("reference_match.partial_copy")
    outcomes = [
        _outcome("stain", "fake", "likely_manipulated", "human_review", findings=[local]),
        _outcome("stain", "fake", "inconclusive", "human_review", findings=[failed]),
        _outcome(
            "honest_same_product",
            "honest",
            "likely_manipulated",
            "human_review",
            findings=[pasted],
            case_id="h-1",
            true_reference="ref.jpg",
        ),
    ]
    assert [relation(o) for o in outcomes] == ["local_edit", "failed", "partial_copy"]
    table = relation_table(outcomes, ["stain", "honest_same_product"])
    assert "| stain | 1 | 0 | 1 |" in table and "| honest_same_product | 0 | 1 | 0 |" in table
    assert "`h-1` (scale)" in false_alarms(outcomes)
    assert relation({"error": "boom"}) == "error"


def test_partial_copies_are_split_by_what_was_lifted_and_how_it_was_pasted() -> None:
    from benchmarks.report import partial_copy_table

    def pasted(source: str, blend: str, flagged: bool, localized: bool) -> dict:
        verdict = "likely_manipulated" if flagged else "inconclusive"
        return _outcome(
            "partial_copy",
            "fake",
            verdict,
            "human_review",
            true_reference=source,
            blend=blend,
            localization={"localized": localized},
        )

    outcomes = [
        pasted("grocery/iconic/Orange.jpg", "alpha", True, True),
        pasted("grocery/iconic/Lemon.jpg", "alpha", True, False),
        pasted("grocery/iconic/Kiwi.jpg", "poisson", False, False),
        pasted("noso/NoSo_dataset/01.png", "alpha", True, True),
        _outcome("crack", "fake", "likely_manipulated", "human_review", blend="alpha"),
    ]
    table = partial_copy_table(outcomes)
    assert "| studio product | alpha | 2 | 100.0 | 50.0 |" in table
    assert "| studio product | poisson | 1 | 0.0 | 0.0 |" in table
    assert "| camera-photo region | alpha | 1 | 100.0 | 100.0 |" in table
    assert len(table.splitlines()) == 2 + 3  # the crack is no partial copy
    assert partial_copy_table(outcomes[-1:]) == ""
