"""The shared data sets the benchmark draws from, read in place from ``../shared/data``.

Nothing here is copied into the repository: NoSo and the magnetic-tile set are licensed
for non-commercial research only (see ``../shared/data/README.md``).
"""

from __future__ import annotations

import csv
import functools
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.imaging import decode_rgb

__all__ = ["Library", "Photo", "library_or_report", "load_mask", "open_library"]


@dataclass(frozen=True, slots=True)
class Photo:
    """One photo of the data sets: ``key`` is its path relative to the data root."""

    key: str
    path: Path
    label: str = ""  # grocery class, NoSo number or tile folder
    coarse: str = ""  # grocery coarse class (two apple varieties share one)
    mask_path: Path | None = None  # tile defect mask or NoSo ground truth

    def data(self) -> bytes:
        return _read(self.path)

    def pixels(self) -> np.ndarray:
        return _decoded(self.path)


@functools.lru_cache(maxsize=256)
def _read(path: Path) -> bytes:
    return path.read_bytes()


@functools.lru_cache(maxsize=64)
def _decoded(path: Path) -> np.ndarray:
    pixels = decode_rgb(_read(path))
    pixels.setflags(write=False)
    return pixels


@dataclass(frozen=True, slots=True)
class Library:
    """The photos every case family draws from, in a fixed (sorted) order."""

    root: Path
    iconic: tuple[Photo, ...]  # merchant listing photos, one per grocery class
    natural: dict[str, tuple[Photo, ...]]  # buyer-style photos by grocery class
    noso_originals: tuple[Photo, ...]  # NN.png camera photos (references)
    noso_forgeries: tuple[tuple[Photo, Photo], ...]  # (NN_mod*.png with its gt, NN.png)
    noso_scenes: tuple[Photo, ...]  # untouched camera JPEGs of noso/dataset
    tiles: dict[str, tuple[Photo, ...]]  # MT_Crack, MT_Break, MT_Free with masks

    def iconic_by_class(self) -> dict[str, Photo]:
        return {p.label: p for p in self.iconic}


def open_library(root: str | Path) -> Library:
    """Index ``root`` (the shared data folder).

    Raises
    ------
    FileNotFoundError
        A data set the benchmark needs is missing.
    """
    root = Path(root).resolve()
    needed = ["grocery/classes.csv", "noso/NoSo_dataset", "noso/dataset", "tiles/MT_Free"]
    missing = [n for n in needed if not (root / n).exists()]
    if missing:
        raise FileNotFoundError(f"{root}: missing {', '.join(missing)} (see shared/data/README.md)")

    def photo(path: Path, **kw: object) -> Photo:
        return Photo(key=path.relative_to(root).as_posix(), path=path, **kw)  # type: ignore[arg-type]

    iconic: list[Photo] = []
    natural: dict[str, tuple[Photo, ...]] = {}
    with (root / "grocery" / "classes.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            name, coarse = row["class_name"], row["coarse_class_name"]
            iconic.append(photo(root / "grocery" / row["iconic_image"], label=name, coarse=coarse))
            folder = root / "grocery" / row["natural_dir"]
            natural[name] = tuple(
                photo(p, label=name, coarse=coarse) for p in sorted(folder.glob("*.jpg"))
            )
    iconic.sort(key=lambda p: p.label)

    noso = root / "noso" / "NoSo_dataset"
    originals = {p.stem: photo(p, label=p.stem) for p in sorted(noso.glob("[0-9][0-9].png"))}
    forgeries = []
    for p in sorted(noso.glob("[0-9][0-9]_mod*.png")):
        if p.stem.endswith("_gt"):
            continue
        gt = p.with_name(p.stem + "_gt.png")
        original = originals.get(p.stem[:2])
        if gt.exists() and original is not None:
            forgeries.append((photo(p, label=p.stem[:2], mask_path=gt), original))
    scenes = tuple(
        photo(p, label=p.stem) for p in sorted((root / "noso" / "dataset").glob("*.jpg"))
    )

    tiles: dict[str, tuple[Photo, ...]] = {}
    for folder in ("MT_Crack", "MT_Break", "MT_Free"):
        items = []
        for p in sorted((root / "tiles" / folder).glob("*.jpg")):
            mask = p.with_suffix(".png")
            items.append(photo(p, label=folder, mask_path=mask if mask.exists() else None))
        tiles[folder] = tuple(items)

    return Library(
        root=root,
        iconic=tuple(iconic),
        natural=natural,
        noso_originals=tuple(originals.values()),
        noso_forgeries=tuple(forgeries),
        noso_scenes=scenes,
        tiles=tiles,
    )


def library_or_report(root: str | Path) -> Library | None:
    """:func:`open_library`, or ``None`` after one line on stderr saying what is missing (a
    benchmark then exits with status 2)."""
    try:
        return open_library(root)
    except FileNotFoundError as exc:
        print(f"benchmarks: {exc}", file=sys.stderr)
        return None


def load_mask(path: Path) -> np.ndarray:
    """A data set's mask file as booleans (white = marked)."""
    return decode_rgb(_read(path)).max(axis=2) > 127
