"""The honest look-alike benchmark: its pairs, one checked pair and its report."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from benchmarks.lookalike import (
    MARK_END,
    MARK_START,
    PACKAGED,
    check_pair,
    draw_pairs,
    enlarge,
    main,
    render_section,
)
from benchmarks.report import RELATIONS
from benchmarks.sources import open_library

from vericlaim.scoring.policy import VerdictClass


def test_pairs_are_two_photos_of_one_packaged_product_drawn_from_the_seed(
    shared_data: Path,
) -> None:
    lib = open_library(shared_data)
    pairs = draw_pairs(lib, seed=3, per_class=2)
    coarse = {p.label: p.coarse for p in lib.iconic}
    assert len(pairs) == 2 * sum(
        1 for label, photos in lib.natural.items() if coarse[label] in PACKAGED and len(photos) > 1
    )
    for claim, merchant, _ in pairs:
        assert claim.label == merchant.label and coarse[claim.label] in PACKAGED
        assert claim.key != merchant.key
    again = draw_pairs(lib, seed=3, per_class=2)
    assert [(a.key, b.key) for a, b, _ in again] == [(a.key, b.key) for a, b, _ in pairs]
    other = draw_pairs(lib, seed=4, per_class=2)
    assert [(a.key, b.key) for a, b, _ in other] != [(a.key, b.key) for a, b, _ in pairs]


def test_a_pair_is_uploaded_and_checked_against_the_merchant_photo(shared_data: Path) -> None:
    lib = open_library(shared_data)
    claim, merchant, index = draw_pairs(lib, seed=1, per_class=1)[0]
    outcome = check_pair(claim, merchant, index, seed=1)
    assert outcome["claim_photo"] == claim.key and outcome["merchant_photo"] == merchant.key
    assert 480 <= outcome["upload"]["long_side"] <= 2048
    assert outcome["verdict"] in get_args(VerdictClass)
    assert outcome["relation"] in RELATIONS
    assert outcome["flagged"] == (outcome["verdict"] == "likely_manipulated")


def test_the_enlarged_draw_enlarges_and_saves_one_jpeg(shared_data: Path) -> None:
    lib = open_library(shared_data)
    claim, merchant, index = draw_pairs(lib, seed=1, per_class=1)[0]
    data, drawn = enlarge(claim.pixels(), np.random.default_rng(5))
    assert data[:3] == b"\xff\xd8\xff" and 55 <= drawn["quality"] <= 95
    assert 1.0 <= drawn["enlarge"] <= 3.0
    h, w = claim.pixels().shape[:2]
    assert drawn["long_side"] == max(round(w * drawn["enlarge"]), round(h * drawn["enlarge"]))
    again, _ = enlarge(claim.pixels(), np.random.default_rng(5))
    assert again == data
    outcome = check_pair(claim, merchant, index, seed=1, draw="enlarged")
    assert outcome["upload"]["draw"] == "enlarged" and outcome["relation"] in RELATIONS
    with pytest.raises(ValueError, match="unknown draw"):
        check_pair(claim, merchant, index, seed=1, draw="sideways")


def _outcome(i: int, flagged: bool, relation: str, located_by: str | None = None) -> dict:
    return {
        "claim_photo": f"grocery/natural/X/X_{i:03d}.jpg",
        "merchant_photo": f"grocery/natural/X/X_{i + 100:03d}.jpg",
        "flagged": flagged,
        "action": "human_review" if flagged else "request_more_evidence",
        "relation": relation,
        "located_by": located_by,
    }


def test_the_report_counts_false_alarms_and_lists_each_flagged_pair() -> None:
    outcomes = [_outcome(i, False, "same_product") for i in range(8)]
    outcomes += [
        _outcome(8, True, "partial_copy", "feature_region"),
        _outcome(9, False, "no_match"),
    ]
    meta = {
        "date": "2026-12-02 12:00 UTC",
        "seed": 1,
        "commit": "abc1234",
        "per_class": 1,
        "version": "9.9.9",
        "command": "python -m benchmarks.lookalike",
    }
    section = render_section(outcomes, meta)
    assert section.startswith(MARK_START) and section.endswith(MARK_END)
    assert "**1 of 10** (10.0 %" in section
    assert "same_product 8, no_match 1" in section.replace("partial_copy 1, ", "")
    assert "`grocery/natural/X/X_008.jpg` | `grocery/natural/X/X_108.jpg` | partial_copy" in section
    assert "X_001.jpg" not in section
    assert "through the upload chain" in section
    enlarged = render_section(outcomes, {**meta, "draw": "enlarged"})
    assert "enlarged 1-3x and saved at JPEG 55-95" in enlarged


def test_missing_data_or_no_pairs_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "nowhere"), "--no-doc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err and "missing" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["--data", str(tmp_path), "--per-class", "0", "--no-doc"])
    assert exit_info.value.code == 2
    assert "--per-class: must be at least 1, not 0" in capsys.readouterr().err
