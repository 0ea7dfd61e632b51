"""Run the reference-match benchmark.

    python -m benchmarks.run --data ../shared/data --out docs/benchmarks.md
    python -m benchmarks.run --data ../shared/data --quick --families crack,honest_same_product

Builds the labelled claims (see :mod:`benchmarks.cases`), checks each with
:func:`vericlaim.check.check_claim`, times it against a plain decode of the same bytes,
writes the section of ``--out`` between its markers, prints the table and writes the raw
per-case results to ``benchmarks/.cache/last-run.json``.
"""

# ruff: noqa: E402  (thread limits must be set before numpy and OpenCV load)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import datetime as dt
import hashlib
import io
import multiprocessing
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from benchmarks.cases import FAMILIES, Case, build_case, case_plan
from benchmarks.metrics import FLAGGED, claim_regions, localization, summarize
from benchmarks.report import family_table, render_section, write_doc, write_json
from benchmarks.sources import Library, library_or_report, open_library

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(__file__).resolve().parent / ".cache"
CLAIM_ID = "claim"
# The comparison with the merchant's photos, which this benchmark measures; the no-reference
# analyzers have their own benchmark (benchmarks/noref.py) with their speed per megapixel.
REFERENCE_ANALYZERS = "reference_match,provenance"


def _single_thread() -> None:
    cv2.setNumThreads(1)


# --- one case -----------------------------------------------------------------------------


def _check(case: Case, settings: Any) -> tuple[dict[str, Any], float]:
    from vericlaim.check import check_claim
    from vericlaim.evidence import load_bytes

    started = time.perf_counter()
    claim = load_bytes(
        case.claim, source=f"{case.case_id}.jpg", role="claim", media_id=CLAIM_ID, settings=settings
    )
    refs = [
        load_bytes(data, source=key, role="listing", media_id=f"listing-{i + 1}", settings=settings)
        for i, (key, data) in enumerate(case.references)
    ]
    result = check_claim([claim], refs, claim_id=case.case_id, analyzers=_WORKER.get("analyzers"))
    return result.verdict, (time.perf_counter() - started) * 1000


def _decode(case: Case) -> float:
    started = time.perf_counter()
    for data in (case.claim, *(d for _, d in case.references)):
        Image.open(io.BytesIO(data)).convert("RGB")
    return (time.perf_counter() - started) * 1000


def run_case(case: Case, settings: Any) -> dict[str, Any]:
    """Check one case, timed against the decode baseline; the per-case JSON record."""
    record: dict[str, Any] = {
        "case_id": case.case_id,
        "family": case.family,
        "kind": case.kind,
        "chain": case.chain,
        "references": [key for key, _ in case.references],
        "true_reference": case.true_reference,
        "true_reference_media_id": next(
            f"listing-{i + 1}"
            for i, (k, _) in enumerate(case.references)
            if k == case.true_reference
        ),
        "claim_bytes": len(case.claim),
        **case.info,
    }
    from vericlaim.analyzers.reference_match import FEATURES

    try:
        # Cold: nothing cached, every photo's features computed for this claim alone.
        FEATURES.clear()
        if case.index % 2:  # alternate which goes first, so caches favour neither
            decode_ms = _decode(case)
            verdict, check_ms = _check(case, settings)
        else:
            verdict, check_ms = _check(case, settings)
            decode_ms = _decode(case)
        # Warm: as in a service that already checked claims against these listing photos,
        # only the references' features are cached (the claim photo's are dropped).
        FEATURES.forget(hashlib.sha256(case.claim).hexdigest())
        _, warm_ms = _check(case, settings)
    except Exception as exc:  # a crash is a result too: recorded, never fatal to the run
        record.update(error=f"{type(exc).__name__}: {exc}", verdict=None, action=None)
        record.update(flagged=False, timing=None, localization=None)
        return record
    findings = [
        {
            k: f[k]
            for k in (
                "analyzer",
                "status",
                "reason_code",
                "score",
                "confidence",
                "details",
                "regions",
            )
        }
        for m in verdict["media"]
        if m["media_id"] == CLAIM_ID
        for f in m["findings"]
    ]
    matched = next(
        (f["details"].get("reference") for f in findings if f["analyzer"] == "reference_match"),
        None,
    )
    record.update(
        error=None,
        matched_reference=matched,
        matched_true_reference=(matched == record["true_reference_media_id"]) if matched else None,
        verdict=verdict["verdict"],
        action=verdict["recommended_action"],
        risk_score=verdict["risk_score"],
        flagged=verdict["verdict"] in FLAGGED,
        reason_codes=[r["code"] for r in verdict["reasons"]],
        findings=findings,
        policy_version=verdict["policy_version"],
        analyzers=verdict["analyzers"],
        timing={
            "check_ms": round(check_ms, 2),
            "warm_ms": round(warm_ms, 2),
            "decode_ms": round(decode_ms, 2),
            "ratio": round(check_ms / max(decode_ms, 1e-6), 3),
            "warm_ratio": round(warm_ms / max(decode_ms, 1e-6), 3),
        },
        localization=(
            localization(case.mask, claim_regions(verdict, CLAIM_ID)) if case.local else None
        ),
    )
    return record


