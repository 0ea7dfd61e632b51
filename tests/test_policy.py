"""The routing policy: verdicts from findings, never a rejection."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vericlaim.analyzers import Finding
from vericlaim.errors import PolicyError
from vericlaim.reasons import catalogue
from vericlaim.scoring import load_policy

# Every placeholder the reason catalogue's messages use.
_PLACEHOLDERS = {
    name
    for entry in catalogue().values()
    for text in (entry.zh, entry.en)
    for name in re.findall(r"{(\w+)}", text)
}


def _f(code: str, *, score: float = 1.0, status: str = "ok", confidence: float = 1.0) -> Finding:
    params = dict.fromkeys(_PLACEHOLDERS, "x")
    return Finding.make(
        analyzer="t",
        version="1",
        media_id="m",
        reason_code=code,
        status=status,
        score=score,
        confidence=confidence,
        params=params,
    )  # type: ignore[arg-type]


def test_every_policy_code_is_in_the_catalogue() -> None:
    policy = load_policy()
    for rule in policy.rules:
        assert rule.codes <= set(catalogue())
    assert policy.authentic_codes <= set(catalogue())


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        ("reference_match.local_edit", "likely_manipulated"),
        ("reference_match.verbatim_copy", "likely_manipulated"),
        ("reference_match.partial_copy", "likely_manipulated"),
        ("reference_match.global_filter", "likely_manipulated"),
        ("provenance.tc260_ai_generated", "likely_ai_generated"),
        ("provenance.c2pa_ai_generated", "likely_ai_generated"),
        ("provenance.tc260_possibly_ai", "review"),
        ("provenance.c2pa_invalid", "review"),
    ],
)
def test_a_firing_finding_routes_to_human_review(code: str, verdict: str) -> None:
    decision = load_policy().decide({"m": [_f(code)]})
    assert decision.verdict == verdict
    assert decision.action == "human_review"
    assert decision.risk_score > 0


def test_ai_label_outranks_an_edit() -> None:
    decision = load_policy().decide(
        {"a": [_f("reference_match.local_edit")], "b": [_f("provenance.tc260_ai_generated")]}
    )
    assert decision.verdict == "likely_ai_generated"


def test_confirmed_independent_photos_are_approved() -> None:
    decision = load_policy().decide({"a": [_f("reference_match.same_product", score=0.0)]})
    assert (decision.verdict, decision.action) == ("likely_authentic", "approve")


def test_one_unconfirmed_photo_makes_the_claim_inconclusive() -> None:
    decision = load_policy().decide(
        {
            "a": [_f("reference_match.same_product", score=0.0)],
            "b": [_f("reference_match.no_match", score=0.0)],
        }
    )
    assert (decision.verdict, decision.action) == ("inconclusive", "request_more_evidence")


def test_a_failed_analyzer_never_approves() -> None:
    decision = load_policy().decide(
        {
            "a": [
                _f("reference_match.same_product", score=0.0),
                _f("analyzer.failed", status="failed", score=0.0),
            ]
        }
    )
    assert decision.action != "approve"


def test_missing_metadata_alone_is_not_suspicious() -> None:
    decision = load_policy().decide({"a": [_f("provenance.none", score=0.0)]})
    assert decision.verdict == "inconclusive" and decision.risk_score == 0


def test_no_rule_ever_rejects() -> None:
    policy = load_policy()
    assert {r.action for r in policy.rules} <= {"human_review", "request_more_evidence", "approve"}


def test_a_malformed_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    bad = tmp_path / "policy.toml"
    bad.write_text('version = "x"\n[[rules]]\nverdict = "reject"\naction = "reject"\n', "utf-8")
    with pytest.raises(PolicyError, match=r"policy\.toml"):
        load_policy(bad)
    bad.write_text("not = [toml", "utf-8")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(bad)


_NO_REFERENCE = ("ela", "noise", "jpeg_dq", "copy_move", "recapture", "ai_detector")


@pytest.mark.parametrize(
    "code",
    sorted(c for c in catalogue() if c.split(".")[0] in (*_NO_REFERENCE, "claim_consistency")),
)
def test_no_single_no_reference_signal_decides_a_claim(code: str) -> None:
    """At full strength, alone, a no-reference finding sends the claim to a person or asks for
    more evidence: it never makes it likely_manipulated or likely_ai_generated."""
    decision = load_policy().decide({"m": [_f(code)]})
    assert decision.verdict not in ("likely_manipulated", "likely_ai_generated")
    assert decision.action in ("human_review", "request_more_evidence")


def test_every_suspicious_no_reference_code_is_routed() -> None:
    """A suspicious code the policy forgot would let an approval through."""
    routed = {c for rule in load_policy().rules for c in rule.codes}
    for code, entry in catalogue().items():
        if code.split(".")[0] in _NO_REFERENCE and entry.severity in ("medium", "high"):
            assert code in routed, code


def test_a_photo_of_a_screen_blocks_an_approval() -> None:
    decision = load_policy().decide(
        {"m": [_f("reference_match.same_product"), _f("recapture.periodic_pattern")]}
    )
    assert decision.action == "request_more_evidence"


def test_a_near_exact_copy_inside_the_photo_goes_to_a_person_a_weaker_one_asks_for_more() -> None:
    policy = load_policy()
    strong = policy.decide({"m": [_f("copy_move.duplicated_region", score=0.8)]})
    weak = policy.decide({"m": [_f("copy_move.duplicated_region", score=0.6)]})
    assert (strong.verdict, strong.action) == ("review", "human_review")
    assert (weak.verdict, weak.action) == ("inconclusive", "request_more_evidence")
