"""The re-drawing sweep: the same re-drawn claims at other strengths, reported per strength."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmarks.cases import build_case
from benchmarks.edits import CORE_REDRAWING, Redrawing, regenerate
from benchmarks.redraw import (
    MARK_END,
    MARK_START,
    STRENGTHS,
    main,
    plan,
    redraw_case,
    render_section,
)
from benchmarks.sources import open_library

from tests.conftest import textured_image


def _shift(a: np.ndarray, b: np.ndarray) -> float:
    """The mean displacement between two grey images, by dense optical flow."""
    import cv2

    ga, gb = (cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) for x in (a, b))
    flow = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 31, 3, 7, 1.5, 0)
    return float(np.linalg.norm(flow, axis=2).mean())


def test_a_stronger_drift_moves_the_frame_further() -> None:
    base = textured_image(640, 480, seed=4)
    mask = np.zeros((480, 640), bool)
    mask[200:260, 300:380] = True
    gentle = regenerate(base, mask, np.random.default_rng(3), Redrawing(drift=(0.002, 0.002)))
    strong = regenerate(base, mask, np.random.default_rng(3), Redrawing(drift=(0.02, 0.02)))
    assert gentle.info["drift_share"] == 0.002 and strong.info["drift_share"] == 0.02
    assert _shift(base, strong.pixels) > 3 * _shift(base, gentle.pixels)


def test_a_generator_answers_at_its_own_size_with_the_mask_moved_along() -> None:
    base = textured_image(640, 480, seed=4)
    mask = np.zeros((480, 640), bool)
    mask[200:260, 300:380] = True
    out = regenerate(base, mask, np.random.default_rng(3), Redrawing(detail=8, working_side=1024))
    assert out.pixels.shape == (768, 1024, 3) and out.info["redrawn_side"] == 1024
    assert out.mask is not None and out.mask.shape == (768, 1024)
    ys, xs = np.nonzero(out.mask)  # the edit at the same place of the frame, 1.6x larger
    assert abs(xs.mean() - 1.6 * 339.5) < 25 and abs(ys.mean() - 1.6 * 229.5) < 25
    assert abs(int(out.mask.sum()) - 1.6**2 * int(mask.sum())) < 0.25 * 1.6**2 * mask.sum()


def test_plan_interleaves_the_strengths() -> None:
    assert plan(["core", "latent"], 2) == [("core", 0), ("latent", 0), ("core", 1), ("latent", 1)]


@pytest.mark.shared_data
def test_the_core_strength_is_the_core_benchmarks_case(shared_data: Path) -> None:
    lib = open_library(shared_data)
    assert STRENGTHS["core"][0] == CORE_REDRAWING
    core = build_case(lib, "regenerated", 3, 1)
    assert redraw_case(lib, "core", 3, 1).claim == core.claim
    # Another strength re-draws the same photo with the same edit through the same chain.
    latent = redraw_case(lib, "latent", 3, 1)
    assert latent.true_reference == core.true_reference and latent.chain == core.chain
    assert latent.info["local"] == core.info["local"] and latent.claim != core.claim
    assert latent.info["redrawn_side"] == 1024


def _outcome(strength: str, flagged: bool, localized: bool) -> dict:
    return {
        "strength": strength,
        "case_id": "regenerated-0000",
        "family": "regenerated",
        "kind": "fake",
        "flagged": flagged,
        "verdict": "likely_manipulated" if flagged else "inconclusive",
        "findings": [
            {
                "analyzer": "reference_match",
                "status": "ok",
                "reason_code": f"reference_match.{'regenerated_copy' if flagged else 'no_match'}",
            }
        ],
        "localization": {"localized": localized},
        "timing": {"check_ms": 100.0, "ratio": 10.0},
    }


def test_the_report_gives_each_strength() -> None:
    outcomes = [_outcome("core", True, True), _outcome("core", True, False)]
    outcomes += [_outcome("drift_wide", False, False), _outcome("drift_wide", True, True)]
    meta = {"date": "d", "seed": 1, "commit": "c", "per_strength": 2, "version": "1.0"}
    meta["command"] = "python -m benchmarks.redraw"
    section = render_section(outcomes, meta)
    assert section.startswith(MARK_START) and section.endswith(MARK_END)
    assert "| core | as in the core benchmark | 2 | 100 (" in section
    assert "| 50 | regenerated_copy 2 |" in section
    assert "| drift_wide |" in section and "no_match 1" in section
    assert "| latent |" not in section


def test_unknown_strengths_and_missing_data_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "nowhere"), "--no-doc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["--strengths", "gentle", "--no-doc"])
    assert exit_info.value.code == 2
    assert "unknown strength gentle" in capsys.readouterr().err


@pytest.mark.shared_data
def test_a_small_run_writes_its_section(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmarks\n\nkept\n", "utf-8")
    argv = ["--data", str(shared_data), "--out", str(doc), "--per-strength", "1"]
    argv += ["--strengths", "core,drift_wide", "--json", str(tmp_path / "r.json")]
    assert main(argv) == 0
    text = doc.read_text("utf-8")
    assert "kept" in text and MARK_START in text and "| drift_wide |" in text
    assert (tmp_path / "r.json").exists()
    capsys.readouterr()