# --- the worker (in-process for --jobs 1, one per process otherwise) ----------------------

_WORKER: dict[str, Any] = {}


def _analyzers(names: str) -> list[Any] | None:
    """The analyzers a run checks with: ``all`` is what ``vericlaim check`` runs."""
    from vericlaim.analyzers.registry import get

    if names == "all":
        return None
    return [get(n.strip())() for n in names.split(",") if n.strip()]


def _init_worker(
    data: str,
    seed: int,
    dump: str | None,
    upload_side: int | None = None,
    analyzers: str = REFERENCE_ANALYZERS,
) -> None:
    from vericlaim.settings import get_settings

    _single_thread()
    lib = open_library(data)
    settings = get_settings()
    _WORKER.update(lib=lib, seed=seed, settings=settings, dump=dump, upload_side=upload_side)
    _WORKER["analyzers"] = _analyzers(analyzers)
    warm = build_case(lib, "verbatim", 0, seed + 1)
    _check(warm, settings)  # imports, policy and first-call costs stay out of the timings
    _decode(warm)


def _work(item: tuple[str, int]) -> dict[str, Any]:
    family, index = item
    lib: Library = _WORKER["lib"]
    started = time.perf_counter()
    case = build_case(lib, family, index, _WORKER["seed"], upload_side=_WORKER["upload_side"])
    build_ms = (time.perf_counter() - started) * 1000
    if _WORKER["dump"]:
        _dump(case, Path(_WORKER["dump"]))
    record = run_case(case, _WORKER["settings"])
    record["build_ms"] = round(build_ms, 1)
    return record


def _dump(case: Case, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{case.case_id}.jpg").write_bytes(case.claim)
    if case.mask is not None:
        Image.fromarray(case.mask.astype(np.uint8) * 255).save(folder / f"{case.case_id}.mask.png")


def _results(args: argparse.Namespace, plan: Sequence[tuple[str, int]]) -> Iterator[dict[str, Any]]:
    init = (args.data, args.seed, args.dump, args.upload_side, args.analyzers)
    yield from in_workers(_work, plan, args.jobs, init)


def in_workers(
    work: Callable[[Any], dict[str, Any]],
    items: Sequence[Any],
    jobs: int,
    init: tuple[Any, ...],
) -> Iterator[dict[str, Any]]:
    """``work`` over ``items`` in ``jobs`` worker processes (in this one when ``jobs`` is 1),
    each prepared by :func:`_init_worker` with ``init``; results in the order of ``items``."""
    if jobs <= 1:
        _init_worker(*init)
        yield from map(work, items)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=context, initializer=_init_worker, initargs=init
    ) as pool:
        yield from pool.map(work, items, chunksize=1)


