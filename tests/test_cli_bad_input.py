"""Bad evidence through the command line: exit code 2 and one line naming file and problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.conftest import encode, textured_image
from tests.evidence.media import make_video, png_bomb
from vericlaim.cli import app

runner = CliRunner()


def _truncated_jpeg() -> bytes:
    data = encode(textured_image(320, 240, seed=2), quality=90)
    return data[: len(data) // 2]


def _corrupt_video() -> bytes:
    junk = np.random.default_rng(3).integers(0, 256, 20_000, np.uint8).tobytes()
    return make_video(frames=3)[:32] + junk


def _truncated_video() -> bytes:
    data = make_video(frames=20)
    return data[: len(data) // 2]


BAD_INPUTS: list[tuple[str, Callable[[], bytes] | None, str]] = [
    ("empty.jpg", lambda: b"", "empty"),
    ("half.jpg", _truncated_jpeg, "truncated JPEG"),
    (
        "notes.jpg",
        lambda: b"The parcel arrived on Monday; the cup was chipped.\n",
        "not a supported",
    ),
    ("bomb.png", png_bomb, "30000x30000"),
    ("unboxing.mp4", _corrupt_video, "video"),
    ("cut.mp4", _truncated_video, "video"),
    ("missing.jpg", None, "no such file"),
]


@pytest.mark.parametrize(("name", "make", "problem"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exits_2_with_one_line(
    tmp_path: Path, name: str, make: Callable[[], bytes] | None, problem: str
) -> None:
    path = tmp_path / name
    if make is not None:
        path.write_bytes(make())
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0] and problem in lines[0], lines[0]
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_bad_reference_is_reported_the_same_way(tmp_path: Path) -> None:
    claim = tmp_path / "claim.jpg"
    claim.write_bytes(encode(textured_image(seed=4)))
    reference = tmp_path / "listing.png"
    reference.write_bytes(png_bomb())
    result = runner.invoke(app, ["check", str(claim), "--reference", str(reference)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(reference) in lines[0] and "limit" in lines[0]


def test_a_directory_is_not_evidence(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", str(tmp_path)])
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(tmp_path) in lines[0] and "directory" in lines[0]
