"""The labelled case families, built deterministically from a seed.

A case is one claim: a claim photo (bytes, as uploaded), the merchant's reference photos
(the true one and a distractor, in random order), the expected outcome (``fake`` must be
flagged, ``honest`` must not) and, for local edits, the mask of the edited pixels in the
claim photo's own coordinates.

Every draw depends on the seed. The re-save chain and the upload settings are drawn per
*slot* (the case's index within its family) from streams that do not know the family, so
every family sees the same chains, sizes and JPEG qualities and nothing but the content
can tell the labels apart; the content (which photo, which edit) comes from streams keyed
by the family.
"""

from __future__ import annotations

import dataclasses
import functools
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import cv2
import numpy as np

from benchmarks import edits
from benchmarks.chains import CHAINS, Tracked, UploadParams, apply_chain, draw_upload, upload
from benchmarks.imaging import binarize, dilate, fill_holes, product_mask, resize
from benchmarks.sources import Library, Photo, load_mask

__all__ = [
    "FAMILIES",
    "Case",
    "Draft",
    "Draw",
    "Family",
    "build_case",
    "case_plan",
    "chain_for_slot",
    "iter_cases",
    "slot_draws",
]

Kind = Literal["fake", "honest"]
T = TypeVar("T")


@dataclass
class Draft:
    """A family's content before the chains: the photo, its edit mask, its references."""

    tracked: Tracked
    references: list[Photo]  # the true reference first
    exclude: set[str] = field(default_factory=set)  # labels a distractor must not have
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Draw:
    """What a family's builder draws from: the seed, the case's index and its generator."""

    seed: int
    index: int
    rng: np.random.Generator
    redrawing: edits.Redrawing = edits.CORE_REDRAWING
    """How the ``regenerated`` family re-draws its photo (``benchmarks.redraw`` varies it)."""

    def cycle(self, items: Sequence[T], key: str, *, index: int | None = None) -> T:
        """``items`` in a shuffled order re-drawn every pass, so that each is used evenly."""
        i = self.index if index is None else index
        n = len(items)
        order = np.random.default_rng([self.seed, zlib.crc32(key.encode()), i // n])
        return items[int(order.permutation(n)[i % n])]

    def pick(self, items: Sequence[T]) -> T:
        return items[int(self.rng.integers(0, len(items)))]


@dataclass(frozen=True)
class Family:
    name: str
    kind: Kind
    local: bool  # has a local edit mask, so localization is measured
    weight: int  # cases per family = weight x the per-family count
    about: str
    build: Callable[[Library, Draw], Draft]


@dataclass(frozen=True)
class Case:
    case_id: str
    family: str
    kind: Kind
    index: int
    chain: str
    claim: bytes
    references: tuple[tuple[str, bytes], ...]  # (data-set key, bytes), in the order given
    true_reference: str
    mask: np.ndarray | None  # bool, edited pixels in the claim's coordinates
    local: bool
    info: dict[str, Any]


# --- content helpers -------------------------------------------------------------------


def _merchant_photo(lib: Library, draw: Draw, family: str) -> Photo:
    return draw.cycle((*lib.iconic, *lib.noso_originals), f"{family}/merchant")


def _working_copy(photo: Photo, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """The merchant photo at the size the forger edits it: listing photos (about 200 px)
    are usually upscaled first, as editing apps and generators work at 400..1024 px."""
    pixels = photo.pixels()
    if photo.key.startswith("grocery/") and rng.random() < 0.7:
        long_side = int(rng.integers(400, 1025))
        h, w = pixels.shape[:2]
        f = long_side / max(h, w)
        pixels = resize(pixels, (round(w * f), round(h * f)))
        return pixels, {"working_side": long_side}
    return pixels.copy(), {"working_side": max(pixels.shape[:2])}


def _local_edit(
    lib: Library,
    draw: Draw,
    family: str,
    edit: Callable[[np.ndarray, np.ndarray, np.random.Generator], edits.Edit],
) -> Draft:
    rng = draw.rng
    photo = _merchant_photo(lib, draw, family)
    pixels, info = _working_copy(photo, rng)
    fg = product_mask(pixels)
    floor = max(40, int(0.0008 * pixels.shape[0] * pixels.shape[1]))
    attempts = 0
    while True:  # a faint crack or an inpainted flat area changes too little: draw again
        attempts += 1
        result = edit(pixels, fg, rng)
        assert result.mask is not None
        if result.mask.sum() >= floor or attempts == 8:
            break
    info.update(result.info, attempts=attempts)
    mask = result.mask.astype(np.float32)
    return Draft(Tracked(result.pixels, mask), [photo], {photo.label}, info)


def _defect_edit(
    lib: Library, folder: str
) -> Callable[[np.ndarray, np.ndarray, np.random.Generator], edits.Edit]:
    tiles = _tiles_with_mask(lib, folder)

    def edit(pixels: np.ndarray, fg: np.ndarray, rng: np.random.Generator) -> edits.Edit:
        tile = tiles[int(rng.integers(0, len(tiles)))]
        size = (0.2, 0.5) if folder == "MT_Crack" else (0.12, 0.35)
        result = edits.add_defect(pixels, fg, _texture(tile), rng, size=size)
        result.info["tile"] = tile.key
        return result

    return edit


@functools.lru_cache(maxsize=128)
def _texture(tile: Photo) -> tuple[np.ndarray, np.ndarray]:
    assert tile.mask_path is not None
    return edits.defect_texture(tile.pixels(), load_mask(tile.mask_path))


_TILES: dict[tuple[Path, str], list[Photo]] = {}


def _tiles_with_mask(lib: Library, folder: str) -> list[Photo]:
    key = (lib.root, folder)
    if key not in _TILES:
        _TILES[key] = [
            t for t in lib.tiles[folder] if t.mask_path is not None and load_mask(t.mask_path).any()
        ]
    return _TILES[key]


# --- the families ------------------------------------------------------------------------


def _verbatim(lib: Library, draw: Draw) -> Draft:
    photo = _merchant_photo(lib, draw, "verbatim")
    return Draft(Tracked(photo.pixels().copy()), [photo], {photo.label})


def _crack(lib: Library, draw: Draw) -> Draft:
    return _local_edit(lib, draw, "crack", _defect_edit(lib, "MT_Crack"))


def _break(lib: Library, draw: Draw) -> Draft:
    return _local_edit(lib, draw, "break", _defect_edit(lib, "MT_Break"))


def _stain(lib: Library, draw: Draw) -> Draft:
    return _local_edit(lib, draw, "stain", edits.add_stain)


def _inpaint(lib: Library, draw: Draw) -> Draft:
    return _local_edit(lib, draw, "inpaint", edits.inpaint_region)


def _regenerated(lib: Library, draw: Draw) -> Draft:
    """A local edit (crack, break, stain or inpainting), then the whole photo re-drawn as
    a generative image editor does (:func:`benchmarks.edits.regenerate`)."""
    kinds: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], edits.Edit]] = {
        "crack": _defect_edit(lib, "MT_Crack"),
        "break": _defect_edit(lib, "MT_Break"),
        "stain": edits.add_stain,
        "inpaint": edits.inpaint_region,
    }
    names = sorted(kinds)
    kind = names[draw.index % len(names)]

    def edit(pixels: np.ndarray, fg: np.ndarray, rng: np.random.Generator) -> edits.Edit:
        local = kinds[kind](pixels, fg, rng)
        assert local.mask is not None
        redrawn = edits.regenerate(local.pixels, local.mask, rng, draw.redrawing)
        return edits.Edit(
            redrawn.pixels, redrawn.mask, {**local.info, **redrawn.info, "local": kind}
        )

    return _local_edit(lib, draw, "regenerated", edit)


