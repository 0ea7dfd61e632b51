from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import encode, textured_image
from vericlaim.cli import app

runner = CliRunner()


def test_check_json_is_exactly_the_verdict(tmp_path: Path) -> None:
    photo = tmp_path / "claim.jpg"
    photo.write_bytes(encode(textured_image(seed=1), quality=90))
    result = runner.invoke(app, ["check", str(photo), "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert verdict["schema"] == "vericlaim.verdict/1"
    assert verdict["recommended_action"] in {"approve", "request_more_evidence", "human_review"}


def test_missing_path_exits_2_with_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path / "nope.jpg")])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "nope.jpg" in lines[0] and "no such file" in lines[0]


def test_terminal_summary_prints_markup_like_names_verbatim(tmp_path: Path) -> None:
    photo = tmp_path / "[bold]claim.jpg"
    photo.write_bytes(encode(textured_image(seed=1), quality=90))
    result = runner.invoke(app, ["check", str(photo), "--claim-id", "[red]case"])
    assert result.exit_code == 0, result.output
    assert "[red]case" in result.stdout and "[bold]claim.jpg" in result.stdout


def test_many_photos_keep_json_output_clean(tmp_path: Path) -> None:
    photos = []
    for i in range(5):
        p = tmp_path / f"claim-{i}.jpg"
        p.write_bytes(encode(textured_image(320, 240, seed=30 + i), quality=85))
        photos.append(str(p))
    result = runner.invoke(app, ["check", *photos, "--json"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert len([m for m in verdict["media"] if m["role"] == "claim"]) == 5


def test_claim_and_reference_with_the_same_file_name_keep_distinct_ids(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    claim, listing = tmp_path / "a" / "IMG_0001.jpg", tmp_path / "b" / "IMG_0001.jpg"
    claim.write_bytes(encode(textured_image(seed=5), quality=85))
    listing.write_bytes(encode(textured_image(seed=6), quality=95))
    result = runner.invoke(app, ["check", str(claim), "--reference", str(listing), "--json"])
    assert result.exit_code == 0, result.output
    ids = [m["media_id"] for m in json.loads(result.stdout)["media"]]
    assert len(ids) == len(set(ids)) == 2


def test_terminal_summary_folds_analyzers_that_found_nothing_into_one_line(
    tmp_path: Path,
) -> None:
    photo = tmp_path / "claim.jpg"
    photo.write_bytes(encode(textured_image(480, 360, seed=8), quality=90))
    result = CliRunner().invoke(app, ["check", str(photo)])
    assert result.exit_code == 0, result.output
    folded = next(line for line in result.output.splitlines() if "Checked, nothing found" in line)
    assert "provenance" in folded and "copy_move" in folded
    # Their "nothing found" messages are not repeated as rows of the table.
    assert "No region of this photo appears to be copied" not in result.output


def test_analyzers_option_runs_only_the_named_ones(tmp_path: Path) -> None:
    photo, listing = tmp_path / "claim.jpg", tmp_path / "listing.jpg"
    photo.write_bytes(encode(textured_image(seed=1), quality=90))
    listing.write_bytes(encode(textured_image(seed=1), quality=95))
    args = ["check", str(photo), "-r", str(listing), "--json"]
    result = runner.invoke(app, [*args, "--analyzers", "reference_match, provenance"])
    assert result.exit_code == 0, result.output
    verdict = json.loads(result.stdout)
    assert set(verdict["analyzers"]) == {"reference_match", "provenance"}
    assert verdict["verdict"] == "likely_manipulated"  # the listing photo itself


def test_unknown_analyzer_exits_2_with_one_line(tmp_path: Path) -> None:
    photo = tmp_path / "claim.jpg"
    photo.write_bytes(encode(textured_image(seed=1), quality=90))
    for value in ("reference_match,nonsense", " , "):
        result = runner.invoke(app, ["check", str(photo), "--analyzers", value])
        assert result.exit_code == 2
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "--analyzers" in lines[0] and "reference_match" in lines[0]
