"""A readable terminal summary of a verdict (Rich)."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from vericlaim.check import CheckResult

_STYLE = {
    "likely_manipulated": "bold red",
    "likely_ai_generated": "bold red",
    "review": "bold yellow",
    "inconclusive": "yellow",
    "likely_authentic": "bold green",
}


def print_summary(
    result: CheckResult, *, report: Path | None = None, console: Console | None = None
) -> None:
    console = console or Console()
    v = result.verdict
    style = _STYLE.get(v["verdict"], "bold")
    console.print(
        f"[{style}]{v['verdict']}[/]  risk {v['risk_score']}/100  →  {v['recommended_action']}"
        f"   (claim {escape(str(v['claim_id']))}, policy {v['policy_version']}, "
        f"{v['elapsed_ms']:.0f} ms)"
    )
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("media")
    table.add_column("severity")
    table.add_column("reason")
    quiet: dict[str, None] = {}  # analyzers that looked and found nothing, in order
    for r in v["reasons"]:
        if r["severity"] == "info" and r["code"].startswith("analyzer."):
            continue
        if r["severity"] == "info" and r["code"].endswith(".none"):
            quiet[r["analyzer"]] = None
            continue
        table.add_row(
            escape(r["media_id"]), r["severity"], escape(f"{r['message_en']}\n{r['message_zh']}")
        )
    console.print(table)
    if quiet:
        console.print(escape(f"  Checked, nothing found: {', '.join(quiet)}"), soft_wrap=True)
    for m in v["media"]:
        if m["role"] != "claim":
            continue
        for f in m["findings"]:
            if f["regions"]:
                boxes = ", ".join(str(b) for b in f["regions"][:6])
                line = f"  {m['media_id']}: {f['analyzer']} regions [x, y, w, h]: {boxes}"
                console.print(escape(line))
    if report is not None:
        console.print(escape(f"Report: {report}"))
