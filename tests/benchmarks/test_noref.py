"""The no-reference benchmark's figures: AUC, pixel F1, the report's tables and markers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks.noref import MARK_END, MARK_START, auc, pixel_f1, render_section
from benchmarks.report import write_doc


def test_auc_matches_the_pairwise_definition() -> None:
    rng = np.random.default_rng(3)
    pos, neg = rng.normal(1, 1, 40).round(1), rng.normal(0, 1, 30).round(1)
    pairs = [(1.0 if p > n else 0.5 if p == n else 0.0) for p in pos for n in neg]
    assert auc(list(pos), list(neg)) == pytest.approx(float(np.mean(pairs)))
    assert auc([1, 2], [0]) == 1.0 and auc([0], [1, 2]) == 0.0
    assert auc([0.5], [0.5]) == 0.5
    assert auc([], [1.0]) is None


def test_pixel_f1_scales_the_heatmap_to_the_mask() -> None:
    mask = np.zeros((100, 200), bool)
    mask[20:60, 50:150] = True
    heat = np.zeros((50, 100), np.float32)
    heat[10:30, 25:75] = 0.9  # the same region at half size
    assert pixel_f1(heat, mask) == pytest.approx(1.0, abs=0.03)
    assert pixel_f1(None, mask) == 0.0
    assert pixel_f1(np.zeros((50, 100), np.float32), mask) == 0.0
    half = np.zeros((100, 200), np.float32)
    half[20:60, 50:100] = 1.0  # half the edit, nothing else: precision 1, recall 0.5
    assert pixel_f1(half, mask) == pytest.approx(2 / 3, abs=1e-6)


def _record(group: str, kind: str, variant: str, score: float, flagged: bool) -> dict:
    return {
        "item_id": f"{group}/{score}/{variant}",
        "group": group,
        "kind": kind,
        "variant": variant,
        "megapixels": 1.0,
        "analyzers": {
            "probe": {
                "status": "ok",
                "reason_code": "probe.found" if score >= 0.5 else "probe.none",
                "score": score,
                "flagged": score >= 0.5,
                "seconds": 0.1,
                "baseline": score / 2,
                "f1": 0.5 if kind == "fake" else None,
            }
        },
        "verdict": "review" if flagged else "inconclusive",
        "action": "human_review" if flagged else "request_more_evidence",
        "flagged": flagged,
    }


def test_the_section_reports_auc_false_alarms_and_speed(tmp_path: Path) -> None:
    records = [
        _record("noso_forgery", "fake", v, s, True)
        for v in ("original", "recompress")
        for s in (0.9, 0.7)
    ] + [
        _record("honest_noso_originals", "honest", v, s, s >= 0.5)
        for v in ("original", "scale")
        for s in (0.1, 0.6)
    ]
    section = render_section(records, ["probe"], "python -m benchmarks.noref")
    assert section.startswith(MARK_START) and section.endswith(MARK_END)
    row = next(line for line in section.splitlines() if line.startswith("| probe |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "1.000"  # 0.9, 0.7 against 0.1, 0.6
    assert cells[6] == "4/4"  # every NoSo forgery flagged
    assert cells[7].startswith("50.0 % (2/4")  # the two honest photos scored 0.6
    assert cells[8] == "10.0"  # 1 MP in 0.1 s
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\nkept\n", "utf-8")
    write_doc(doc, section, start=MARK_START, end=MARK_END)
    write_doc(doc, section, start=MARK_START, end=MARK_END)
    text = doc.read_text("utf-8")
    assert text.count(MARK_START) == 1 and "kept" in text
