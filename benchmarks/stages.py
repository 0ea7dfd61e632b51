"""Where a claim's time goes: the steps of the reference comparison, timed claim by claim.

    python -m benchmarks.stages --data ../shared/data --out docs/benchmarks.md
    python -m benchmarks.stages --families honest_same_product --per-family 40 --no-doc

Builds the core benchmark's cases (:mod:`benchmarks.cases`, same seed, same upload chain),
checks each one cold (no features cached) as ``benchmarks.run`` does, and times the analyzer's
passes and kinds of work with a clock wrapped around each of them for the run (a wrapped
function called inside itself is counted once). Two tables per family:

- **steps**: the analyzer's passes in the order it runs them, which do not overlap, so they
  add up to the claim's time (loading and the provenance analyzer included; what is left is
  the runner, the policy and the verdict);
- **operations**: kinds of work counted wherever they happen (feature detection runs in the
  first search and in the closer looks), so they overlap the steps.
"""

# ruff: noqa: E402  (thread limits must be set before numpy and OpenCV load)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import functools
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from benchmarks.cases import FAMILIES, build_case, case_plan
from benchmarks.report import positive_int, publish, section_meta, section_parser
from benchmarks.sources import library_or_report

MARK_START = "<!-- stages-benchmark:start -->"
MARK_END = "<!-- stages-benchmark:end -->"

DEFAULT_FAMILIES = ("honest_same_product", "honest_wrong_product", "crack", "partial_copy")

Target = tuple[str, Any, str]
"""(label, the class or module that holds it, attribute name)."""


def steps() -> list[Target]:
    """The passes of a claim's check, in the order they run; they do not nest."""
    from vericlaim.analyzers.provenance import ProvenanceAnalyzer
    from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer as R
    from vericlaim.evidence import load

    return [
        ("loading the photos (decode, orient, metadata)", load, "load_bytes"),
        ("feature search, whole frames (ORB, mirrored too)", R, "_search"),
        ("closer looks for pasted regions (SIFT/ORB)", R, "_region_look"),
        ("studio background test", R, "_background_replaced"),
        ("region check of aligned regions", R, "_region_check"),
        ("product search (studio products)", R, "_product_search"),
        ("provenance analyzer", ProvenanceAnalyzer, "analyze"),
    ]


def operations() -> list[Target]:
    """Kinds of work, wherever in the check they happen (they overlap the steps)."""
    from vericlaim.analyzers import _align, _retrieve
    from vericlaim.analyzers import reference_match as rm

    return [
        ("ORB feature detection", _align, "detect_features"),
        ("SIFT feature detection", _align, "detect_sift"),
        ("descriptor matching (ratio test)", _align, "_ratio_matches"),
        ("whole-frame comparisons (warp, compare, localize)", rm, "match_frames"),
        ("re-drawn look (optical flow), inside the comparisons", rm, "_redrawn"),
        ("product placement (template scan, masked ECC)", _retrieve.ProductSearch, "locate"),
        ("pasted-product verification", rm, "match_product"),
    ]


