"""The self-contained HTML report of one checked claim.

One file, no external resources: CSS inline, images as ``data:`` URIs, no scripts; a
Content-Security-Policy forbids loading anything else. Every text that comes from a file or
its metadata is escaped (Jinja2 autoescape).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from vericlaim.check import CheckResult
from vericlaim.reports import _images, _view

__all__ = ["render_report"]

_VERDICT_LABELS = {
    "likely_authentic": ("可能真实", "Likely authentic", "ok"),
    "review": ("需要复核", "Needs review", "warn"),
    "inconclusive": ("无法判断", "Inconclusive", "muted"),
    "likely_manipulated": ("疑似篡改", "Likely manipulated", "bad"),
    "likely_ai_generated": ("疑似 AI 生成", "Likely AI-generated", "bad"),
}
_ACTION_LABELS = {
    "approve": ("建议通过", "Approve"),
    "request_more_evidence": ("请求补充证据", "Request more evidence"),
    "human_review": ("人工复核", "Human review"),
}
_SEVERITY_LABELS = {"high": "高", "medium": "中", "low": "低", "info": "提示"}
_ROLE_LABELS = {"claim": "申诉", "listing": "商品图", "packing": "发货", "reshoot": "补拍"}


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("vericlaim.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        severity_labels=_SEVERITY_LABELS,
        role_labels=_ROLE_LABELS,
        legend_stops=", ".join(_images.heatmap_legend_stops()),
    )
    return env


def _header(verdict: dict[str, Any], generated_at: datetime) -> dict[str, Any]:
    code = str(verdict.get("verdict", "inconclusive"))
    zh, en, tone = _VERDICT_LABELS.get(code, (code, code, "muted"))
    action = str(verdict.get("recommended_action", ""))
    action_zh, action_en = _ACTION_LABELS.get(action, (action, action))
    elapsed = verdict.get("elapsed_ms")
    return {
        "claim_id": str(verdict.get("claim_id", "")),
        "verdict": code,
        "verdict_zh": zh,
        "verdict_en": en,
        "tone": tone,
        "risk_score": verdict.get("risk_score", ""),
        "action": action,
        "action_zh": action_zh,
        "action_en": action_en,
        "policy_version": str(verdict.get("policy_version", "")),
        "schema": str(verdict.get("schema", "")),
        "analyzers": sorted(
            (str(k), str(v)) for k, v in dict(verdict.get("analyzers", {})).items()
        ),
        "elapsed": f"{float(elapsed):,.0f} ms" if isinstance(elapsed, int | float) else "",
        "generated_at": generated_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def render_report(result: CheckResult, *, generated_at: datetime | None = None) -> str:
    """The claim's report as one self-contained HTML document.

    Parameters
    ----------
    result
        A checked claim: the verdict JSON, the evidence and the findings.
    generated_at
        The time printed as the report's generation time (now, by default).

    Returns
    -------
    str
        The HTML page; images are inline JPEG data URIs, so it works offline.
    """
    verdict = dict(result.verdict)
    template = _environment().get_template("report.html.j2")
    return template.render(
        header=_header(verdict, generated_at or datetime.now(UTC)),
        reasons=list(verdict.get("reasons", [])),
        media=_view.build_media_views(result),
        evidence=_view.evidence_rows(result),
    )
