"""Write the results: the Markdown section of ``docs/benchmarks.md``, stdout, raw JSON."""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.cases import FAMILIES
from benchmarks.chains import CHAINS
from benchmarks.metrics import FamilyRow, relation, relation_counts, wilson

__all__ = [
    "MARK_END",
    "MARK_START",
    "RELATIONS",
    "false_alarms",
    "family_table",
    "partial_copy_table",
    "relation_table",
    "render_section",
    "write_doc",
    "write_json",
]

MARK_START = "<!-- reference-benchmark:start -->"
MARK_END = "<!-- reference-benchmark:end -->"

_DOC_HEADER = """# Benchmarks

Each analyzer's benchmark writes its own section between its markers; `make bench`
regenerates the reference-match section and leaves the rest of this file as it is.
"""


def _pct(share: float | None) -> str:
    return "—" if share is None or math.isnan(share) else f"{100 * share:.1f}"


def _ms(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _ratio(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.1f}x"


def family_table(rows: Sequence[FamilyRow]) -> str:
    """The per-family table (Markdown, also readable as plain text)."""
    head = (
        "| family | expected | n | flagged % | human_review % | request_more_evidence % "
        "| localized % | median ms/claim | median decode ms | ratio | warm ratio |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        expected = "flag" if r.kind == "fake" else "pass"
        loc = "—" if r.localized is None else f"{_pct(r.localized / r.local_n)} (of {r.local_n})"
        errors = f" ({r.errors} errors)" if r.errors else ""
        lines.append(
            f"| {r.name}{errors} | {expected} | {r.n} | {_pct(r.share(r.flagged))} "
            f"| {_pct(r.share(r.human_review))} | {_pct(r.share(r.more_evidence))} | {loc} "
            f"| {_ms(r.check_ms)} | {_ms(r.decode_ms)} | {_ratio(r.ratio)} "
            f"| {_ratio(r.warm_ratio)} |"
        )
    return "\n".join(lines)


def _chain_table(rows: Sequence[FamilyRow]) -> str:
    lines = [
        "| chain | fakes n | detected % | honest n | false alarms % |",
        "|---|---|---|---|---|",
    ]
    for chain in CHAINS:
        cells = [chain]
        for kind in ("fake", "honest"):
            row = next((r for r in rows if r.name == chain and r.kind == kind), None)
            cells += [str(row.n), _pct(row.share(row.flagged))] if row else ["0", "—"]
        if cells[1] != "0" or cells[3] != "0":
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


RELATIONS = (
    "verbatim_copy",
    "local_edit",
    "global_filter",
    "partial_copy",
    "regenerated_copy",
    "same_product",
    "different_product",
    "no_match",
)


def relation_table(outcomes: Sequence[Mapping[str, Any]], families: Sequence[str]) -> str:
    """Family x the relation reference_match found (counts of claims)."""
    counts = relation_counts(outcomes, families)
    seen = {r for c in counts.values() for r in c}
    columns = [r for r in RELATIONS if r in seen] + sorted(seen - set(RELATIONS))
    lines = ["| family | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for family, c in counts.items():
        lines.append(f"| {family} | " + " | ".join(str(c.get(r, 0)) for r in columns) + " |")
    return "\n".join(lines)


def _lifted(outcome: Mapping[str, Any]) -> str:
    """What a partial copy lifted from the merchant's photo: a studio product (cut out along
    its outline) or a region of a camera photo."""
    source = str(outcome.get("true_reference", ""))
    return "studio product" if source.startswith("grocery/") else "camera-photo region"


def partial_copy_table(outcomes: Sequence[Mapping[str, Any]]) -> str:
    """The partial copies split by what was lifted and how it was pasted: flagged and
    localized per group (empty when the run has no partial copies)."""
    pasted = [o for o in outcomes if o["family"] == "partial_copy"]
    if not pasted:
        return ""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for o in pasted:
        groups.setdefault((_lifted(o), str(o.get("blend", "?"))), []).append(o)
    lines = [
        "| lifted | pasted by | n | flagged % | localized % |",
        "|---|---|---|---|---|",
    ]
    for (lifted, blend), group in sorted(groups.items()):
        n = len(group)
        flagged = sum(bool(o["flagged"]) for o in group)
        localized = sum(bool((o.get("localization") or {}).get("localized")) for o in group)
        lines.append(f"| {lifted} | {blend} | {n} | {_pct(flagged / n)} | {_pct(localized / n)} |")
    return "\n".join(lines)


def false_alarms(outcomes: Sequence[Mapping[str, Any]], *, limit: int = 15) -> str:
    """The honest claims that were flagged, to look at (``--dump`` writes the photos)."""
    flagged = [o for o in outcomes if o["kind"] == "honest" and o["flagged"]]
    if not flagged:
        return "No honest claim was flagged."
    lines = ["Flagged honest claims (rebuild them with `--families ... --dump DIR`):", ""]
    lines += [
        f"- `{o['case_id']}` ({o['chain']}): `{o.get('claim_photo', '?')}` vs "
        f"`{o['true_reference']}`: {o['verdict']}, {relation(o)}"
        for o in flagged[:limit]
    ]
    if len(flagged) > limit:
        lines.append(f"- ... and {len(flagged) - limit} more (see the JSON)")
    return "\n".join(lines)


def _totals(rows: Sequence[FamilyRow]) -> str:
    lines = []
    for r in rows:
        lo, hi = wilson(r.flagged, r.n)
        what = "detection" if r.kind == "fake" else "false alarms"
        lines.append(
            f"- **{r.name}** ({r.n} claims): {what} **{_pct(r.share(r.flagged))} %** "
            f"(95 % CI {_pct(lo)}–{_pct(hi)}), human_review {_pct(r.share(r.human_review))} %, "
            f"request_more_evidence {_pct(r.share(r.more_evidence))} %; median "
            f"{_ms(r.check_ms)} ms/claim vs {_ms(r.decode_ms)} ms to decode its photos "
            f"({_ratio(r.ratio)} cold, {_ratio(r.warm_ratio)} with the references' features "
            "cached)."
        )
    return "\n".join(lines)


def _families_list() -> str:
    out = []
    for f in FAMILIES.values():
        weight = f" (x{f.weight} cases)" if f.weight > 1 else ""
        out.append(
            f"  - `{f.name}` ({f.kind}{', localized' if f.local else ''}){weight}: {f.about}"
        )
    return "\n".join(out)


METHOD = """\
### How the cases are built

Every case is one claim: one claim photo and the merchant's reference photos (the true
reference and one distractor from the same shop/data set, in random order). Cases are
generated in memory from `../shared/data` (never copied into the repository;
NoSo and the magnetic-tile set are for non-commercial research only) and are
deterministic for a seed.

- **Merchant photos** (references of the fake families): the 41 grocery `iconic/` listing
  photos (about 200 px) and the 13 NoSo originals `noso/NoSo_dataset/NN.png`
  (1024x768), used in a reshuffled cycle. Listing photos are upscaled to 400–1024 px
  before a local edit or filter in 70 % of cases (editing apps and generators work at
  that size).
- **Families**
{families}
- **Edits.** *crack/break*: a real defect from `tiles/MT_Crack` / `MT_Break` is cut with
  its mask as a shading map (the defect divided by the tile's own inpainted surface),
  scaled to 20–50 % (cracks) or 12–35 % (breaks) of the product's long side, rotated,
  flipped, centred on a product pixel and blended by multiply (60 %) or Poisson cloning
  (`cv2.seamlessClone`, 40 %). *stain*: an irregular blob with soft edges, a darker rim
  and uneven density in coffee/tea/dirt/rust/grease colours at 60–95 % opacity,
  multiply-blended. *inpaint*: of 16 candidate boxes on the product, the one with the most
  edges (a label or logo) is erased with `cv2.inpaint` (Telea or Navier-Stokes). *global
  filter*: 1–3 of warm, cool, saturation, contrast, brightness, gamma, sepia, fade, with a
  mean change of at least 6 levels. *copy-move*: the 18 NoSo forgeries `NN_mod*.png`
  against `NN.png`. *partial copy*: the product of a listing photo, or a box/ellipse of a
  NoSo original, pasted at 0.7–1.3x (alpha-feathered, or Poisson-cloned in 30 %) into a
  grocery `natural/` photo of another coarse class or a `noso/dataset` photo. In a studio
  photo the product is what cannot be reached from the border through backdrop-coloured
  pixels (boxy parts such as cartons filled to their convex hull); NoSo photos use their
  central 84 %. Edits are clipped to the product. *regenerated*: one of the four local
  edits above (in turn), then the whole photo re-drawn as a generative image editor returns
  it. No generator's weights can run here, so a proxy models what such a re-drawing does:
  a smooth random drift of the frame (a displacement field with a standard deviation of
  0.1–1.2 % of the long side, correlated over 1/12–1/8 of it), the finest detail (periods
  under about 4 px) 30–70 % replaced by noise of the same local energy, and a per-channel
  gain (±4 %) and gamma (±6 %). The edit's mask moves with the drift. The proxy covers the
  drift and the loss of the photo's own fine detail; it does not reproduce a model's
  rendering of text and texture, nor edits that move or reshape objects.
- **Ground truth.** The edited pixels are those the edit changed by more than 8 levels in
  some channel (gaps closed, holes filled), clipped to where the edit could reach; for
  copy-move, the part of NoSo's mask (which marks both source and target) that differs
  from `NN.png`; for partial copy, the pasted region; for a re-drawn copy, the local edit's
  pixels, moved with the drift (the re-drawing changes every pixel a little and is not
  counted as an edit). The mask is a coverage map carried
  through every step below with the same crops, flips, resizes and warps as the pixels,
  and thresholded at 0.5 in the claim photo's own pixel grid.
- **Re-save chains** (every family, fake or honest, draws from the same chains; each
  block of {n_chains} slots uses each chain once): `recompress` (1–3 JPEG saves, q 60–95);
  `scale` (0.3–3x, long side kept within 96–4096 px, then JPEG); `crop` (keeps 40–90 %
  of the area; of 8 windows the one keeping most of the edit); `mirror`;
  `mirror+crop+scale` (45–90 %, 0.5–2x); `screenshot` (the photo inside phone-app chrome
  720–1242 px wide: status bar, title bar, borders, price and text lines, buttons; saved
  as PNG or JPEG q 80–95); `rephoto` (the photo on a screen with a bezel, a perspective
  warp into a camera frame with surroundings, blur σ 0.5–1.4, a moiré beat of 3–8 %,
  colour cast, gamma 0.8–1.25, vignetting, sensor noise, JPEG q 85–95).
- **Upload chain** (every claim): a random crop of 0–4 % per side, a resize to a long
  side drawn from 480–2048 px (upscaling the small listing and grocery photos to
  realistic sizes), and one JPEG encode at a quality drawn from 50–95 (4:2:0 in 70 %,
  else 4:4:4). The chain and upload draws depend only on the seed and the case's index
  within its family, never on its family: every family sees the same sizes, qualities
  and chains, so none of them can stand in for the label; the white studio background
  is in fakes and honest claims alike (`honest_other_studio`).

### Running it

`make bench` (= `python -m benchmarks.run --data ../shared/data --out docs/benchmarks.md`)
runs every family; `--quick` builds 10 claims per family, `--limit N` caps each family,
`--families a,b` picks families, `--seed` changes the draw, `--per-family N` the size,
`--jobs N` spreads the claims over N single-threaded processes, `--dump DIR` writes each
claim photo and its mask. Raw per-case results (verdict, findings, relation, timings,
chain steps, upload settings) go to `benchmarks/.cache/last-run.json`.
One claim of a run is looked at with `python -m benchmarks.inspect_case partial_copy-0087
--seed 1 --out DIR`: the same case checked again, its chain, references, finding and
localization printed, and its photos, truth mask and an overlay (truth outlined in green,
boxes in red) written to DIR.

### Definitions

- **flagged**: the verdict is `likely_manipulated` or `likely_ai_generated`. For a fake
  family the flagged share is the detection rate; for an honest family, the false-alarm
  rate. The `human_review` and `request_more_evidence` columns are the shares of claims
  routed to each action.
- **localized**: for a local edit, the union of every finding's boxes on the claim photo
  covers at least half of the edited pixels and does not **sprawl**: the union's area is
  at most 4x the area of the edited region's bounding box grown on every side by a
  margin of 2 % of the photo's long side (at least 8 px). Every edit is in the
  denominator, detected or not; verbatim copies and global filters have no local edit.
- **time**: `check_claim` on the evidence from `load_bytes` (claim and references),
  timed end to end including the loading; the baseline decodes the same bytes (claim and
  references) with Pillow at full resolution (`Image.open(BytesIO(b)).convert("RGB")`).
  Both are timed for every claim, interleaved (alternating which goes first), in the same
  single-threaded process after an untimed warm-up claim. The table gives the median of
  each and the median of the per-claim ratio. **ratio** is cold: the feature cache is
  emptied before every claim, so every photo, references included, is analysed from
  scratch. **warm ratio** times the same claim again with only the references' features
  cached (the claim photo's own are dropped), as in a service that has already checked
  other claims against the same listing photos; the decode baseline is the same.
"""


def render_section(
    summary: Mapping[str, Sequence[FamilyRow]],
    meta: Mapping[str, Any],
    outcomes: Sequence[Mapping[str, Any]] = (),
) -> str:
    machine = meta["machine"]
    libs = ", ".join(f"{k} {v}" for k, v in machine["libraries"].items())
    method = METHOD.format(families=_families_list(), n_chains=len(CHAINS))
    return "\n".join(
        [
            MARK_START,
            "## Reference match: claims derived from the merchant's photos",
            "",
            f"Run {meta['date']} · seed {meta['seed']} · commit `{meta['commit']}` · "
            f"{meta['cases']} claims · {meta['wall_s'] / 60:.1f} min wall, of which "
            f"{meta['build_s'] / 60:.1f} min building cases "
            f"({meta['jobs']} process{'es' if meta['jobs'] > 1 else ''}) · policy "
            f"{meta.get('policy_version', '?')} · analyzers "
            f"{', '.join(f'{k} {v}' for k, v in meta.get('analyzers', {}).items())}.",
            f"Command: `{meta['command']}`",
            "",
            "### Results per family",
            "",
            family_table(summary["families"]),
            "",
            "### Totals",
            "",
            _totals(summary["totals"]),
            "",
            "### Per re-save chain",
            "",
            _chain_table(summary["chains"]),
            "",
            "### What reference_match found",
            "",
            "The relation in the reference_match finding on each claim photo (counts). A fake",
            "counts as detected whatever derived relation it gets; the relation says whether",
            "the analyzer understood what was done.",
            "",
            relation_table(outcomes, [r.name for r in summary["families"]]),
            "",
            *_partial_section(outcomes),
            false_alarms(outcomes),
            "",
            METHOD_MACHINE.format(
                cpu=machine["cpu"],
                cores=machine["cores"],
                usable=machine["usable_cores"],
                python=machine["python"],
                platform=machine["platform"],
                libs=libs,
                threads=machine["threads"],
            ),
            method,
            MARK_END,
        ]
    )


def _partial_section(outcomes: Sequence[Mapping[str, Any]]) -> list[str]:
    table = partial_copy_table(outcomes)
    if not table:
        return []
    return [
        "Partial copies by what was lifted from the merchant's photo and how it was pasted",
        "(alpha: feathered edge; poisson: seamless cloning, which shifts the pasted colours",
        "towards the scene's):",
        "",
        table,
        "",
    ]


METHOD_MACHINE = """\
### Machine

{cpu}, {cores} cores ({usable} usable by this process), {platform}; Python {python};
{libs}. Single-threaded: {threads}.
"""


def write_doc(
    path: str | Path, section: str, *, start: str = MARK_START, end: str = MARK_END
) -> None:
    """Replace the section between the ``start`` and ``end`` markers of ``path`` (the
    reference-benchmark section by default), keeping everything else."""
    path = Path(path)
    text = path.read_text("utf-8") if path.exists() else _DOC_HEADER
    first, last = text.find(start), text.find(end)
    if first != -1 and last > first:
        text = text[:first] + section + text[last + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


def write_json(
    path: str | Path, meta: Mapping[str, Any], outcomes: Sequence[Mapping[str, Any]]
) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps({"meta": meta, "cases": list(outcomes)}, indent=1, default=str), "utf-8"
    )


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How a benchmark was run, for its section: ``python -m`` ``module`` and its arguments."""
    args = sys.argv[1:] if argv is None else argv
    return f"python -m {module} " + " ".join(shlex.quote(a) for a in args)


def section_meta(module: str, argv: Sequence[str] | None, **fields: Any) -> dict[str, Any]:
    """What a section records of its run: the time, the commit, ``fields`` and the command."""
    import datetime

    from benchmarks.run import _commit

    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        **fields,
        "command": command_line(module, argv),
    }


def publish(
    section: str,
    meta: Mapping[str, Any],
    outcomes: Sequence[Mapping[str, Any]],
    args: argparse.Namespace,
    *,
    start: str,
    end: str,
) -> None:
    """Print a benchmark's section, write its raw results to ``args.json`` (when given) and
    the section between ``start`` and ``end`` of ``args.out`` (unless ``args.no_doc``)."""
    print(section)
    if args.json:
        write_json(args.json, meta, outcomes)
    if not args.no_doc:
        write_doc(Path(args.out), section, start=start, end=end)


def positive_int(text: str) -> int:
    """An argument that must be a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def section_parser(module: str, doc: str | None, *, results: str) -> argparse.ArgumentParser:
    """The options every benchmark that writes a section of ``docs/benchmarks.md`` takes:
    the data folder, the file to update (or ``--no-doc``), the raw results (``results`` says
    what they are), the seed and the worker processes."""
    parser = argparse.ArgumentParser(
        prog=f"python -m {module}", description=(doc or "").split("\n\n")[0]
    )
    parser.add_argument("--data", default="../shared/data", help="shared data folder")
    parser.add_argument("--out", default="docs/benchmarks.md", help="Markdown file to update")
    parser.add_argument("--no-doc", action="store_true", help="do not touch --out")
    parser.add_argument("--json", help=f"raw {results}")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worker processes")
    return parser
