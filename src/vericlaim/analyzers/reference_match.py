"""Reference match: was a claim photo made from one of the merchant's own photos?

A buyer cannot photograph goods at home from exactly the viewpoint, light and background
of the merchant's studio photo. A claim photo that aligns with a merchant photo across the
whole frame (background included) was derived from it, and whatever differs after
alignment is the edit. See ``docs/analyzers/reference_match.md``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import cv2
import numpy as np

from vericlaim.analyzers._align import (
    Alignment,
    Features,
    align,
    align_repeated,
    detect_features,
    detect_sift,
    ecc_refine,
    gray_scale,
    mirror_sift,
    refine,
    residual_shift,
    shrink,
    to_gray,
)
from vericlaim.analyzers._compare import (
    Comparison,
    block_contrast,
    compare,
    departure_map,
    fine_correlation,
    grow_copied_region,
    region_consistency,
    remove_moire,
    tone_departure,
    warp_reference,
)
from vericlaim.analyzers._nonrigid import Drift, measure_drift, rewarp
from vericlaim.analyzers._regions import Box, edit_regions, largest_component, soft_regions
from vericlaim.analyzers._retrieve import (
    Located,
    ProductSearch,
    ProductTemplate,
    product_mask,
    product_template,
    refine_placement,
)
from vericlaim.analyzers.base import Analyzer, AnalyzerConfig, ClaimContext
from vericlaim.analyzers.finding import Finding, Region
from vericlaim.analyzers.registry import register
from vericlaim.evidence import Evidence, Frame

__all__ = ["FEATURES", "FeatureCache", "Match", "ReferenceMatchAnalyzer", "match_frames"]

DERIVED = ("verbatim_copy", "local_edit", "global_filter", "partial_copy", "regenerated_copy")
WHOLE_FRAME = ("verbatim_copy", "local_edit", "global_filter", "regenerated_copy")
"""The relations of a photo derived from the reference as a whole (not a region of it)."""


class ReferenceMatchConfig(AnalyzerConfig):
    """Thresholds of the reference match; see ``docs/analyzers/reference_match.md``. They
    follow from the physics of copying (a copy agrees with its source block by block and to
    a fraction of a pixel) and were checked against the grocery shelf photos for false alarms,
    not fitted to a benchmark."""

    feature_area: int = 160_000
    """Pixels (width x height) at which features are detected."""
    n_features: int = 500
    deep_features: int = 1000
    deep_feature_area: int = 250_000
    """A second, closer look when nothing aligned firmly (0 features turns it off)."""
    coarse_feature_area: int = 40_000
    """A coarser look (0 turns it off), when nothing derived was found and some alignment of
    the usual look had at least ``deep_hint_inliers`` inliers: features of the claim and the
    reference at this many pixels. A generative editor that re-draws the photo it edits
    moves parts of the frame by a few per cent and renews its finer texture, so few of the
    usual look's features still match and fewer agree on one homography; the coarser
    structure (outlines, print, large marks) survives, and at this scale the drift is a
    pixel or two. It also puts a large claim and a small listing photo (a thumbnail) at
    a common scale. Only a whole-frame copy is taken from it."""
    coarse_features: int = 500
    deep_hint_inliers: int = 6
    """The closer look is taken only when some alignment had at least this many inliers: a
    copy behind app chrome still shows a few consistent matches, while most honest photos
    show none or chance ones (4-5). On development claims this kept 10 of the 11 copies
    only the closer look finds, and skipped it for about three quarters of honest claims."""
    deep_aspect: float = 1.6
    """A photo this much longer than wide (a phone screenshot: 16:9 and taller) always gets
    the closer look: its app chrome may leave the copy no features at all."""
    compare_area: int = 130_000
    """Pixels (width x height) at which the aligned photos are compared."""
    localize_area: int = 300_000
    """Pixels at which the edits of a whole-frame copy are localized: a thin crack fades
    into the resampling at the comparison's scale. Only copies pay for the finer look."""
    max_upsample: float = 1.3
    """Compare at a resolution where the reference is enlarged at most this much."""
    min_inliers: int = 15
    derived_agreement: float = 0.45
    """Share of informative blocks in the overlap that must agree for a whole-frame copy."""
    min_footprint: float = 0.2
    """Share of the claim frame the reference must cover for a whole-frame copy."""
    filter_change: float = 7.0
    """Mean colour change (0..255) above which a copy counts as filtered."""
    max_unexplained_departure: float = 0.2
    """Share of the overlap that may depart in colour from the aligned reference (one global
    colour map taken out; CIELAB distance of 9-pixel means above 10) outside the edits found
    for a whole-frame copy to be judged one. An edited copy departs only where it was
    edited: on development claims copies left at most 0.16 unexplained (a strong filter, a
    large break), two renders of one carton template with other artwork 0.25. Above it the
    photo is judged as a region copy instead (a product pasted into another scene)."""
    edit_z: float = 4.0
    """Residual, in units of the residual noise, above which a pixel may be edited."""
    min_edit_area: float = 0.0002
    """Smallest edit reported, as a share of the frame."""
    soft_floor: float = 3.0
    """Where no pixel stands out, the least mean residual (in noise units, averaged over a
    window) of a broad, faint edit (:func:`soft_regions`; the frame's own residual sets a
    higher bar where it is busy)."""
    redrawn_soft_floor: float = 1.5
    """The same for a copy whose drift was undone (re-drawn, or bent by a re-photograph): the
    re-drawing's new texture counts as noise. On seeds 1, 2 and 5 it boxed 8 more of 300
    re-drawn edits (4, 2, 2) and gave one of 600 copies without an edit (verbatim copies and
    filters) a box it did not have. Lowered for every copy instead, it also boxed 3 NoSo
    copy-moves of seed 1 but gave 12 more of its 100 verbatim copies a box where nothing
    was edited."""
    refine_below: float = 0.9
    """Try a sub-pixel refinement when the block agreement is below this."""
    refine_rounds: int = 3
    ecc_from: float = 0.12
    """Block agreement from which an ECC refinement is worth its cost."""
    early_exit: float = 0.8
    """Stop searching other references once a copy agrees this well."""
    partial_blocks: int = 10
    partial_fine: float = 0.5
    """Share of a candidate pasted region's blocks that must agree in fine detail."""
    partial_ncc: float = 0.8
    """Median fine-detail correlation a pasted region must reach."""
    partial_r2: float = 0.85
    """How well one tone map must explain the region's block means (R^2)."""
    partial_gain_spread: float = 0.25
    """Largest robust spread of block contrast gains in a pasted region."""
    partial_misregistration: float = 0.16
    """Largest mean residual shift (comparison pixels) inside a pasted region: copied pixels
    follow the alignment exactly, a photographed carton does not."""
    partial_fine_frame: float = 0.35
    """Share of the overlap's informative blocks agreeing in fine detail that marks a pasted
    region as copied even when its residual shift is above ``partial_misregistration``: the
    finest band carries each camera's own noise and blur. Measured on 750 honest claims of
    the development seed: 99 % below 0.33 (the one above, 0.37, is two studio photos printed
    from one carton template); partial copies that align reach 0.3-0.7."""
    vouch_misregistration: float = 0.3
    """Below this, a candidate pasted region is too exact to vouch for the photo as independent
    (the match then lends no confidence towards approval)."""
    vouch_colour_change: float = 40.0
    """Mean colour change (0..255) the colour fit must apply for a photo to be vouched for as
    independent: a buyer's photo differs from the studio photo in light and background, not
    only in register. The 6 buyer's photos of the product sold vouched for on the benchmark
    (two seeds) needed 88 or more; filtered copies measure a median of 18 and a 95th
    percentile of 41. Four copies out of register (re-drawn or re-photographed), at 4-18,
    and one studio photo of another product, at 4, had been vouched for."""
    max_reference_frames: int = 12
    product_search: bool = True
    """When nothing derived was found, look for the product of a studio reference (plain
    background) pasted into another scene, where local features fail: a smooth product has
    few corners and the scene takes the detector's budget."""
    product_feature_placement: bool = True
    """Before searching, place the studio product where a firm feature alignment (at least
    ``min_inliers``) of the pair puts it, and verify it there."""
    product_feature_similarity: float = 0.01
    """The feature placement is used only when it is a similarity (scale, rotation, mirror)
    to within this share of the placed product's diagonal at its corners: a forger pastes a
    product flat, a buyer photographs a carton in perspective, and a perspective view of a
    flat printed face can pass the product's tests. Pasted products on the benchmark
    measured at most 0.003; a carton face turned by 10 degrees about 0.017. Re-photographed
    pastes (0.004-0.026) are left to the product search, as before."""
    product_search_pairs: int = 2
    """At most this many (claim frame, reference frame) pairs, likeliest first, get the
    product search."""
    region_search: bool = True
    """When nothing derived was found, verify the regions where the reference's features
    align with the claim's, each on its own: a region cut from a photo of a scene and pasted
    into another scene is too small a part of the frame for the whole-frame comparison."""
    region_min_inliers: int = 8
    """Inliers from which a feature alignment's region is verified (fewer than
    ``min_inliers``: such an alignment only ever leads to this verification)."""
    region_features: int = 1500
    region_feature_area: int = 200_000
    """A closer look for the region check, when nothing derived was found: features at this
    count and area (0 features turns it off) on the claim and on reference photos that are
    scenes. A region cut from a scene photo and pasted into another scene fills a small part
    of the claim; at the usual count the new scene's texture takes nearly all of the
    features. (2,000 at 300,000 pixels with ORB features before 1.17.0; SIFT's first octave
    works at twice the size it is given.)"""
    region_orb_features: int = 2000
    region_orb_area: int = 300_000
    """ORB features of the look, when ``region_detector`` is ``orb``, and of the repeated
    structure alignment (``region_look_repeated``), which needs binary descriptors."""
    region_detector: str = "sift"
    """The look's features: ``sift`` (RootSIFT, since 1.17.0) or ``orb`` (before). On the
    benchmark's partial copies of camera photos (seed 1), SIFT features at the look's size
    aligned the copied region for 15 of 23 claims, ORB features at 300,000 pixels for 11;
    soft texture (wood grain, carpet, a blurred label) holds SIFT's blobs, not ORB's
    corners."""
    region_look_hint_inliers: int = 0
    """The closer look is taken only when some alignment of the usual pass (mirrored
    included) had at least this many inliers (0: always, the default since 1.17.0). Up to
    1.16.0 the bar was 6: a copied region often leaves a few consistent matches at the usual
    count, but of the 17 partial copies of camera photos that 1.16.0 missed on seed 1, 13
    had left none. Looking every time costs about 70 ms more per claim checked against a
    scene photo (tile photos, seed 1: median 41 to 116 ms a claim); a deployment short of
    CPU can set 6 again."""
    region_orb_hint_inliers: int = 6
    """With SIFT features, the ORB look of 1.16.0 (unmirrored) is taken as well when some
    alignment of the usual pass had at least this many inliers (0: never). Its candidates
    join the SIFT look's, so no region that version found is given up."""
    region_look_mirrored: bool = True
    """Also look for mirrored regions (on since 1.17.0). With SIFT the mirror image's features
    are the same keypoints with their descriptors turned (:func:`mirror_sift`): it costs a
    second matching, not a second detection."""
    copied_frame_box_below: float = 0.8
    """A verbatim or filtered copy whose reference covers less than this share of the
    claim photo (a copy inside a screenshot, or pasted into another scene) is boxed where
    the reference lies (label ``copied``, ``details.copied_frame_share``)."""
    region_grow: bool = True
    """A verified scene region is grown over neighbouring blocks that still show the
    reference's pixels (:func:`grow_copied_region`): its box covers the plain parts too."""
    region_look_repeated: bool = False
    """In the look, also align by a similarity from each feature's three nearest matches
    (:func:`align_repeated`), for regions of repeated structure (a braid, a weave) that the
    ratio test gives up. Off by default: on partial copies of seeds 1, 2 and 5 it found 1
    more of 300, for about 40 ms more per claim checked against a scene photo whenever the
    look is taken, and one more honest look-alike region in 3,840 pairs. With the look taken
    every time (``region_look_hint_inliers=0``) and mirrored, as a backlog re-scan may
    afford, seed 1's partial copies go from 69 to 73 flagged."""
    region_look_pairs: int = 2
    """At most this many (claim frame, scene reference frame) pairs, most alike in colour
    first, get the closer look."""
    region_candidates: int = 3
    """At most this many aligned regions, most inliers first, are verified; the SIFT look's
    regions are counted apart, after the others (up to twice this many in all)."""
    region_misregistration: float = 0.2
    """Largest mean residual shift (comparison pixels) of a copied scene region."""
    region_gain_spread: float = 0.04
    """Largest robust spread of block contrast gains in a copied scene region: pasted pixels
    keep the reference's light, a photograph of the same printed face has its own."""
    region_growth: float = 1.0
    """An aligned region is compared over its inliers' hull grown by this share of the
    hull's size."""
    background_changed: float = 0.5
    """Share of a studio reference's plain background, inside the claim frame, that must
    depart from the reference for a whole-frame copy to count as the product pasted into
    another scene (a partial copy boxed on the product) rather than an edit of the photo."""
    background_changed_beyond: float = 0.3
    """The same share, when the claim also reaches beyond the reference's frame (at least 6
    blocks there), and at least this share of the plain background and of the claim beyond
    the frame together shows structure. On development claims, re-photographed screens
    reached 0.28 inside the frame (0.19 together) and screenshots 0.09; products pasted into
    a partly plain scene 0.30-0.44."""
    pasted_product_agreement: float = 0.8
    """Share of the product's own informative blocks that must agree for a whole-frame copy
    whose background departs to count as the product pasted into another scene; below it
    (with at least ``partial_blocks`` of them), the photo is an independent photo of the
    product whose printed face aligns (``same_product``, without vouching). Products pasted
    over a studio background measured 0.92-1.0 on 18 benchmark claims of both seeds (one
    seamless clone, 0.49, falls below); with features detected on references enlarged 2x,
    20 pasted products measured 0.85-1.0 and a buyer's photo of a carton held up in a shop
    0.68."""
    background_recolour: float = 0.25
    """Departure of the claim's median colour from the studio background's (per-channel
    ratio) from which a plain background counts as replaced, when the product's colours
    stay within ``product_recolour``: a product pasted onto sky or a wall."""
    product_recolour: float = 0.1
    background_texture: float = 6.0
    """Contrast (grey levels, 16 px blocks of the claim blurred by 2 px) above which a block
    of a studio reference's plain background shows another scene."""
    product_min_fit: float = 0.6
    """Lowest masked ECC fit at which a product-search placement is verified at all. A
    product pasted with seamless (Poisson) cloning has its colours shifted smoothly towards
    the scene's, which no global gain and offset undo: its fit falls to 0.6-0.8."""
    product_largest: float = 1.6
    """The largest product the search looks for (its long side), as a multiple of the claim
    frame's short side. A tight crop of a listing photo, or of a re-drawn one, leaves the
    product longer than the frame is high; up to 1.20.0 the search stopped at 1.15. Checked
    claim by claim against 1.15 on seeds 1 and 2: 3 more of 1,100 fakes flagged (2 re-drawn
    copies, a break), none of 700 honest claims changed (600 product photos, 100 tile
    photos), 1-2 % more time an honest claim (paired)."""
    product_overhang: float = 0.15
    """How far a product may reach beyond the claim frame on each side, as a share of its
    short side (the frame is padded by it for the search). 0.3 found 2 more fakes on seeds 1
    and 2 but cost 4-6 % more time an honest claim, and the more placements the scout then
    has to rank lost a product pasted into a tall screenshot (test suite): kept at 0.15."""
    region_whole_frame_inliers: int = 60
    """A closer look's alignment with at least this many inliers, and ``region_whole_frame_gain``
    times the most the first search saw, has the whole frame judged again from it (a copy of
    the whole frame only; 0: never). A re-photographed copy can leave the first search a few
    dozen inliers and a homography too loose for the frame to agree. Checked claim by claim
    on seeds 1 and 2 (9 fake families and the tile photos, 2,000 claims): 3 more fakes
    flagged, 7 more edits localized, 8 relations closer to what was done; no honest claim
    changed, nor any of 960 look-alike pairs (seeds 1, 7 and 3)."""
    region_whole_frame_gain: float = 2.0
    product_soft_look: float = 1.6
    """A studio product that fails its tests is compared once more at half the resolution when
    the claim was at least this much softer than the reference there (the Gaussian sigma, in
    comparison pixels, that matched their sharpness; 0: never). A claim enlarged from a small
    photo holds no detail at the finest band of the first comparison; at half of it, it does.
    On 1,200 honest claims (seeds 1 and 2) the second look found no block agreeing in fine
    detail on any placement; it found 3 more copies in 300 (seeds 1, 2 and 5)."""
    product_soft_blocks: int = 6
    """The fewest blocks agreeing in fine detail for the half-resolution look (the first
    look needs ``partial_blocks``): at half the resolution a product spans a quarter of the
    blocks. On 1,800 honest claims (seeds 1, 2 and 5), 51 placements were compared at half
    resolution, with up to 22 informative blocks: none had more than 1 block agreeing in
    fine detail. It adds one copy in each of seeds 1, 2 and 5; those of seeds 1 and 2 agree
    in all of their 8 and 9 blocks."""
    product_whole_frame: bool = True
    """When a studio product the search placed fails the pasted product's tests, compare the
    whole claim frame with the studio photo from that placement, as a feature alignment would
    be: a re-drawn or soft re-photographed copy of a studio photo may leave too few features
    to align. On re-drawn copies of seeds 1, 2 and 5 this found 5 more of 300; on 1,800
    honest claims (the same seeds), with no fit bar, none of the 996 placements it compared
    came out derived."""
    product_whole_frame_fit: float = 0.8
    """The lowest masked ECC fit of a placement compared whole: a re-drawing keeps the
    product's shape and shading, so its product still fits closely (the five copies found on
    seeds 1, 2 and 5 all fit 0.8 or more; 0.83-0.92 on seeds 1 and 2), while 82 % of the
    honest placements fit less and are spared the comparison (it made honest claims about
    19 % slower without this bar, 2 % with it)."""
    product_whole_frame_likeness: float = 0.9
    """A placement fitting below ``product_whole_frame_fit`` is compared whole when the claim
    frame, at the search's coarse scale, correlates with the placed studio photo at least
    this well across the frame (:meth:`ProductSearch.likeness`): a re-drawing's drift can
    loosen the product's fit, but not the frame's layout. A cost gate, not a test: the
    comparison decides. On seeds 1, 2 and 5, the two copies it let through correlated at
    0.95 and 0.96 (fits 0.74 and 0.78); the 1,017 honest placements of those seeds at 0.82
    at most (above 1: never)."""
    product_exact_fit: float = 0.97
    """A studio placement fitting at least this well (masked ECC) that fails the block tests,
    because its product is too small or too plain to count agreeing blocks, is judged on the
    whole product at once (``product_exact_correlation``; above 1: never). On 1,800 honest
    claims (seeds 1, 2 and 5) no placement fitted 0.97; copies pasted as they were fit
    0.975-0.998."""
    product_exact_pixels: int = 1024
    """The fewest compared product pixels for that whole-product test (the block tests need
    4,096)."""
    product_exact_correlation: float = 0.5
    """The lowest correlation of the finest band over the whole product that marks it
    copied. With the fit bar lowered to 0.85, 45 honest placements (seeds 1 and 2) reached
    0.32 at most; the 9 copies it found on seeds 1, 2 and 5 reached 0.54-0.95."""
    product_firm_fit: float = 0.8
    """Below this fit, a placement counts as copied only when at least ``partial_fine`` of
    its blocks agree in fine detail (``partial_fine_frame`` above it). On 500 honest
    development claims, placements fitting 0.6-0.8 reached at most 0.29."""
    product_flatten: float = 0.08
    """A loose placement that turns out not copied is fitted once more to the product's
    detail (its grey levels less their blur over this share of the product's size) and
    judged again, still as a loose placement: a seamless (Poisson) clone's smooth colour
    shift pulls the plain fit off the product. 0 turns the second look off."""
    product_flatten_fit: float = 0.5
    """The lowest fit (a correlation of detail) of that second look's placement."""
    product_flatten_side: int = 128
    """The product's size, in pixels, for that second look's fit."""
    nonrigid: bool = True
    """When features align but the frame does not agree as a copy's does, look for a copy
    re-drawn from the reference (an AI image editor re-renders the whole photo: its layout,
    background and light stay, shifted by a gentle drift, and its fine detail is new)."""
    nonrigid_smoothing: float = 1 / 24
    """Sigma of the Gaussian that smooths the optical flow, as a share of the long side:
    only a drift this gentle may be undone."""
    nonrigid_max_drift: float = 0.04
    """Largest median drift, as a share of the long side (an editor keeps the layout)."""
    nonrigid_localize_below: float = 0.8
    """A whole-frame copy agreeing less than this has its drift measured; where undoing it
    raises the agreement by ``nonrigid_gain``, its edits are localized with it undone."""
    nonrigid_gain: float = 0.1
    nonrigid_agreement: float = 0.6
    """Share of informative blocks that must agree once the drift is undone. With features
    detected on references enlarged 2x (so that 140 of 1,200 honest claims over two seeds
    align), honest photos of the product sold reached 0.42 at most and two studio photos
    printed from one carton artwork 0.44; the benchmark's re-drawn copies caught reach
    0.61-0.98."""
    nonrigid_coarse_agreement: float = 0.65
    """Where the drift undone as above leaves the frame short of ``nonrigid_agreement``, it
    is measured once more on the grey images as they are (not contrast-normalised) and the
    frame, moved by it, is compared at half size: at least this share of its informative
    blocks (8 at least) must then agree. Above 1: never."""
    nonrigid_coarse_departure: float = 0.15
    """And at most this share of the frame may depart in colour from the reference moved by
    that drift, once one global colour map is taken out (``tone_departure``: CIELAB distance
    of 9-pixel means above 10). A re-drawing keeps the colours and light of the photo it
    re-draws everywhere but in what it adds; the comparison at half size alone lets a
    second print of one carton template through. Since 1.19.1 the full-size look is held
    to it as well."""
    nonrigid_doubt: float = 0.5
    """Agreement, with the drift undone, from which a photo short of a re-drawn copy is not
    vouched for as independent (``same_product`` with a doubt: neither flagged nor approved).
    Honest photos reached 0.42 at most (as above)."""
    product_compare_area: int = 90_000
    """Pixels (width x height) of the product's box at which a placement found by the product
    search is compared with the reference: enough 16-pixel blocks to judge a product that
    fills only part of the claim frame."""


