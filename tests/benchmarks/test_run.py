"""The benchmark end to end on one or two claims per family."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from benchmarks.cases import FAMILIES
from benchmarks.report import MARK_END, MARK_START
from benchmarks.run import main

REPO = Path(__file__).resolve().parents[2]


def test_missing_data_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b.md")])
    assert code == 2
    assert "missing" in capsys.readouterr().err
    assert not (tmp_path / "b.md").exists()


def test_unknown_family_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--families", "crack,nonsense"])


@pytest.mark.slow
@pytest.mark.shared_data
def test_quick_run_end_to_end(shared_data: Path, tmp_path: Path) -> None:
    out, raw = tmp_path / "benchmarks.md", tmp_path / "last-run.json"
    out.write_text(f"# Benchmarks\n\nabove\n\n{MARK_START}\nPREVIOUS\n{MARK_END}\n\nbelow\n")
    command = [
        sys.executable, "-m", "benchmarks.run", "--data", str(shared_data), "--out", str(out),
        "--json", str(raw), "--quick", "--limit", "1", "--seed", "7",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = out.read_text()
    assert "above" in text and "below" in text and "PREVIOUS" not in text
    for family in FAMILIES:
        assert f"| {family} |" in text and f"| {family} |" in done.stdout
    assert "all fakes" in text and "all honest" in text and "cv2.setNumThreads(1)" in text
    cases = json.loads(raw.read_text())["cases"]
    assert sorted(c["family"] for c in cases) == sorted(FAMILIES)
    for c in cases:
        assert c["error"] is None, c["error"]
        assert c["verdict"] and c["timing"]["check_ms"] > 0 and c["timing"]["decode_ms"] > 0
        assert (c["localization"] is not None) == FAMILIES[c["family"]].local
