"""Editor outputs and buyer additions: claims that the core benchmark's re-save chains do not
draw.

A doctored refund photo leaves the editing app in that app's own form, and a buyer often adds
something of their own before uploading it. The core benchmark (``benchmarks.run``) re-saves
its claims by recompression, scaling, cropping, mirroring, screenshots and re-photographs; this
one builds the same content (the same families, the same edits and references) and sends it
through six other chains before the same upload:

editor outputs
    ``outpaint``: the frame extended to a square (its margins reflected and blurred, a stand-in
    for an editor's outpainting) and returned at 768-1,536 px as a PNG. ``reencode``: the whole
    photo re-encoded as a generative editor returns it (detail finer than half its resolution
    lost, re-sharpened, saturation raised, a JPEG at quality 88-95). ``beautify``: an
    enhancement filter (edge-preserving smoothing, sharpening, a tone curve).
buyer additions
    ``annotate``: a coloured ellipse drawn around the damage (around a drawn spot on a photo
    without an edit), an arrow and a word. ``stamp``: a watermark-camera stamp (a translucent
    dark box in a lower corner with a date, a time and a place). ``collage``: the photo side by
    side with a buyer's photo of another product, as a two-photo collage.

Every claim, fake or honest, goes through the chain drawn for its slot and the same upload
(drawn from the seed, the chain and the slot, not the family). The report gives, per chain
and family, the share flagged and, for local edits, the share localized as the core benchmark
defines it: a box drawn on an annotation or a stamp counts against it like any other box (it
marks a real difference from the merchant's photo, but not the damage).

Run ``python -m benchmarks.stress --data ../shared/data --out docs/benchmarks.md``.
"""

# ruff: noqa: E402  (thread limits must be set before numpy and OpenCV load)
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from benchmarks.cases import FAMILIES, ChainStep, build_case
from benchmarks.chains import Tracked, jpeg, png, scale_to
from benchmarks.metrics import FamilyRow, relation, summarize, wilson
from benchmarks.report import positive_int, publish, section_meta, section_parser
from benchmarks.sources import Library, library_or_report

MARK_START = "<!-- stress-benchmark:start -->"
MARK_END = "<!-- stress-benchmark:end -->"

DEFAULT_FAMILIES = (
    "verbatim",
    "crack",
    "stain",
    "inpaint",
    "honest_same_product",
    "honest_real_damage",
)
"""Copies without an edit, three kinds of edit, and two kinds of honest photo."""


@dataclass(frozen=True)
class StressChain:
    name: str
    about: str
    make: Callable[[Library], ChainStep]


# --- editor outputs -------------------------------------------------------------------------


def outpaint(t: Tracked, rng: np.random.Generator) -> Tracked:
    """The frame extended to a square, its margins reflected and blurred, returned at a drawn
    size (768-1,536 px) as a PNG."""
    h, w = t.pixels.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    bottom, right = side - h - top, side - w - left
    big = cv2.copyMakeBorder(t.pixels, top, bottom, left, right, cv2.BORDER_REFLECT)
    blurred = cv2.GaussianBlur(big, (0, 0), max(2.0, side / 80))
    inside = np.zeros((side, side), np.float32)
    inside[top : top + h, left : left + w] = 1.0
    alpha = cv2.GaussianBlur(inside, (0, 0), max(1.0, side / 300))[..., None]
    pixels = np.clip(big * alpha + blurred * (1 - alpha) + 0.5, 0, 255).astype(np.uint8)
    mask = None
    if t.mask is not None:
        mask = np.zeros((side, side), np.float32)
        mask[top : top + h, left : left + w] = t.mask
    t = t.step("outpaint square", pixels, mask)
    out = int(rng.choice([768, 1024, 1536]))
    return png(scale_to(t, (out, out), name="editor resize"))