@dataclass(frozen=True, slots=True)
class Match:
    """How one claim frame relates to one reference frame."""

    relation: str
    reference: Evidence
    reference_frame: Frame
    claim_frame: Frame
    alignment: Alignment | None
    comparison: Comparison | None
    homography_full: np.ndarray | None
    boxes: tuple[Box, ...] = ()
    heatmap: np.ndarray | None = None
    pasted_doubt: dict | None = None
    """A candidate pasted region that fell short of a copy but too near it to vouch for."""
    located: dict | None = None
    """How the product search (or a feature region) placed the copied region, when it did."""
    located_by: str = "product_search"
    moire_removed: bool = False
    """A screen's moire was notched out of the claim before the comparison."""
    redrawn: dict | None = None
    """How a re-drawn copy drifted from the reference (``regenerated_copy`` only)."""
    drift_undone: dict | None = None
    """The drift undone before a whole-frame copy's edits were localized, if any."""

    @property
    def tentative(self) -> bool:
        """A re-drawn copy seen only at half size: the frame's coarse structure and colours
        agree, its finer structure does not. A wrong alignment of a mirrored or symmetric
        scene can come that far, so any other derived match of the claim is preferred, and
        the search goes on to the mirror image."""
        return self.redrawn is not None and "coarse_agreement" in self.redrawn

    @property
    def strength(self) -> float:
        if self.relation in DERIVED:
            agreement = self.comparison.agreement if self.comparison else 0.0
            # Above any match that is not derived (at most 1.5), below every other derived one.
            return 1.6 + 0.3 * agreement if self.tentative else 2.0 + agreement
        if self.alignment is not None:
            return 1.0 + min(self.alignment.inliers, 500) / 1000
        return 0.0


