"""The stress benchmark: editor outputs and buyer additions carry the edit mask, keep the core
benchmark's content, and are reported per chain and family."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from benchmarks.cases import build_case
from benchmarks.chains import Tracked, UploadParams, upload
from benchmarks.imaging import binarize, decode_rgb, dilate
from benchmarks.sources import open_library
from benchmarks.stress import (
    MARK_END,
    MARK_START,
    STRESS_CHAINS,
    annotate,
    main,
    outpaint,
    plan,
    render_section,
    stress_case,
)


def _photo(width: int = 480, height: int = 360, seed: int = 0, edit: bool = True) -> Tracked:
    """A dark photo-like texture, with a bright edit or without it, and the edit's mask."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 110, size=(height // 12 + 1, width // 12 + 1, 3), dtype=np.uint8)
    img = cv2.resize(base, (width, height), interpolation=cv2.INTER_CUBIC)
    mask = np.zeros((height, width), np.uint8)
    cv2.ellipse(mask, (300, 200), (50, 30), 20, 0, 360, 1, -1)
    if edit:
        img[mask > 0] = (235, 225, 215)
    return Tracked(img, mask.astype(np.float32))


def _upload() -> UploadParams:  # a fixed upload: the chain is what is tested
    return UploadParams(long_side=900, crop=(0.01, 0.02, 0.0, 0.01), quality=85, subsampling=2)


@pytest.mark.parametrize("chain", [c for c in STRESS_CHAINS if c != "collage"])
@pytest.mark.parametrize("seed", [0, 1])
def test_each_chain_keeps_the_mask_on_the_edit(chain: str, seed: int) -> None:
    step = STRESS_CHAINS[chain].make(None)  # type: ignore[arg-type]
    outputs = []
    for edit in (False, True):
        # The same draws for both: the two claims differ only where the edit is.
        t = step(_photo(seed=seed, edit=edit), np.random.default_rng([seed, 3]))
        data, final = upload(t, _upload())
        assert final.pixels.shape == decode_rgb(data).shape
        outputs.append(final)
    mask = binarize(outputs[1].mask)
    assert mask is not None and mask.shape == outputs[1].pixels.shape[:2]
    diff = np.abs(outputs[0].pixels.astype(int) - outputs[1].pixels.astype(int)).max(axis=2) > 40
    assert (diff & mask).sum() / mask.sum() > 0.8
    slack = 3 + round(0.01 * max(mask.shape))
    assert (diff & ~dilate(mask, slack)).sum() <= 0.03 * diff.sum()


def test_outpainting_squares_the_frame_around_the_photo() -> None:
    t = outpaint(_photo(), np.random.default_rng(0))
    assert t.pixels.shape[0] == t.pixels.shape[1] and t.pixels.shape[0] in (768, 1024, 1536)
    assert t.steps[-1] == "png"
    mask = binarize(t.mask)
    assert mask is not None and mask.any()


def test_an_annotation_circles_the_damage() -> None:
    photo = _photo()
    marked = annotate(photo, np.random.default_rng(1))
    changed = np.abs(marked.pixels.astype(int) - photo.pixels.astype(int)).max(axis=2) > 60
    ys, xs = np.nonzero(photo.mask > 0.5)
    # The mark surrounds the edit: drawn on all four sides of it, never over its middle.
    cx, cy = int(xs.mean()), int(ys.mean())
    assert changed[:, : xs.min()].any() and changed[:, xs.max() + 1 :].any()
    assert changed[: ys.min()].any() and changed[ys.max() + 1 :].any()
    assert not changed[cy - 3 : cy + 4, cx - 3 : cx + 4].any()
    # Without an edit the mark goes on a drawn spot.
    plain = annotate(Tracked(photo.pixels.copy()), np.random.default_rng(1))
    assert plain.mask is None and "annotate" in plain.steps
    assert (np.abs(plain.pixels.astype(int) - photo.pixels.astype(int)).max(axis=2) > 60).any()


def test_a_collage_puts_another_product_beside_the_photo(shared_data: Path) -> None:
    lib = open_library(shared_data)
    photo = _photo()
    t = STRESS_CHAINS["collage"].make(lib)(photo, np.random.default_rng(2))
    assert t.pixels.shape[0] == photo.pixels.shape[0]
    assert t.pixels.shape[1] > photo.pixels.shape[1] * 1.5
    mask = binarize(t.mask)
    assert mask is not None and mask.sum() == pytest.approx((photo.mask > 0.5).sum(), rel=0.02)


