"""Honest look-alikes: a buyer's photo of packaged goods against the merchant's own photo of
the same product, when that photo is not a studio shot.

A merchant's packing or shipping photo shows the goods in a real scene, and a buyer's photo
of the same carton model shows the same printed artwork: its face aligns under a homography
and agrees block by block, yet no pixel was copied. The core benchmark's honest claims are
checked against studio listing photos only; this one takes two different shop photos of the
same packaged product (a carton held up in a shop, a yoghurt on a shelf) from the GroceryStore
set, one as the merchant's photo (as taken) and one as the claim (through the core
benchmark's upload chain: a small crop, a resize to 480-2,048 px, one JPEG at quality 50-95).

The set has a quirk a real claim does not: several of its photos were taken moments apart in
front of the same shelf, so a pair may share a scene and a moment, which a merchant's photo
and a buyer's photo never do. Every photo flagged is listed so that a reader can tell the two
kinds apart.

``--draw enlarged`` replaces the upload chain with a second draw: the claim photo enlarged by
a factor of 1-3 (bicubic, no crop) and saved once as a JPEG at quality 55-95, a stand-in for
a buyer's photo taken at a higher resolution than the merchant's.

Run ``python -m benchmarks.lookalike --data ../shared/data --out docs/benchmarks.md``.
"""

# ruff: noqa: E402  (thread limits must be set before numpy and OpenCV load)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import collections
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cv2
import numpy as np

from benchmarks.chains import Tracked, draw_upload, upload
from benchmarks.metrics import wilson
from benchmarks.report import RELATIONS, positive_int, publish, section_meta, section_parser
from benchmarks.sources import Library, Photo, library_or_report

MARK_START = "<!-- lookalike-benchmark:start -->"
MARK_END = "<!-- lookalike-benchmark:end -->"

PACKAGED = frozenset(
    {"Juice", "Milk", "Oatghurt", "Sour-Cream", "Sour-Milk", "Soy-Milk", "Soyghurt", "Yoghurt"}
)
"""Coarse GroceryStore classes whose goods carry printed packaging."""


def draw_pairs(lib: Library, seed: int, per_class: int) -> list[tuple[Photo, Photo, int]]:
    """(claim photo, merchant photo, upload draw index): ``per_class`` pairs of two different
    photos for each packaged class, in a fixed order."""
    rng = np.random.default_rng([seed, 7707])
    pairs: list[tuple[Photo, Photo, int]] = []
    by_class = {p.label: p.coarse for p in lib.iconic}
    for label in sorted(lib.natural):
        photos = lib.natural[label]
        if by_class.get(label) not in PACKAGED or len(photos) < 2:
            continue
        for _ in range(per_class):
            a, b = rng.choice(len(photos), size=2, replace=False)
            pairs.append((photos[int(a)], photos[int(b)], len(pairs)))
    return pairs


_ANALYZERS: list[Any] = []


def _analyzers() -> list[Any]:
    """The analyzer every pair is checked with, made once per process."""
    if not _ANALYZERS:
        from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer

        cv2.setNumThreads(1)
        _ANALYZERS.append(ReferenceMatchAnalyzer())
    return _ANALYZERS


_DRAWN = {
    "upload": "through the upload chain",
    "enlarged": "enlarged 1-3x and saved at JPEG 55-95",
}
DRAWS = tuple(_DRAWN)
"""How a claim photo reaches the check: the core benchmark's upload chain, or enlarged 1-3x
and saved once as a JPEG at quality 55-95."""