def _scale(f: float) -> np.ndarray:
    return np.diag([f, f, 1.0])


def _cmp_scale(
    claim_shape: tuple[int, int],
    h_frame: np.ndarray,
    ref_shape: tuple[int, int],
    cfg: ReferenceMatchConfig,
    area: int | None = None,
) -> float:
    """Comparison scale for the claim frame: at most ``area`` pixels (``compare_area`` by
    default) and no finer than the reference can support (an enlarged reference only adds
    blur)."""
    pixels = claim_shape[0] * claim_shape[1]
    g = min(1.0, float(np.sqrt((area or cfg.compare_area) / max(pixels, 1))))
    centre = np.array([[[ref_shape[1] / 2, ref_shape[0] / 2]]], np.float64)
    step = centre + np.array([[[1.0, 0.0]]])
    a, b = cv2.perspectiveTransform(np.concatenate([centre, step], axis=1), h_frame)[0]
    enlarge = float(np.linalg.norm(b - a))  # claim-frame pixels per reference pixel
    if enlarge * g > cfg.max_upsample:
        g = max(cfg.max_upsample / enlarge, float(np.sqrt(65_000 / max(pixels, 1))))
    return min(g, 1.0)


def match_frames(
    claim_frame: Frame,
    claim_feature_scale: float,
    reference: Evidence,
    reference_frame: Frame,
    reference_feature_scale: float,
    alignment: Alignment | None,
    claim_full_scale: float,
    cfg: ReferenceMatchConfig,
) -> Match:
    """Relate one claim frame to one reference frame, given their feature alignment."""
    fr = reference_feature_scale
    if alignment is None:
        return Match("no_match", reference, reference_frame, claim_frame, None, None, None)

    claim_px = claim_frame.pixels
    ref_px = reference_frame.pixels
    # Reference-frame pixels -> claim-frame pixels.
    h_frame = np.linalg.inv(_scale(claim_feature_scale)) @ alignment.homography @ _scale(fr)
    g = _cmp_scale(claim_px.shape[:2], h_frame, ref_px.shape[:2], cfg)
    size = (max(1, round(claim_px.shape[1] * g)), max(1, round(claim_px.shape[0] * g)))
    claim_cmp = shrink(claim_px, g) if g < 1 else claim_px
    h_cmp = _scale(g) @ h_frame
    warped, valid = warp_reference(ref_px, h_cmp, size)
    comparison = compare(claim_cmp, warped, valid)
    moire = False
    if comparison.agreement < cfg.derived_agreement and alignment.inliers >= cfg.min_inliers:
        # A photo of a screen: its moire breaks the block comparison of a firm alignment.
        cleaned = remove_moire(claim_cmp, warped, valid)
        if cleaned is not None:
            again = compare(cleaned, warped, valid)
            if again.agreement > comparison.agreement:
                claim_cmp, comparison, moire = cleaned, again, True
    if comparison.agreement < cfg.refine_below:
        # Partial agreement may be a slight misregistration (features cluster on one part of
        # the photo), which a sub-pixel refinement undoes. Honest photos stay honest: the
        # refinement is kept only when the photos then agree better.
        claim_gray = cv2.cvtColor(claim_cmp, cv2.COLOR_RGB2GRAY)
        for _ in range(cfg.refine_rounds):
            k = refine(claim_gray, cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY), valid)
            if k is None:
                break
            warped2, valid2 = warp_reference(ref_px, k @ h_cmp, size)
            refined = compare(claim_cmp, warped2, valid2)
            if refined.agreement <= comparison.agreement:
                break
            h_cmp, comparison, warped, valid = k @ h_cmp, refined, warped2, valid2
            if comparison.agreement >= cfg.refine_below:
                break
        if (
            cfg.ecc_from <= comparison.agreement < cfg.derived_agreement
            and comparison.footprint >= cfg.min_footprint
        ):
            # Partly in register, and too little detail for phase correlation (an enlarged
            # studio photo): try ECC. An honest photo agrees too little to get here.
            ref_gray = cv2.cvtColor(ref_px, cv2.COLOR_RGB2GRAY)
            h_ecc = ecc_refine(claim_gray, ref_gray, h_cmp)
            if h_ecc is not None:
                warped2, valid2 = warp_reference(ref_px, h_ecc, size)
                refined = compare(claim_cmp, warped2, valid2)
                if refined.agreement > comparison.agreement:
                    h_cmp, comparison, warped, valid = h_ecc, refined, warped2, valid2
    # Reference full-resolution pixels -> claim full-resolution pixels.
    ref_full_scale = reference_frame.scale
    h_full = _scale(1 / (g * claim_full_scale)) @ h_cmp @ _scale(ref_full_scale)
    h_full = h_full / h_full[2, 2]
    to_full = 1.0 / (g * claim_full_scale)

    def found(
        relation: str,
        boxes: tuple[Box, ...] = (),
        heat: np.ndarray | None = None,
        doubt: dict | None = None,
    ) -> Match:
        return Match(
            relation,
            reference,
            reference_frame,
            claim_frame,
            alignment,
            comparison,
            h_full,
            boxes,
            heat,
            pasted_doubt=doubt,
            moire_removed=moire,
        )

    region_doubt: dict | None = None
    whole_frame = (
        comparison.footprint >= cfg.min_footprint
        and comparison.agreement >= cfg.derived_agreement
        and comparison.informative_blocks >= 8
    )
    if whole_frame:
        drift_note: dict | None = None
        field = None
        undone: Comparison | None = None
        aligned = (warped, valid)  # the reference as the edits are judged against it
        if (
            cfg.nonrigid
            and not moire
            and comparison.agreement < cfg.nonrigid_localize_below
            and comparison.footprint >= cfg.min_footprint
        ):
            # A copy that agrees only in part may have drifted as a whole (re-drawn by a
            # generative editor, or bent by a re-photograph's lens): where the drift is
            # undone, the residual shows the edit instead of the misregistered edges.
            drift = measure_drift(
                cv2.cvtColor(claim_cmp, cv2.COLOR_RGB2GRAY),
                cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY),
                valid,
                smoothing=cfg.nonrigid_smoothing,
                passes=1,
            )
            if drift is not None and drift.median <= cfg.nonrigid_max_drift:
                moved, moved_valid = rewarp(warped, valid, drift.field)
                again = compare(claim_cmp, moved, moved_valid)
                if again.agreement >= comparison.agreement + cfg.nonrigid_gain:
                    field, undone, aligned = drift.field, again, (moved, moved_valid)
                    drift_note = {
                        "agreement_after": round(again.agreement, 3),
                        "drift_median": round(drift.median, 4),
                        "drift_largest": round(drift.largest, 4),
                    }
        boxes, heat = _localize(
            claim_px, ref_px, h_cmp, g, comparison, field, moire, claim_full_scale, cfg, undone
        )
        # Only an edited copy is questioned: without an edit, what the colour map leaves is
        # the filter's own (a sepia, a fade), which the map does not hold exactly.
        unexplained = _unexplained_departure(claim_cmp, *aligned, boxes, to_full) if boxes else 0.0
        if unexplained <= cfg.max_unexplained_departure:
            if boxes:
                relation = "local_edit"
            elif comparison.colour_change >= cfg.filter_change:
                relation = "global_filter"
            else:
                relation = "verbatim_copy"
            match = found(relation, tuple(boxes), heat)
            return match if drift_note is None else replace(match, drift_undone=drift_note)
        # Much of the frame departs in colour where no edit was found: not one photo with an
        # edit. A region of the reference pasted into another scene (the scene departs), or
        # another print of one carton template (its artwork departs). Judged as a region.
        region_doubt = {"unexplained_departure": round(unexplained, 3)}
    departs = region_doubt is not None

    component = largest_component(comparison.block_fine)
    if component is not None and component.blocks >= cfg.partial_blocks:
        fine_share = component.blocks / max(component.informative, 1)
        # A pasted region repeats the reference's pixels under one global tone map; an
        # honest photo of a printed carton face agrees in structure but was lit differently.
        fine_ncc = float(np.median(comparison.block_fine_ncc[component.labels]))
        consistency = region_consistency(claim_cmp, warped, component.labels)
        misregistration, windows = residual_shift(
            cv2.cvtColor(claim_cmp, cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY),
            component.labels,
        )
        if (
            fine_share >= cfg.partial_fine
            and fine_ncc >= cfg.partial_ncc
            and consistency["mean_r2"] >= cfg.partial_r2
            and consistency["gain_spread"] <= cfg.partial_gain_spread
            and (
                misregistration <= cfg.partial_misregistration
                or comparison.fine_agreement >= cfg.partial_fine_frame
            )
        ):
            box = component.box.scaled(to_full)
            heat = component.mask_like(comparison.zmap.shape)
            if cfg.region_grow:
                # As for a region the region check verified: the copy goes on over plain
                # parts wherever the claim still shows the reference's pixels.
                grown = grow_copied_region(claim_cmp, warped, valid, heat > 0.5)
                ys, xs = np.nonzero(grown)
                box = Box(
                    int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1
                ).scaled(to_full)
                heat = np.maximum(heat, grown.astype(np.float32))
            if not departs:
                return found("partial_copy", (box,), heat)
            # Sent here by its departure: a pasted region repeats the reference's colours,
            # and what departs is the scene around it, not the region itself.
            region = _filled(heat > 0.5) & valid
            departed, judged = departure_map(claim_cmp, warped, region)
            inside = float(departed[judged].mean()) if judged.any() else 1.0
            if inside <= cfg.max_unexplained_departure:
                return found("partial_copy", (box,), heat)
            region_doubt = {**(region_doubt or {}), "region_departure": round(inside, 3)}
        if misregistration < cfg.vouch_misregistration:
            # Not a copy by the tests above, yet too exact to vouch for as an independent
            # photo: the claim should not be approved on the strength of this match.
            region_doubt = {
                **(region_doubt or {}),
                "region_misregistration_px": round(misregistration, 3),
                "region_blocks": component.blocks,
                "region_fine_correlation": round(fine_ncc, 3),
            }
    if cfg.nonrigid and not moire and not departs:
        # (A re-drawing keeps the colours of the photo it re-draws: a frame that departs
        # where no edit was found is not one.)
        redrawn = _redrawn(
            claim_frame,
            claim_cmp,
            reference,
            reference_frame,
            h_cmp,
            h_full,
            g,
            warped,
            valid,
            comparison,
            alignment,
            claim_full_scale,
            cfg,
        )
        if isinstance(redrawn, Match):
            return redrawn
        if redrawn is not None:
            # Not a re-drawn copy by that test, yet closer to one than honest photos come:
            # the match confirms the product but does not vouch for the photo.
            region_doubt = {**(region_doubt or {}), **redrawn}
    if region_doubt is not None:
        return found("same_product", doubt=region_doubt)
    # An independent photo must prove itself: the part that agrees with the reference must be
    # out of register by more than a copy ever is. Without enough agreeing detail to measure,
    # the match confirms the product but does not vouch for the photo.
    shift, windows = residual_shift(
        cv2.cvtColor(claim_cmp, cv2.COLOR_RGB2GRAY),
        cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY),
        comparison.block_agree,
    )
    if windows < 6 or shift < cfg.vouch_misregistration:
        agreeing_doubt: dict[str, float | int | None] = {
            "agreeing_misregistration_px": None if windows < 6 else round(shift, 3),
            "windows": windows,
        }
        return found("same_product", doubt=agreeing_doubt)
    if comparison.colour_change < cfg.vouch_colour_change:
        # Out of register, yet in the reference's own colours: a buyer's photo differs in
        # light and background too. A copy bent by a re-drawing or a re-photograph keeps
        # them (up to a filter): no vouching on register alone.
        return found("same_product", doubt={"colour_change": round(comparison.colour_change, 2)})
    return found("same_product")


