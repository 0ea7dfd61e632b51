"""The DWT-DCT invisible watermark of Stable Diffusion's reference scripts, re-implemented.

Stable Diffusion's reference scripts (CompVis ``scripts/txt2img.py``, Stability AI's SD 2
and ``generative-models`` scripts, ``diffusers``' SDXL pipelines, Black Forest Labs' FLUX
reference code) mark every output with the ``dwtDct`` method of the ``invisible-watermark``
package. The method, as published there (``imwatermark/maxDct.py``):

1. convert BGR to YUV with OpenCV and take the U channel (only U: the scales are
   ``[0, 36, 36]`` but the loop visits channels 0 and 1);
2. one level of a Haar DWT on the top-left ``(rows // 4 * 4, cols // 4 * 4)`` crop; keep LL;
3. walk LL in 4x4 blocks in raster order; block ``n`` carries message bit ``n % L``;
4. in each block find the largest-magnitude entry other than the first (despite the name,
   the published code quantizes the LL values directly, no DCT is applied), and move its
   magnitude to ``(floor(|v| / 36) + 0.25 + 0.5 * bit) * 36``, keeping its sign;
5. decoding reads ``bit = (|v| mod 36) > 18`` per block and averages the votes per bit.

The uint8 pipelines (SD 1.x/2.x scripts) work on OpenCV's 8-bit YUV, whose U is offset by
128; the float pipelines (SDXL, FLUX) pass float32 pixels, whose U is offset by 0.5. The
quantization grid therefore differs between the two, and blocks whose float U is negative
carry their sign, so :func:`detect_marks` reads both conventions.

The mark is fragile: it survives lossless saving, not resizing, cropping or ordinary JPEG
recompression. Finding it is strong evidence; not finding it says nothing.

References
----------
ShieldMnt/invisible-watermark, ``imwatermark/maxDct.py`` and ``watermark.py`` (MIT).
CompVis/stable-diffusion ``scripts/txt2img.py`` (message ``"StableDiffusionV1"``);
Stability-AI/stablediffusion ``scripts/txt2img.py`` (``"SDV2"``);
huggingface/diffusers ``pipelines/stable_diffusion_xl/watermark.py`` (48-bit message);
black-forest-labs/flux ``src/flux/util.py`` (48-bit constant whose ``bin()[2:]`` is 46 bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
import pywt

__all__ = [
    "KNOWN_MARKS",
    "MarkMatch",
    "bits_from_bytes",
    "bits_from_int",
    "block_votes",
    "detect_marks",
    "embed",
    "haar_ll",
    "match_mark",
]

SCALE = 36.0
BLOCK = 4
MIN_PIXELS = 256 * 256  # the reference encoder refuses smaller images
Pipeline = Literal["uint8", "float"]


def bits_from_bytes(message: bytes) -> np.ndarray:
    """The message's bits, most significant first, as ``invisible-watermark`` packs bytes."""
    return np.unpackbits(np.frombuffer(message, dtype=np.uint8)).astype(np.uint8)


def bits_from_int(value: int) -> np.ndarray:
    """The bits of ``bin(value)[2:]``: leading zeros dropped, as the reference scripts do."""
    return np.array([int(c) for c in bin(value)[2:]], dtype=np.uint8)


# name -> (bits, pipeline that embeds it). Sources in the module docstring.
KNOWN_MARKS: dict[str, tuple[np.ndarray, Pipeline]] = {
    "StableDiffusionV1": (bits_from_bytes(b"StableDiffusionV1"), "uint8"),
    "SDV2": (bits_from_bytes(b"SDV2"), "uint8"),
    "SDXL": (bits_from_int(0b101100111110110010010000011110111011000110011110), "float"),
    "FLUX/SVD": (bits_from_int(0b001010101111111010000111100111001111010100101110), "float"),
}