def enlarge(pixels: np.ndarray, rng: np.random.Generator) -> tuple[bytes, dict[str, Any]]:
    """The claim photo enlarged by a drawn factor (1-3, bicubic) and saved once as a JPEG at
    a drawn quality (55-95). Returns the bytes and what was drawn."""
    factor = float(rng.uniform(1.0, 3.0))
    quality = int(rng.integers(55, 96))
    h, w = pixels.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    big = cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC)
    ok, data = cv2.imencode(
        ".jpg", cv2.cvtColor(big, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return data.tobytes(), {
        "enlarge": round(factor, 3),
        "long_side": max(size),
        "quality": quality,
    }


def check_pair(
    claim_photo: Photo, merchant_photo: Photo, index: int, seed: int, draw: str = "upload"
) -> dict[str, Any]:
    """Upload the claim photo as a buyer would (``draw``: the upload chain or an enlargement,
    drawn from ``seed`` and the pair's ``index``) and check it against the merchant's
    photo."""
    from vericlaim.check import check_claim
    from vericlaim.evidence import load_bytes

    if draw == "enlarged":
        claim_bytes, drawn = enlarge(
            claim_photo.pixels(), np.random.default_rng([seed, 7709, index])
        )
    elif draw == "upload":
        params = draw_upload(np.random.default_rng([seed, 7708, index]))
        claim_bytes, _ = upload(Tracked(claim_photo.pixels().copy()), params)
        drawn = {"long_side": params.long_side, "quality": params.quality}
    else:
        raise ValueError(f"unknown draw {draw!r}: expected one of {', '.join(DRAWS)}")
    claim = load_bytes(claim_bytes, source=claim_photo.key, role="claim", media_id="claim-1")
    reference = load_bytes(
        merchant_photo.path.read_bytes(),
        source=merchant_photo.key,
        role="packing",
        media_id="packing-1",
    )
    started = time.perf_counter()
    result = check_claim([claim], [reference], analyzers=_analyzers())
    elapsed = (time.perf_counter() - started) * 1000
    verdict = result.verdict
    finding = next(
        f for m in verdict["media"] for f in m["findings"] if f["analyzer"] == "reference_match"
    )
    details = finding.get("details", {})
    return {
        "index": index,
        "label": claim_photo.label,
        "claim_photo": claim_photo.key,
        "merchant_photo": merchant_photo.key,
        "upload": {"draw": draw, **drawn},
        "verdict": verdict["verdict"],
        "action": verdict["recommended_action"],
        "flagged": verdict["verdict"] == "likely_manipulated",
        "relation": details.get("relation"),
        "located_by": details.get("located_by"),
        "check_ms": round(elapsed, 1),
    }


def _work(item: tuple[Photo, Photo, int, int, str]) -> dict[str, Any]:
    return check_pair(*item)


def render_section(outcomes: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    n = len(outcomes)
    flagged = [o for o in outcomes if o["flagged"]]
    approved = sum(o["action"] == "approve" for o in outcomes)
    low, high = wilson(len(flagged), n)
    relations = collections.Counter(o["relation"] for o in outcomes)
    lines = [
        MARK_START,
        "## Honest look-alikes: printed packaging against the merchant's own shop photo",
        "",
        f"Run {meta['date']} · seed {meta['seed']} · commit `{meta['commit']}` · {n} pairs "
        f"({meta['per_class']} per packaged class) · claims {_DRAWN[meta.get('draw', 'upload')]}"
        f" · reference_match {meta['version']}.",
        f"Command: `{meta['command']}`",
        "",
        "A buyer's photo of a packaged product against another shop "
        "photo of the same product taken as the merchant's packing photo: no pixel is shared, "
        "the printed artwork is. See `benchmarks/lookalike.py` for the set's quirk (some pairs "
        "were taken moments apart in front of one shelf).",
        "",
        f"- flagged `likely_manipulated`: **{len(flagged)} of {n}** "
        f"({100 * len(flagged) / max(n, 1):.1f} %, 95 % CI {100 * low:.1f}–{100 * high:.1f}); "
        f"approved: {approved}",
        "- relation found: "
        + ", ".join(f"{r} {relations[r]}" for r in RELATIONS if relations.get(r)),
        "",
    ]
    if flagged:
        lines += ["| claim photo | merchant photo | relation | located by |", "|---|---|---|---|"]
        for o in flagged:
            lines.append(
                f"| `{o['claim_photo']}` | `{o['merchant_photo']}` | {o['relation']} "
                f"| {o['located_by'] or 'whole frame'} |"
            )
        lines.append("")
    lines.append(MARK_END)
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = section_parser("benchmarks.lookalike", __doc__, results="per-pair results")
    parser.add_argument(
        "--per-class", type=positive_int, default=12, help="pairs per packaged class"
    )
    parser.add_argument(
        "--draw",
        choices=DRAWS,
        default="upload",
        help="how claim photos reach the check: the upload chain (default) or enlarged 1-3x",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer

    args = _parse(argv)
    lib = library_or_report(args.data)
    if lib is None:
        return 2
    work = [(*pair, args.seed, args.draw) for pair in draw_pairs(lib, args.seed, args.per_class)]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            outcomes = list(pool.map(_work, work, chunksize=4))
    else:
        outcomes = [_work(item) for item in work]
    meta = section_meta(
        "benchmarks.lookalike",
        argv,
        seed=args.seed,
        per_class=args.per_class,
        draw=args.draw,
        version=ReferenceMatchAnalyzer.version,
    )
    publish(render_section(outcomes, meta), meta, outcomes, args, start=MARK_START, end=MARK_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
