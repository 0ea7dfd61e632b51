"""The no-reference benchmark: each no-reference analyzer on its own, and the combined policy.

Every source photo, forged or honest, is analysed twice: as distributed (the file's own bytes)
and after one re-save chain drawn from what platforms and buyers do (recompression, resizing,
cropping, a chat screenshot) followed by the same upload chain as the core benchmark (crop,
resize to 480-2,048 px, one JPEG encode at quality 50-95). Forged and honest photos draw from
the same chains, so neither file size nor resolution nor JPEG settings can stand in for the
label. The core benchmark's edited fakes (real crack and break textures, stains, inpainting)
come in with their reference withheld.

Per analyzer: image-level AUC (from the finding's score), pixel F1 of the heatmap (at 0.5)
against the ground-truth mask, false alarms on each honest set at the default threshold
(score >= 0.5 with a suspicious reason code), and megapixels per second. Plain baselines an
analyzer reports in ``details["baseline_score"]`` (raw ELA difference, global noise
variance, ...) get an AUC from the same photos in the same run. The combined policy is the
default policy applied to every analyzer's findings of the photo, as ``vericlaim check``
does without a reference.

Run ``python -m benchmarks.noref --data ../shared/data --out docs/benchmarks.md``.
"""

# ruff: noqa: E402  (thread limits must be set before numpy and OpenCV load)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import importlib
import multiprocessing
import time
import zlib
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.cases import FAMILIES, build_case
from benchmarks.chains import Tracked, apply_chain, draw_upload, upload
from benchmarks.metrics import wilson
from benchmarks.report import write_doc, write_json
from benchmarks.sources import Library, Photo, open_library

MARK_START = "<!-- noref-benchmark:start -->"
MARK_END = "<!-- noref-benchmark:end -->"
CHAINS = ("recompress", "scale", "crop", "screenshot")
EDITED_FAMILIES = ("crack", "break", "stain", "inpaint")
FLAGGED_VERDICTS = frozenset({"review", "likely_manipulated", "likely_ai_generated"})
NOT_ANALYZERS = frozenset({"reference_match", "provenance", "claim_consistency"})
MEDIA_ID = "claim"


@dataclass(frozen=True)
class Item:
    """One photo to analyse: its bytes, its label and (for a forgery) the edited pixels."""

    item_id: str
    group: str  # the set it counts in: noso_forgery, edited_crack, honest_natural, ...
    kind: str  # fake | honest
    variant: str  # original | the chain's name
    data: bytes
    mask: np.ndarray | None


# --- the photos --------------------------------------------------------------------------


def _rng(seed: int, *key: str | int) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(str(k).encode()) for k in key)])


def _decoded(photo: Photo) -> np.ndarray:
    return photo.pixels()


def _mask(photo: Photo) -> np.ndarray | None:
    if photo.mask_path is None:
        return None
    gt = cv2.imread(str(photo.mask_path), cv2.IMREAD_GRAYSCALE)
    return None if gt is None else gt > 127


def _chained(
    item_id: str, group: str, kind: str, photo: Photo, mask: np.ndarray | None, seed: int
) -> Item:
    rng = _rng(seed, item_id)
    chain = CHAINS[int(rng.integers(0, len(CHAINS)))]
    tracked = Tracked(_decoded(photo), None if mask is None else mask.astype(np.float32))
    tracked = apply_chain(tracked, chain, rng)
    data, final = upload(tracked, draw_upload(rng))
    out_mask = None if final.mask is None else final.mask >= 0.5
    return Item(f"{item_id}/{chain}", group, kind, chain, data, out_mask)


def _sample(photos: Sequence[Photo], n: int | None, seed: int, key: str) -> list[Photo]:
    if n is None or n >= len(photos):
        return list(photos)
    order = _rng(seed, key).permutation(len(photos))[:n]
    return [photos[int(i)] for i in sorted(order)]


def honest_sets(lib: Library, root: Path) -> dict[str, list[Photo]]:
    natural = [p for ps in lib.natural.values() for p in ps]
    aigc_real = sorted((root / "aigc" / "real").glob("*"))
    return {
        "honest_natural": natural,
        "honest_noso_scenes": list(lib.noso_scenes),
        "honest_noso_originals": list(lib.noso_originals),
        "honest_aigc_real": [
            Photo(key=p.relative_to(root).as_posix(), path=p)
            for p in aigc_real
            if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}
        ],
        "honest_tiles_free": list(lib.tiles.get("MT_Free", ())),
        "honest_studio": list(lib.iconic),
    }