def _u_channel(rgb: np.ndarray, pipeline: Pipeline) -> np.ndarray:
    """OpenCV's U plane of an RGB uint8 image, computed as the given pipeline computes it.

    ``COLOR_RGB2YUV`` on RGB equals the reference's ``COLOR_BGR2YUV`` on BGR, without
    the cost of reordering the channels.
    """
    src = rgb.astype(np.float32) if pipeline == "float" else np.ascontiguousarray(rgb)
    return cv2.cvtColor(src, cv2.COLOR_RGB2YUV)[:, :, 1].astype(np.float64)


def haar_ll(plane: np.ndarray) -> np.ndarray:
    """The LL band of a one-level Haar DWT (``pywt.dwt2(plane, "haar")[0]``) for even sizes.

    Computed directly, ``(a + b + c + d) / 2`` per 2x2 cell, as it is the only band the
    decoder reads and it is many times faster than the full transform.
    """
    return (plane[0::2, 0::2] + plane[1::2, 0::2] + plane[0::2, 1::2] + plane[1::2, 1::2]) * 0.5


def _block_view(ll: np.ndarray) -> np.ndarray:
    """LL cut into raster-ordered 4x4 blocks, shape ``(n_blocks, 16)`` (a copy)."""
    rows, cols = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    blocks = ll[: rows * BLOCK, : cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK)
    return blocks.transpose(0, 2, 1, 3).reshape(rows * cols, BLOCK * BLOCK).copy()


def _from_blocks(blocks: np.ndarray, ll: np.ndarray) -> None:
    rows, cols = ll.shape[0] // BLOCK, ll.shape[1] // BLOCK
    ll[: rows * BLOCK, : cols * BLOCK] = (
        blocks.reshape(rows, cols, BLOCK, BLOCK).transpose(0, 2, 1, 3).reshape(rows * BLOCK, -1)
    )


def _peak_index(blocks: np.ndarray) -> np.ndarray:
    # The published rule skips the first entry of each block when looking for the peak.
    return np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1


def embed(
    rgb: np.ndarray, bits: np.ndarray, *, pipeline: Pipeline = "uint8", scale: float = SCALE
) -> np.ndarray:
    """Mark an RGB uint8 image with ``bits`` the way the reference scripts do.

    Parameters
    ----------
    rgb : ndarray, shape (H, W, 3), uint8
        The image; at least 256x256 pixels in area.
    bits : ndarray of 0/1
        The message, repeated over the blocks.
    pipeline : {"uint8", "float"}
        ``"uint8"`` as SD 1.x/2.x scripts (8-bit YUV), ``"float"`` as SDXL/FLUX (float32).

    Returns
    -------
    ndarray
        The marked image, RGB uint8 (rounded and clipped, as the pipelines save it).
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError("expected an RGB uint8 image")
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        raise ValueError("image too small for the watermark (under 256x256 pixels)")
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    yuv = cv2.cvtColor(bgr.astype(np.float32) if pipeline == "float" else bgr, cv2.COLOR_BGR2YUV)
    yuv = yuv.astype(np.float32)
    ll, details = pywt.dwt2(yuv[:rows, :cols, 1].astype(np.float64), "haar")
    blocks = _block_view(ll)
    pos = _peak_index(blocks)
    idx = np.arange(len(blocks))
    values = blocks[idx, pos]
    wanted = np.asarray(bits, dtype=np.float64)[idx % len(bits)]
    magnitude = (np.floor(np.abs(values) / scale) + 0.25 + 0.5 * wanted) * scale
    blocks[idx, pos] = np.where(values >= 0, magnitude, -magnitude)
    _from_blocks(blocks, ll)
    yuv[:rows, :cols, 1] = pywt.idwt2((ll, details), "haar")
    if pipeline == "uint8":
        yuv = np.clip(np.round(yuv), 0, 255).astype(np.uint8)
    out = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)[:, :, ::-1].copy()


def block_votes(rgb: np.ndarray, *, pipeline: Pipeline, scale: float = SCALE) -> np.ndarray:
    """Every 4x4 LL block's bit vote (0/1), in raster order, for one pipeline convention."""
    rows, cols = rgb.shape[0] // 4 * 4, rgb.shape[1] // 4 * 4
    blocks = _block_view(haar_ll(_u_channel(rgb[:rows, :cols], pipeline)))
    values = np.abs(blocks[np.arange(len(blocks)), _peak_index(blocks)])
    return (np.mod(values, scale) > 0.5 * scale).astype(np.uint8)