def _localize(
    claim_px: np.ndarray,
    ref_px: np.ndarray,
    h_cmp: np.ndarray,
    g: float,
    comparison: Comparison,
    field: np.ndarray | None,
    moire: bool,
    claim_full_scale: float,
    cfg: ReferenceMatchConfig,
    undone: Comparison | None = None,
) -> tuple[list[Box], np.ndarray | None]:
    """The edits of a whole-frame copy: boxes in claim full-resolution pixels and a heatmap.

    ``h_cmp`` maps reference-frame pixels to the comparison's (scale ``g`` of the claim
    frame) and ``field`` is a drift to undo there (or ``None``). A thin crack fades into the
    resampling at the comparison's scale, so the edits are looked for on a second, finer
    comparison (``localize_area`` pixels), same alignment and drift, scaled. ``undone`` is
    the comparison at scale ``g`` with ``field`` undone (given with ``field``)."""
    to_full = 1.0 / (g * claim_full_scale)
    h_now = np.linalg.inv(_scale(g)) @ h_cmp  # reference frame -> claim frame pixels
    g_fine = _cmp_scale(claim_px.shape[:2], h_now, ref_px.shape[:2], cfg, cfg.localize_area)
    if g_fine <= 1.15 * g:
        local = comparison if undone is None else undone
    else:
        k = g_fine / g
        size = (
            max(1, round(claim_px.shape[1] * g_fine)),
            max(1, round(claim_px.shape[0] * g_fine)),
        )
        claim_fine = shrink(claim_px, g_fine) if g_fine < 1 else claim_px
        warped, valid = warp_reference(ref_px, _scale(k) @ h_cmp, size)
        if field is not None:
            scaled = cv2.resize(field, size, interpolation=cv2.INTER_LINEAR) * k
            warped, valid = rewarp(warped, valid, scaled)
        if moire:
            cleaned = remove_moire(claim_fine, warped, valid)
            claim_fine = claim_fine if cleaned is None else cleaned
        local = compare(claim_fine, warped, valid)
        to_full = 1.0 / (g_fine * claim_full_scale)
    boxes, heat = edit_regions(
        local.zmap, local.valid, z=cfg.edit_z, min_area=cfg.min_edit_area, to_full=to_full
    )
    if not boxes:
        # Nothing sharp: look for a broad, faint change (a soft stain, a smooth patch).
        # A re-drawn frame's new fine texture raises the noise the residual is measured in,
        # and the edit, re-drawn too, stands out by fewer units: a lower floor there (the
        # bar set by the frame's own residual still holds).
        floor = cfg.soft_floor if field is None else cfg.redrawn_soft_floor
        soft, soft_heat = soft_regions(local.zmap, local.valid, to_full=to_full, z_floor=floor)
        if soft:
            boxes, heat = soft, soft_heat
    return boxes, heat


def _unexplained_departure(
    claim_cmp: np.ndarray,
    warped: np.ndarray,
    valid: np.ndarray,
    boxes: Sequence[Box],
    to_full: float,
) -> float:
    """Share of the overlap whose colour departs from the aligned reference (one global
    colour map taken out, :func:`departure_map`) outside the edit boxes (given in claim
    full-resolution pixels, ``to_full`` times the comparison's), each widened by a tenth of
    its long side. An edited copy departs where it was edited and nowhere else."""
    departed, inner = departure_map(claim_cmp, warped, valid)
    judged = int(inner.sum())
    if not judged:
        return 0.0
    explained = np.zeros_like(departed)
    for box in boxes:
        b = box.scaled(1.0 / to_full)
        pad = max(2, round(0.1 * max(b.w, b.h)))
        explained[max(0, b.y - pad) : b.y + b.h + pad, max(0, b.x - pad) : b.x + b.w + pad] = True
    return float((departed & ~explained).sum() / judged)