def build_items(lib: Library, root: Path, *, seed: int, per_set: int | None) -> Iterator[Item]:
    """Every photo of the benchmark, forged and honest, as distributed and re-saved."""
    for photo, _original in lib.noso_forgeries:
        item_id = f"noso_forgery/{photo.path.stem}"
        mask = _mask(photo)
        yield Item(f"{item_id}/original", "noso_forgery", "fake", "original", photo.data(), mask)
        yield _chained(item_id, "noso_forgery", "fake", photo, mask, seed)
    for name, photos in honest_sets(lib, root).items():
        for photo in _sample(photos, per_set, seed, name):
            item_id = f"{name}/{photo.key}"
            yield Item(f"{item_id}/original", name, "honest", "original", photo.data(), None)
            yield _chained(item_id, name, "honest", photo, None, seed)
    for family in EDITED_FAMILIES:
        if family not in FAMILIES:
            continue
        for index in range(per_set or 50):
            case = build_case(lib, family, index, seed)
            yield Item(
                f"edited_{family}/{index}",
                f"edited_{family}",
                "fake",
                case.chain,
                case.claim,
                case.mask,
            )


# --- one photo ---------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _analyzers(names: Sequence[str]) -> list[Any]:
    from vericlaim.analyzers.registry import all_analyzers

    for name in names:
        importlib.import_module(f"vericlaim.analyzers.{name}")
    registry = all_analyzers()
    return [registry[name]() for name in names]


def default_analyzer_names() -> list[str]:
    from vericlaim.analyzers.registry import all_analyzers

    return [
        name
        for name, cls in all_analyzers().items()
        if name not in NOT_ANALYZERS and "references" not in cls.requires
    ]


def _init(names: Sequence[str]) -> None:
    import cv2 as _cv2

    _cv2.setNumThreads(1)
    from vericlaim.analyzers.provenance import ProvenanceAnalyzer
    from vericlaim.scoring.policy import load_policy

    _WORKER.update(
        analyzers=_analyzers(names), provenance=ProvenanceAnalyzer(), policy=load_policy()
    )