# --- run metadata -------------------------------------------------------------------------


def _commit() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


def _machine() -> dict[str, Any]:
    import PIL
    import pywt

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "platform": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "libraries": {
            "numpy": np.__version__,
            "opencv": cv2.__version__,
            "pillow": PIL.__version__,
            "PyWavelets": pywt.__version__,
        },
        "threads": f"cv2.setNumThreads(1) (cv2.getNumThreads() = {cv2.getNumThreads()}), "
        f"OMP/OpenBLAS/MKL threads = {os.environ.get('OMP_NUM_THREADS')}",
    }


# --- command line -------------------------------------------------------------------------


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", default=str(REPO.parent / "shared" / "data"), help="shared data folder"
    )
    parser.add_argument(
        "--out", default=str(REPO / "docs" / "benchmarks.md"), help="Markdown file to update"
    )
    parser.add_argument("--json", default=str(CACHE / "last-run.json"), help="raw per-case results")
    parser.add_argument("--seed", type=int, default=1, help="cases are deterministic from it")
    parser.add_argument(
        "--per-family", type=int, default=100, help="cases per family (x its weight)"
    )
    parser.add_argument("--quick", action="store_true", help="10 cases per family, no weights")
    parser.add_argument(
        "--limit", type=int, default=None, help="at most this many cases per family"
    )
    parser.add_argument("--families", default=None, help="comma-separated families (default: all)")
    parser.add_argument(
        "--jobs", type=int, default=1, help="worker processes, each single-threaded"
    )
    parser.add_argument("--dump", default=None, help="also write claim photos and masks here")
    parser.add_argument("--no-doc", action="store_true", help="do not touch --out")
    parser.add_argument(
        "--analyzers",
        default=REFERENCE_ANALYZERS,
        help="comma-separated analyzers to check with, or 'all' (what vericlaim check runs); "
        "default: the reference comparison and provenance",
    )
    parser.add_argument(
        "--upload-side",
        type=int,
        default=None,
        help="fix every claim's upload long side (a size sweep of the speed ratio)",
    )
    args = parser.parse_args(argv)
    names = [f.strip() for f in args.families.split(",")] if args.families else list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        parser.error(f"unknown families {unknown}; known: {', '.join(FAMILIES)}")
    args.family_names = names
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if library_or_report(args.data) is None:
        return 2
    _single_thread()
    per_family = 10 if args.quick else args.per_family
    plan = case_plan(
        args.family_names, per_family=per_family, limit=args.limit, weighted=not args.quick
    )
    started = time.perf_counter()
    outcomes = []
    for i, record in enumerate(_results(args, plan), start=1):
        outcomes.append(record)
        if i % 25 == 0 or i == len(plan):
            elapsed = time.perf_counter() - started
            print(f"[{i}/{len(plan)}] {elapsed:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    summary = summarize(outcomes, args.family_names)
    first = next((o for o in outcomes if o.get("analyzers")), {})
    meta = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seed": args.seed,
        "commit": _commit(),
        "cases": len(outcomes),
        "wall_s": round(wall, 1),
        "build_s": round(sum(o.get("build_ms", 0) for o in outcomes) / 1000, 1),
        "jobs": args.jobs,
        "command": "python -m benchmarks.run "
        + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "policy_version": first.get("policy_version"),
        "analyzers": first.get("analyzers", {}),
        "machine": _machine(),
    }
    write_json(args.json, meta, outcomes)
    if not args.no_doc:
        write_doc(args.out, render_section(summary, meta, outcomes))
    print(family_table([*summary["families"], *summary["totals"]]))
    print(
        f"\n{len(outcomes)} claims in {wall / 60:.1f} min ({meta['build_s']:.0f} s building cases)"
        f"; raw results: {args.json}" + ("" if args.no_doc else f"; report: {args.out}")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
