"""How strong a re-drawing the check survives: the ``regenerated`` family under other strengths.

The core benchmark's re-drawn copies (``benchmarks.edits.regenerate``) drift by 0.1-1.2 % of
the long side over about a tenth of it, and lose part of their detail under about 4 pixels
at the size the photo was edited. Generative editors vary: one works at its own size (a
latent image with an 8-pixel stride at 1,024 px) and answers at that size; another moves
objects as a whole by a few per cent of the frame. This sweep builds the same claims (the
same merchant photos, edits, re-save chains and uploads; the second, unrelated reference may
be another one, drawn after the re-drawing) re-drawn at other strengths:

``core``
    as in the core benchmark.
``latent``
    at a generator's working size: the photo resized to 1,024 px on its long side, detail
    under 8 pixels there (a latent's stride) re-synthesised, 10-40 % of it kept, the answer
    at 1,024 px.
``drift_wide``
    a wider, smoother drift: 1.5-3 % of the long side, correlated over a third of it (parts
    of the photo moved as a whole).
``drift_strong``
    a stronger drift at the core's reach: 1.2-2.5 % of the long side over a tenth of it
    (local stretches of 10-25 %, beyond what an editor asked for a crack does).

The report gives, per strength, the share flagged and the share of edits localized (as the
core benchmark defines it), with the relations found. Honest claims are not re-drawn, so
they are not part of this sweep: the core benchmark and the look-alike section measure them.

Run ``python -m benchmarks.redraw --data ../shared/data --out docs/benchmarks.md``.
"""

# ruff: noqa: E402  (thread limits must be set before numpy and OpenCV load)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from benchmarks.cases import build_case
from benchmarks.edits import CORE_REDRAWING, Redrawing
from benchmarks.metrics import relation, wilson
from benchmarks.report import positive_int, publish, section_meta, section_parser
from benchmarks.sources import library_or_report

MARK_START = "<!-- redraw-benchmark:start -->"
MARK_END = "<!-- redraw-benchmark:end -->"

STRENGTHS: dict[str, tuple[Redrawing, str]] = {
    "core": (CORE_REDRAWING, "as in the core benchmark"),
    "latent": (
        Redrawing(detail=8, kept=(0.1, 0.4), working_side=1024),
        "at 1,024 px, detail under 8 px re-synthesised",
    ),
    "drift_wide": (
        Redrawing(drift=(0.015, 0.03), reach=(2.5, 3.5)),
        "drift 1.5-3 % over a third of the frame",
    ),
    "drift_strong": (
        Redrawing(drift=(0.012, 0.025)),
        "drift 1.2-2.5 % over a tenth of the frame",
    ),
}
"""Each strength: the re-drawing and a few words on it."""


def redraw_case(lib: Any, strength: str, index: int, seed: int) -> Any:
    """The core benchmark's ``regenerated`` case ``index``, re-drawn at ``strength``."""
    return build_case(lib, "regenerated", index, seed, redrawing=STRENGTHS[strength][0])


def _work(item: tuple[str, int]) -> dict[str, Any]:
    from benchmarks import run

    strength, index = item
    worker = run._WORKER
    case = redraw_case(worker["lib"], strength, index, worker["seed"])
    record = run.run_case(case, worker["settings"])
    record["strength"] = strength
    return record


def plan(strengths: Sequence[str], per_strength: int) -> list[tuple[str, int]]:
    """(strength, index) pairs, interleaved so that a partial run stays balanced."""
    return [(s, i) for i in range(per_strength) for s in strengths]


def render_section(outcomes: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    strengths = [s for s in STRENGTHS if any(o["strength"] == s for o in outcomes)]
    lines = [
        MARK_START,
        "## Re-drawn copies at other strengths",
        "",
        f"Run {meta['date']} · seed {meta['seed']} · commit `{meta['commit']}` · "
        f"{len(outcomes)} claims ({meta['per_strength']} per strength) · "
        f"reference_match {meta['version']}.",
        f"Command: `{meta['command']}`",
        "",
        "The core benchmark's re-drawn copies (the same photos, edits, chains and uploads) "
        "re-drawn at other strengths; see `benchmarks/redraw.py`. Localized: the share of all "
        "edits, as the core benchmark defines it.",
        "",
        "| strength | what | n | flagged % (95 % CI) | localized % | relations found | "
        "median ms/claim | ratio to decode |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s in strengths:
        group = [o for o in outcomes if o["strength"] == s]
        n = len(group)
        k = sum(bool(o["flagged"]) for o in group)
        low, high = wilson(k, n)
        local = [o for o in group if o.get("localization") is not None]
        done = sum(bool(o["localization"]["localized"]) for o in local)
        found = Counter(relation(o) for o in group)
        relations = ", ".join(f"{r} {c}" for r, c in found.most_common())
        timed = [o for o in group if o.get("timing")]
        ms = float(np.median([o["timing"]["check_ms"] for o in timed])) if timed else math.nan
        ratio = float(np.median([o["timing"]["ratio"] for o in timed])) if timed else math.nan
        localized = f"{100 * done / len(local):.0f}" if local else "—"
        lines.append(
            f"| {s} | {STRENGTHS[s][1]} | {n} | {100 * k / n:.0f} "
            f"({100 * low:.0f}–{100 * high:.0f}) | {localized} | {relations} | {ms:.0f} | "
            f"{ratio:.1f}x |"
        )
    lines += ["", MARK_END]
    return "\n".join(lines)


def _strengths(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in STRENGTHS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown strength {', '.join(unknown) or '(none given)'}; "
            f"known: {', '.join(STRENGTHS)}"
        )
    return names


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = section_parser("benchmarks.redraw", __doc__, results="per-claim results")
    parser.add_argument(
        "--per-strength", type=positive_int, default=100, help="claims per strength"
    )
    parser.add_argument(
        "--strengths",
        type=_strengths,
        default=list(STRENGTHS),
        help="comma-separated strengths (default: all)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import run
    from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer

    args = _parse(argv)
    if library_or_report(args.data) is None:
        return 2
    work = plan(args.strengths, args.per_strength)
    init = (args.data, args.seed, None)
    started = time.perf_counter()
    outcomes = list(run.in_workers(_work, work, args.jobs, init))
    meta = section_meta(
        "benchmarks.redraw",
        argv,
        seed=args.seed,
        per_strength=args.per_strength,
        strengths=args.strengths,
        version=ReferenceMatchAnalyzer.version,
        wall_s=round(time.perf_counter() - started, 1),
    )
    publish(render_section(outcomes, meta), meta, outcomes, args, start=MARK_START, end=MARK_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