class StageClock:
    """Seconds spent in wrapped functions, by label; a label's nested calls count once."""

    def __init__(self) -> None:
        self.spent: defaultdict[str, float] = defaultdict(float)
        self._depth: defaultdict[str, int] = defaultdict(int)

    def reset(self) -> None:
        self.spent.clear()

    def wrap(self, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._depth[label] += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth[label] -= 1
                if self._depth[label] == 0:
                    self.spent[label] += time.perf_counter() - started

        return timed


@contextmanager
def clocked(clock: StageClock, targets: Sequence[Target]) -> Iterator[None]:
    """Wrap every target for the duration, wherever it is held: on its class, or in its
    module and in every ``vericlaim`` module that imported it by name."""
    patched: list[tuple[Any, str, Any]] = []
    try:
        for label, owner, name in targets:
            original = getattr(owner, name)
            timed = clock.wrap(label, original)
            holders = [owner]
            if not isinstance(owner, type):
                holders += [
                    module
                    for module_name, module in list(sys.modules.items())
                    if module_name.startswith("vericlaim")
                    and module is not owner
                    and getattr(module, name, None) is original
                ]
            for holder in holders:
                patched.append((holder, name, original))
                setattr(holder, name, timed)
        yield
    finally:
        for holder, name, original in reversed(patched):
            setattr(holder, name, original)


def time_claim(case: Any, settings: Any, clock: StageClock) -> dict[str, float]:
    """Milliseconds per label for one cold check of ``case``, and the claim's own under
    ``"total"``."""
    from benchmarks.run import _check
    from vericlaim.analyzers.reference_match import FEATURES

    FEATURES.clear()
    clock.reset()
    started = time.perf_counter()
    _check(case, settings)
    total = (time.perf_counter() - started) * 1000
    spent = {label: seconds * 1000 for label, seconds in clock.spent.items()}
    spent["total"] = total
    return spent


def summarize(
    claims: Sequence[Mapping[str, float]],
    step_labels: Sequence[str],
    operation_labels: Sequence[str],
) -> dict[str, Any]:
    """Mean milliseconds per claim and share of the claim's time, for each step and
    operation; the median claim's time."""
    n = max(len(claims), 1)
    total = sum(c["total"] for c in claims) / n

    def row(label: str) -> dict[str, Any]:
        ms = sum(c.get(label, 0.0) for c in claims) / n
        return {"name": label, "ms": ms, "share": ms / total if total else 0.0}

    step_rows = [row(label) for label in step_labels]
    rest = total - sum(r["ms"] for r in step_rows)
    step_rows.append(
        {
            "name": "the rest (runner, policy, verdict)",
            "ms": rest,
            "share": rest / total if total else 0.0,
        }
    )
    return {
        "claims": len(claims),
        "total_ms": total,
        "median_total_ms": statistics.median(c["total"] for c in claims) if claims else 0.0,
        "steps": step_rows,
        "operations": [row(label) for label in operation_labels],
    }


def _table(rows: Sequence[Mapping[str, Any]], first: str) -> list[str]:
    lines = [f"| {first} | ms per claim (mean) | share % |", "|---|---|---|"]
    lines += [f"| {r['name']} | {r['ms']:.1f} | {100 * r['share']:.1f} |" for r in rows]
    return lines


def render_section(per_family: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    lines = [
        MARK_START,
        "## Reference match: where a claim's time goes",
        "",
        f"Run {meta['date']} · seed {meta['seed']} · commit `{meta['commit']}` · "
        f"{meta['per_family']} claims per family, each checked cold in one single-threaded "
        f"process · reference_match {meta['version']} · {meta['cpu']}.",
        f"Command: `{meta['command']}`",
        "",
        "Steps run one after another and add up to the claim's time; operations are counted",
        "wherever they happen and overlap the steps. Mean milliseconds per claim of the family",
        "(a step that runs on some claims only is averaged over all of them).",
    ]
    for family, summary in per_family.items():
        lines += [
            "",
            f"### {family} ({summary['claims']} claims: {summary['total_ms']:.0f} ms per claim "
            f"on average, median {summary['median_total_ms']:.0f})",
            "",
            *_table(summary["steps"], "step"),
            "",
            *_table(summary["operations"], "operation"),
        ]
    lines.append(MARK_END)
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = section_parser("benchmarks.stages", __doc__, results="per-family stage times")
    parser.add_argument(
        "--families",
        default=",".join(DEFAULT_FAMILIES),
        help="comma-separated families of the core benchmark",
    )
    parser.add_argument("--per-family", type=positive_int, default=20, help="claims per family")
    args = parser.parse_args(argv)
    args.family_names = [f.strip() for f in args.families.split(",") if f.strip()]
    unknown = [n for n in args.family_names if n not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks.run import _WORKER, _init_worker, _machine

    args = _parse(argv)
    if library_or_report(args.data) is None:
        return 2
    from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer

    _init_worker(args.data, args.seed, None)
    named_steps, named_operations = steps(), operations()
    clock = StageClock()
    per_family: dict[str, dict[str, Any]] = {}
    with clocked(clock, [*named_steps, *named_operations]):
        for family in args.family_names:
            plan = case_plan([family], per_family=args.per_family, weighted=False)
            claims = []
            for name, index in plan:
                case = build_case(_WORKER["lib"], name, index, args.seed)
                claims.append(time_claim(case, _WORKER["settings"], clock))
            per_family[family] = summarize(
                claims, [t[0] for t in named_steps], [t[0] for t in named_operations]
            )
    meta = section_meta(
        "benchmarks.stages",
        argv,
        seed=args.seed,
        per_family=args.per_family,
        version=ReferenceMatchAnalyzer.version,
        cpu=_machine()["cpu"],
    )
    rows = [{"family": family, **summary} for family, summary in per_family.items()]
    publish(render_section(per_family, meta), meta, rows, args, start=MARK_START, end=MARK_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