def pixel_f1(heatmap: np.ndarray | None, mask: np.ndarray, threshold: float = 0.5) -> float:
    """F1 of ``heatmap >= threshold`` (scaled to the mask) against the mask."""
    if heatmap is None:
        return 0.0
    h, w = mask.shape
    heat = cv2.resize(np.asarray(heatmap, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    predicted = heat >= threshold
    tp = float(np.count_nonzero(predicted & mask))
    fp = float(np.count_nonzero(predicted & ~mask))
    fn = float(np.count_nonzero(~predicted & mask))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def analyse(item: Item) -> dict[str, Any]:
    """Every analyzer on one photo; the per-photo JSON record."""
    from vericlaim.analyzers.base import ClaimContext
    from vericlaim.analyzers.runner import run_analyzer
    from vericlaim.errors import EvidenceError
    from vericlaim.evidence import load_bytes

    record: dict[str, Any] = {
        "item_id": item.item_id,
        "group": item.group,
        "kind": item.kind,
        "variant": item.variant,
        "bytes": len(item.data),
    }
    try:
        evidence = load_bytes(item.data, source=item.item_id, role="claim", media_id=MEDIA_ID)
    except EvidenceError as exc:
        record["error"] = str(exc)
        return record
    record["megapixels"] = evidence.width * evidence.height / 1e6
    context = ClaimContext(claim_media=(evidence,))
    mask = item.mask
    if mask is not None and mask.shape != (evidence.height, evidence.width):
        mask = cv2.resize(
            mask.astype(np.uint8), (evidence.width, evidence.height), cv2.INTER_NEAREST
        ).astype(bool)
    findings = run_analyzer(_WORKER["provenance"], evidence, context)
    results: dict[str, Any] = {}
    for analyzer in _WORKER["analyzers"]:
        started = time.perf_counter()
        found = run_analyzer(analyzer, evidence, context)
        seconds = time.perf_counter() - started
        findings.extend(found)
        f = found[0]
        baseline = f.details.get("baseline_score")
        results[analyzer.name] = {
            "status": f.status,
            "reason_code": f.reason_code,
            "score": f.score if f.status == "ok" else None,
            "flagged": f.status == "ok" and f.score >= 0.5 and not f.reason_code.endswith(".none"),
            "seconds": seconds,
            "baseline": float(baseline) if isinstance(baseline, int | float) else None,
            "f1": (
                pixel_f1(f.heatmap, mask)
                if mask is not None and mask.any() and f.status == "ok"
                else None
            ),
        }
    decision = _WORKER["policy"].decide({MEDIA_ID: findings})
    record.update(
        analyzers=results,
        verdict=decision.verdict,
        action=decision.action,
        flagged=decision.verdict in FLAGGED_VERDICTS,
    )
    return record


# --- the figures ---------------------------------------------------------------------------


def auc(positives: Sequence[float], negatives: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half)."""
    if not positives or not negatives:
        return None
    values = np.concatenate([np.asarray(positives, float), np.asarray(negatives, float)])
    order = values.argsort(kind="mergesort")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    # average ranks of ties
    for v in np.unique(values):
        tied = values == v
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    n_pos = len(positives)
    u = ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * len(negatives)))


def _scores(records: Sequence[Mapping[str, Any]], name: str, key: str = "score") -> list[float]:
    # An analyzer that does not apply says nothing: it scores 0 for the ranking.
    out = []
    for r in records:
        a = r.get("analyzers", {}).get(name)
        if a is not None:
            value = a.get(key)
            out.append(float(value) if value is not None else 0.0)
    return out


def _pct(k: int, n: int) -> str:
    if n == 0:
        return "—"
    lo, hi = wilson(k, n)
    return f"{100 * k / n:.1f} % ({k}/{n}; CI {100 * lo:.1f}–{100 * hi:.1f})"


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def summarize(records: Sequence[Mapping[str, Any]], names: Sequence[str]) -> str:
    ok = [r for r in records if "analyzers" in r]
    noso_raw = [r for r in ok if r["group"] == "noso_forgery" and r["variant"] == "original"]
    noso_raw_honest = [
        r for r in ok if r["group"] == "honest_noso_originals" and r["variant"] == "original"
    ]
    fakes_chained = [r for r in ok if r["kind"] == "fake" and r["variant"] != "original"]
    honest_chained = [r for r in ok if r["kind"] == "honest" and r["variant"] != "original"]
    honest = [r for r in ok if r["kind"] == "honest"]
    noso = [r for r in ok if r["group"] == "noso_forgery"]
    lines = [
        "| analyzer | AUC NoSo as distributed (18 vs 13 originals) | AUC all fakes vs all "
        "honest, re-saved | baseline AUC (same photos) | pixel F1 NoSo | pixel F1 edited "
        "fakes | NoSo found | honest false alarms | MP/s (median) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        base_raw = auc(
            _scores(noso_raw, name, "baseline"), _scores(noso_raw_honest, name, "baseline")
        )
        base_all = auc(
            _scores(fakes_chained, name, "baseline"), _scores(honest_chained, name, "baseline")
        )
        has_baseline = any(r["analyzers"].get(name, {}).get("baseline") is not None for r in ok)
        f1_noso = [r["analyzers"][name]["f1"] or 0.0 for r in noso if name in r["analyzers"]]
        edited = [r for r in ok if r["group"].startswith("edited_") and name in r["analyzers"]]
        f1_edit = [r["analyzers"][name]["f1"] or 0.0 for r in edited]
        found = sum(1 for r in noso if r["analyzers"].get(name, {}).get("flagged"))
        fa = sum(1 for r in honest if r["analyzers"].get(name, {}).get("flagged"))
        speeds = [
            r["megapixels"] / r["analyzers"][name]["seconds"]
            for r in ok
            if name in r["analyzers"] and r["analyzers"][name]["status"] == "ok"
        ]
        lines.append(
            f"| {name} | {_fmt(auc(_scores(noso_raw, name), _scores(noso_raw_honest, name)))} "
            f"| {_fmt(auc(_scores(fakes_chained, name), _scores(honest_chained, name)))} "
            f"| {(_fmt(base_raw) + ' / ' + _fmt(base_all)) if has_baseline else '—'} "
            f"| {_fmt(float(np.mean(f1_noso)) if f1_noso else None)} "
            f"| {_fmt(float(np.mean(f1_edit)) if f1_edit else None)} "
            f"| {found}/{len(noso)} "
            f"| {_pct(fa, len(honest))} "
            f"| {_fmt(float(np.median(speeds)) if speeds else None, 1)} |"
        )
    lines += [
        "",
        "False alarms at the default threshold, per honest set (as distributed + "
        "re-saved), and the combined policy:",
        "",
    ]
    groups = sorted({r["group"] for r in honest})
    lines.append("| set | n | " + " | ".join(names) + " | combined policy |")
    lines.append("|---|---|" + "---|" * (len(names) + 1))
    for g in groups:
        rs = [r for r in honest if r["group"] == g]
        cells = [
            _pct(sum(1 for r in rs if r["analyzers"].get(n, {}).get("flagged")), len(rs))
            for n in names
        ]
        combined = _pct(sum(1 for r in rs if r["flagged"]), len(rs))
        lines.append(f"| {g} | {len(rs)} | " + " | ".join(cells) + f" | {combined} |")
    all_fa = sum(1 for r in honest if r["flagged"])
    lines.append(
        f"| **all honest** | {len(honest)} | "
        + " | ".join(
            _pct(sum(1 for r in honest if r["analyzers"].get(n, {}).get("flagged")), len(honest))
            for n in names
        )
        + f" | **{_pct(all_fa, len(honest))}** |"
    )
    lines += ["", "Forgeries routed to review by the combined policy (no reference given):", ""]
    lines.append("| set | n | flagged by the policy | routed to human review |")
    lines.append("|---|---|---|---|")
    for g in sorted({r["group"] for r in ok if r["kind"] == "fake"}):
        rs = [r for r in ok if r["group"] == g]
        flagged = sum(1 for r in rs if r["flagged"])
        review = sum(1 for r in rs if r["action"] == "human_review")
        lines.append(f"| {g} | {len(rs)} | {_pct(flagged, len(rs))} | {_pct(review, len(rs))} |")
    return "\n".join(lines)


def render_section(records: Sequence[Mapping[str, Any]], names: Sequence[str], argv: str) -> str:
    errors = [r for r in records if "error" in r]
    body = summarize(records, names)
    return (
        f"{MARK_START}\n## No-reference forensics\n\n"
        f"Produced by `{argv}`. {len(records)} photos ({len(errors)} refused by the loader). "
        "Each source photo counts twice: as distributed and after one re-save chain "
        f"({', '.join(CHAINS)}) plus the platform upload; the core benchmark's edited fakes "
        "(crack, break, stain, inpaint) come with their reference withheld. AUC ranks the "
        "analyzer's score; a false alarm is a suspicious finding at score ≥ 0.5; pixel F1 "
        "thresholds the heatmap at 0.5 (0 when nothing is marked). Baseline AUCs are the "
        "plain methods the analyzer reports beside its own (NoSo as distributed / re-saved). "
        "MP/s is megapixels of the photo per second of the analyzer on one core.\n\n"
        f"{body}\n{MARK_END}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.noref", description=__doc__)
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default="docs/benchmarks.md")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--per-set", type=int, default=60, help="photos per honest set")
    parser.add_argument("--analyzers", default="", help="comma-separated; default: all")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", default="")
    parser.add_argument("--no-doc", action="store_true")
    args = parser.parse_args(argv)

    names = [n for n in args.analyzers.split(",") if n] or default_analyzer_names()
    root = Path(args.data).resolve()
    lib = open_library(root)
    items = list(build_items(lib, root, seed=args.seed, per_set=args.per_set))
    print(f"{len(items)} photos, analyzers: {', '.join(names)}", flush=True)
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    if args.jobs <= 1:
        _init(names)
        for item in items:
            records.append(analyse(item))
    else:
        # Spawned, not forked: a forked child inherits OpenCV's thread pool mid-state.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            args.jobs, mp_context=context, initializer=_init, initargs=(names,)
        ) as pool:
            for i, record in enumerate(pool.map(analyse, items, chunksize=4), 1):
                records.append(record)
                if i % 100 == 0:
                    print(f"[{i}/{len(items)}] {time.perf_counter() - started:.0f} s", flush=True)
    command = "python -m benchmarks.noref " + " ".join(
        a for a in (argv if argv is not None else __import__("sys").argv[1:])
    )
    section = render_section(records, names, command.strip())
    print(section)
    if args.json:
        write_json(args.json, {"seed": args.seed, "analyzers": names}, records)
    if not args.no_doc:
        write_doc(args.out, section, start=MARK_START, end=MARK_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
