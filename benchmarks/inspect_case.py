"""Look at one benchmark claim: what was built, what was found, and where.

    python -m benchmarks.inspect_case partial_copy-0087 --seed 1 --out /tmp/case
    python -m benchmarks.inspect_case regenerated 34 --seed 1

Builds the case exactly as ``benchmarks.run`` does for that seed, checks it with the same
analyzers, and prints the chain it went through, the references offered (and which one it
was made from), the ``reference_match`` finding and, for a local edit, how its boxes cover
the edited pixels. With ``--out`` it also writes the claim and reference bytes as checked,
the truth mask, and ``overlay.png``: the claim with the edited (or copied) pixels outlined in
green and the finding's boxes in red. A miss in the table can so be traced to its photos
without rerunning the benchmark.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from benchmarks.cases import FAMILIES, Case, build_case
from benchmarks.redraw import STRENGTHS, redraw_case
from benchmarks.run import _WORKER, REFERENCE_ANALYZERS, _init_worker, run_case
from benchmarks.sources import library_or_report

OVERLAY_SIDE = 1200


def parse_case(spec: str, index: str | None) -> tuple[str, int]:
    """``family-0012`` or ``family 12`` as (family, index); a clear error otherwise."""
    if index is None:
        family, sep, number = spec.rpartition("-")
        if not sep or not number.isdigit():
            raise ValueError(f"{spec!r}: expected a case id such as crack-0007, or FAMILY INDEX")
    else:
        family, number = spec, index
        if not number.isdigit():
            raise ValueError(f"{index!r}: the case index must be a whole number")
    if family not in FAMILIES:
        raise ValueError(f"{family!r}: unknown family (known: {', '.join(FAMILIES)})")
    return family, int(number)


def overlay(case: Case, boxes: list[list[int]]) -> np.ndarray:
    """The claim photo (RGB) with the truth outlined in green and ``boxes`` in red, its long
    side at most ``OVERLAY_SIDE`` pixels."""
    claim = np.asarray(Image.open(io.BytesIO(case.claim)).convert("RGB")).copy()
    h, w = claim.shape[:2]
    k = min(1.0, OVERLAY_SIDE / max(h, w))
    small = cv2.resize(claim, (max(1, round(w * k)), max(1, round(h * k))), cv2.INTER_AREA)
    thick = max(2, round(max(small.shape[:2]) / 400))
    if case.mask is not None and case.mask.any():
        mask = cv2.resize(
            case.mask.astype(np.uint8) * 255,
            (small.shape[1], small.shape[0]),
            interpolation=cv2.INTER_NEAREST,
        )
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(small, contours, -1, (0, 220, 0), thick)
    for x, y, bw, bh in boxes:
        p0 = (round(x * k), round(y * k))
        p1 = (round((x + bw) * k), round((y + bh) * k))
        cv2.rectangle(small, p0, p1, (230, 0, 0), thick)
    return small


def describe(record: dict[str, Any]) -> str:
    """The record of one checked case as lines a person reads."""
    lines = [
        f"case {record['case_id']} ({record['kind']}), chain {record['chain']}",
        f"  steps: {', '.join(record.get('steps', [])) or '-'}",
        f"  references: {', '.join(record['references'])}",
    ]
    source = "made from" if record["kind"] == "fake" else "the product sold"
    lines.append(f"  {source}: {record['true_reference']} ({record['true_reference_media_id']})")
    if record.get("error"):
        lines.append(f"  error: {record['error']}")
        return "\n".join(lines)
    lines.append(
        f"  verdict: {record['verdict']} -> {record['action']} "
        f"(risk {record['risk_score']}, flagged: {record['flagged']})"
    )
    for finding in record["findings"]:
        if finding["analyzer"] != "reference_match":
            continue
        lines.append(f"  reference_match: {finding['reason_code']} (score {finding['score']})")
        lines.append(f"    details: {json.dumps(finding['details'], ensure_ascii=False)}")
        lines.append(f"    boxes: {finding['regions']}")
    where = record.get("localization")
    if where is not None:
        lines.append(
            f"  localization: localized {where['localized']}, coverage {where['coverage']}, "
            f"{where['boxes']} boxes over {where['union_px']} px (allowed {where['allowed_px']}),"
            f" edited {where['edited_px']} px in {where['edited_box']}"
        )
    return "\n".join(lines)


def write_files(case: Case, record: dict[str, Any], folder: Path) -> list[Path]:
    """The claim and references as checked, the truth mask and the overlay, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "claim.jpg"]
    written[0].write_bytes(case.claim)
    for i, (_key, data) in enumerate(case.references):
        kind = Image.open(io.BytesIO(data)).format or "bin"
        path = folder / f"listing-{i + 1}.{kind.lower()}"
        path.write_bytes(data)
        written.append(path)
    if case.mask is not None:
        path = folder / "mask.png"
        Image.fromarray(case.mask.astype(np.uint8) * 255).save(path)
        written.append(path)
    boxes = [
        [int(v) for v in box] for f in record.get("findings") or [] for box in f.get("regions", [])
    ]
    path = folder / "overlay.png"
    Image.fromarray(overlay(case, boxes)).save(path)
    written.append(path)
    path = folder / "record.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inspect_case", description=__doc__)
    parser.add_argument("case", help="a case id (crack-0007) or a family")
    parser.add_argument("index", nargs="?", default=None, help="the case index, after a family")
    parser.add_argument("--seed", type=int, default=1, help="the benchmark seed (default 1)")
    parser.add_argument("--data", default="../shared/data", help="shared data folder")
    parser.add_argument("--out", default=None, help="write the photos and overlay here")
    parser.add_argument(
        "--analyzers", default=REFERENCE_ANALYZERS, help="as benchmarks.run's --analyzers"
    )
    parser.add_argument(
        "--strength",
        default=None,
        help="a re-drawn case at another strength of benchmarks.redraw (latent, drift_wide, ...)",
    )
    args = parser.parse_args(argv)
    try:
        family, index = parse_case(args.case, args.index)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.strength is not None and (family != "regenerated" or args.strength not in STRENGTHS):
        print(
            f"error: --strength takes a regenerated case and one of {', '.join(STRENGTHS)}",
            file=sys.stderr,
        )
        return 2
    if library_or_report(args.data) is None:
        return 2
    _init_worker(args.data, args.seed, None, None, args.analyzers)
    if args.strength is None:
        case = build_case(_WORKER["lib"], family, index, args.seed)
    else:
        case = redraw_case(_WORKER["lib"], args.strength, index, args.seed)
    record = run_case(case, _WORKER["settings"])
    print(describe(record))
    if args.out:
        try:
            written = write_files(case, record, Path(args.out))
        except OSError as exc:
            print(f"error: {args.out}: cannot write there ({exc.strerror or exc})", file=sys.stderr)
            return 2
        for path in written:
            print(f"  wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