def _global_filter(lib: Library, draw: Draw) -> Draft:
    photo = _merchant_photo(lib, draw, "global_filter")
    pixels, info = _working_copy(photo, draw.rng)
    result = edits.colour_filter(pixels, draw.rng)
    info.update(result.info)
    return Draft(Tracked(result.pixels), [photo], {photo.label}, info)


def copy_move_mask(forgery: np.ndarray, original: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """The pasted part of a NoSo ground truth: its mask marks both the copied source and
    the pasted target, but only the target differs from the reference photo."""
    diff = np.abs(forgery.astype(np.int16) - original.astype(np.int16)).max(axis=2) > 4
    return fill_holes(gt & dilate(diff, 4))


def _copy_move(lib: Library, draw: Draw) -> Draft:
    forgery, original = draw.cycle(lib.noso_forgeries, "copy_move/forgery")
    assert forgery.mask_path is not None
    pixels = forgery.pixels()
    mask = copy_move_mask(pixels, original.pixels(), load_mask(forgery.mask_path))
    return Draft(
        Tracked(pixels.copy(), mask.astype(np.float32)),
        [original],
        {original.label},
        {"forgery": forgery.key},
    )


def _cut_region(photo: Photo, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The part of a merchant photo a forger would lift: the product of a listing photo,
    or a box or ellipse of a camera photo. Returns pixels and a feathered alpha."""
    pixels = photo.pixels()
    h, w = pixels.shape[:2]
    if photo.key.startswith("grocery/"):
        fg = product_mask(pixels)
        ys, xs = np.nonzero(fg)
        sl = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
        alpha = fg[sl].astype(np.float32)
    else:
        rw, rh = int(rng.uniform(0.25, 0.5) * w), int(rng.uniform(0.25, 0.5) * h)
        x0, y0 = int(rng.integers(0, w - rw)), int(rng.integers(0, h - rh))
        sl = (slice(y0, y0 + rh), slice(x0, x0 + rw))
        alpha = np.zeros((rh, rw), np.float32)
        if rng.random() < 0.4:
            cv2.ellipse(alpha, (rw // 2, rh // 2), (rw // 2 - 1, rh // 2 - 1), 0, 0, 360, 1.0, -1)
        else:
            alpha[:] = 1.0
    alpha = np.minimum(alpha, cv2.GaussianBlur(alpha, (0, 0), 1.2))
    return pixels[sl].copy(), alpha


def _partial_copy(lib: Library, draw: Draw) -> Draft:
    rng = draw.rng
    photo = _merchant_photo(lib, draw, "partial_copy")
    patch, alpha = _cut_region(photo, rng)
    from_grocery = photo.key.startswith("grocery/")
    exclude = {photo.label}
    # Mostly like with like (a product into a shop photo, a camera region into a camera
    # photo), a third of the time crossed over.
    if (rng.random() < 2 / 3) == from_grocery:
        classes = [c for c, ps in sorted(lib.natural.items()) if ps and c != photo.label]
        if from_grocery:
            classes = [c for c in classes if lib.iconic_by_class()[c].coarse != photo.coarse]
        cls = classes[int(rng.integers(0, len(classes)))]
        scene_photo = draw.pick(lib.natural[cls])
        exclude.add(cls)
    else:
        scene_photo = draw.pick(lib.noso_scenes)
    scene = scene_photo.pixels()
    sh, sw = scene.shape[:2]
    ph, pw = alpha.shape
    if max(sh, sw) < 600 and not from_grocery:
        f = 1024 / max(sh, sw)  # a camera-photo region needs a camera-sized scene
        scene = resize(scene, (round(sw * f), round(sh * f)))
        sh, sw = scene.shape[:2]
    # A claim photo is taken to show the goods: the pasted region spans 30-70 % of the
    # scene's short side (a product lost in a corner would not support a damage claim).
    f = rng.uniform(0.3, 0.7) * min(sw, sh) / max(pw, ph)
    f = min(f, 0.8 * sw / pw, 0.8 * sh / ph)
    size = (max(4, round(pw * f)), max(4, round(ph * f)))
    result = edits.paste_region(scene, resize(patch, size), resize(alpha, size, is_mask=True), rng)
    assert result.mask is not None
    info = dict(result.info, scene=scene_photo.key, paste_scale=round(f, 3))
    return Draft(Tracked(result.pixels, result.mask.astype(np.float32)), [photo], exclude, info)


def _grocery_pair(
    lib: Library, draw: Draw, family: str, *, same_coarse_share: float
) -> tuple[Photo, Photo]:
    """The product sold (an iconic photo) and a different product shown in the claim:
    in ``same_coarse_share`` of cases one of the same kind (two apple varieties)."""
    sold = draw.cycle(lib.iconic, f"{family}/sold")
    kin = [p for p in lib.iconic if p.coarse == sold.coarse and p.label != sold.label]
    others = [p for p in lib.iconic if p.label != sold.label]
    pool = kin if kin and draw.rng.random() < same_coarse_share else others
    return sold, draw.pick(pool)


def _honest_same_product(lib: Library, draw: Draw) -> Draft:
    sold = draw.cycle(lib.iconic, "honest_same_product/sold")
    claim = draw.pick(lib.natural[sold.label])
    return Draft(Tracked(claim.pixels().copy()), [sold], {sold.label}, {"claim_photo": claim.key})


def _honest_wrong_product(lib: Library, draw: Draw) -> Draft:
    sold, shown = _grocery_pair(lib, draw, "honest_wrong_product", same_coarse_share=0.5)
    claim = draw.pick(lib.natural[shown.label])
    info = {"claim_photo": claim.key, "same_coarse": shown.coarse == sold.coarse}
    return Draft(Tracked(claim.pixels().copy()), [sold], {sold.label, shown.label}, info)


def _honest_other_studio(lib: Library, draw: Draw) -> Draft:
    sold, shown = _grocery_pair(lib, draw, "honest_other_studio", same_coarse_share=0.5)
    info = {"claim_photo": shown.key, "same_coarse": shown.coarse == sold.coarse}
    return Draft(Tracked(shown.pixels().copy()), [sold], {sold.label, shown.label}, info)


def _honest_real_damage(lib: Library, draw: Draw) -> Draft:
    folder = "MT_Crack" if draw.index % 2 == 0 else "MT_Break"
    claim = draw.cycle(lib.tiles[folder], f"honest_real_damage/{folder}", index=draw.index // 2)
    intact = draw.pick(lib.tiles["MT_Free"])
    return Draft(Tracked(claim.pixels().copy()), [intact], {claim.key}, {"claim_photo": claim.key})


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("verbatim", "fake", False, 1, "the merchant photo itself, no edit", _verbatim),
        Family("crack", "fake", True, 1, "a real tile crack blended onto the product", _crack),
        Family("break", "fake", True, 1, "a real tile break blended onto the product", _break),
        Family("stain", "fake", True, 1, "a coffee/tea/dirt/rust/grease stain", _stain),
        Family("inpaint", "fake", True, 1, "a label or logo inpainted away", _inpaint),
        Family(
            "global_filter", "fake", False, 1, "warm/cool/saturation/contrast/...", _global_filter
        ),
        Family("copy_move", "fake", True, 1, "NoSo hand-made copy-move forgeries", _copy_move),
        Family(
            "regenerated",
            "fake",
            True,
            1,
            "a local edit, then the whole photo re-drawn (generative-editor proxy)",
            _regenerated,
        ),
        Family(
            "partial_copy",
            "fake",
            True,
            1,
            "a merchant-photo region pasted elsewhere",
            _partial_copy,
        ),
        Family(
            "honest_same_product",
            "honest",
            False,
            3,
            "buyer photo of the product sold",
            _honest_same_product,
        ),
        Family(
            "honest_wrong_product",
            "honest",
            False,
            1,
            "buyer photo of another product",
            _honest_wrong_product,
        ),
        Family(
            "honest_other_studio",
            "honest",
            False,
            1,
            "another product's studio photo",
            _honest_other_studio,
        ),
        Family(
            "honest_real_damage",
            "honest",
            False,
            1,
            "real cracked tile vs an intact tile",
            _honest_real_damage,
        ),
    )
}


# --- from a family and an index to a case -------------------------------------------------


def chain_for_slot(seed: int, slot: int) -> str:
    """The re-save chain of a slot: every block of len(CHAINS) slots uses each chain once."""
    names = list(CHAINS)
    order = np.random.default_rng([seed, 1, slot // len(names)]).permutation(len(names))
    return names[int(order[slot % len(names)])]


def slot_draws(seed: int, index: int) -> tuple[str, np.random.Generator, UploadParams]:
    """What a slot (a case's index within its family) fixes, whatever the family: the
    re-save chain, the generator its parameters come from, and the upload settings."""
    chain_rng = np.random.default_rng([seed, 2, index])
    return (
        chain_for_slot(seed, index),
        chain_rng,
        draw_upload(np.random.default_rng([seed, 4, index])),
    )


def _distractor(
    lib: Library, true_ref: Photo, exclude: set[str], rng: np.random.Generator
) -> Photo:
    """Another photo from the merchant's shop (same data set as the true reference)."""
    if true_ref.key.startswith("grocery/"):
        pool = [p for p in lib.iconic if p.label not in exclude and p.key != true_ref.key]
    elif true_ref.key.startswith("tiles/"):
        pool = [p for p in lib.tiles["MT_Free"] if p.key != true_ref.key]
    else:
        pool = [p for p in lib.noso_originals if p.label not in exclude and p.key != true_ref.key]
    return pool[int(rng.integers(0, len(pool)))]


ChainStep = Callable[[Tracked, np.random.Generator], Tracked]
"""What a photo goes through between its content and the upload (a re-save chain)."""


def build_case(
    lib: Library,
    family: str,
    index: int,
    seed: int,
    *,
    upload_side: int | None = None,
    chain: tuple[str, ChainStep] | None = None,
    redrawing: edits.Redrawing = edits.CORE_REDRAWING,
) -> Case:
    """Build one case; the same (family, index, seed) always gives the same bytes.

    ``upload_side`` fixes the upload's long side (a size sweep) instead of drawing it.
    ``chain`` (a name and its step) replaces the slot's re-save chain: the content is the
    same, and the chain's parameters and the upload are drawn from the seed, the chain's name
    and the index, whatever the family (``benchmarks.stress``). ``redrawing`` sets how
    strongly the ``regenerated`` family re-draws its photo (``benchmarks.redraw``)."""
    fam = FAMILIES[family]
    content = np.random.default_rng([seed, 3, zlib.crc32(family.encode()), index])
    draft = fam.build(lib, Draw(seed, index, content, redrawing))
    true_ref = draft.references[0]
    refs = [true_ref, _distractor(lib, true_ref, draft.exclude, content)]
    content.shuffle(refs)  # type: ignore[arg-type]

    if chain is None:
        chain_name, chain_rng, params = slot_draws(seed, index)
        tracked = apply_chain(draft.tracked, chain_name, chain_rng)
    else:
        chain_name, step = chain
        slot = [seed, zlib.crc32(chain_name.encode()), index]
        params = draw_upload(np.random.default_rng([*slot, 5]))
        tracked = step(draft.tracked, np.random.default_rng([*slot, 6]))
    if upload_side is not None:
        params = dataclasses.replace(params, long_side=upload_side)
    claim, final = upload(tracked, params)
    mask = binarize(final.mask)
    if mask is not None and not fam.local:
        mask = None
    info = dict(draft.info)
    info.update(
        steps=list(final.steps),
        upload={
            "long_side": params.long_side,
            "quality": params.quality,
            "subsampling": "4:2:0" if params.subsampling == 2 else "4:4:4",
            "crop": [round(c, 4) for c in params.crop],
        },
        claim_size=list(final.size),
        gt_pixels=int(mask.sum()) if mask is not None else None,
    )
    return Case(
        case_id=f"{family}-{index:04d}",
        family=family,
        kind=fam.kind,
        index=index,
        chain=chain_name,
        claim=claim,
        references=tuple((p.key, p.data()) for p in refs),
        true_reference=true_ref.key,
        mask=mask,
        local=fam.local and mask is not None and bool(mask.any()),
        info=info,
    )


def case_plan(
    families: Sequence[str], *, per_family: int, limit: int | None = None, weighted: bool = True
) -> list[tuple[str, int]]:
    """(family, index) pairs, interleaved across families so a partial run stays balanced."""
    counts = {}
    for name in families:
        n = per_family * (FAMILIES[name].weight if weighted else 1)
        counts[name] = min(n, limit) if limit is not None else n
    plan = []
    for i in range(max(counts.values(), default=0)):
        plan += [(name, i) for name in families if i < counts[name]]
    return plan


def iter_cases(lib: Library, plan: Sequence[tuple[str, int]], seed: int) -> Iterator[Case]:
    for family, index in plan:
        yield build_case(lib, family, index, seed)