def _filled(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled: everything not reachable from the frame's border
    through pixels outside it."""
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    seeds = np.zeros((outside.shape[0] + 2, outside.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, seeds, (0, 0), 2)
    return outside[1:-1, 1:-1] != 2


def _redrawn(
    claim_frame: Frame,
    claim_cmp: np.ndarray,
    reference: Evidence,
    reference_frame: Frame,
    h_cmp: np.ndarray,
    h_full: np.ndarray,
    g: float,
    warped: np.ndarray,
    valid: np.ndarray,
    comparison: Comparison,
    alignment: Alignment,
    claim_full_scale: float,
    cfg: ReferenceMatchConfig,
) -> Match | dict | None:
    """A claim frame re-drawn from the reference (an AI image editor re-renders the whole
    photo): out of register by a small smooth drift, and in agreement across the frame once
    the drift is undone. Returns a ``regenerated_copy`` match with the regions that differ
    beyond the re-drawing; the measurements (a doubt) when the frame, with the drift undone,
    agrees at least ``nonrigid_doubt`` but not enough for a copy; else ``None``.

    The comparison is the one a whole-frame copy passes, on the reference moved by the
    drift; the drift itself may only be gentle (Gaussian-smoothed over ``nonrigid_smoothing``
    of the frame and at most ``nonrigid_max_drift`` of it at the median): an independent
    photo of the goods differs from the studio photo by parallax, background and light,
    which no such drift explains.
    """
    # Measured whatever the agreement under the homography: a strongly drifted copy can
    # agree in under 5 % of its blocks.
    if comparison.footprint < cfg.min_footprint or comparison.informative_blocks < 8:
        return None
    claim_gray = cv2.cvtColor(claim_cmp, cv2.COLOR_RGB2GRAY)
    warped_gray = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)

    def undo(normalise: bool) -> tuple[Drift, np.ndarray, np.ndarray] | None:
        """The drift, and the reference and its valid mask moved by it."""
        drift = measure_drift(
            claim_gray,
            warped_gray,
            valid,
            smoothing=cfg.nonrigid_smoothing,
            normalise=normalise,
        )
        if drift is None or drift.median > cfg.nonrigid_max_drift:
            return None
        return (drift, *rewarp(warped, valid, drift.field))

    def judged(moved: np.ndarray, moved_valid: np.ndarray) -> Comparison | None:
        again = compare(claim_cmp, moved, moved_valid)
        if again.informative_blocks < 8 or again.footprint < cfg.min_footprint:
            return None
        return again

    def second_look() -> tuple[Drift, Comparison, dict[str, float]] | None:
        """The drift measured on the grey images as they are; the half-size comparison and
        the colours first, the full-size comparison (for the edits' boxes) only for a frame
        that passes them."""
        second = undo(False)
        if second is None:
            return None
        drift, moved, moved_valid = second
        half = _half_scale_comparison(claim_cmp, moved, moved_valid)
        if half.informative_blocks < 8 or half.agreement < cfg.nonrigid_coarse_agreement:
            return None
        departure = tone_departure(claim_cmp, moved, moved_valid)
        if departure > cfg.nonrigid_coarse_departure:
            return None
        again = judged(moved, moved_valid)
        if again is None:
            return None
        measured = {
            "coarse_agreement": round(half.agreement, 3),
            "tone_departure": round(departure, 3),
        }
        return drift, again, measured

    first_moved = undo(True)
    first = None if first_moved is None else judged(first_moved[1], first_moved[2])
    held: tuple[Drift, Comparison, dict[str, float]] | None = None
    if first_moved is not None and first is not None and first.agreement >= cfg.nonrigid_agreement:
        # The colours as on the second look: a frame whose structure follows the drifted
        # reference but whose colours depart over much of it is another print, not a
        # re-drawing (an optical flow on normalised grey images follows either).
        # A studio product re-drawn into another scene departs in the scene only: the
        # background test after the search judges that (a partial copy), so a studio
        # reference is let through here.
        departure = tone_departure(claim_cmp, first_moved[1], first_moved[2])
        if (
            departure <= cfg.nonrigid_coarse_departure
            or _studio_template(reference, reference_frame) is not None
        ):
            held = (first_moved[0], first, {"tone_departure": round(departure, 3)})
    if held is not None:
        drift, again, coarse = held
    else:
        looked = second_look() if cfg.nonrigid_coarse_agreement <= 1.0 else None
        if looked is None:
            if first_moved is None or first is None or first.agreement < cfg.nonrigid_doubt:
                return None
            return {
                "redrawn_agreement": round(first.agreement, 3),
                "rigid_agreement": round(comparison.agreement, 3),
                "drift_median": round(first_moved[0].median, 4),
            }
        drift, again, coarse = looked
    boxes, heat = _localize(
        claim_frame.pixels,
        reference_frame.pixels,
        h_cmp,
        g,
        again,
        drift.field,
        False,
        claim_full_scale,
        cfg,
        again,
    )
    return Match(
        "regenerated_copy",
        reference,
        reference_frame,
        claim_frame,
        alignment,
        again,
        h_full,
        tuple(boxes),
        heat if boxes else None,
        redrawn={
            "rigid_agreement": round(comparison.agreement, 3),
            "drift_median": round(drift.median, 4),
            "drift_largest": round(drift.largest, 4),
            **coarse,
        },
    )


def _studio_template(evidence: Evidence, frame: Frame) -> ProductTemplate | None:
    """The product of a studio photo (one of ``evidence``'s frames), cached."""
    pixels = frame.pixels
    key = (evidence.sha256, frame.index, "product", pixels.shape)
    found: tuple[ProductTemplate | None] = FEATURES.get(key, lambda: (product_template(pixels),))
    return found[0]


def _half_scale_comparison(claim: np.ndarray, moved: np.ndarray, valid: np.ndarray) -> Comparison:
    """The whole-frame comparison on both images at half size, where the structure compared
    has periods of about 2-8 pixels of the comparison size instead of 1-4."""
    h, w = claim.shape[:2]
    size = (max(1, w // 2), max(1, h // 2))
    half_valid = cv2.resize(valid.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    return compare(
        cv2.resize(claim, size, interpolation=cv2.INTER_AREA),
        cv2.resize(moved, size, interpolation=cv2.INTER_AREA),
        half_valid > 0,
    )


def _translate(x: float, y: float) -> np.ndarray:
    return np.array([[1.0, 0.0, x], [0.0, 1.0, y], [0.0, 0.0, 1.0]])


def similarity_departure(homography: np.ndarray, corners: np.ndarray) -> float:
    """How far ``homography`` is from a similarity (scale, rotation, translation, with or
    without a mirror) over ``corners`` (N x 2): the largest distance between where it puts
    the corners and where the closest similarity does (least squares), as a share of the
    placed corners' diagonal."""
    placed = cv2.perspectiveTransform(
        corners.reshape(-1, 1, 2).astype(np.float64), homography
    ).reshape(-1, 2)
    diagonal = float(np.linalg.norm(placed.max(axis=0) - placed.min(axis=0)))
    if diagonal <= 0:
        return float("inf")
    best = float("inf")
    for flip in (1.0, -1.0):
        x, y = corners[:, 0] * flip, corners[:, 1]
        one, zero = np.ones_like(x), np.zeros_like(x)
        a = np.vstack([np.stack([x, -y, one, zero], axis=1), np.stack([y, x, zero, one], axis=1)])
        b = np.concatenate([placed[:, 0], placed[:, 1]])
        p, *_ = np.linalg.lstsq(a, b, rcond=None)
        fit = (a @ p).reshape(2, -1).T
        best = min(best, float(np.abs(fit - placed).max()) / diagonal)
    return best


class _Judged(NamedTuple):
    """One comparison of a placed product: claim-frame -> comparison pixels (``to_cmp``),
    reference-frame -> comparison pixels (``h_cmp``), the claim crop there and its grey,
    the warped reference, and what the comparison measured."""

    to_cmp: np.ndarray
    h_cmp: np.ndarray
    claim: np.ndarray
    claim_gray: np.ndarray
    warped: np.ndarray
    comparison: Comparison


def match_product(
    claim_frame: Frame,
    reference: Evidence,
    reference_frame: Frame,
    homography: np.ndarray,
    product: np.ndarray,
    located: dict,
    cfg: ReferenceMatchConfig,
    *,
    located_by: str = "product_search",
    detail_look: bool = False,
) -> Match | None:
    """Verify a product-search placement: is the studio product, where it was found in the
    claim frame, the reference's own pixels? ``homography`` maps reference-frame pixels to
    claim-frame pixels and ``product`` is the product's mask in the reference frame.

    With ``detail_look``, a loose placement (fit under ``product_firm_fit``) that turns out
    not copied is verified once more from the placement fitted to the product's detail (see
    ``product_flatten``). The second look keeps the first fit's figure: a placement that was
    loose is still held to the loose placement's tests.

    Only the product is compared (the studio background was not pasted), at a resolution
    where it spans enough blocks to judge. The tests are those of a pasted region found by a
    feature alignment: the product's pixels agree in fine detail, under one tone map and to
    a fraction of a pixel. Returns a ``partial_copy`` match, or ``None``.
    """
    if detail_look:

        def look(start: np.ndarray, placed: dict) -> Match | None:
            return match_product(
                claim_frame,
                reference,
                reference_frame,
                start,
                product,
                placed,
                cfg,
                located_by=located_by,
            )

        match = look(homography, located)
        if (
            match is not None
            or cfg.product_flatten <= 0
            or float(located.get("fit", 1.0)) >= cfg.product_firm_fit
        ):
            return match
        fitted = refine_placement(
            cv2.cvtColor(claim_frame.pixels, cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(reference_frame.pixels, cv2.COLOR_RGB2GRAY),
            product,
            homography,
            side=cfg.product_flatten_side,
            iterations=25,
            flatten=cfg.product_flatten,
        )
        if fitted is None or fitted[1] < cfg.product_flatten_fit:
            return None
        return look(
            fitted[0] / fitted[0][2, 2], {**located, "detail_fit": round(float(fitted[1]), 3)}
        )
    claim_px, ref_px = claim_frame.pixels, reference_frame.pixels
    fh, fw = claim_px.shape[:2]
    ys, xs = np.nonzero(product)
    if len(xs) == 0:
        return None
    corners = np.array(
        [[xs.min(), ys.min()], [xs.max(), ys.min()], [xs.min(), ys.max()], [xs.max(), ys.max()]],
        np.float64,
    )
    placed = cv2.perspectiveTransform(corners.reshape(-1, 1, 2), homography).reshape(-1, 2)
    pad = 12
    x0, y0 = max(0, int(placed[:, 0].min()) - pad), max(0, int(placed[:, 1].min()) - pad)
    x1, y1 = min(fw, int(placed[:, 0].max()) + pad), min(fh, int(placed[:, 1].max()) + pad)
    if x1 - x0 < 32 or y1 - y0 < 32:
        return None
    enlarge = float(np.sqrt(abs(np.linalg.det(homography[:2, :2]))))  # claim px per ref px
    g = min(1.0, float(np.sqrt(cfg.product_compare_area / ((x1 - x0) * (y1 - y0)))))
    if enlarge * g > cfg.max_upsample:
        g = cfg.max_upsample / enlarge
    crop = claim_px[y0:y1, x0:x1]

    # A loose fit (a seamlessly cloned product, or a chance placement on an honest photo)
    # is held to more agreement below.
    # A studio product's outline is known, whether the product search or a feature alignment
    # placed it: only the product is judged, by the product's tests.
    studio = located_by in ("product_search", "feature_product")
    loose = studio and float(located.get("fit", 1.0)) < cfg.product_firm_fit

    # A placement fitting almost exactly (a product pasted as it was) may be too small or
    # too plain for the block tests: it is judged on the whole product at once instead.
    exact = studio and float(located.get("fit", 0.0)) >= cfg.product_exact_fit

    def judge(g: float, start: np.ndarray, least: int = 64 * 16 * 16 // 4) -> _Judged | None:
        """Compare at scale ``g`` of the claim, from the placement ``start`` (reference
        frame -> claim frame pixels), refined by phase correlation."""
        claim_cmp = shrink(crop, g) if g < 1.0 else crop
        size = (claim_cmp.shape[1], claim_cmp.shape[0])
        to_cmp = np.diag([size[0] / crop.shape[1], size[1] / crop.shape[0], 1.0]) @ _translate(
            -x0, -y0
        )
        h_cmp = to_cmp @ start

        def warp(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            warped, valid = warp_reference(ref_px, h, size)
            inside = cv2.warpPerspective(product, h, size, flags=cv2.INTER_NEAREST)
            inside = cv2.erode(inside, np.ones((5, 5), np.uint8))
            return warped, valid & (inside > 0)

        warped, valid = warp(h_cmp)
        if valid.sum() < least:
            return None
        comparison = compare(claim_cmp, warped, valid)
        if loose and comparison.fine_agreement < 0.5 * cfg.partial_fine:
            # A loose fit far from agreeing: a chance placement on another photo (the
            # refinement below moves a placement by a pixel or so; it cannot fix this one).
            return None
        claim_gray = cv2.cvtColor(claim_cmp, cv2.COLOR_RGB2GRAY)
        for _ in range(cfg.refine_rounds):
            k = refine(claim_gray, cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY), valid)
            if k is None:
                break
            warped2, valid2 = warp(k @ h_cmp)
            refined = compare(claim_cmp, warped2, valid2)
            if refined.agreement <= comparison.agreement:
                break
            h_cmp, comparison, warped, valid = k @ h_cmp, refined, warped2, valid2
        return _Judged(to_cmp, h_cmp, claim_cmp, claim_gray, warped, comparison)

    def verify(judged: _Judged, least: int = cfg.partial_blocks) -> tuple[bool, dict]:
        """The product tests on one comparison: copied or not, and what they measured;
        ``least`` is the fewest blocks that must agree in fine detail."""
        _, _, claim_cmp, claim_gray, warped, comparison = judged
        # The product's blocks that agree in fine detail (a product with plain faces has its
        # detail scattered: they need not touch).
        fine = comparison.block_fine
        fine_blocks = int(fine.sum())
        if fine_blocks < least:
            return False, located
        fine_ncc = float(np.median(comparison.block_fine_ncc[fine]))
        consistency = region_consistency(claim_cmp, warped, fine)
        misregistration, _ = residual_shift(
            claim_gray, cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY), fine
        )
        measured = {
            **located,
            "product_blocks": comparison.informative_blocks,
            "product_fine_agreement": round(comparison.fine_agreement, 3),
            "region_misregistration_px": round(misregistration, 3),
            "region_fine_correlation": round(fine_ncc, 3),
            "region_gain_spread": round(consistency["gain_spread"], 3),
            "region_detail_gain_spread": round(consistency["detail_gain_spread"], 3),
        }
        # Fine detail (the finest band, where each camera leaves its own noise and blur) agreeing
        # over much of the product, with one contrast gain: its pixels are the reference's. An
        # independent photo of the same product, placed as well as the search can, does not: on
        # 600 honest development claims (two seeds), 106 placements had at most 1 agreeing block
        # (a share of 0.14 at most; copies 0.36-1.0). The tone map is not required to be
        # global: a forger's seamless (Poisson) cloning shifts the pasted colours smoothly
        # towards the scene's. That shift also moves the raw contrast gains of a plain product's
        # blocks (a fruit's skin), so a studio product's gains are measured on its detail, which
        # the clone leaves as it was (1.13.0).
        spread = consistency["detail_gain_spread" if studio else "gain_spread"]
        copied = (
            comparison.fine_agreement >= cfg.partial_fine_frame
            and spread <= cfg.partial_gain_spread
        )
        if loose:
            # A loose fit (a seamlessly cloned product, or a chance placement on an honest photo)
            # must agree over half its fine detail.
            copied = copied and comparison.fine_agreement >= cfg.partial_fine
        if not studio:
            # A region of a scene found by a few features: it must agree over half its detail,
            # closely, and in register as only copied pixels are. Regions of printed packaging
            # photographed by buyers reached 0.23-0.46 px of residual shift on development
            # claims; copied scene regions 0.11-0.22. And it must carry the reference's light:
            # a pasted region's contrast gain is the same in every block, while a buyer's photo of
            # the same carton, lit by the shop, varies across the face (see the method card).
            copied = (
                copied
                and comparison.fine_agreement >= cfg.partial_fine
                and fine_ncc >= cfg.partial_ncc
                and misregistration <= cfg.region_misregistration
                and consistency["gain_spread"] <= cfg.region_gain_spread
            )
        return copied, measured

    judged = judge(g, homography)
    if judged is None and exact:
        judged = judge(g, homography, cfg.product_exact_pixels)
    if judged is None:
        return None
    copied, measured = verify(judged)
    if not copied and studio and 0 < cfg.product_soft_look <= judged.comparison.softness:
        # The claim held less detail than this resolution shows (a small photo enlarged, a
        # soft re-photograph): the finest band is blur on both sides. Once more at half the
        # resolution, where the claim still has its detail.
        again = judge(g / 2, homography)
        if again is not None:
            # At half the resolution the product spans a quarter of the blocks it did.
            copied_again, measured_again = verify(again, cfg.product_soft_blocks)
            if copied_again:
                judged, copied = again, True
                measured = {**measured_again, "compared_softer": True}
    if not copied and exact:
        # Too small or too plain to count agreeing blocks (a lemon's skin, a leek): the
        # product's finest band as a whole, where a copy keeps the reference's noise.
        correlation = fine_correlation(judged.claim, judged.warped, judged.comparison)
        measured = {**measured, "product_fine_correlation": round(correlation, 3)}
        copied = correlation >= cfg.product_exact_correlation
    to_cmp, h_cmp, claim_cmp, _, _, comparison = judged
    located = measured
    if not copied:
        return None
    # Back to claim-frame and full-resolution pixels.
    h_frame = np.linalg.inv(to_cmp) @ h_cmp
    h_frame = h_frame / h_frame[2, 2]
    full = claim_frame.scale
    h_full = _scale(1 / full) @ h_frame @ _scale(reference_frame.scale)
    h_full = h_full / h_full[2, 2]
    hs = min(1.0, 512 / max(fh, fw))
    heat_size = (max(1, round(fw * hs)), max(1, round(fh * hs)))
    if studio:
        # A studio product's outline is known: it is the copied region.
        heat = cv2.warpPerspective(
            product.astype(np.float32), _scale(hs) @ h_frame, heat_size, flags=cv2.INTER_LINEAR
        )
    else:
        # A region of a scene has no outline of its own: it is where the claim agrees with
        # the reference (the largest connected group of agreeing blocks).
        agreeing = cv2.morphologyEx(
            comparison.block_agree.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)
        )
        n, labels, stats, _ = cv2.connectedComponentsWithStats(agreeing, connectivity=8)
        if n <= 1:
            return None
        keep = (labels == 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))).astype(np.float32)
        blocks: np.ndarray = np.zeros(claim_cmp.shape[:2], np.float32)
        grown = np.kron(keep, np.ones((16, 16), np.float32))
        blocks[: grown.shape[0], : grown.shape[1]] = grown[: blocks.shape[0], : blocks.shape[1]]
        heat = cv2.warpPerspective(
            blocks,
            _scale(hs) @ np.linalg.inv(to_cmp),
            heat_size,
            flags=cv2.INTER_LINEAR,
        )
        if cfg.region_grow:
            # The verified blocks are where the region holds detail; it goes on over plain
            # parts (a board, a wall) wherever the claim still shows the reference's pixels.
            claim_small = cv2.resize(claim_px, heat_size, interpolation=cv2.INTER_AREA)
            warped_small, covered = warp_reference(ref_px, _scale(hs) @ h_frame, heat_size)
            grown = grow_copied_region(claim_small, warped_small, covered, heat > 0.5)
            heat = np.maximum(heat, grown.astype(np.float32))
    ys, xs = np.nonzero(heat > 0.5)
    if len(xs) == 0:
        return None
    to_full = 1.0 / (hs * full)
    box = Box(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
    alignment = Alignment(
        homography=h_frame,
        inliers=int(located.get("inliers", 0)),
        matches=int(located.get("matches", 0)),
        inlier_ratio=float(located.get("inlier_ratio", 0.0)),
        spread=float(located.get("spread", 0.0)),
        mirrored=bool(np.linalg.det(h_frame[:2, :2]) < 0),
    )
    return Match(
        "partial_copy",
        reference,
        reference_frame,
        claim_frame,
        alignment,
        comparison,
        h_full,
        (box.scaled(to_full),),
        heat,
        located=located,
        located_by=located_by,
    )


def inlier_region(
    points: np.ndarray, shape: tuple[int, int], *, margin: float = 0.15
) -> np.ndarray | None:
    """The region of a reference frame (uint8 mask, 0/1, of ``shape``) that a feature
    alignment's inlier ``points`` (frame pixels) span: their convex hull, grown by ``margin``
    of its size (a copied region reaches past its outermost corners). ``None`` for fewer
    than three points or a hull too thin to compare."""
    if points is None or len(points) < 3:
        return None
    hull = cv2.convexHull(points.astype(np.float32).reshape(-1, 1, 2))
    area = float(cv2.contourArea(hull))
    if area < 32 * 32:
        return None
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1)
    k = max(3, round(margin * np.sqrt(area))) | 1
    return dilate_convex(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


def dilate_convex(mask: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``cv2.dilate(mask, kernel)`` for a filled convex polygon (0/1 uint8) and a kernel
    whose rows are runs (an ellipse), computed row by row: each row of a convex polygon is
    one run, touching the runs of the rows next to it, so each row of the result is the
    single run from the leftmost to the rightmost end of the shifted, widened runs. The
    same pixels as ``cv2.dilate``; with a large kernel it costs a few milliseconds where
    ``cv2.dilate`` costs tens to hundreds on a full-size photo."""
    h, w = mask.shape
    filled = mask.any(axis=1)
    if not filled.any():
        return mask.copy()
    inf = np.iinfo(np.int32).max // 2
    left = np.where(filled, mask.argmax(axis=1), inf).astype(np.int64)
    right = np.where(filled, w - 1 - mask[:, ::-1].argmax(axis=1), -inf).astype(np.int64)
    cy, cx = kernel.shape[0] // 2, kernel.shape[1] // 2
    lo = np.full(h, inf, np.int64)
    hi = np.full(h, -inf, np.int64)
    for i in range(kernel.shape[0]):
        cols = np.flatnonzero(kernel[i])
        if len(cols) == 0:
            continue
        a, b = int(cols[0]) - cx, int(cols[-1]) - cx
        d = i - cy  # row y of the result takes source row y + d
        if abs(d) >= h:
            continue
        src = slice(max(0, d), min(h, h + d))
        dst = slice(max(0, -d), min(h, h - d))
        np.minimum(lo[dst], left[src] - b, out=lo[dst])
        np.maximum(hi[dst], right[src] - a, out=hi[dst])
    lo, hi = np.clip(lo, 0, w), np.clip(hi, -1, w - 1)
    x = np.arange(w)
    return ((x[None, :] >= lo[:, None]) & (x[None, :] <= hi[:, None])).astype(np.uint8)


class FeatureCache:
    """Features of photos already seen, by content hash and settings.

    A service checks many claims against the same listing photos; detecting their features
    again for every claim would be wasted work. Thread-safe, least recently used first out.
    """

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._entries: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
        value = compute()
        with self._lock:
            self._entries[key] = value
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value

    def forget(self, sha256: str) -> None:
        """Drop every entry of one photo."""
        with self._lock:
            for key in [k for k in self._entries if k[0] == sha256]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


FEATURES = FeatureCache()


def _cached_features(
    evidence: Evidence, index: int, mirrored: bool, area: int, count: int, *, sift: bool = False
) -> tuple[Features, float]:
    """ORB (or, with ``sift``, SIFT) features of one frame at ``area`` pixels, mirrored when
    asked, cached by content. Mirrored SIFT features are the unmirrored ones with their
    descriptors turned (:func:`mirror_sift`), not a second detection."""
    pixels = evidence.frames[index].pixels
    # Keyed by the scale detected at, not the area asked for: a photo smaller than two areas
    # asked for (a listing thumbnail) is detected once for both.
    scale = gray_scale(pixels.shape, area)
    key = (evidence.sha256, index, mirrored, pixels.shape, scale, count, sift)

    def compute() -> tuple[Features, float]:
        if sift and mirrored:
            features, f = _cached_features(evidence, index, False, area, count, sift=True)
            return mirror_sift(features), f
        gray, f = to_gray(pixels, area)
        if sift:
            return detect_sift(gray, n_features=count), f
        if mirrored:
            gray = np.ascontiguousarray(gray[:, ::-1])
        return detect_features(gray, n_features=count), f

    return FEATURES.get(key, compute)


def _colour_likeness(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of coarse hue-saturation histograms: a cheap way to try the likeliest
    reference first. It only orders the search; it never decides anything."""
    hists = []
    for img in (a, b):
        step = max(1, min(img.shape[:2]) // 128)
        small = cv2.resize(img[::step, ::step], (64, 64), interpolation=cv2.INTER_LINEAR)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        h = cv2.calcHist([hsv], [0, 1], None, [12, 4], [0, 180, 0, 256])
        hists.append(cv2.normalize(h, h).ravel())
    return float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_CORREL))


def _placed_box(match: Match, width: int, height: int) -> tuple[Box, float] | None:
    """Where a whole-frame match puts the reference in the claim photo (``width`` x
    ``height`` full-resolution pixels): the bounding box of its frame's outline, clipped to
    the photo, and the share of the photo that outline covers. ``None`` without a
    placement or when the outline misses the photo."""
    if match.homography_full is None:
        return None
    rh, rw = match.reference_frame.pixels.shape[:2]
    f = match.reference_frame.scale
    rw, rh = rw / f, rh / f  # the reference's full-resolution size
    corners = np.array([[[0.0, 0.0]], [[rw, 0.0]], [[rw, rh]], [[0.0, rh]]], np.float64)
    outline = cv2.perspectiveTransform(corners, match.homography_full).reshape(-1, 2)
    if not np.all(np.isfinite(outline)):
        return None
    photo = np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float32)
    area, inside = cv2.intersectConvexConvex(outline.astype(np.float32), photo)
    if area <= 0 or inside is None:
        return None
    inside = inside.reshape(-1, 2)
    x0, y0 = np.floor(inside.min(axis=0)).astype(int)
    x1, y1 = np.ceil(inside.max(axis=0)).astype(int)
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0)), float(area) / (width * height)


def _open(best: Match) -> bool:
    """Whether the later looks (region check, product search) still run after ``best``."""
    return best.relation not in DERIVED or best.tentative


def _replaces(found: Match, best: Match) -> bool:
    """Whether a later look's ``found`` match takes the place of ``best``: always when
    ``best`` is not derived, and over a tentative re-drawn copy only when stronger."""
    return best.relation not in DERIVED or found.strength > best.strength


def _clipped(box: Box, width: int, height: int, label: str) -> Region:
    """A region inside the photo: rounding up to full resolution may overshoot the edge."""
    x0, y0 = min(max(box.x, 0), width - 1), min(max(box.y, 0), height - 1)
    x1, y1 = min(box.x + box.w, width), min(box.y + box.h, height)
    return Region(x0, y0, max(1, x1 - x0), max(1, y1 - y0), label=label, score=round(box.score, 3))


@register
class ReferenceMatchAnalyzer(Analyzer):
    """Compare each claim photo (or sampled video frame) with every merchant reference."""

    name = "reference_match"
    version = "1.23.0"
    requires = frozenset({"pixels", "references"})
    Config = ReferenceMatchConfig

    def _features(
        self,
        evidence: Evidence,
        index: int,
        mirrored: bool = False,
        deep: bool = False,
        coarse: bool = False,
    ) -> tuple[Features, float]:
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        if coarse:
            area, count = cfg.coarse_feature_area, cfg.coarse_features
        else:
            area = cfg.deep_feature_area if deep else cfg.feature_area
            count = cfg.deep_features if deep else cfg.n_features
        return _cached_features(evidence, index, mirrored, area, count)

    def analyze(self, media: Evidence, context: ClaimContext) -> Sequence[Finding]:
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        pairs = [
            (ci, reference, ri)
            for ci in range(len(media.frames))
            for reference in context.references
            for ri in range(min(len(reference.frames), cfg.max_reference_frames))
        ]
        # Most likely pairs first, so that a clear copy ends the search early.
        likeness = {
            (ci, id(ref), ri): _colour_likeness(media.frames[ci].pixels, ref.frames[ri].pixels)
            for ci, ref, ri in pairs
        }
        pairs.sort(key=lambda p: -likeness[(p[0], id(p[1]), p[2])])
        regions: list[tuple] = []
        seen: dict[str, int] = {}
        best = self._search(media, pairs, deep=False, regions=regions, seen=seen)
        hinted = seen.get("inliers", 0) >= cfg.deep_hint_inliers
        tall = any(
            max(f.pixels.shape[:2]) >= cfg.deep_aspect * min(f.pixels.shape[:2])
            for f in media.frames
        )
        if best.alignment is None and cfg.deep_features > cfg.n_features and (hinted or tall):
            # Nothing aligned firmly, but a few features did, or the photo has a phone
            # screen's shape. A screenshot's app chrome or a re-photographed screen can draw
            # most features away from the photo: look again, closer (unmirrored only: the
            # second look costs as much as the first).
            deeper = self._search(media, pairs, deep=True, regions=regions)
            if deeper.strength > best.strength:
                best = deeper
        if cfg.coarse_feature_area > 0 and _open(best) and hinted:
            # A re-drawn copy whose drift or new texture left the usual look a few matches:
            # the coarse look aligns it whole (a region of it stays the region check's).
            coarse = self._search(media, pairs, deep=False, coarse=True)
            if coarse.relation in WHOLE_FRAME and _replaces(coarse, best):
                best = coarse
        # The SIFT look's regions are verified after the others, which keep the order and
        # the number of candidates they had before it existed.
        looked: list[tuple] = []
        # A re-drawn copy seen only at half size leaves the search open: any other derived
        # match found below replaces it.
        if cfg.region_search and cfg.region_features > 0 and _open(best):
            hint = seen.get("inliers", 0)
            sift = cfg.region_detector == "sift"
            if hint >= cfg.region_look_hint_inliers:
                self._region_look(
                    media,
                    pairs,
                    looked if sift else regions,
                    sift=sift,
                    mirrored=cfg.region_look_mirrored,
                    repeated=cfg.region_look_repeated,
                )
            if sift and cfg.region_orb_hint_inliers > 0 and hint >= cfg.region_orb_hint_inliers:
                # The ORB look of 1.16.0 as well, where the usual pass left a hint: corners
                # hold where blobs do not (sharp print, small marks), and a claim rarely
                # opens this gate unless something of the reference is in it.
                self._region_look(media, pairs, regions, sift=False, mirrored=False, repeated=False)
        if cfg.region_whole_frame_inliers > 0 and _open(best) and (regions or looked):
            # (The first search's own alignments are in ``regions`` too; holding at most the
            # inliers it saw, they never pass the gain asked for.)
            again = self._whole_frame_again(media, regions + looked, seen.get("inliers", 0))
            if again is not None and _replaces(again, best):
                best = again
        if best.relation in WHOLE_FRAME or (
            best.relation == "partial_copy" and best.located is None
        ):
            # (A partial copy the frame's own comparison found: when the reference is a
            # studio photo, the product's outline bounds the copied region better.)
            pasted = self._background_replaced(best)
            if pasted is not None:
                best = pasted
        for candidates in (regions, looked):
            if cfg.region_search and _open(best) and candidates:
                pasted = self._region_check(media, candidates)
                if pasted is not None and _replaces(pasted, best):
                    best = pasted
        if cfg.product_search and _open(best):
            # Also when features vouched for the photo as independent: a product pasted with
            # seamless (Poisson) cloning aligns by its own features, yet the smooth colour
            # shift and a homography fitted to one small object leave it looking
            # independent; the product search fits and judges the product alone.
            pasted = self._product_search(media, pairs[: cfg.product_search_pairs], regions)
            if pasted is not None and _replaces(pasted, best):
                best = pasted
        return [self._finding(media, best)]

    def _region_look(
        self,
        media: Evidence,
        pairs: list,
        regions: list[tuple],
        *,
        sift: bool,
        mirrored: bool,
        repeated: bool,
    ) -> None:
        """Align many more features of the claim with reference photos that are scenes, and
        add every alignment strong enough for the region check to ``regions``: SIFT or ORB
        features (``sift``), the mirror image too when ``mirrored``, and the repeated
        structure alignment when ``repeated``."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        if sift:
            area, count = cfg.region_feature_area, cfg.region_features
        else:
            area, count = cfg.region_orb_area, cfg.region_orb_features
        scenes = [
            (ci, reference, ri)
            for ci, reference, ri in pairs
            if _studio_template(reference, reference.frames[ri]) is None
        ]
        sides = (False, True) if mirrored else (False,)
        for ci, reference, ri in scenes[: cfg.region_look_pairs]:
            claim_feats, fc = _cached_features(media, ci, False, area, count, sift=sift)
            for flip in sides:
                ref_feats, fr = _cached_features(reference, ri, flip, area, count, sift=sift)
                width = ref_feats.shape[1] if flip else None
                alignment = align(
                    claim_feats, ref_feats, min_inliers=cfg.region_min_inliers, mirrored_width=width
                )
                if alignment is not None:
                    regions.append((ci, reference, ri, alignment, fc, fr))
                if repeated:
                    # Repeated structure (a braid, a weave) defeats the ratio test: its
                    # candidates are judged by a similarity's consistency instead. Both
                    # alignments go to the region check, which verifies each on its pixels.
                    # Binary features: their Hamming distances bound the candidates.
                    orb = (cfg.region_orb_area, cfg.region_orb_features)
                    orb_claim, fc_orb = _cached_features(media, ci, False, *orb)
                    orb_ref, fr_orb = _cached_features(reference, ri, flip, *orb)
                    similar = align_repeated(
                        orb_claim,
                        orb_ref,
                        min_inliers=cfg.region_min_inliers,
                        mirrored_width=width,
                    )
                    if similar is not None:
                        regions.append((ci, reference, ri, similar, fc_orb, fr_orb))

    def _background_replaced(self, match: Match) -> Match | None:
        """A whole-frame copy of a studio photo whose plain background was replaced by
        another scene: the product was cut out and pasted, so the copied region is the
        product (a partial copy), not the changed background. ``None`` when the reference is
        not a studio photo or most of its background is still there."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        comparison, h_full = match.comparison, match.homography_full
        if comparison is None or h_full is None:
            return None
        reference_frame, claim_frame = match.reference_frame, match.claim_frame
        template = _studio_template(match.reference, reference_frame)
        if template is None:
            return None
        valid = comparison.valid
        ch, cw = valid.shape
        if ch < 32 or cw < 32:
            return None
        claim_full_w = claim_frame.pixels.shape[1] / claim_frame.scale
        g = cw / claim_full_w  # comparison pixels per claim full-resolution pixel
        # Reference-frame pixels -> comparison pixels.
        h_cmp = _scale(g) @ h_full @ _scale(1 / reference_frame.scale)
        product = product_mask(template, reference_frame.pixels.shape)
        placed = cv2.warpPerspective(product, h_cmp, (cw, ch), flags=cv2.INTER_NEAREST) > 0
        if not placed.any():
            return None
        near = cv2.dilate(placed.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
        background = (valid & ~near).astype(np.float32)
        # The reference's background is plain: where the claim shows structure there (block
        # contrast of the claim, blurred so that sensor noise and a screen's moire do not
        # count, and taken block by block so that uneven light does not either), another
        # scene took its place.
        luma = cv2.cvtColor(claim_frame.pixels, cv2.COLOR_RGB2GRAY)
        luma = cv2.resize(luma, (cw, ch), interpolation=cv2.INTER_AREA).astype(np.float32)
        _, spread = block_contrast(cv2.GaussianBlur(luma, (0, 0), 2.0))
        blocks = block_contrast(background)[0] > 0.95
        if blocks.sum() < 6:
            return None  # the product fills the frame: nothing to tell
        structured = spread > cfg.background_texture
        changed = float(structured[blocks].mean())
        if changed < cfg.background_changed and self._background_recoloured(
            match, placed, background, h_cmp, (cw, ch)
        ):
            # A plain scene (sky, a wall) has no structure to tell, but its colour departs
            # from the studio background's while the product keeps the reference's colours:
            # no filter of the whole photo does that.
            changed = cfg.background_changed
        if changed < cfg.background_changed_beyond:
            return None  # the studio background is there (an ordinary copy stops here)
        if changed < cfg.background_changed:
            # Less of the background in view departs, yet the claim reaches well beyond the
            # reference's frame and shows structure there too: the product was pasted into
            # a larger scene, part of it plain (a white fridge, a wall). A re-photographed
            # screen or a screenshot also reaches beyond the frame, but keeps the studio
            # background inside it.
            frame = cv2.warpPerspective(
                np.ones(reference_frame.pixels.shape[:2], np.uint8),
                h_cmp,
                (cw, ch),
                flags=cv2.INTER_NEAREST,
            )
            beyond = cv2.erode(1 - frame, np.ones((9, 9), np.uint8)).astype(np.float32)
            outside = block_contrast(beyond)[0] > 0.95
            both = blocks | outside
            if outside.sum() < 6 or float(structured[both].mean()) < cfg.background_changed_beyond:
                return None
        # The product's own informative blocks (wholly inside its outline): a pasted
        # product is the reference's pixels, so nearly all of them agree. An honest photo of
        # a 3-D product standing where the studio photo shows it (a carton held up in a shop,
        # its printed face filling the frame) agrees on the planar face only: its sides and
        # top were seen from another angle, and the whole-frame agreement came from the face.
        rows = min(blocks.shape[0], comparison.block_agree.shape[0])
        cols = min(blocks.shape[1], comparison.block_agree.shape[1])
        inside = block_contrast(placed.astype(np.float32))[0][:rows, :cols] > 0.95
        own = inside & comparison.block_informative[:rows, :cols]
        own_agreement = (
            float(comparison.block_agree[:rows, :cols][own].mean()) if own.any() else 0.0
        )
        located = {
            "background_changed": round(changed, 3),
            "product_agreement": round(own_agreement, 3),
            "product_blocks": int(own.sum()),
        }
        if own.sum() >= cfg.partial_blocks and own_agreement < cfg.pasted_product_agreement:
            # Not a copy of the product: not a copy at all, since its background departs
            # too. Too close to one to vouch for the photo, though.
            return replace(
                match, relation="same_product", boxes=(), heatmap=None, pasted_doubt=located
            )
        # The product's outline in claim full-resolution pixels.
        ys, xs = np.nonzero(placed)
        to_full = 1.0 / g
        box = Box(int(xs.min()), int(ys.min()), int(np.ptp(xs)) + 1, int(np.ptp(ys)) + 1)
        return replace(
            match,
            relation="partial_copy",
            boxes=(box.scaled(to_full),),
            heatmap=placed.astype(np.float32),
            located=located,
            located_by="background",
        )

    def _background_recoloured(
        self,
        match: Match,
        placed: np.ndarray,
        background: np.ndarray,
        h_cmp: np.ndarray,
        size: tuple[int, int],
    ) -> bool:
        """Whether the claim shows the studio background in another colour while the
        product keeps the reference's: per channel, the ratio of the claim's median to the
        reference's over the background departs by ``background_recolour`` or more in some
        channel, while over the product every ratio stays within ``product_recolour``. A
        filter of the whole photo scales both alike (or, for a curve, leaves a white
        background nearly white and moves the product)."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        cw, ch = size
        claim = cv2.resize(match.claim_frame.pixels, (cw, ch), interpolation=cv2.INTER_AREA)
        warped = cv2.warpPerspective(
            match.reference_frame.pixels, h_cmp, (cw, ch), flags=cv2.INTER_LINEAR
        )
        product = cv2.erode(placed.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        plain = background > 0
        if product.sum() < 64 or plain.sum() < 256:
            return False

        def ratio(mask: np.ndarray) -> np.ndarray:
            a = np.median(claim[mask].astype(np.float32), axis=0)
            b = np.median(warped[mask].astype(np.float32), axis=0)
            return (a + 8.0) / (b + 8.0)

        background_ratio, product_ratio = ratio(plain), ratio(product)
        return bool(
            np.abs(background_ratio - 1.0).max() >= cfg.background_recolour
            and np.abs(product_ratio - 1.0).max() <= cfg.product_recolour
        )

    def _product_search(
        self, media: Evidence, pairs: list, regions: list[tuple] | None = None
    ) -> Match | None:
        """The first pair whose studio product, found in the claim frame and compared there
        as a feature alignment would be, turns out copied. Where features of the pair
        aligned firmly (``regions``), their placement is tried before the search's."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        # Each claim frame is prepared once for every studio photo searched in it.
        searches: dict[int, ProductSearch] = {}
        for ci, reference, ri in pairs:
            template = _studio_template(reference, reference.frames[ri])
            if template is None:
                continue
            claim_frame, reference_frame = media.frames[ci], reference.frames[ri]
            if cfg.product_feature_placement:
                placed = self._feature_product(media, ci, reference, ri, template, regions or [])
                if placed is not None:
                    return placed
            if ci not in searches:
                searches[ci] = ProductSearch(
                    claim_frame.pixels, largest=cfg.product_largest, overhang=cfg.product_overhang
                )
            located = searches[ci].locate(
                reference_frame.pixels, template, min_fit=cfg.product_min_fit
            )
            if located is None:
                continue
            match = match_product(
                claim_frame,
                reference,
                reference_frame,
                located.homography,
                product_mask(template, reference_frame.pixels.shape),
                {"score": located.score, "fit": located.fit},
                cfg,
                detail_look=True,
            )
            if match is not None:
                return match
            if cfg.product_whole_frame and (
                located.fit >= cfg.product_whole_frame_fit
                or searches[ci].likeness(reference_frame.pixels, located.homography)
                >= cfg.product_whole_frame_likeness
            ):
                whole = self._placed_frame(claim_frame, reference, reference_frame, located)
                if whole is not None:
                    return whole
        return None

    def _placed_frame(
        self, claim_frame: Frame, reference: Evidence, reference_frame: Frame, located: Located
    ) -> Match | None:
        """The whole claim frame compared with the studio photo from where the product search
        placed its product, as a feature alignment would be: a derived match, or ``None``.

        A studio photo re-drawn by a generative editor (its fine texture new, the frame
        drifted), or re-photographed soft, may leave too few features to align; its product
        is found by the search but fails the pasted product's tests, which look for the
        reference's own fine detail. Compared whole, the re-drawn photo still agrees with the
        reference once its drift is undone. A buyer's photo of the product in a scene does
        not: the scene lies where the studio background was."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        placed = Alignment(
            homography=located.homography,
            inliers=0,
            matches=0,
            inlier_ratio=0.0,
            spread=0.0,
            mirrored=located.mirrored,
        )
        match = match_frames(
            claim_frame, 1.0, reference, reference_frame, 1.0, placed, claim_frame.scale, cfg
        )
        if match.relation not in DERIVED:
            return None
        pasted = self._background_replaced(match)
        if pasted is not None:
            # The studio background is gone: the product was pasted into the scene after all
            # (its own tests failed, yet the frame agrees where the product is).
            return pasted if pasted.relation in DERIVED else None
        return replace(
            match,
            located={"score": located.score, "fit": located.fit},
            located_by="product_placement",
        )

    def _feature_product(
        self,
        media: Evidence,
        ci: int,
        reference: Evidence,
        ri: int,
        template: ProductTemplate,
        regions: list[tuple],
    ) -> Match | None:
        """The studio product placed where the pair's strongest feature alignment puts it
        (fitted by masked ECC), verified by the product's tests. A product pasted large into
        a scene aligns by its own features, yet the whole-frame comparison sees a changed
        background, and the search's template scan can miss it (a size outside its range, a
        busy scene outscoring it)."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        own = [
            r
            for r in regions
            if r[0] == ci and r[1] is reference and r[2] == ri and r[3].inliers >= cfg.min_inliers
        ]
        if not own:
            return None
        _, _, _, alignment, fc, fr = max(own, key=lambda r: r[3].inliers)
        reference_frame = reference.frames[ri]
        product = product_mask(template, reference_frame.pixels.shape)
        h_frame = np.linalg.inv(_scale(fc)) @ alignment.homography @ _scale(fr)
        h_frame = h_frame / h_frame[2, 2]
        bx, by, bw, bh = template.box
        box = np.array([[bx, by], [bx + bw, by], [bx + bw, by + bh], [bx, by + bh]], np.float64)
        if similarity_departure(h_frame, box) > cfg.product_feature_similarity:
            return None  # a carton seen in perspective: left to the product search
        fitted = refine_placement(
            cv2.cvtColor(media.frames[ci].pixels, cv2.COLOR_RGB2GRAY),
            cv2.cvtColor(reference_frame.pixels, cv2.COLOR_RGB2GRAY),
            product,
            h_frame,
            iterations=25,
        )
        if fitted is None or fitted[1] < cfg.product_min_fit:
            return None
        return match_product(
            media.frames[ci],
            reference,
            reference_frame,
            fitted[0] / fitted[0][2, 2],
            product,
            {
                "inliers": alignment.inliers,
                "inlier_ratio": round(alignment.inlier_ratio, 3),
                "fit": round(float(fitted[1]), 3),
            },
            cfg,
            located_by="feature_product",
            detail_look=True,
        )

    def _whole_frame_again(
        self, media: Evidence, aligned: list[tuple], first_inliers: int
    ) -> Match | None:
        """The whole frame judged again from the strongest alignment of ``aligned`` (the
        closer looks'; the first search's among them hold at most the inliers it saw) when it
        holds many more inliers than the first search's: a re-photographed copy (blur, moire
        and a perspective) can leave the first search a few dozen inliers and a homography
        too loose for the frame to agree, which the closer look's features pin down. The
        tests are those of the first search's alignment, unchanged, except that only a copy
        of the whole frame is taken from here: a region of it that agrees (a partial copy) is
        the region check's to verify, with its light and register tests. Taking those too let
        two honest look-alike pairs through (the glossy Tropicana carton, a yoghurt cup) on
        seeds 1 and 7."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        ci, reference, ri, alignment, fc, fr = max(aligned, key=lambda r: r[3].inliers)
        least = max(
            cfg.region_whole_frame_inliers, round(cfg.region_whole_frame_gain * first_inliers)
        )
        if alignment.inliers < least:
            return None
        frame, reference_frame = media.frames[ci], reference.frames[ri]
        match = match_frames(frame, fc, reference, reference_frame, fr, alignment, frame.scale, cfg)
        return match if match.relation in WHOLE_FRAME else None

    def _region_check(self, media: Evidence, regions: list[tuple]) -> Match | None:
        """The first aligned region, most inliers first, whose pixels turn out copied from
        the reference: each is compared on its own, as a placed product is."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        regions.sort(key=lambda r: -r[3].inliers)
        for ci, reference, ri, alignment, fc, fr in regions[: cfg.region_candidates]:
            if _studio_template(reference, reference.frames[ri]) is not None:
                # A studio product shot: its product is the product search's to verify (a
                # buyer's own photo of printed packaging aligns with it region by region).
                continue
            reference_frame = reference.frames[ri]
            ref_shape = reference_frame.pixels.shape[:2]
            points = alignment.reference_inliers / fr
            mask = inlier_region(points, ref_shape)
            if mask is None:
                continue
            h_frame = np.linalg.inv(_scale(fc)) @ alignment.homography @ _scale(fr)
            # A few inliers on one part of the photo leave scale and rotation loose: a
            # masked ECC fit on the region settles them before the comparison.
            claim_px = media.frames[ci].pixels
            fitted = refine_placement(
                cv2.cvtColor(claim_px, cv2.COLOR_RGB2GRAY),
                cv2.cvtColor(reference_frame.pixels, cv2.COLOR_RGB2GRAY),
                mask,
                h_frame / h_frame[2, 2],
                iterations=25,
            )
            if fitted is not None and fitted[1] >= 0.5:
                h_frame = fitted[0]
            # Compared over more than the inliers span: a pasted region reaches past its
            # outermost corners, and its plain parts hold no features.
            wider = inlier_region(points, ref_shape, margin=cfg.region_growth)
            match = match_product(
                media.frames[ci],
                reference,
                reference_frame,
                h_frame / h_frame[2, 2],
                wider if wider is not None else mask,
                {
                    "inliers": alignment.inliers,
                    "matches": alignment.matches,
                    "inlier_ratio": round(alignment.inlier_ratio, 3),
                    "spread": round(alignment.spread, 3),
                },
                cfg,
                located_by="feature_region",
            )
            if match is not None:
                return match
        return None

    def _search(
        self,
        media: Evidence,
        pairs: list,
        *,
        deep: bool,
        regions: list[tuple] | None = None,
        seen: dict[str, int] | None = None,
        coarse: bool = False,
    ) -> Match:
        """The strongest match over ``pairs``, with the usual features, the closer look's
        (``deep``) or the coarse look's (``coarse``). Alignments with enough inliers for the
        region check go into ``regions``; ``seen["inliers"]`` records the most inliers of
        any alignment, however weak."""
        cfg: ReferenceMatchConfig = self.config  # type: ignore[assignment]
        floor = min(cfg.deep_hint_inliers, cfg.region_min_inliers, cfg.min_inliers)
        best: Match | None = None
        aligned: set[tuple[int, int, int]] = set()
        # The mirror image is tried only when no direct alignment found a copy, and not
        # against a reference the photo already aligns with firmly unmirrored (a symmetric
        # fruit aligns weakly with its own mirror image): mirroring is a disguise, and
        # looking for it costs a second feature pass per reference.
        for mirrored in (False,) if deep else (False, True):
            for ci, reference, ri in pairs:
                if mirrored and (ci, id(reference), ri) in aligned:
                    continue
                claim_feats, fc = self._features(media, ci, deep=deep, coarse=coarse)
                # References are clean photos: their usual features serve the closer look.
                ref_feats, fr = self._features(reference, ri, mirrored=mirrored, coarse=coarse)
                alignment = align(
                    claim_feats,
                    ref_feats,
                    min_inliers=floor,
                    mirrored_width=ref_feats.shape[1] if mirrored else None,
                )
                if alignment is not None and seen is not None:
                    seen["inliers"] = max(seen.get("inliers", 0), alignment.inliers)
                if alignment is not None and alignment.inliers < cfg.region_min_inliers:
                    alignment = None  # a hint for the closer look, nothing more
                if alignment is not None and regions is not None:
                    # Every alignment's region may be verified on its own later; one with
                    # fewer than min_inliers leads to nothing else.
                    regions.append((ci, reference, ri, alignment, fc, fr))
                if alignment is not None and alignment.inliers < cfg.min_inliers:
                    alignment = None
                match = match_frames(
                    media.frames[ci],
                    fc,
                    reference,
                    reference.frames[ri],
                    fr,
                    alignment,
                    media.frames[ci].scale,
                    cfg,
                )
                if alignment is not None and alignment.inliers >= 3 * cfg.min_inliers:
                    aligned.add((ci, id(reference), ri))
                if best is None or match.strength > best.strength:
                    best = match
                if (
                    match.relation in DERIVED
                    and not match.tentative
                    and match.comparison is not None
                    and (match.comparison.agreement >= cfg.early_exit)
                ):
                    return match
            if best is not None and best.relation in DERIVED and not best.tentative:
                break
        assert best is not None  # requires={"references"} guarantees at least one
        return best

    def _finding(self, media: Evidence, match: Match) -> Finding:
        ref_id = match.reference.media_id
        details: dict = {"reference": ref_id, "relation": match.relation}
        if media.is_video:
            details["claim_frame"] = match.claim_frame.index
            details["claim_time_s"] = match.claim_frame.time_s
        if match.reference.is_video:
            details["reference_frame"] = match.reference_frame.index
        if match.located is not None:
            details["located_by"] = match.located_by
            details[match.located_by] = match.located
        if match.moire_removed:
            details["moire_removed"] = True
        if match.redrawn is not None:
            details["regenerated"] = match.redrawn
        if match.drift_undone is not None:
            details["drift_undone"] = match.drift_undone
        if match.alignment is not None:
            details.update(
                inliers=match.alignment.inliers,
                matches=match.alignment.matches,
                inlier_ratio=round(match.alignment.inlier_ratio, 3),
                spread=round(match.alignment.spread, 3),
                mirrored=match.alignment.mirrored,
            )
        if match.homography_full is not None:
            details["homography"] = [
                [round(float(v), 6) for v in row] for row in match.homography_full
            ]
        if match.comparison is not None:
            c = match.comparison
            details.update(
                footprint=round(c.footprint, 3),
                agreement=round(c.agreement, 3),
                fine_agreement=round(c.fine_agreement, 3),
                colour_change=round(c.colour_change, 2),
            )
        code = f"reference_match.{match.relation}"
        params = {"reference": ref_id, "count": len(match.boxes)}
        if match.relation in DERIVED:
            assert match.comparison is not None
            c = match.comparison
            score = min(1.0, 0.6 + 0.4 * c.agreement)
            label = "copied" if match.relation == "partial_copy" else "edit"
            regions = tuple(_clipped(b, media.width, media.height, label) for b in match.boxes)
            if match.relation in ("verbatim_copy", "global_filter") and not regions:
                # The whole merchant photo is in the claim; where it fills only part of the
                # frame (inside a screenshot, or pasted into another scene), it is boxed.
                placed = _placed_box(match, media.width, media.height)
                if placed is not None and placed[1] < self.config.copied_frame_box_below:  # type: ignore[attr-defined]
                    regions = (_clipped(placed[0], media.width, media.height, "copied"),)
                    details["copied_frame_share"] = round(placed[1], 3)
            return self.finding(
                media,
                code,
                score=score,
                confidence=score,
                params=params,
                details=details,
                heatmap=match.heatmap,
                regions=regions,
            )
        if match.relation == "same_product":
            assert match.alignment is not None
            confidence = min(1.0, match.alignment.inliers / (4 * self.config.min_inliers))  # type: ignore[attr-defined]
            if match.pasted_doubt is not None:
                details["pasted_region_doubt"] = match.pasted_doubt
                confidence = min(confidence, 0.3)
            return self.finding(
                media, code, score=0.0, confidence=confidence, params=params, details=details
            )
        return self.finding(media, code, score=0.0, confidence=0.5, params=params, details=details)
