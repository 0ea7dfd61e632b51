"""Perceptual fingerprints of a claim photo, for finding the same photo used again.

A :class:`Fingerprint` holds, for the photo and for its mirror image, a 64-bit pHash and a
64-bit dHash of each of a few *views*: the whole photo and overlapping sub-windows of it
(:data:`VIEWS`). Before hashing, uniform margins are trimmed (a plain frame, letterbox or
studio backdrop). Two photos are the same picture when some view of one and some view of
the other agree on both hashes (see :mod:`vericlaim.reuse.detect`).

What the fingerprint is robust to (measured in ``docs/reuse.md``): JPEG recompression,
rescaling, mirroring, global colour and tone filters (brightness, contrast, gamma,
saturation, warm/cool casts), light blur and noise, and a plain uniform border added or
removed; crops only where they line up with a view (centred, a band cut off top and bottom
or both sides, a corner). What it is not robust to: crops at an arbitrary position and
size, rotation beyond a few degrees (and 90-degree turns), perspective change (a
re-photograph of a screen), a photo pasted into a busy screenshot or collage (non-uniform
borders), and local edits large enough to change the coarse layout. Those are left to
``reference_match``, which aligns local features.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from vericlaim.evidence import Evidence
from vericlaim.reuse._hashes import dhash64, luma, phash64, structure, trim_uniform_margins

__all__ = [
    "FINGERPRINT_VERSION",
    "MIN_SIDE",
    "MIN_STRUCTURE",
    "VIEWS",
    "Fingerprint",
    "fingerprint",
]

FINGERPRINT_VERSION = "reuse-fp/1"

#: The views hashed, as (name, x0, y0, x1, y1) shares of the trimmed photo. The whole photo;
#: its centre at 80 % per side; the middle 80 % of its rows and of its columns (a crop that
#: cuts only top and bottom, or only the sides, as an app's square or story crop does); and
#: the four corners at 80 % per side. A crop that lines up with one of them is still found
#: (as a single-view match); crops elsewhere are not.
VIEWS: tuple[tuple[str, float, float, float, float], ...] = (
    ("full", 0.0, 0.0, 1.0, 1.0),
    ("centre", 0.1, 0.1, 0.9, 0.9),
    ("middle_rows", 0.0, 0.1, 1.0, 0.9),
    ("middle_columns", 0.1, 0.0, 0.9, 1.0),
    ("top_left", 0.0, 0.0, 0.8, 0.8),
    ("top_right", 0.2, 0.0, 1.0, 0.8),
    ("bottom_left", 0.0, 0.2, 0.8, 1.0),
    ("bottom_right", 0.2, 0.2, 1.0, 1.0),
)

#: Below this many pixels on a side (after trimming) a photo is too small to fingerprint.
MIN_SIDE = 16
#: Below this much coarse structure (grey levels, :func:`structure`) a view's bits are noise.
MIN_STRUCTURE = 2.0

_EMPTY = np.zeros((2, 0), dtype=np.uint64)


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, slots=True, eq=False)
class Fingerprint:
    """The perceptual fingerprint of one photo.

    ``phash`` and ``dhash`` are read-only ``uint64`` arrays of shape ``(2, len(views))``:
    row 0 the photo, row 1 its mirror image (flipped left-right), one column per view.
    ``usable`` (same shape, bool) is False for a view with too little structure to hash
    reliably (a patch of sky or backdrop); such a view is never indexed nor searched. A
    photo that cannot be fingerprinted at all (too small, flat) has no views and a
    ``reason``; :attr:`applicable` is then False.
    """

    version: str
    views: tuple[str, ...]
    phash: np.ndarray
    dhash: np.ndarray
    usable: np.ndarray
    trimmed: tuple[int, int, int, int] = (0, 0, 0, 0)
    reason: str | None = field(default=None)

    @property
    def applicable(self) -> bool:
        return self.reason is None and bool(self.usable.any())

    def codes(self, *, mirrored: bool = False) -> list[tuple[str, int, int]]:
        """The usable views as ``(view, phash, dhash)`` with Python ints, photo or mirror."""
        row = 1 if mirrored else 0
        return [
            (name, int(self.phash[row, i]), int(self.dhash[row, i]))
            for i, name in enumerate(self.views)
            if self.usable[row, i]
        ]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Fingerprint):
            return NotImplemented
        return (
            self.version == other.version
            and self.views == other.views
            and np.array_equal(self.phash, other.phash)
            and np.array_equal(self.dhash, other.dhash)
            and np.array_equal(self.usable, other.usable)
            and self.reason == other.reason
        )

    __hash__ = None  # type: ignore[assignment]

    def to_bytes(self) -> bytes:
        """A compact, versioned serialization (for a database column)."""
        head = self.version.encode()
        names = ",".join(self.views).encode()
        reason = (self.reason or "").encode()
        n = len(self.views)
        return b"".join(
            [
                struct.pack("<HHHB", len(head), len(names), len(reason), n),
                head,
                names,
                reason,
                struct.pack("<4i", *self.trimmed),
                self.phash.astype("<u8").tobytes(),
                self.dhash.astype("<u8").tobytes(),
                np.packbits(self.usable.reshape(-1)).tobytes(),
            ]
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint:
        """Read :meth:`to_bytes` back; raises ``ValueError`` on malformed data."""
        try:
            lh, ln, lr, n = struct.unpack_from("<HHHB", data, 0)
            pos = struct.calcsize("<HHHB")
            version = data[pos : pos + lh].decode()
            pos += lh
            names = data[pos : pos + ln].decode()
            pos += ln
            reason = data[pos : pos + lr].decode() or None
            pos += lr
            trimmed = struct.unpack_from("<4i", data, pos)
            pos += 16
            phash = np.frombuffer(data, "<u8", 2 * n, pos).astype(np.uint64).reshape(2, n)
            pos += 16 * n
            dhash = np.frombuffer(data, "<u8", 2 * n, pos).astype(np.uint64).reshape(2, n)
            pos += 16 * n
            nb = (2 * n + 7) // 8
            if len(data) != pos + nb:
                raise ValueError("fingerprint has trailing or missing bytes")
            usable = np.unpackbits(np.frombuffer(data, np.uint8, nb, pos))[: 2 * n]
        except (struct.error, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed fingerprint: {exc}") from exc
        views = tuple(names.split(",")) if names else ()
        if len(views) != n:
            raise ValueError("malformed fingerprint: view names do not match the codes")
        return cls(
            version=version,
            views=views,
            phash=_readonly(phash),
            dhash=_readonly(dhash),
            usable=_readonly(usable.astype(bool).reshape(2, n)),
            trimmed=(int(trimmed[0]), int(trimmed[1]), int(trimmed[2]), int(trimmed[3])),
            reason=reason,
        )


def _not_applicable(reason: str, trimmed: tuple[int, int, int, int]) -> Fingerprint:
    empty = _readonly(_EMPTY.copy())
    return Fingerprint(
        version=FINGERPRINT_VERSION,
        views=(),
        phash=empty,
        dhash=empty,
        usable=_readonly(np.zeros((2, 0), dtype=bool)),
        trimmed=trimmed,
        reason=reason,
    )


def fingerprint(
    photo: Evidence | np.ndarray,
    *,
    views: tuple[tuple[str, float, float, float, float], ...] = VIEWS,
    trim: bool = True,
) -> Fingerprint:
    """Fingerprint a photo (or a video's first frame).

    Parameters
    ----------
    photo : Evidence or array
        An :class:`~vericlaim.evidence.Evidence` (its first frame is used) or pixels:
        ``(h, w, 3)`` RGB ``uint8`` or ``(h, w)`` grey.
    views : tuple, optional
        The views to hash (default :data:`VIEWS`).
    trim : bool, optional
        Peel uniform margins off first (default True).

    Returns
    -------
    Fingerprint
        Not :attr:`~Fingerprint.applicable` (with a ``reason``) when the photo is smaller
        than :data:`MIN_SIDE` pixels on a side or has no structure to hash.
    """
    pixels = photo.frames[0].pixels if isinstance(photo, Evidence) else np.asarray(photo)
    if pixels.ndim not in (2, 3) or pixels.size == 0:
        return _not_applicable(f"not a photo (array of shape {pixels.shape})", (0, 0, 0, 0))
    gray = luma(pixels)
    h, w = gray.shape
    box = trim_uniform_margins(gray) if trim else (0, 0, w, h)
    x0, y0, x1, y1 = box
    if min(x1 - x0, y1 - y0) < MIN_SIDE:
        return _not_applicable(
            f"too small to fingerprint ({x1 - x0}x{y1 - y0} px, at least {MIN_SIDE} needed)",
            box,
        )
    core = gray[y0:y1, x0:x1]
    if structure(core) < MIN_STRUCTURE:
        return _not_applicable("flat photo: no structure to fingerprint", box)
    n = len(views)
    phash = np.zeros((2, n), dtype=np.uint64)
    dhash = np.zeros((2, n), dtype=np.uint64)
    usable = np.zeros((2, n), dtype=bool)
    ch, cw = core.shape
    for row, img in enumerate((core, core[:, ::-1])):
        for i, (_, fx0, fy0, fx1, fy1) in enumerate(views):
            sub = img[round(fy0 * ch) : round(fy1 * ch), round(fx0 * cw) : round(fx1 * cw)]
            if min(sub.shape) < MIN_SIDE or structure(sub) < MIN_STRUCTURE:
                continue
            phash[row, i] = phash64(sub)
            dhash[row, i] = dhash64(sub)
            usable[row, i] = True
    return Fingerprint(
        version=FINGERPRINT_VERSION,
        views=tuple(v[0] for v in views),
        phash=_readonly(phash),
        dhash=_readonly(dhash),
        usable=_readonly(usable),
        trimmed=box,
    )
