"""Guided growth of a weak alignment: repetitive texture that the ratio test discards."""

from __future__ import annotations

import cv2
import numpy as np

from vericlaim.analyzers._align import Features, align, grow

SIMILARITY = np.array([[0.92, 0.06, 25.0], [-0.06, 0.92, 18.0], [0.0, 0.0, 1.0]])
FLIP = np.array([[-1.0, 0.0, 639.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # 640 px wide


def _flip_bits(descriptors: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    out = descriptors.copy()
    for row in out:
        for bit in rng.choice(256, n, replace=False):
            row[bit // 8] ^= np.uint8(1 << (bit % 8))
    return out


def _carpet(*, mirrored: bool = False) -> tuple[Features, Features]:
    """Features of a reference photo of a carpet (180 points share 6 descriptors: each has
    near twins across the photo) with 12 marks of its own, and of a claim that shows it
    through ``SIMILARITY`` (of its mirror image when ``mirrored``), each descriptor a few
    bits off."""
    rng = np.random.default_rng(4)
    twins, unique = 180, 12
    points = rng.uniform([10, 10], [630, 470], (twins + unique, 2)).astype(np.float32)
    motifs = rng.integers(0, 256, (6, 32), dtype=np.uint8)
    descriptors = np.vstack(
        [motifs[np.arange(twins) % 6], rng.integers(0, 256, (unique, 32), dtype=np.uint8)]
    )
    shown = points.copy()
    if mirrored:
        shown[:, 0] = 639 - shown[:, 0]
    claim_points = cv2.perspectiveTransform(
        shown.reshape(-1, 1, 2).astype(np.float64), SIMILARITY
    ).reshape(-1, 2)
    claim_points += rng.normal(0, 0.4, claim_points.shape)
    order = rng.permutation(len(points))
    claim = Features(
        claim_points[order].astype(np.float32),
        _flip_bits(descriptors[order], rng, 3),
        (480, 640),
    )
    return claim, Features(points, descriptors, (480, 640))


def test_guided_matching_recovers_the_repetitive_texture() -> None:
    claim, reference = _carpet()
    first = align(claim, reference, min_inliers=8)
    assert first is not None
    assert first.inliers <= 12  # the ratio test keeps the unique marks only
    grown = grow(claim, reference, first)
    assert grown.inliers >= 170
    assert np.abs(grown.homography - SIMILARITY).max() < 0.2
    assert (
        np.abs(grown.homography - SIMILARITY).max() <= np.abs(first.homography - SIMILARITY).max()
    )
    assert grown.reference_inliers is not None and len(grown.reference_inliers) == grown.inliers


def test_growth_of_a_mirrored_alignment_keeps_the_flip_folded_in() -> None:
    claim, reference = _carpet(mirrored=True)
    # The reference's features are detected on its mirror image, as the analyzer does.
    mirror = Features(
        np.column_stack([639 - reference.points[:, 0], reference.points[:, 1]]).astype(np.float32),
        reference.descriptors,
        reference.shape,
    )
    first = align(claim, mirror, min_inliers=8, mirrored_width=640)
    assert first is not None and first.mirrored
    grown = grow(claim, mirror, first, mirrored_width=640)
    assert grown.mirrored and grown.inliers >= 170
    # It maps the unmirrored reference onto the claim, and so do its inlier points.
    assert np.abs(grown.homography - SIMILARITY @ FLIP).max() < 0.2
    assert grown.reference_inliers is not None
    placed = cv2.perspectiveTransform(
        grown.reference_inliers.reshape(-1, 1, 2).astype(np.float64), grown.homography
    ).reshape(-1, 2)
    expected = cv2.perspectiveTransform(
        grown.reference_inliers.reshape(-1, 1, 2).astype(np.float64), SIMILARITY @ FLIP
    ).reshape(-1, 2)
    assert np.abs(placed - expected).max() < 2.0


def test_an_alignment_that_does_not_grow_is_returned_as_is() -> None:
    claim, reference = _carpet()
    first = align(claim, reference, min_inliers=8)
    assert first is not None
    empty = Features(np.zeros((0, 2), np.float32), None, (480, 640))
    assert grow(empty, reference, first) is first
    # Growing a grown alignment again loses nothing.
    grown = grow(claim, reference, first)
    assert grow(claim, reference, grown).inliers >= grown.inliers
