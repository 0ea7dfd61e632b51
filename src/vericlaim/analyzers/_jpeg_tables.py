"""What a JPEG's quantization tables say: the quality it was saved at, and by what kind of
encoder (the IJG/libjpeg tables scaled by quality, or a camera's own tables).

Tables are in natural (row-major) order, 64 integers each, as
:attr:`vericlaim.evidence.MediaMetadata.jpeg_quant_tables` holds them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = [
    "IJG_CHROMA",
    "IJG_LUMA",
    "TableReport",
    "describe_tables",
    "estimate_quality",
    "ijg_table",
]

# ITU-T T.81 Annex K, tables K.1 and K.2, natural order: the tables libjpeg scales by quality.
IJG_LUMA: tuple[int, ...] = (
    16, 11, 10, 16, 24, 40, 51, 61,
    12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77,
    24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101,
    72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
IJG_CHROMA: tuple[int, ...] = (
    17, 18, 24, 47, 99, 99, 99, 99,
    18, 21, 26, 66, 99, 99, 99, 99,
    24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99,
)  # fmt: skip


@cache
def ijg_table(quality: int, *, chroma: bool = False, baseline: bool = True) -> tuple[int, ...]:
    """The table libjpeg writes at ``quality`` (1..100), as ``jpeg_set_quality`` scales it.

    References
    ----------
    Independent JPEG Group, libjpeg ``jcparam.c``: ``jpeg_quality_scaling`` and
    ``jpeg_add_quant_table``.

    Examples
    --------
    >>> ijg_table(50)[:4]
    (16, 11, 10, 16)
    >>> ijg_table(75)[:4]
    (8, 6, 5, 8)
    """
    q = min(100, max(1, int(quality)))
    scale = 5000 // q if q < 50 else 200 - 2 * q
    top = 255 if baseline else 32767
    base = IJG_CHROMA if chroma else IJG_LUMA
    return tuple(min(top, max(1, (b * scale + 50) // 100)) for b in base)


def estimate_quality(table: Sequence[int], *, chroma: bool = False) -> tuple[int, bool]:
    """The IJG quality whose table is closest to ``table``, and whether it is an exact match.

    Closeness is the mean absolute difference of the log steps, so a camera's custom table
    gets the quality of the IJG table that quantizes about as coarsely.

    Examples
    --------
    >>> estimate_quality(ijg_table(83))
    (83, True)
    """
    steps = np.log(np.maximum(np.asarray(table, np.float64), 1.0))
    best, best_err = 50, np.inf
    for quality in range(1, 101):
        for baseline in (True, False):
            candidate = ijg_table(quality, chroma=chroma, baseline=baseline)
            if tuple(table) == candidate:
                return quality, True
            err = float(np.abs(steps - np.log(np.asarray(candidate, np.float64))).mean())
            if err < best_err:
                best, best_err = quality, err
    return best, False


@dataclass(frozen=True, slots=True)
class TableReport:
    """What the tables say.

    ``provenance`` is ``ijg_standard`` (every table is an IJG table at one quality, as
    libjpeg-based software writes: Pillow, OpenCV, GIMP, ImageMagick, most server-side and
    chat-app re-encoders), ``ijg_luma`` (an IJG luminance table with other chrominance
    tables) or ``custom`` (tables of the encoder's own: phone and camera ISPs, Photoshop,
    Apple's and Samsung's encoders, adaptive encoders).
    """

    quality: int
    qualities: tuple[int, ...]
    provenance: str

    @property
    def software_tables(self) -> bool:
        return self.provenance != "custom"


def describe_tables(tables: Sequence[Sequence[int]]) -> TableReport | None:
    """Estimated quality of each table and the tables' provenance; ``None`` without tables.

    The first table is taken as luminance and the others as chrominance (the order libjpeg
    and nearly every encoder writes them in).
    """
    tables = [t for t in tables if len(t) == 64]
    if not tables:
        return None
    fits = [estimate_quality(t, chroma=i > 0) for i, t in enumerate(tables)]
    qualities = tuple(q for q, _ in fits)
    exact = [e for _, e in fits]
    if all(exact) and len(set(qualities)) == 1:
        provenance = "ijg_standard"
    elif exact[0]:
        provenance = "ijg_luma"
    else:
        provenance = "custom"
    return TableReport(quality=qualities[0], qualities=qualities, provenance=provenance)
