"""Looking at one benchmark claim: the case named, its photos and the overlay written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from benchmarks.inspect_case import main, parse_case
from PIL import Image


def test_a_case_is_named_by_its_id_or_by_family_and_index() -> None:
    assert parse_case("partial_copy-0087", None) == ("partial_copy", 87)
    assert parse_case("honest_same_product", "3") == ("honest_same_product", 3)


@pytest.mark.parametrize(
    ("spec", "index", "problem"),
    [
        ("crack", None, "expected a case id"),
        ("crack-x", None, "expected a case id"),
        ("crack", "seven", "whole number"),
        ("nonsense-0001", None, "unknown family"),
    ],
)
def test_a_wrong_case_name_says_what_is_wrong(spec: str, index: str | None, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_case(spec, index)


def test_bad_names_and_missing_data_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nonsense-0001"]) == 2
    assert "unknown family" in capsys.readouterr().err
    assert main(["crack-0001", "--data", str(tmp_path / "nowhere")]) == 2
    assert "missing" in capsys.readouterr().err
    # A re-drawing strength takes a re-drawn case, and one of the sweep's strengths.
    for argv in (["crack-0001", "--strength", "latent"], ["regenerated-0001", "--strength", "x"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--strength takes a regenerated case" in err


def _inspect(shared_data: Path, out: Path) -> int:
    """One crack of seed 7, checked and written to ``out``."""
    return main(["crack-0002", "--seed", "7", "--data", str(shared_data), "--out", str(out)])


@pytest.mark.slow
@pytest.mark.shared_data
def test_a_case_is_checked_and_drawn(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "case"
    assert _inspect(shared_data, out) == 0
    printed = capsys.readouterr().out
    assert "case crack-0002 (fake)" in printed and "reference_match" in printed
    assert "localization: localized" in printed
    record = json.loads((out / "record.json").read_text())
    assert record["case_id"] == "crack-0002" and record["error"] is None
    mask = np.asarray(Image.open(out / "mask.png"))
    claim = Image.open(out / "claim.jpg")
    assert mask.shape == (claim.height, claim.width) and mask.any()
    drawn = np.asarray(Image.open(out / "overlay.png").convert("RGB")).astype(int)
    assert max(drawn.shape[:2]) <= 1200
    # The truth is outlined in pure green over the photo.
    green = (drawn[..., 1] >= 200) & (drawn[..., 0] <= 30) & (drawn[..., 2] <= 30)
    assert green.sum() > 50
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("listing-"))


@pytest.mark.slow
@pytest.mark.shared_data
def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_2(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    taken = tmp_path / "a-file"
    taken.write_text("not a folder")
    assert _inspect(shared_data, taken) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(taken) in err[0] and "cannot write" in err[0]
    assert taken.read_text() == "not a folder"
