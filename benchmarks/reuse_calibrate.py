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
from vericlaim.reuse.detect import DEFAULT_RULE

MARK_START = "<!-- reuse-calibration:start -->"
MARK_END = "<!-- reuse-calibration:end -->"
T_MAX = 24  # largest pHash threshold tabulated


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


def min_dhash(q: Codes, qi: np.ndarray, ix: Codes, ii: np.ndarray) -> np.ndarray:
    """For pairs (later ``q[qi]``, earlier ``ix[ii]``): for each pHash threshold 0..T_MAX,
    the smallest dHash distance among view pairs within it (65 when none)."""
    dp = hamming(q.query_p[qi][:, :, None], ix.index_p[ii][:, None, :])
    dd = hamming(q.query_d[qi][:, :, None], ix.index_d[ii][:, None, :])
    ok = q.query_ok[qi][:, :, None] & ix.index_ok[ii][:, None, :]
    dp = np.where(ok, dp, 99).reshape(len(qi), -1)
    dd = np.where(ok, dd, 65).reshape(len(qi), -1)
    # Scatter each view pair's dHash distance at its pHash distance, then a running
    # minimum over pHash thresholds: O(pairs x views) instead of one pass per threshold.
    out = np.full((len(qi), T_MAX + 2), 65, np.uint8)
    rows = np.broadcast_to(np.arange(len(qi))[:, None], dp.shape)
    np.minimum.at(out, (rows, np.minimum(dp, T_MAX + 1)), dd.astype(np.uint8))
    out = np.minimum.accumulate(out, axis=1)[:, : T_MAX + 1]
    return out


def pair_table(codes: Codes, pairs: np.ndarray, chunk: int = 20000) -> np.ndarray:
    parts = [
        min_dhash(codes, pairs[s : s + chunk, 0], codes, pairs[s : s + chunk, 1])
        for s in range(0, len(pairs), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, T_MAX + 1), np.uint8)


def photos(lib: Library) -> list[Photo]:
    items = list(lib.iconic)
    for group in lib.natural.values():
        items += group
    items += list(lib.noso_originals) + list(lib.noso_scenes)
    for group in lib.tiles.values():
        items += group
    return items


def run(data: Path, *, n_positive: int, seed: int) -> dict[str, object]:
    lib = open_library(data)
    every = photos(lib)
    t0 = time.perf_counter()
    fps = [fingerprint(p.pixels()) for p in every]
    fp_ms = 1e3 * (time.perf_counter() - t0) / len(every)
    codes = stack(fps)
    n = len(every)
    labels = np.array([p.label for p in every])
    is_natural = np.array(["/natural/" in p.key for p in every])
    is_iconic = np.array(["/iconic/" in p.key for p in every])
    is_tile = np.array([p.key.startswith("tiles/") for p in every])
    iu, ju = np.triu_indices(n, k=1)
    both = np.stack([np.concatenate([iu, ju]), np.concatenate([ju, iu])], axis=1)
    neg = pair_table(codes, both)
    li, lj = labels[both[:, 0]], labels[both[:, 1]]
    same_shelf = (li == lj) & is_natural[both[:, 0]] & is_natural[both[:, 1]]
    iconic_natural = (li == lj) & (is_iconic[both[:, 0]] ^ is_iconic[both[:, 1]])
    tiles = is_tile[both[:, 0]] & is_tile[both[:, 1]]

    rng = np.random.default_rng(seed)
    chosen = rng.choice(n, size=min(n_positive, n), replace=False)
    positives: dict[str, np.ndarray] = {}
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
        qcodes = stack(later)
        positives[name] = min_dhash(qcodes, np.arange(len(chosen)), codes, chosen)
    return {
        "n_photos": n,
        "fp_ms": fp_ms,
        "negatives": {
            "all different photos": neg,
            "same product, same shelf": neg[same_shelf],
            "iconic vs shop-floor photo of the product": neg[iconic_natural],
            "magnetic tiles vs each other": neg[tiles],
        },
        "positives": positives,
        "crop_keep": np.array(crop_keep),
        "not_applicable": sum(not f.applicable for f in fps),
    }


def rate(table: np.ndarray, tp: int, td: int) -> float:
    return float((table[:, tp] <= td).mean()) if len(table) else float("nan")


def render(res: dict[str, object], tp: int, td: int, command: str) -> str:
    negs: dict[str, np.ndarray] = res["negatives"]  # type: ignore[assignment]
    poss: dict[str, np.ndarray] = res["positives"]  # type: ignore[assignment]
    keep: np.ndarray = res["crop_keep"]  # type: ignore[assignment]
    lines = [
        MARK_START,
        f"Measured by `{command}` on {res['n_photos']} real photos "
        f"({res['not_applicable']} not fingerprintable), {res['fp_ms']:.1f} ms per fingerprint.",
        "",
        f"**At the chosen rule (pHash ≤ {tp} and dHash ≤ {td} on the same view pair):**",
        "",
        "| different photos | pairs | false matches | false-match rate |",
        "|---|---|---|---|",
    ]
    for name, table in negs.items():
        hits = int((table[:, tp] <= td).sum()) if len(table) else 0
        lines.append(f"| {name} | {len(table):,} | {hits} | {100 * rate(table, tp, td):.4f} % |")
    lines += ["", "| re-saved copy (then the upload chain) | n | recall |", "|---|---|---|"]
    for name, table in poss.items():
        lines.append(f"| {name} | {len(table)} | {100 * rate(table, tp, td):.1f} % |")
    crop = poss.get("crop")
    if crop is not None and len(keep):
        for lo, hi in ((0.4, 0.55), (0.55, 0.7), (0.7, 0.9)):
            sel = (keep >= lo) & (keep < hi)
            lines.append(
                f"| crop keeping {int(100 * lo)}–{int(100 * hi)} % of the area | "
                f"{int(sel.sum())} | {100 * rate(crop[sel], tp, td):.1f} % |"
            )
    lines += [
        "",
        "**Other thresholds** (false-match rate on all different photos / on the same shelf;"
        " recall on recompress, scale, crop, mirror+crop+scale):",
        "",
        "| pHash ≤ | dHash ≤ | false match all % | same shelf % | recompress % | scale % "
        "| crop % | mirror+crop+scale % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p, d in ((6, 8), (8, 10), (10, 12), (12, 14), (14, 16), (16, 18), (18, 20)):
        cells = [
            rate(negs["all different photos"], p, d),
            rate(negs["same product, same shelf"], p, d),
            *(rate(poss[c], p, d) for c in ("recompress", "scale", "crop", "mirror+crop+scale")),
        ]
        lines.append(
            f"| {p} | {d} | "
            + " | ".join(
                f"{100 * c:.4f}" if i < 2 else f"{100 * c:.1f}" for i, c in enumerate(cells)
            )
            + " |"
        )
    lines.append(MARK_END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data")
    parser.add_argument("--out", default=None, help="Markdown file to write the section into")
    parser.add_argument("--positives", type=int, default=300, help="photos re-saved per chain")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    res = run(Path(args.data), n_positive=args.positives, seed=args.seed)
    command = "python -m benchmarks.reuse_calibrate" + (
        f" --positives {args.positives}" if args.positives != 300 else ""
    )
    section = render(res, DEFAULT_RULE.phash, DEFAULT_RULE.dhash, command)
    print(section)
    if args.out:
        write_doc(args.out, section, start=MARK_START, end=MARK_END)


if __name__ == "__main__":
    main()
