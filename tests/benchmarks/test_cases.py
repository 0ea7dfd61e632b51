"""The case builders: deterministic, labelled, with masks in the claim photo's coordinates."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from benchmarks.cases import (
    FAMILIES,
    build_case,
    case_plan,
    chain_for_slot,
    copy_move_mask,
    slot_draws,
)
from benchmarks.chains import CHAINS
from benchmarks.sources import load_mask, open_library
from PIL import Image

SEED = 3


def _jpeg_quality_tables(data: bytes) -> dict:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG"
        return {k: list(v) for k, v in im.quantization.items()}


def test_every_block_of_slots_uses_every_chain_once() -> None:
    names = [chain_for_slot(SEED, slot) for slot in range(3 * len(CHAINS))]
    for block in range(3):
        assert sorted(names[block * len(CHAINS) : (block + 1) * len(CHAINS)]) == sorted(CHAINS)


def test_slot_draws_do_not_depend_on_the_family() -> None:
    # slot_draws takes no family: whatever a claim is, its slot alone fixes these.
    a = slot_draws(SEED, 4)
    b = slot_draws(SEED, 4)
    assert a[0] == b[0] and a[2] == b[2]
    assert a[1].random() == b[1].random()


def test_case_plan_interleaves_and_weights() -> None:
    plan = case_plan(list(FAMILIES), per_family=2)
    counts = Counter(f for f, _ in plan)
    assert counts["honest_same_product"] == 2 * FAMILIES["honest_same_product"].weight
    assert counts["crack"] == 2
    assert [f for f, _ in plan[: len(FAMILIES)]] == list(FAMILIES)
    assert case_plan(["crack", "stain"], per_family=50, limit=3) == [
        (f, i) for i in range(3) for f in ("crack", "stain")
    ]


@pytest.mark.shared_data
def test_upload_is_the_same_for_fakes_and_honest_claims(shared_data: Path) -> None:
    lib = open_library(shared_data)
    for index in range(3):
        cases = [build_case(lib, family, index, SEED) for family in FAMILIES]
        uploads = {repr(c.info["upload"]) for c in cases}
        chains = {c.chain for c in cases}
        tables = {repr(_jpeg_quality_tables(c.claim)) for c in cases}
        assert len(uploads) == 1 and len(chains) == 1 and len(tables) == 1
        long_side = cases[0].info["upload"]["long_side"]
        for c in cases:
            with Image.open(io.BytesIO(c.claim)) as im:
                assert max(im.size) == long_side
        kinds = {c.kind for c in cases}
        assert kinds == {"fake", "honest"}


@pytest.mark.shared_data
@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_builds_a_labelled_claim(shared_data: Path, family: str) -> None:
    lib = open_library(shared_data)
    case = build_case(lib, family, 1, SEED)
    again = build_case(lib, family, 1, SEED)
    assert case.claim == again.claim  # deterministic from the seed
    assert case.kind == FAMILIES[family].kind
    with Image.open(io.BytesIO(case.claim)) as im:
        assert im.format == "JPEG"
        width, height = im.size
    keys = [k for k, _ in case.references]
    assert len(keys) == 2 and len(set(keys)) == 2 and case.true_reference in keys
    for key, data in case.references:
        assert data == (lib.root / key).read_bytes()  # references are the merchant's files
    if FAMILIES[family].local:
        assert case.local and case.mask is not None
        assert case.mask.shape == (height, width)
        assert 0 < case.mask.mean() < 0.6
        assert np.array_equal(case.mask, again.mask)
    else:
        assert case.mask is None and not case.local


@pytest.mark.shared_data
def test_honest_claims_never_copy_a_reference(shared_data: Path) -> None:
    lib = open_library(shared_data)
    for family in ("honest_same_product", "honest_wrong_product", "honest_other_studio"):
        for index in range(6):
            case = build_case(lib, family, index, SEED)
            assert case.info["claim_photo"] not in [k for k, _ in case.references]


@pytest.mark.shared_data
def test_copy_move_mask_keeps_the_pasted_target_only(shared_data: Path) -> None:
    lib = open_library(shared_data)
    for forgery, original in lib.noso_forgeries[:4]:
        assert forgery.mask_path is not None
        gt = load_mask(forgery.mask_path)
        target = copy_move_mask(forgery.pixels(), original.pixels(), gt)
        assert target.any() and not (target & ~gt).any()
        assert target.sum() < 0.8 * gt.sum()  # the copied source is left out
        diff = np.abs(forgery.pixels().astype(int) - original.pixels().astype(int))
        changed = diff.max(axis=2) > 4
        assert (changed & gt & ~target).sum() < 0.05 * (changed & gt).sum()


@pytest.mark.shared_data
def test_the_claim_differs_from_the_reference_where_the_mask_says(shared_data: Path) -> None:
    """For an unwarped chain, the claim photo and the reference brought to its grid
    differ inside the mask far more than outside it."""
    lib = open_library(shared_data)
    checked = 0
    for index in range(len(CHAINS)):
        if chain_for_slot(SEED, index) not in ("recompress", "scale"):
            continue
        for family in ("stain", "inpaint", "copy_move"):
            case = build_case(lib, family, index, SEED)
            ref = dict(case.references)[case.true_reference]
            with Image.open(io.BytesIO(case.claim)) as im:
                claim = np.asarray(im.convert("RGB"), dtype=np.float32)
            h, w = claim.shape[:2]
            with Image.open(io.BytesIO(ref)) as im:
                full = im.convert("RGB")
            # Undo the upload's crop: the claim is the reference minus a few percent per side.
            left, top, right, bottom = case.info["upload"]["crop"]
            rw, rh = full.size
            box = (left * rw, top * rh, rw - right * rw, rh - bottom * rh)
            reference = np.asarray(full.resize((w, h), Image.BILINEAR, box=box), dtype=np.float32)
            diff = np.abs(claim - reference).max(axis=2)
            assert case.mask is not None
            inside, outside = diff[case.mask].mean(), diff[~case.mask].mean()
            assert inside > outside + 8, (case.case_id, inside, outside)
            checked += 1
    assert checked >= 3


@pytest.mark.shared_data
def test_the_seed_changes_every_draw(shared_data: Path) -> None:
    lib = open_library(shared_data)
    cases = [build_case(lib, "honest_other_studio", 0, seed) for seed in range(4)]
    assert len({c.true_reference for c in cases}) > 1
    assert len({c.info["claim_photo"] for c in cases}) > 1
    assert len({repr(c.info["upload"]) for c in cases}) == 4


def test_the_redrawing_proxy_drifts_the_frame_and_moves_the_mask() -> None:
    from benchmarks.edits import regenerate

    from tests.conftest import textured_image

    base = textured_image(640, 480, seed=4)
    mask = np.zeros((480, 640), bool)
    mask[200:260, 300:380] = True
    a = regenerate(base, mask, np.random.default_rng(7))
    b = regenerate(base, mask, np.random.default_rng(7))
    assert np.array_equal(a.pixels, b.pixels) and np.array_equal(a.mask, b.mask)  # deterministic
    assert a.pixels.shape == base.shape and a.pixels.dtype == np.uint8
    assert 0.001 <= a.info["drift_share"] <= 0.012 and 0.3 <= a.info["detail_kept"] <= 0.7
    # Every pixel is re-drawn, yet the frame stays the photo: coarsely the same, not equal.
    assert np.abs(a.pixels.astype(int) - base.astype(int)).mean() > 1
    coarse_a = np.asarray(Image.fromarray(a.pixels).convert("L").resize((40, 30), Image.BOX))
    coarse_b = np.asarray(Image.fromarray(base).convert("L").resize((40, 30), Image.BOX))
    other = textured_image(640, 480, seed=5)
    coarse_o = np.asarray(Image.fromarray(other).convert("L").resize((40, 30), Image.BOX))
    same = np.corrcoef(coarse_a.ravel(), coarse_b.ravel())[0, 1]
    assert same > 0.7 and same > np.corrcoef(coarse_o.ravel(), coarse_b.ravel())[0, 1] + 0.5
    # The edit's mask moved with the frame, by about the drift, keeping its size.
    assert a.mask is not None and abs(int(a.mask.sum()) - int(mask.sum())) < 0.2 * mask.sum()
    ys, xs = np.nonzero(a.mask)
    assert abs(xs.mean() - 339.5) < 20 and abs(ys.mean() - 229.5) < 20
