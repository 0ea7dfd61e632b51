"""The pure parts of the load benchmark: photo plan, percentiles, summary, section."""

from __future__ import annotations

import math

from benchmarks.load import (
    MARK_END,
    MARK_START,
    ClaimResult,
    percentile,
    photo_plan,
    render_section,
    summarize,
)


def test_photo_plan_is_deterministic_and_mixed() -> None:
    plans = [photo_plan(i, 3, products=4, honest=24, seed=1) for i in range(200)]
    assert plans == [photo_plan(i, 3, products=4, honest=24, seed=1) for i in range(200)]
    assert photo_plan(0, 3, products=4, honest=24, seed=2) != plans[0]
    specs = [s for plan in plans for s in plan]
    kinds = {s.kind for s in specs}
    assert kinds == {"honest", "doctored"}
    # A doctored photo is a copy of the listing photo of the claim's own product.
    for i, plan in enumerate(plans):
        assert all(s.source == i % 4 for s in plan if s.kind == "doctored")
        assert all(0 <= s.source < 24 and 0.8 <= s.crop <= 1.0 for s in plan)


def test_percentile() -> None:
    assert percentile([3, 1, 2], 50) == 2
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(101)), 99) == 99
    assert percentile([5], 95) == 5
    assert math.isnan(percentile([], 50))


def _results() -> list[ClaimResult]:
    ok = [
        ClaimResult(
            i,
            202,
            claim_id=f"clm_{i}",
            submit_s=0.1 * (i + 1),
            verdict_s=10.0 + i,
            server_s=9.0 + i,
            analysis_ms=4000.0,
            verdict="likely_manipulated",
        )
        for i in range(4)
    ]
    lost = ClaimResult(4, 202, claim_id="clm_4", submit_s=0.2)
    failed = ClaimResult(5, 500, error="internal")
    ok[0].poll_errors = {"503": 2}
    return [*ok, lost, failed]


def test_summarize_counts_errors_lost_and_duplicates() -> None:
    s = summarize(_results(), wall_s=20.0, photos=3, listed=6)
    assert (s["submitted"], s["accepted"], s["analysed"], s["lost"]) == (6, 5, 4, 1)
    assert s["errors"] == {"500": 1, "poll 503": 2}
    assert s["error_count"] == 3
    assert s["duplicates"] == 1  # the API lists 6 claims, 5 were accepted
    assert s["claims_per_s"] == 4 / 20 and s["photos_per_s"] == 12 / 20
    assert s["verdict_s"]["p50"] == 11.5
    assert s["analysis_s"]["median"] == 4.0
    assert s["verdicts"] == {"likely_manipulated": 4}
    clean = summarize(_results()[:4], wall_s=20.0, photos=3, listed=4)
    assert (clean["lost"], clean["duplicates"], clean["errors"]) == (0, 0, {"poll 503": 2})


def test_render_section_has_markers_and_figures() -> None:
    meta = {
        "date": "2026-12-01 07:00 UTC",
        "command": "python -m benchmarks.load --db sqlite",
        "claims": 6,
        "clients": 2,
        "photos": 3,
        "workers": 2,
        "side": 640,
        "machine": "test machine",
        "commit": "abc1234",
        "load_start": 1.0,
        "load_end": 2.0,
        "server_cpu_per_claim_s": 5.0,
        "server_log": {"error": 0, "traceback": 0, "locked": 0},
    }
    run = {"meta": meta, "summary": summarize(_results(), 20.0, 3, 5)}
    text = render_section({"sqlite": run, "postgresql": run})
    assert text.startswith(MARK_START) and text.endswith(MARK_END)
    assert "| | sqlite | postgresql |" in text
    assert "| **throughput (claims/s)** | 0.200 | 0.200 |" in text
    assert "| **lost claims** | 1 | 1 |" in text
    assert "500: 1" in text and "test machine" in text
    assert "was not done on this machine" in text and "--claims 1000" in text
