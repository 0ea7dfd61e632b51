"""Measure the reuse fingerprint's distances and pick the match thresholds.

Positives: real photos of ``../shared/data`` (the original, as the earlier claim) against a
re-saved copy (the later claim): every re-save chain of :mod:`benchmarks.chains`, plus a
global colour filter and a plain border, each followed by the platform's upload chain.
Negatives: every pair of *different* photos, among them the hard ones: photos of the same
grocery product taken one after another on the same shelf, and the retailer's iconic
photo against the shop-floor photos of its product.

For every pair the distance is taken the way :mod:`vericlaim.reuse.detect` takes it: over
every view of the later photo (and of its mirror image) against every view of the earlier
one, a view pair matches when its pHash distance is at most ``Tp`` and its dHash distance
at most ``Td``. Run::

    python -m benchmarks.reuse_calibrate --data ../shared/data --out docs/reuse.md
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from benchmarks.chains import CHAINS, Tracked, draw_upload, jpeg, upload
from benchmarks.report import write_doc
from benchmarks.sources import Library, Photo, open_library
from vericlaim.reuse import Fingerprint, fingerprint
from vericlaim.reuse._hashes import hamming
from vericlaim.reuse.detect import DEFAULT_RULE, MatchRule

MARK_START = "<!-- reuse-calibration:start -->"
MARK_END = "<!-- reuse-calibration:end -->"


def _filter(t: Tracked, rng: np.random.Generator) -> Tracked:
    """A global colour/tone filter of an editing app: gain, gamma, saturation, cast."""
    img = t.pixels.astype(np.float32) / 255
    img = img ** float(rng.uniform(0.75, 1.33))
    img = img * float(rng.uniform(0.8, 1.15)) + float(rng.uniform(-0.06, 0.06))
    grey = img.mean(axis=2, keepdims=True)
    img = grey + (img - grey) * float(rng.uniform(0.5, 1.5))
    img = img * (1 + rng.uniform(-0.08, 0.08, size=3)).astype(np.float32)
    pixels = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
    return jpeg(t.step("filter", pixels, t.mask), int(rng.integers(75, 96)))


def _border(t: Tracked, rng: np.random.Generator) -> Tracked:
    """A plain frame (white, black or a colour) of 3-15 % per side."""
    h, w = t.pixels.shape[:2]
    pad = [round(s * float(rng.uniform(0.03, 0.15))) for s in (h, h, w, w)]
    colour = [int(c) for c in rng.choice([0, 255]) * np.ones(3)]
    if rng.random() < 0.3:
        colour = [int(c) for c in rng.integers(0, 256, 3)]
    pixels = cv2.copyMakeBorder(t.pixels, *pad, cv2.BORDER_CONSTANT, value=colour)
    return jpeg(t.step("border", pixels, None), int(rng.integers(75, 96)))


TRANSFORMS: dict[str, Callable[[Tracked, np.random.Generator], Tracked]] = {
    **CHAINS,
    "filter": _filter,
    "border": _border,
}


@dataclass(frozen=True, slots=True)
class Codes:
    """The fingerprints of many photos as arrays, for all-pairs distances."""

    query_p: np.ndarray  # (n, 2 * V) photo and mirror views of the later photo
    query_d: np.ndarray
    query_ok: np.ndarray
    index_p: np.ndarray  # (n, V) the earlier photo's own views (what the index holds)
    index_d: np.ndarray
    index_ok: np.ndarray


def stack(fps: list[Fingerprint]) -> Codes:
    v = max(len(f.views) for f in fps)
    n = len(fps)
    qp, qd = np.zeros((n, 2 * v), np.uint64), np.zeros((n, 2 * v), np.uint64)
    qo = np.zeros((n, 2 * v), bool)
    for i, f in enumerate(fps):
        if f.applicable:
            qp[i], qd[i], qo[i] = f.phash.reshape(-1), f.dhash.reshape(-1), f.usable.reshape(-1)
    return Codes(qp, qd, qo, qp[:, :v].copy(), qd[:, :v].copy(), qo[:, :v].copy())


Grid = tuple[tuple[int, int], ...]


def pair_stats(
    q: Codes, qi: np.ndarray, ix: Codes, ii: np.ndarray, grid: Grid
) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
    """For pairs (later ``q[qi]``, earlier ``ix[ii]``) and each (pHash, dHash) threshold:
    the number of aligned views within both (better orientation), and whether any view
    pair is within both."""
    v = ix.index_p.shape[1]
    qp = q.query_p[qi].reshape(len(qi), 2, v)
    qd = q.query_d[qi].reshape(len(qi), 2, v)
    qo = q.query_ok[qi].reshape(len(qi), 2, v)
    dp = hamming(qp[:, :, :, None], ix.index_p[ii][:, None, None, :])
    dd = hamming(qd[:, :, :, None], ix.index_d[ii][:, None, None, :])
    ok = qo[:, :, :, None] & ix.index_ok[ii][:, None, None, :]
    dp, dd = np.where(ok, dp, 99), np.where(ok, dd, 99)
    diag = np.arange(v)
    dpa, dda = dp[:, :, diag, diag], dd[:, :, diag, diag]
    out = {}
    for tp, td in grid:
        aligned = ((dpa <= tp) & (dda <= td)).sum(axis=2).max(axis=1)
        single = ((dp <= tp) & (dd <= td)).reshape(len(qi), -1).any(axis=1)
        out[(tp, td)] = (aligned.astype(np.uint8), single)
    return out


def all_pairs(codes: Codes, pairs: np.ndarray, grid: Grid, chunk: int = 20000):
    parts = [
        pair_stats(codes, pairs[s : s + chunk, 0], codes, pairs[s : s + chunk, 1], grid)
        for s in range(0, len(pairs), chunk)
    ]
    return {
        g: (np.concatenate([p[g][0] for p in parts]), np.concatenate([p[g][1] for p in parts]))
        for g in grid
    }


def photos(lib: Library, *, class_step: int = 1) -> list[Photo]:
    """The real photos: iconic, shop-floor (every ``class_step``-th class), NoSo, tiles."""
    items = list(lib.iconic)
    for name in sorted(lib.natural)[::class_step]:
        items += lib.natural[name]
    items += list(lib.noso_originals) + list(lib.noso_scenes)
    for group in lib.tiles.values():
        items += group
    return items


GRID: Grid = ((8, 10), (10, 12), (12, 12), (12, 14), (14, 14))


def run(
    data: Path, *, n_positive: int, seed: int, class_step: int, rule: MatchRule
) -> dict[str, object]:
    lib = open_library(data)
    every = photos(lib, class_step=class_step)
    t0 = time.perf_counter()
    fps = [fingerprint(p.pixels()) for p in every]
    fp_ms = 1e3 * (time.perf_counter() - t0) / len(every)
    codes = stack(fps)
    n = len(every)
    labels = np.array([p.label for p in every])
    is_natural = np.array(["/natural/" in p.key for p in every])
    is_iconic = np.array(["/iconic/" in p.key for p in every])
    is_tile = np.array([p.key.startswith("tiles/") for p in every])
    grid = tuple(dict.fromkeys([*GRID, (rule.phash, rule.dhash), _single(rule)]))
    iu, ju = np.triu_indices(n, k=1)
    both = np.stack([np.concatenate([iu, ju]), np.concatenate([ju, iu])], axis=1)
    neg = all_pairs(codes, both, grid)
    li, lj = labels[both[:, 0]], labels[both[:, 1]]
    groups = {
        "different photos (tiles aside)": ~(is_tile[both[:, 0]] & is_tile[both[:, 1]]),
        "same product, same shelf": (li == lj) & is_natural[both[:, 0]] & is_natural[both[:, 1]],
        "iconic vs shop-floor photo of the product": (li == lj)
        & (is_iconic[both[:, 0]] ^ is_iconic[both[:, 1]]),
        "magnetic tiles vs each other (one fixed camera)": is_tile[both[:, 0]]
        & is_tile[both[:, 1]],
    }
    rng = np.random.default_rng(seed)
    chosen = rng.choice(n, size=min(n_positive, n), replace=False)
    positives = {}
    crop_keep: list[float] = []
    for name, fn in TRANSFORMS.items():
        later: list[Fingerprint] = []
        for k, idx in enumerate(chosen):
            r = np.random.default_rng([seed, k, len(name)])
            src = Tracked(every[idx].pixels())
            copy = fn(src, r)
            _, claim = upload(copy, draw_upload(r))
            if name == "crop":
                crop_keep.append(copy.size[0] * copy.size[1] / (src.size[0] * src.size[1]))
            later.append(fingerprint(claim.pixels))
        positives[name] = pair_stats(stack(later), np.arange(len(chosen)), codes, chosen, grid)
    return {
        "n_photos": n,
        "fp_ms": fp_ms,
        "negatives": {
            k: {g: (v[0][sel], v[1][sel]) for g, v in neg.items()} for k, sel in groups.items()
        },
        "positives": positives,
        "crop_keep": np.array(crop_keep),
        "not_applicable": sum(not f.applicable for f in fps),
    }


def _single(rule: MatchRule) -> tuple[int, int]:
    return rule.single_phash, rule.single_dhash


def _rates(stats, rule: MatchRule, tp: int, td: int, m: int) -> tuple[float, float]:
    """(share reused, share reused or possible) under rule thresholds (tp, td, m)."""
    aligned, _ = stats[(tp, td)]
    _, single = stats[_single(rule)]
    if not len(aligned):
        return float("nan"), float("nan")
    reused = aligned >= m
    return float(reused.mean()), float((reused | single).mean())


def render(res: dict[str, object], rule: MatchRule, command: str) -> str:
    negs = res["negatives"]  # type: ignore[assignment]
    poss = res["positives"]  # type: ignore[assignment]
    keep: np.ndarray = res["crop_keep"]  # type: ignore[assignment]
    tp, td, m = rule.phash, rule.dhash, rule.min_aligned
    lines = [
        MARK_START,
        f"Measured by `{command}` on {res['n_photos']} real photos "
        f"({res['not_applicable']} not fingerprintable), {res['fp_ms']:.1f} ms per fingerprint "
        "(wall, on a shared machine, decoding excluded).",
        "",
        f"**At the chosen rule** (`{rule.version}`): *reused* = at least {m} aligned views "
        f"within pHash ≤ {tp} and dHash ≤ {td}; *possible* = one view pair within pHash ≤ "
        f"{rule.single_phash} and dHash ≤ {rule.single_dhash}.",
        "",
        "| different photos | ordered pairs | false *reused* % | false *reused* or *possible* % |",
        "|---|---|---|---|",
    ]
    for name, stats in negs.items():
        n = len(stats[(tp, td)][0])
        a, b = _rates(stats, rule, tp, td, m)
        lines.append(f"| {name} | {n:,} | {100 * a:.4f} | {100 * b:.4f} |")
    lines += [
        "",
        "| re-saved copy (then the upload chain) | n | recall *reused* % "
        "| *reused* or *possible* % |",
        "|---|---|---|---|",
    ]
    for name, stats in poss.items():
        a, b = _rates(stats, rule, tp, td, m)
        lines.append(f"| {name} | {len(stats[(tp, td)][0])} | {100 * a:.1f} | {100 * b:.1f} |")
    crop = poss.get("crop")
    if crop is not None and len(keep):
        for lo, hi in ((0.4, 0.55), (0.55, 0.7), (0.7, 0.9)):
            sel = (keep >= lo) & (keep < hi)
            sub = {g: (v[0][sel], v[1][sel]) for g, v in crop.items()}
            a, b = _rates(sub, rule, tp, td, m)
            lines.append(
                f"| crop keeping {int(100 * lo)}–{int(100 * hi)} % of the area | "
                f"{int(sel.sum())} | {100 * a:.1f} | {100 * b:.1f} |"
            )
    lines += [
        "",
        "**Other thresholds for *reused*** (false % on different photos, tiles aside / same "
        "shelf / tiles; recall % on recompress, scale, mirror, filter, border):",
        "",
        "| pHash ≤ | dHash ≤ | aligned views ≥ | different % | same shelf % | tiles % "
        "| recompress | scale | mirror | filter | border |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p, d in GRID:
        for mm in (1, 2, 4, 6):
            f = [_rates(negs[k], rule, p, d, mm)[0] for k in negs if "iconic" not in k]
            r = [
                _rates(poss[c], rule, p, d, mm)[0]
                for c in ("recompress", "scale", "mirror", "filter", "border")
            ]
            lines.append(
                f"| {p} | {d} | {mm} | "
                + " | ".join(f"{100 * x:.4f}" for x in f)
                + " | "
                + " | ".join(f"{100 * x:.0f}" for x in r)
                + " |"
            )
    lines.append(MARK_END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=None, help="Markdown file to write the section into")
    parser.add_argument("--positives", type=int, default=100, help="photos re-saved per chain")
    parser.add_argument(
        "--class-step", type=int, default=2, help="shop-floor photos of every N-th class"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    res = run(
        Path(args.data),
        n_positive=args.positives,
        seed=args.seed,
        class_step=args.class_step,
        rule=DEFAULT_RULE,
    )
    command = (
        f"python -m benchmarks.reuse_calibrate --positives {args.positives} "
        f"--class-step {args.class_step} --seed {args.seed}"
    )
    section = render(res, DEFAULT_RULE, command)
    print(section)
    if args.out:
        write_doc(args.out, section, start=MARK_START, end=MARK_END)


if __name__ == "__main__":
    main()
