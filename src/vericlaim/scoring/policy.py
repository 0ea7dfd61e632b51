"""The versioned policy that turns findings into a routed verdict."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from vericlaim.analyzers.finding import Finding
from vericlaim.errors import PolicyError
from vericlaim.reasons import catalogue

__all__ = ["Action", "Decision", "Policy", "VerdictClass", "load_policy"]

VerdictClass = Literal[
    "likely_authentic", "review", "likely_manipulated", "likely_ai_generated", "inconclusive"
]
Action = Literal["approve", "request_more_evidence", "human_review"]
_VERDICTS = (
    "likely_authentic",
    "review",
    "likely_manipulated",
    "likely_ai_generated",
    "inconclusive",
)
_ACTIONS = ("approve", "request_more_evidence", "human_review")


@dataclass(frozen=True, slots=True)
class Rule:
    verdict: VerdictClass
    action: Action
    min_score: float
    codes: frozenset[str]


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: VerdictClass
    action: Action
    risk_score: int
    firing: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    rules: tuple[Rule, ...]
    authentic_codes: frozenset[str]
    authentic_min_confidence: float
    severity_weight: Mapping[str, float]

    def decide(self, findings_by_media: Mapping[str, Sequence[Finding]]) -> Decision:
        """Route a claim from its findings.

        The first rule (in policy order) with a firing finding decides; with none, the claim
        is ``likely_authentic`` only if every claim photo was confirmed as an independent
        photo of the product sold, and ``inconclusive`` otherwise. Never a rejection.
        """
        all_findings = [f for fs in findings_by_media.values() for f in fs]
        ok = [f for f in all_findings if f.status == "ok"]
        risk = 0.0
        for f in ok:
            weight = self.severity_weight.get(catalogue()[f.reason_code].severity, 0.0)
            risk = max(risk, f.score * weight)
        for rule in self.rules:
            firing = tuple(
                f for f in ok if f.reason_code in rule.codes and f.score >= rule.min_score
            )
            if firing:
                return Decision(rule.verdict, rule.action, round(100 * risk), firing)
        if (
            findings_by_media
            and all(
                any(
                    f.status == "ok"
                    and f.reason_code in self.authentic_codes
                    and f.confidence >= self.authentic_min_confidence
                    for f in fs
                )
                for fs in findings_by_media.values()
            )
            and not any(f.status == "failed" for f in all_findings)
        ):
            return Decision("likely_authentic", "approve", round(100 * risk), ())
        return Decision("inconclusive", "request_more_evidence", round(100 * risk), ())


def _parse(raw: Mapping[str, Any], origin: str) -> Policy:
    try:
        known = catalogue()
        rules = []
        for entry in raw["rules"]:
            if entry["verdict"] not in _VERDICTS or entry["action"] not in _ACTIONS:
                raise PolicyError(f"{origin}: unknown verdict or action in rule {entry!r}")
            unknown = [c for c in entry["codes"] if c not in known]
            if unknown:
                raise PolicyError(f"{origin}: unknown reason codes {unknown}")
            rules.append(
                Rule(
                    entry["verdict"],
                    entry["action"],
                    float(entry["min_score"]),
                    frozenset(entry["codes"]),
                )
            )
        return Policy(
            version=str(raw["version"]),
            rules=tuple(rules),
            authentic_codes=frozenset(raw["authentic"]["codes"]),
            authentic_min_confidence=float(raw["authentic"]["min_confidence"]),
            severity_weight={k: float(v) for k, v in raw["risk"].items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise PolicyError(f"{origin}: malformed policy ({exc})") from exc


def load_policy(path: str | Path | None = None) -> Policy:
    """Load a policy file, or the packaged default policy."""
    if path is None:
        text = (
            resources.files("vericlaim.scoring").joinpath("default_policy.toml").read_text("utf-8")
        )
        origin = "default_policy.toml"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise PolicyError(f"{path}: cannot read policy ({exc.strerror or exc})") from exc
        origin = str(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{origin}: not valid TOML ({exc})") from exc
    return _parse(raw, origin)
