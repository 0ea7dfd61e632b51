"""Scoring: the versioned policy and the public verdict JSON."""

from vericlaim.scoring.policy import Decision, Policy, load_policy
from vericlaim.scoring.verdict import SCHEMA, build_verdict

__all__ = ["SCHEMA", "Decision", "Policy", "build_verdict", "load_policy"]