def reencode(t: Tracked, rng: np.random.Generator) -> Tracked:
    """Re-encoded as a generative editor returns a photo: detail finer than a drawn share
    (0.4-0.6) of the resolution lost, re-sharpened, saturation raised 5-12 %, a JPEG."""
    h, w = t.pixels.shape[:2]
    f = float(rng.uniform(0.4, 0.6))
    small = cv2.resize(
        t.pixels, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    sharp = up + float(rng.uniform(0.4, 0.9)) * (up - cv2.GaussianBlur(up, (0, 0), 1.5))
    hsv = cv2.cvtColor(np.clip(sharp, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV)
    hsv = hsv.astype(np.float32)
    hsv[..., 1] *= float(rng.uniform(1.05, 1.12))
    pixels = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB)
    return jpeg(t.step("editor re-encode", pixels, t.mask), int(rng.integers(88, 96)))


def beautify(t: Tracked, rng: np.random.Generator) -> Tracked:
    """An enhancement filter: edge-preserving smoothing, sharpening, a tone curve (gamma
    0.85-0.95), a JPEG at quality 88-95."""
    smooth = cv2.bilateralFilter(t.pixels, 7, float(rng.uniform(25, 50)), 7).astype(np.float32)
    sharp = smooth + float(rng.uniform(0.5, 1.0)) * (smooth - cv2.GaussianBlur(smooth, (0, 0), 2))
    toned = 255 * (np.clip(sharp, 0, 255) / 255) ** float(rng.uniform(0.85, 0.95))
    pixels = np.clip(toned + 0.5, 0, 255).astype(np.uint8)
    return jpeg(t.step("beautify", pixels, t.mask), int(rng.integers(88, 96)))


# --- buyer additions ------------------------------------------------------------------------

_INKS = ((230, 30, 30), (250, 210, 20), (30, 90, 230))  # red, yellow, blue markers (RGB)


def annotate(t: Tracked, rng: np.random.Generator) -> Tracked:
    """A coloured ellipse around the damage (a drawn spot where there is none), an arrow
    pointing at it and a word, as a buyer marks a photo before sending it."""
    pixels = t.pixels.copy()
    h, w = pixels.shape[:2]
    if t.mask is not None and (t.mask > 0.5).any():
        ys, xs = np.nonzero(t.mask > 0.5)
        cx, cy = int(xs.mean()), int(ys.mean())
        ax, ay = int(0.7 * np.ptp(xs)) + w // 40, int(0.7 * np.ptp(ys)) + h // 40
    else:
        cx, cy = int(rng.uniform(0.3, 0.7) * w), int(rng.uniform(0.3, 0.7) * h)
        ax, ay = int(rng.uniform(0.05, 0.15) * w), int(rng.uniform(0.05, 0.15) * h)
    ink = _INKS[int(rng.integers(0, len(_INKS)))]
    thick = max(2, round(min(h, w) / 200))
    cv2.ellipse(pixels, (cx, cy), (max(ax, 4), max(ay, 4)), 0, 0, 360, ink, thick, cv2.LINE_AA)
    tip = (cx + ax // 2, cy - ay // 2)
    tail = (min(w - 2, tip[0] + w // 6), max(2, tip[1] - h // 6))
    cv2.arrowedLine(pixels, tail, tip, ink, thick, cv2.LINE_AA, tipLength=0.2)
    scale = min(h, w) / 500
    org = (min(max(2, tail[0] - w // 10), w - int(160 * scale)), max(int(30 * scale), tail[1] - 8))
    cv2.putText(pixels, "broken", org, cv2.FONT_HERSHEY_SIMPLEX, scale, ink, thick, cv2.LINE_AA)
    return jpeg(t.step("annotate", pixels, t.mask), int(rng.integers(85, 96)))


def stamp(t: Tracked, rng: np.random.Generator) -> Tracked:
    """A watermark-camera stamp: a translucent dark box in a lower corner with a date, a
    time and a place."""
    pixels = t.pixels.astype(np.float32)
    h, w = pixels.shape[:2]
    bw, bh = int(rng.uniform(0.35, 0.5) * w), int(rng.uniform(0.1, 0.16) * h)
    x0 = w // 30 if rng.random() < 0.5 else w - w // 30 - bw
    y0 = h - h // 30 - bh
    pixels[y0 : y0 + bh, x0 : x0 + bw] *= float(rng.uniform(0.35, 0.6))
    out = np.clip(pixels + 0.5, 0, 255).astype(np.uint8)
    scale = bh / 110
    thick = max(1, round(2 * scale))
    day, minute = int(rng.integers(1, 29)), int(rng.integers(0, 60))
    white = (255, 255, 255)
    font = cv2.FONT_HERSHEY_SIMPLEX
    line1 = (x0 + bw // 20, y0 + int(0.42 * bh))
    line2 = (x0 + bw // 20, y0 + int(0.82 * bh))
    cv2.putText(out, f"2026-11-{day:02d} 14:{minute:02d}", line1, font, scale, white, thick)
    cv2.putText(out, "Hangzhou, Xihu District", line2, font, 0.8 * scale, white, thick)
    return jpeg(t.step("stamp", out, t.mask), int(rng.integers(85, 96)))


def collage(lib: Library) -> ChainStep:
    """Side by side with a buyer's photo of another product (a two-photo collage)."""
    others = [p for photos in lib.natural.values() for p in photos[:4]]

    def step(t: Tracked, rng: np.random.Generator) -> Tracked:
        h, w = t.pixels.shape[:2]
        other = others[int(rng.integers(0, len(others)))].pixels()
        oh, ow = other.shape[:2]
        other = cv2.resize(other, (max(1, round(ow * h / oh)), h), interpolation=cv2.INTER_AREA)
        gap = np.full((h, max(4, w // 100), 3), 255, np.uint8)
        first = rng.random() < 0.5
        parts = [t.pixels, gap, other] if first else [other, gap, t.pixels]
        pixels = np.concatenate(parts, axis=1)
        mask = None
        if t.mask is not None:
            mask = np.zeros(pixels.shape[:2], np.float32)
            x = 0 if first else pixels.shape[1] - w
            mask[:, x : x + w] = t.mask
        return jpeg(t.step("collage", pixels, mask), 90)

    return step


def _fixed(step: ChainStep) -> Callable[[Library], ChainStep]:
    return lambda _lib: step


STRESS_CHAINS: dict[str, StressChain] = {
    c.name: c
    for c in (
        StressChain("outpaint", "extended to a square, PNG", _fixed(outpaint)),
        StressChain("reencode", "re-encoded by a generative editor", _fixed(reencode)),
        StressChain("beautify", "enhancement filter", _fixed(beautify)),
        StressChain("annotate", "ellipse, arrow and a word drawn on", _fixed(annotate)),
        StressChain("stamp", "watermark-camera stamp", _fixed(stamp)),
        StressChain("collage", "two-photo collage", collage),
    )
}


# --- running --------------------------------------------------------------------------------


def stress_case(lib: Library, chain: str, family: str, index: int, seed: int) -> Any:
    """The case ``(family, index, seed)`` of the core benchmark, sent through ``chain``."""
    return build_case(lib, family, index, seed, chain=(chain, STRESS_CHAINS[chain].make(lib)))


def _work(item: tuple[str, str, int]) -> dict[str, Any]:
    from benchmarks import run

    chain, family, index = item
    worker = run._WORKER
    started = time.perf_counter()
    case = stress_case(worker["lib"], chain, family, index, worker["seed"])
    build_ms = (time.perf_counter() - started) * 1000
    record = run.run_case(case, worker["settings"])
    record["build_ms"] = round(build_ms, 1)
    return record


def plan(chains: Sequence[str], families: Sequence[str], per_cell: int) -> list[tuple]:
    """(chain, family, index) triples, interleaved so that a partial run stays balanced."""
    return [(c, f, i) for i in range(per_cell) for c in chains for f in families]


def _cell(row: FamilyRow | None) -> str:
    if row is None:
        return "—"
    flagged = f"{100 * row.flagged / row.n:.0f}"
    if row.localized is not None and row.local_n:
        return f"{flagged} / {100 * row.localized / row.local_n:.0f}"
    return flagged


def render_section(outcomes: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    chains = [c for c in STRESS_CHAINS if any(o["chain"] == c for o in outcomes)]
    families = [f for f in meta["families"] if any(o["family"] == f for o in outcomes)]
    rows: dict[str, dict[str, FamilyRow]] = {}
    totals: dict[str, dict[str, FamilyRow]] = {}
    for c in chains:
        summary = summarize([o for o in outcomes if o["chain"] == c], families)
        rows[c] = {r.name: r for r in summary["families"]}
        totals[c] = {r.kind: r for r in summary["totals"]}
    lines = [
        MARK_START,
        "## Editor outputs and buyer additions: chains the core benchmark does not draw",
        "",
        f"Run {meta['date']} · seed {meta['seed']} · commit `{meta['commit']}` · "
        f"{len(outcomes)} claims ({meta['per_cell']} per chain and family) · "
        f"analyzers {_ran(outcomes) or meta['analyzers']}.",
        f"Command: `{meta['command']}`",
        "",
        "The core benchmark's content (the same families, edits and references) sent through "
        "other chains before the same upload; see `benchmarks/stress.py`. Each cell: % flagged "
        "`likely_manipulated` or `likely_ai_generated`, then, for local edits, % localized "
        "(a box on an annotation or a stamp counts against localization like any other box).",
        "",
        "| chain | what | " + " | ".join(families) + " | fakes flagged | honest flagged | "
        "median ms/claim | ratio to decode |",
        "|---|---|" + "---|" * len(families) + "---|---|---|---|",
    ]
    for c in chains:
        fake, honest = totals[c].get("fake"), totals[c].get("honest")
        everyone = [o for o in outcomes if o["chain"] == c and o.get("timing")]
        ms = float(np.median([o["timing"]["check_ms"] for o in everyone])) if everyone else math.nan
        ratio = float(np.median([o["timing"]["ratio"] for o in everyone])) if everyone else math.nan
        lines.append(
            f"| {c} | {STRESS_CHAINS[c].about} | "
            + " | ".join(_cell(rows[c].get(f)) for f in families)
            + f" | {_share(fake)} | {_share(honest)} | {ms:.0f} | {ratio:.1f}x |"
        )
    fakes = [o for o in outcomes if o["kind"] == "fake"]
    honest = [o for o in outcomes if o["kind"] == "honest"]
    local = [o for o in fakes if o.get("localization") is not None]
    lines += [""]
    if fakes:
        done = sum(o["localization"]["localized"] for o in local)
        edits = f"{done} of {len(local)} edits localized." if local else "no local edits."
        lines.append(_total("all fakes", fakes, edits))
    if honest:
        approved = sum(o.get("action") == "approve" for o in honest)
        lines.append(_total("all honest", honest, f"approved: {approved}."))
    missed = [o for o in fakes if not o["flagged"]] + [o for o in honest if o["flagged"]]
    if missed:
        lines += ["", "Fakes not flagged and honest claims flagged:", ""]
        for o in missed:
            lines.append(
                f"- `{o['case_id']}` ({o['chain']}): `{o['true_reference']}`: "
                f"{o.get('verdict')}, {relation(o)}"
            )
    lines += ["", MARK_END]
    return "\n".join(lines)


def _total(label: str, group: Sequence[Mapping[str, Any]], then: str) -> str:
    """One bullet: how many of ``group`` were flagged, with a 95 % interval, then ``then``."""
    k, n = sum(bool(o["flagged"]) for o in group), len(group)
    low, high = wilson(k, n)
    return (
        f"- **{label}:** {k} of {n} flagged ({100 * k / n:.1f} %, 95 % CI "
        f"{100 * low:.1f}–{100 * high:.1f}); {then}"
    )


def _ran(outcomes: Sequence[Mapping[str, Any]]) -> str:
    """The analyzers the claims were checked with, and their versions."""
    ran = next((o["analyzers"] for o in outcomes if o.get("analyzers")), {})
    return ", ".join(f"{name} {version}" for name, version in sorted(ran.items()))


def _share(row: FamilyRow | None) -> str:
    return "—" if row is None or not row.n else f"{100 * row.flagged / row.n:.1f} %"


def _names(known: Sequence[str], what: str) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in known]
        if unknown or not names:
            raise argparse.ArgumentTypeError(
                f"unknown {what} {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}"
            )
        return names

    return parse


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = section_parser("benchmarks.stress", __doc__, results="per-claim results")
    parser.add_argument(
        "--per-cell", type=positive_int, default=12, help="claims per chain and family"
    )
    parser.add_argument(
        "--chains",
        type=_names(list(STRESS_CHAINS), "chains"),
        default=list(STRESS_CHAINS),
        help="comma-separated chains (default: all)",
    )
    parser.add_argument(
        "--families",
        type=_names(list(FAMILIES), "families"),
        default=list(DEFAULT_FAMILIES),
        help=f"comma-separated families (default: {','.join(DEFAULT_FAMILIES)})",
    )
    parser.add_argument(
        "--analyzers",
        default="all",
        help="comma-separated analyzers, or all (what `vericlaim check` runs; the default)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from benchmarks import run
    from vericlaim.analyzers.reference_match import ReferenceMatchAnalyzer

    args = _parse(argv)
    if library_or_report(args.data) is None:
        return 2
    work = plan(args.chains, args.families, args.per_cell)
    init = (args.data, args.seed, None, None, args.analyzers)
    started = time.perf_counter()
    outcomes = list(run.in_workers(_work, work, args.jobs, init))
    meta = section_meta(
        "benchmarks.stress",
        argv,
        seed=args.seed,
        per_cell=args.per_cell,
        families=args.families,
        chains=args.chains,
        analyzers=args.analyzers,
        version=ReferenceMatchAnalyzer.version,
        wall_s=round(time.perf_counter() - started, 1),
    )
    publish(render_section(outcomes, meta), meta, outcomes, args, start=MARK_START, end=MARK_END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