def test_a_stress_case_has_the_core_content_and_its_own_chain(shared_data: Path) -> None:
    lib = open_library(shared_data)
    core = build_case(lib, "crack", 3, seed=1)
    stressed = stress_case(lib, "stamp", "crack", 3, seed=1)
    assert stressed.chain == "stamp" and stressed.true_reference == core.true_reference
    assert [k for k, _ in stressed.references] == [k for k, _ in core.references]
    assert stressed.info["tile"] == core.info["tile"]  # the same crack
    assert stressed.claim != core.claim and stressed.local
    again = stress_case(lib, "stamp", "crack", 3, seed=1)
    assert again.claim == stressed.claim
    # The upload depends on the chain and the slot, not on the family.
    honest = stress_case(lib, "stamp", "honest_same_product", 3, seed=1)
    assert honest.info["upload"] == stressed.info["upload"]


def test_plan_interleaves_chains_and_families() -> None:
    items = plan(["a", "b"], ["x", "y"], 2)
    assert items[:4] == [("a", "x", 0), ("a", "y", 0), ("b", "x", 0), ("b", "y", 0)]
    assert len(items) == 8


def _outcome(chain: str, family: str, kind: str, flagged: bool, localized: bool | None) -> dict:
    return {
        "case_id": f"{family}-0000",
        "chain": chain,
        "family": family,
        "kind": kind,
        "flagged": flagged,
        "verdict": "likely_manipulated" if flagged else "inconclusive",
        "action": "human_review" if flagged else "request_more_evidence",
        "true_reference": "grocery/iconic/X.jpg",
        "findings": [],
        "localization": None if localized is None else {"localized": localized},
        "timing": {"check_ms": 100.0, "decode_ms": 10.0, "ratio": 10.0, "warm_ratio": 9.0},
        "error": None,
    }


def test_the_report_gives_each_chain_and_family_and_lists_the_misses() -> None:
    outcomes = [
        _outcome("stamp", "crack", "fake", True, True),
        _outcome("stamp", "crack", "fake", True, False),
        _outcome("stamp", "honest_same_product", "honest", False, None),
        _outcome("annotate", "crack", "fake", False, False),
        _outcome("annotate", "honest_same_product", "honest", True, None),
    ]
    meta = {
        "date": "2026-12-05 08:00 UTC",
        "seed": 1,
        "commit": "abc1234",
        "per_cell": 1,
        "families": ["crack", "honest_same_product"],
        "analyzers": "all",
        "version": "9.9.9",
        "command": "python -m benchmarks.stress",
    }
    section = render_section(outcomes, meta)
    assert section.startswith(MARK_START) and section.endswith(MARK_END)
    assert "| annotate | ellipse, arrow and a word drawn on | 0 / 0 | 100 | 0.0 % | 100.0 % |" in (
        section
    )
    assert "| stamp | watermark-camera stamp | 100 / 50 | 0 | 100.0 % | 0.0 % |" in section
    assert "2 of 3 flagged" in section and "1 of 2 flagged" in section
    assert "`crack-0000` (annotate)" in section
    assert "`honest_same_product-0000` (annotate)" in section


def test_unknown_names_and_missing_data_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data", str(tmp_path / "nowhere"), "--no-doc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["--chains", "sideways", "--no-doc"])
    assert exit_info.value.code == 2
    assert "unknown chains sideways" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--per-cell", "0", "--no-doc"])
    assert "must be at least 1, not 0" in capsys.readouterr().err


def test_a_small_run_writes_its_section(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = tmp_path / "bench.md"
    doc.write_text("# Benchmarks\n\nkept\n", "utf-8")
    argv = ["--data", str(shared_data), "--out", str(doc), "--per-cell", "1"]
    argv += ["--chains", "stamp", "--families", "crack,honest_same_product"]
    argv += ["--analyzers", "reference_match,provenance", "--json", str(tmp_path / "r.json")]
    assert main(argv) == 0
    text = doc.read_text("utf-8")
    assert "kept" in text and MARK_START in text and "| stamp |" in text
    assert (tmp_path / "r.json").exists()
    capsys.readouterr()
