"""Analyzers: independent checks that turn evidence into findings."""

from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region, Status
from vericlaim.analyzers.registry import all_analyzers, default_analyzers, get, register
from vericlaim.analyzers.runner import run_analyzer, run_analyzers

__all__ = [
    "Analyzer",
    "AnalyzerConfig",
    "ClaimContext",
    "Finding",
    "Region",
    "Status",
    "all_analyzers",
    "default_analyzers",
    "get",
    "register",
    "run_analyzer",
    "run_analyzers",
]
