"""Where a claim's time goes: the stage profile's arithmetic, its section, one real run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.stages import (
    MARK_END,
    MARK_START,
    StageClock,
    clocked,
    main,
    operations,
    render_section,
    steps,
)
from benchmarks.stages import summarize as summarize_stages

REPO = Path(__file__).resolve().parents[2]


def test_every_named_step_and_operation_is_held_where_it_is_named() -> None:
    # A renamed pass would silently drop out of the timing: each target names real code.
    targets = [*steps(), *operations()]
    for label, owner, name in targets:
        assert callable(getattr(owner, name)), label
    assert len({label for label, _, _ in targets}) == len(targets)


def test_the_clock_counts_nested_calls_once_and_puts_everything_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import itertools
    import types

    import benchmarks.stages

    ticks = itertools.count(1)
    monkeypatch.setattr(benchmarks.stages.time, "perf_counter", lambda: float(next(ticks)))
    module = types.ModuleType("vericlaim_test_module")

    def work(depth: int) -> int:
        return module.work(depth - 1) + 1 if depth else 0

    module.work = work  # type: ignore[attr-defined]
    clock = StageClock()
    with clocked(clock, [("work", module, "work")]):
        assert module.work is not work
        assert module.work(2) == 2
    assert module.work is work
    # Three calls, one clock reading as each starts and one as the outermost ends (ticks
    # 1, 2, 3 and 4): 3 ticks. Counting the nested calls too would give 1 + 3 + 5 = 9.
    assert clock.spent["work"] == 3.0


def test_a_function_imported_by_name_is_timed_where_it_was_imported() -> None:
    from vericlaim.analyzers import _align
    from vericlaim.analyzers import reference_match as rm

    original = _align.align
    assert rm.align is original
    with clocked(StageClock(), [("align", _align, "align")]):
        assert rm.align is not original and _align.align is rm.align
    assert rm.align is original and _align.align is original


def test_steps_add_up_to_the_claim_and_the_rest_is_what_is_left() -> None:
    claims = [
        {"total": 100.0, "loading": 10.0, "search": 60.0, "detection": 30.0},
        {"total": 50.0, "loading": 10.0, "detection": 10.0},  # no search on this claim
    ]
    summary = summarize_stages(claims, ["loading", "search"], ["detection"])
    assert summary["claims"] == 2 and summary["total_ms"] == 75.0
    assert summary["median_total_ms"] == 75.0
    by_name = {r["name"]: r for r in summary["steps"]}
    assert by_name["loading"]["ms"] == 10.0 and by_name["search"]["ms"] == 30.0
    rest = summary["steps"][-1]
    assert rest["name"].startswith("the rest") and rest["ms"] == 35.0
    assert sum(r["share"] for r in summary["steps"]) == pytest.approx(1.0)
    assert summary["operations"][0]["ms"] == 20.0


def test_the_section_lists_each_family_between_its_markers() -> None:
    summary = summarize_stages([{"total": 80.0}], [], [])
    meta = {
        "date": "2026-12-05 21:00 UTC",
        "seed": 1,
        "commit": "abc1234",
        "per_family": 1,
        "version": "1.19.1",
        "cpu": "a CPU",
        "command": "python -m benchmarks.stages",
    }
    text = render_section({"crack": summary}, meta)
    assert text.startswith(MARK_START) and text.endswith(MARK_END)
    assert "### crack (1 claims: 80 ms per claim on average, median 80)" in text
    assert "| the rest (runner, policy, verdict) | 80.0 | 100.0 |" in text


def test_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data", str(tmp_path / "nowhere"), "--no-doc"]) == 2
    assert "missing" in capsys.readouterr().err


def test_unknown_family_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--families", "crack,nonsense"])


@pytest.mark.slow
@pytest.mark.shared_data
def test_one_claim_profiled_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    out, raw = tmp_path / "benchmarks.md", tmp_path / "stages.json"
    out.write_text(f"# Benchmarks\n\nabove\n\n{MARK_START}\nPREVIOUS\n{MARK_END}\n")
    command = [
        sys.executable, "-m", "benchmarks.stages", "--data", str(shared_data),
        "--out", str(out), "--json", str(raw), "--families", "partial_copy",
        "--per-family", "1",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "above" in text and "PREVIOUS" not in text and "### partial_copy (1 claims" in text
    rows = json.loads(raw.read_text())["cases"]
    assert [r["family"] for r in rows] == ["partial_copy"]
    steps_ms = {r["name"]: r["ms"] for r in rows[0]["steps"]}
    assert steps_ms["loading the photos (decode, orient, metadata)"] > 0
    assert steps_ms["feature search, whole frames (ORB, mirrored too)"] > 0
