"""EXIF orientation between the stored pixel grid and the upright photo.

The loader turns every photo upright. Methods that work on the file's own grid (the JPEG
blocks, an invisible watermark) turn the pixels back with :func:`as_stored` and bring their
maps upright again with :func:`upright_map`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["as_stored", "upright_map"]

_TO_STORED: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda p: p[:, ::-1],
    3: lambda p: p[::-1, ::-1],
    4: lambda p: p[::-1],
    5: lambda p: p.swapaxes(0, 1),
    6: lambda p: np.rot90(p, 1),
    7: lambda p: p[::-1, ::-1].swapaxes(0, 1),
    8: lambda p: np.rot90(p, -1),
}
_TO_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda p: p[:, ::-1],
    3: lambda p: p[::-1, ::-1],
    4: lambda p: p[::-1],
    5: lambda p: p.swapaxes(0, 1),
    6: lambda p: np.rot90(p, -1),
    7: lambda p: p[::-1, ::-1].swapaxes(0, 1),
    8: lambda p: np.rot90(p, 1),
}


def as_stored(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """Undo the EXIF ``orientation`` the loader applied (an image of H x W or H x W x C)."""
    undo = _TO_STORED.get(orientation)
    return np.ascontiguousarray(undo(pixels)) if undo else pixels


def upright_map(grid: np.ndarray, orientation: int) -> np.ndarray:
    """Turn a float map computed on the stored grid upright, as the loader turns pixels."""
    turn = _TO_UPRIGHT.get(orientation)
    return np.ascontiguousarray(turn(grid) if turn else grid, dtype=np.float32)