@dataclass(frozen=True, slots=True)
class MarkMatch:
    """How well the votes of an image agree with one known watermark.

    ``bit_agreement`` is the share of message bits decoded right, by the better of two
    rules: the reference rule (a bit is 1 when more than half of its blocks vote 1) and an
    adaptive threshold between the two clusters of per-bit vote rates, used only when the
    clusters are ``gap`` apart. The adaptive rule exists because the published embedder
    biases errors one way: when lowering a block's peak makes another entry the peak, the
    block votes 1 whatever it carries, so 0-bits can read as 1 on smooth photos while
    1-bits stay right.
    """

    name: str
    pipeline: Pipeline
    bit_agreement: float
    rule: Literal["reference", "adaptive"]
    gap: float
    n_bits: int
    n_blocks: int


ADAPTIVE_MIN_GAP = 0.15


def _vote_rates(votes: np.ndarray, n_bits: int) -> np.ndarray:
    which = np.arange(len(votes)) % n_bits
    counts = np.bincount(which, minlength=n_bits)
    ones = np.bincount(which, weights=votes, minlength=n_bits)
    return ones / np.maximum(counts, 1)


def _two_clusters(rates: np.ndarray) -> tuple[float, float]:
    """Otsu's threshold on the per-bit vote rates, and the gap between the cluster means."""
    ordered = np.sort(rates)
    n = len(ordered)
    if n < 2 or ordered[-1] - ordered[0] <= 0:
        return 0.5, 0.0
    csum = np.cumsum(ordered)
    k = np.arange(1, n)  # size of the low cluster
    low = csum[:-1] / k
    high = (csum[-1] - csum[:-1]) / (n - k)
    between = k * (n - k) * (high - low) ** 2
    best = int(np.argmax(between))
    return float((ordered[best] + ordered[best + 1]) / 2), float(high[best] - low[best])


def match_mark(votes: np.ndarray, bits: np.ndarray) -> tuple[float, str, float]:
    """(bit agreement, rule, cluster gap) of block ``votes`` against the message ``bits``."""
    rates = _vote_rates(votes, len(bits))
    # The reference decoder: bit = mean vote * 255 > 127.
    reference = float(np.mean((rates * 255 > 127) == bits))
    threshold, gap = _two_clusters(rates)
    adaptive = float(np.mean((rates > threshold) == bits)) if gap >= ADAPTIVE_MIN_GAP else 0.0
    if adaptive > reference:
        return adaptive, "adaptive", gap
    return reference, "reference", gap


def detect_marks(rgb: np.ndarray) -> list[MarkMatch]:
    """Agreement of ``rgb`` with every known mark, under both pipeline conventions.

    Returns one :class:`MarkMatch` per (mark, convention), best first; empty when the image
    is too small to carry a mark. The caller decides what agreement counts as found.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> photo = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    >>> marked = embed(photo, KNOWN_MARKS["SDV2"][0])
    >>> best = detect_marks(marked)[0]
    >>> best.name, best.bit_agreement
    ('SDV2', 1.0)
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        return []
    rgb = rgb.astype(np.uint8, copy=False)
    matches: list[MarkMatch] = []
    pipelines: tuple[Pipeline, ...] = ("uint8", "float")
    for pipeline in pipelines:
        votes = block_votes(rgb, pipeline=pipeline)
        if len(votes) == 0:
            continue
        for name, (bits, _) in KNOWN_MARKS.items():
            agreement, rule, gap = match_mark(votes, bits)
            matches.append(
                MarkMatch(
                    name=name,
                    pipeline=pipeline,
                    bit_agreement=agreement,
                    rule=rule,  # type: ignore[arg-type]
                    gap=gap,
                    n_bits=len(bits),
                    n_blocks=len(votes),
                )
            )
    matches.sort(key=lambda m: (m.bit_agreement, m.gap), reverse=True)
    return matches
