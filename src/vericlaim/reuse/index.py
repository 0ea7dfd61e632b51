"""The reuse index: every earlier claim photo's fingerprint, searchable by Hamming distance.

Each indexed photo (a :class:`ReuseRecord`: claim, media, sha256, tenant, platform, buyer
key, all opaque strings the service passes in) contributes one *entry* per usable view of
its fingerprint (:data:`~vericlaim.reuse.fingerprint.VIEWS`, the photo itself, not its
mirror: the query side searches with both orientations). Entries are keyed in a FAISS
binary index by their 64-bit pHash; the dHash of each entry sits beside it and is checked
after the pHash search. A hit therefore costs one exact Hamming scan (``flat``, FAISS
``IndexBinaryFlat``, the default) or one multi-index hash lookup (``multihash``, FAISS
``IndexBinaryMultiHash``: 4 tables of 16 bits, 2 flipped bits probed per table, which
finds *every* code within 11 bits, by the pigeonhole principle) per query view.

Removal marks a photo's entries as deleted; they are skipped at search time and dropped
from the FAISS index when they pass a quarter of the entries (a compaction) and at save.

Concurrency: any number of threads may search while one thread writes; writers wait for
searches in flight, and searches wait for a write in progress (a readers-writer lock).

Scale: 10M entries (1.25M photos) took 610 MiB and 15 s to build in the benchmark (16
bytes of codes and 5 of bookkeeping per entry, the FAISS copy of the keys, the records).
Beyond one machine, see :class:`~vericlaim.reuse.shards.ShardedReuseIndex`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import astuple, dataclass, replace
from pathlib import Path
from typing import Literal

import faiss
import numpy as np

from vericlaim.errors import ReuseIndexError
from vericlaim.reuse._hashes import hamming
from vericlaim.reuse._store import INDEX_FORMAT, read_snapshot, write_snapshot
from vericlaim.reuse.fingerprint import FINGERPRINT_VERSION, VIEWS, Fingerprint

__all__ = [
    "INDEX_FORMAT",
    "Backend",
    "ReuseIndex",
    "ReuseMatch",
    "ReuseRecord",
]

Backend = Literal["flat", "multihash"]

_VIEW_NAMES = tuple(v[0] for v in VIEWS)
_MULTIHASH_TABLES, _MULTIHASH_BITS, _MULTIHASH_FLIPS = 4, 16, 2
#: The largest pHash radius the ``multihash`` backend answers exactly (pigeonhole: with 4
#: tables and 2 flips probed per table, any code within 4 * 3 - 1 bits shares one table
#: key up to 2 flips).
MULTIHASH_EXACT_RADIUS = _MULTIHASH_TABLES * (_MULTIHASH_FLIPS + 1) - 1


@dataclass(frozen=True, slots=True)
class ReuseRecord:
    """Who used a photo: opaque identifiers the service passes in (never personal data).

    ``(claim_id, media_id)`` identifies the photo in the index: adding the same pair again
    replaces it. ``buyer_key`` is the buyer's keyed hash, never a raw identity.
    """

    claim_id: str
    media_id: str
    sha256: str = ""
    tenant: str = ""
    platform: str = ""
    buyer_key: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.claim_id, self.media_id


@dataclass(frozen=True, slots=True)
class ReuseMatch:
    """An indexed photo that matches the query, at its closest view pair.

    ``phash_distance``/``dhash_distance`` are the Hamming distances (0-64) of the closest
    view pair (smallest pHash distance, then smallest dHash distance); ``query_view`` is a
    view of the query photo (of its mirror image when ``mirrored``), ``indexed_view`` one
    of the indexed photo; ``views_matched`` counts the view pairs within the radii, and
    ``views_aligned`` the views of the query that match the *same* view of the indexed
    photo (whole with whole, centre with centre, ...), in the better orientation: a
    re-saved, rescaled, filtered or mirrored copy aligns on most views, two different
    photos that share a coarse layout rarely on more than one or two.
    """

    record: ReuseRecord
    phash_distance: int
    dhash_distance: int
    query_view: str
    indexed_view: str
    mirrored: bool
    views_matched: int = 1
    views_aligned: int = 0


class _RWLock:
    """Many readers or one writer; a waiting writer blocks new readers (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextlib.contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


def _new_faiss(backend: Backend) -> faiss.IndexBinary:
    if backend == "flat":
        return faiss.IndexBinaryFlat(64)
    if backend == "multihash":
        index = faiss.IndexBinaryMultiHash(64, _MULTIHASH_TABLES, _MULTIHASH_BITS)
        index.nflip = _MULTIHASH_FLIPS
        return index
    raise ValueError(f"unknown reuse index backend {backend!r} (flat or multihash)")


def _as_bytes(codes: np.ndarray) -> np.ndarray:
    # FAISS binary codes are bytes; the big-endian view keeps bit 63 in byte 0 so that a
    # multihash table key is a run of the hash's own bits.
    return np.ascontiguousarray(codes.astype(">u8")).view(np.uint8).reshape(-1, 8)


class _Column:
    """A growable 1-D array (amortized appends)."""

    def __init__(self, dtype: type | np.dtype, data: np.ndarray | None = None) -> None:
        self._data = np.zeros(1024, dtype) if data is None else np.array(data, dtype)
        self.size = 0 if data is None else len(data)

    def extend(self, values: np.ndarray) -> None:
        need = self.size + len(values)
        if need > len(self._data):
            grown = np.zeros(max(need, 2 * len(self._data)), self._data.dtype)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : need] = values
        self.size = need

    @property
    def values(self) -> np.ndarray:
        return self._data[: self.size]


class ReuseIndex:
    """Fingerprints of earlier claim photos, searchable by pHash/dHash Hamming distance.

    Parameters
    ----------
    backend : {"flat", "multihash"}
        ``flat`` (default): exact Hamming scan, about 20 ms per query view at 10M entries,
        instant to build and load. ``multihash``: multi-index hashing, exact for radii up
        to :data:`MULTIHASH_EXACT_RADIUS`; slower than ``flat`` on real photo hashes at 1M
        entries (they crowd a few table keys), larger and slower to build: an option to
        measure on other data, not a default (``docs/benchmarks.md``).

    Examples
    --------
    >>> from vericlaim.reuse import detect_reuse, fingerprint
    >>> index = ReuseIndex()
    >>> index.add(ReuseRecord("claim-1", "photo-1", sha256="ab12..."), fingerprint(pixels))
    8
    >>> detect_reuse(fingerprint(pixels[:, ::-1]), index, claim_id="claim-2").reused
    True
    """

    def __init__(self, *, backend: Backend = "flat") -> None:
        self.backend: Backend = backend
        self._lock = _RWLock()
        self._reset()

    def _reset(self) -> None:
        self._faiss = _new_faiss(self.backend)
        self._phash = _Column(np.uint64)
        self._dhash = _Column(np.uint64)
        self._owner = _Column(np.int32)  # entry -> record slot
        self._view = _Column(np.int8)  # entry -> index in VIEWS
        self._records: list[ReuseRecord | None] = []
        self._slot_of: dict[tuple[str, str], int] = {}
        self._by_sha: dict[str, set[int]] = {}
        self._dead = 0  # entries of removed records still in the FAISS index

    # --- size ------------------------------------------------------------------------------

    def __len__(self) -> int:
        """The number of photos indexed."""
        return len(self._slot_of)

    @property
    def entries(self) -> int:
        """The number of live fingerprint entries (views) indexed."""
        return self._phash.size - self._dead

    def __contains__(self, key: object) -> bool:
        return key in self._slot_of

    def records(self) -> list[ReuseRecord]:
        with self._lock.read():
            return [r for r in self._records if r is not None]

    # --- writing ---------------------------------------------------------------------------

    def add(self, record: ReuseRecord, fp: Fingerprint) -> int:
        """Index one photo (replacing an earlier one with the same claim and media ids).

        Returns the number of entries added: 0 for a fingerprint that is not applicable,
        whose record is still kept for exact (sha256) look-ups.
        """
        return self.add_many([(record, fp)])

    def add_many(self, rows: Iterable[tuple[ReuseRecord, Fingerprint]]) -> int:
        """Index many photos in one write (much faster than one :meth:`add` each)."""
        added = 0
        with self._lock.write():
            records: list[ReuseRecord] = []
            phash: list[np.ndarray] = []
            dhash: list[np.ndarray] = []
            usable: list[np.ndarray] = []
            for record, fp in rows:
                if fp.applicable and fp.version != FINGERPRINT_VERSION:
                    raise ReuseIndexError(
                        f"fingerprint version {fp.version} is not {FINGERPRINT_VERSION}"
                    )
                if fp.applicable and fp.views != _VIEW_NAMES:
                    raise ReuseIndexError(f"fingerprint views {fp.views} are not {_VIEW_NAMES}")
                records.append(record)
                if fp.applicable:
                    phash.append(fp.phash[0])
                    dhash.append(fp.dhash[0])
                    usable.append(fp.usable[0])
                else:
                    phash.append(np.zeros(len(_VIEW_NAMES), np.uint64))
                    dhash.append(np.zeros(len(_VIEW_NAMES), np.uint64))
                    usable.append(np.zeros(len(_VIEW_NAMES), bool))
                if len(records) >= 65536:
                    added += self._append(records, np.array(phash), np.array(dhash), usable)
                    records, phash, dhash, usable = [], [], [], []
            if records:
                added += self._append(records, np.array(phash), np.array(dhash), usable)
            self._maybe_compact()
        return added

    def add_codes(
        self,
        records: Sequence[ReuseRecord],
        phash: np.ndarray,
        dhash: np.ndarray,
        usable: np.ndarray | None = None,
    ) -> int:
        """Index many photos from raw codes: ``(n, len(VIEWS))`` ``uint64`` arrays of the
        photo's own (not mirrored) views, as stored by the service."""
        phash = np.asarray(phash, np.uint64).reshape(len(records), len(_VIEW_NAMES))
        dhash = np.asarray(dhash, np.uint64).reshape(len(records), len(_VIEW_NAMES))
        ok = (
            np.ones(phash.shape, bool)
            if usable is None
            else np.asarray(usable, bool).reshape(phash.shape)
        )
        with self._lock.write():
            added = self._append(list(records), phash, dhash, list(ok))
            self._maybe_compact()
        return added

    def _append(
        self,
        records: list[ReuseRecord],
        phash: np.ndarray,
        dhash: np.ndarray,
        usable: Sequence[np.ndarray],
    ) -> int:
        for record in records:
            self._drop(record.key)
        first = len(self._records)
        slots = np.arange(first, first + len(records), dtype=np.int32)
        for slot, record in zip(slots.tolist(), records, strict=True):
            self._records.append(record)
            self._slot_of[record.key] = slot
            if record.sha256:
                self._by_sha.setdefault(record.sha256, set()).add(slot)
        mask = np.asarray(usable, bool).reshape(phash.shape)
        rows, cols = np.nonzero(mask)
        if not len(rows):
            return 0
        codes = phash[rows, cols]
        self._phash.extend(codes)
        self._dhash.extend(dhash[rows, cols])
        self._owner.extend(slots[rows])
        self._view.extend(cols.astype(np.int8))
        self._faiss.add(_as_bytes(codes))
        return len(rows)

    def remove(self, claim_id: str, media_id: str | None = None) -> int:
        """Remove one photo, or every photo of a claim when ``media_id`` is None.

        Returns the number of photos removed.
        """
        with self._lock.write():
            if media_id is not None:
                keys = [(claim_id, media_id)]
            else:
                keys = [k for k in self._slot_of if k[0] == claim_id]
            removed = sum(self._drop(k) for k in keys)
            self._maybe_compact()
        return removed

    def _drop(self, key: tuple[str, str]) -> bool:
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return False
        record = self._records[slot]
        self._records[slot] = None
        if record is not None and record.sha256:
            same = self._by_sha.get(record.sha256)
            if same is not None:
                same.discard(slot)
                if not same:
                    del self._by_sha[record.sha256]
        self._dead += int(np.count_nonzero(self._owner.values == slot))
        return True

    def _maybe_compact(self) -> None:
        if self._dead and self._dead * 4 > self._phash.size:
            self._compact()

    def _compact(self) -> None:
        """Rebuild the FAISS index and the entry columns without removed entries."""
        owner = self._owner.values
        live_slots = np.array([r is not None for r in self._records] or [False], dtype=bool)
        keep = live_slots[owner] if len(owner) else np.zeros(0, bool)
        records = [r for r in self._records if r is not None]
        renumber = np.cumsum(live_slots) - 1
        phash, dhash = self._phash.values[keep], self._dhash.values[keep]
        view, new_owner = self._view.values[keep], renumber[owner[keep]].astype(np.int32)
        self._install(records, phash, dhash, new_owner, view)

    def _install(
        self,
        records: list[ReuseRecord],
        phash: np.ndarray,
        dhash: np.ndarray,
        owner: np.ndarray,
        view: np.ndarray,
    ) -> None:
        self._reset()
        self._records = list(records)
        self._slot_of = {r.key: i for i, r in enumerate(records)}
        for i, r in enumerate(records):
            if r.sha256:
                self._by_sha.setdefault(r.sha256, set()).add(i)
        self._phash = _Column(np.uint64, phash)
        self._dhash = _Column(np.uint64, dhash)
        self._owner = _Column(np.int32, owner)
        self._view = _Column(np.int8, view)
        for start in range(0, len(phash), 1 << 20):
            self._faiss.add(_as_bytes(phash[start : start + (1 << 20)]))

    @classmethod
    def rebuild(
        cls, rows: Iterable[tuple[ReuseRecord, Fingerprint]], *, backend: Backend = "flat"
    ) -> ReuseIndex:
        """A new index from ``(record, fingerprint)`` rows (the service's database)."""
        index = cls(backend=backend)
        index.add_many(rows)
        return index

    # --- searching -------------------------------------------------------------------------

    def by_sha256(self, sha256: str) -> list[ReuseRecord]:
        """Photos with exactly these bytes (also those that could not be fingerprinted)."""
        with self._lock.read():
            slots = sorted(self._by_sha.get(sha256, ()))
            return [r for s in slots if (r := self._records[s]) is not None]

    def search(
        self,
        fp: Fingerprint,
        *,
        phash_radius: int,
        dhash_radius: int = 64,
        mirrored: bool = True,
        limit: int | None = None,
    ) -> list[ReuseMatch]:
        """Every indexed photo with a view pair within both radii, closest first.

        A view pair of the query (each usable view of the photo and, when ``mirrored``, of
        its mirror image) and an indexed entry matches when its pHash distance is at most
        ``phash_radius`` and its dHash distance at most ``dhash_radius``. One
        :class:`ReuseMatch` per indexed photo, at its closest view pair.
        """
        if not 0 <= phash_radius <= 64:
            raise ValueError("phash_radius must be within 0..64")
        queries = self._queries(fp, mirrored)
        if not queries:
            return []
        codes = np.array([q[1] for q in queries], np.uint64)
        with self._lock.read():
            lims, _, ids = self._faiss.range_search(_as_bytes(codes), phash_radius + 1)
            return self._collect(queries, lims, ids, dhash_radius, limit)

    def nearest(self, fp: Fingerprint, k: int = 10, *, mirrored: bool = True) -> list[ReuseMatch]:
        """The ``k`` indexed photos closest to the query (smallest pHash distance of any
        view pair, then smallest dHash distance), whatever the distance."""
        queries = self._queries(fp, mirrored)
        if not queries or k <= 0:
            return []
        codes = np.array([q[1] for q in queries], np.uint64)
        with self._lock.read():
            # A photo has up to len(VIEWS) entries, and removed entries may come first.
            depth = min(self._phash.size, k * len(_VIEW_NAMES) + min(self._dead, 4096))
            if depth == 0:
                return []
            _, ids = self._faiss.search(_as_bytes(codes), depth)
            lims = np.arange(0, ids.size + 1, depth)
            return self._collect(queries, lims, ids.reshape(-1), 64, k)

    def _queries(self, fp: Fingerprint, mirrored: bool) -> list[tuple[int, int, int, bool]]:
        """(view index, pHash, dHash, mirrored) of each usable query view."""
        if not fp.applicable:
            return []
        return [
            (i, int(fp.phash[row, i]), int(fp.dhash[row, i]), bool(row))
            for row in ((0, 1) if mirrored else (0,))
            for i in range(len(fp.views))
            if fp.usable[row, i]
        ]

    def _collect(
        self,
        queries: list[tuple[int, int, int, bool]],
        lims: np.ndarray,
        ids: np.ndarray,
        dhash_radius: int,
        limit: int | None,
    ) -> list[ReuseMatch]:
        if not len(ids):
            return []
        ids = np.asarray(ids, np.int64)
        qnum = np.repeat(
            np.arange(len(queries)), np.diff(np.asarray(lims, np.int64)).astype(np.int64)
        )
        valid = ids >= 0
        ids, qnum = ids[valid], qnum[valid]
        qp = np.array([q[1] for q in queries], np.uint64)[qnum]
        qd = np.array([q[2] for q in queries], np.uint64)[qnum]
        owner = self._owner.values[ids]
        dp = hamming(self._phash.values[ids], qp)
        dd = hamming(self._dhash.values[ids], qd)
        live = np.array([self._records[s] is not None for s in owner.tolist()], bool)
        keep = live & (dd <= dhash_radius)
        if not keep.any():
            return []
        ids, qnum, owner, dp, dd = ids[keep], qnum[keep], owner[keep], dp[keep], dd[keep]
        qview = np.array([q[0] for q in queries], np.int64)[qnum]
        qmirror = np.array([q[3] for q in queries], np.int64)[qnum]
        same = qview == self._view.values[ids]
        # Distinct aligned views per (photo, orientation), then the better orientation.
        pairs = np.unique(np.stack([owner[same], qmirror[same], qview[same]], axis=1), axis=0)
        aligned: dict[int, int] = {}
        if len(pairs):
            keys, counts_ = np.unique(pairs[:, :2], axis=0, return_counts=True)
            for (slot_, _), n in zip(keys.tolist(), counts_.tolist(), strict=True):
                aligned[slot_] = max(aligned.get(slot_, 0), n)
        order = np.lexsort((dd, dp, owner))
        best: dict[int, ReuseMatch] = {}
        counts: dict[int, int] = {}
        for j in order.tolist():
            slot = int(owner[j])
            counts[slot] = counts.get(slot, 0) + 1
            if slot in best:
                continue
            view, _, _, mirrored = queries[int(qnum[j])]
            record = self._records[slot]
            assert record is not None
            best[slot] = ReuseMatch(
                record=record,
                phash_distance=int(dp[j]),
                dhash_distance=int(dd[j]),
                query_view=_VIEW_NAMES[view],
                indexed_view=_VIEW_NAMES[int(self._view.values[ids[j]])],
                mirrored=mirrored,
            )
        matches = [
            replace(m, views_matched=counts[s], views_aligned=aligned.get(s, 0))
            for s, m in best.items()
        ]
        matches.sort(key=lambda m: (m.phash_distance, m.dhash_distance, m.record.key))
        return matches if limit is None else matches[:limit]

    # --- persistence -----------------------------------------------------------------------

    def save(self, directory: str | Path) -> Path:
        """Write the index to ``directory`` atomically; returns the snapshot written.

        The snapshot is written whole, flushed, and only then made current with one
        rename: a crash at any point leaves the previous snapshot in force (see
        :mod:`vericlaim.reuse._store`). Searches go on while it is written.
        """
        with self._lock.read():
            owner = self._owner.values
            live_slots = np.array([r is not None for r in self._records] or [False], bool)
            keep = live_slots[owner] if len(owner) else np.zeros(0, bool)
            renumber = np.cumsum(live_slots) - 1
            records = [astuple(r) for r in self._records if r is not None]
            columns = {
                "phash": self._phash.values[keep],
                "dhash": self._dhash.values[keep],
                "owner": renumber[owner[keep]],
                "view": self._view.values[keep],
            }
        manifest = {
            "fingerprint": FINGERPRINT_VERSION,
            "views": list(_VIEW_NAMES),
            "backend": self.backend,
        }
        return write_snapshot(Path(directory), manifest=manifest, records=records, columns=columns)

    @classmethod
    def load(cls, directory: str | Path, *, backend: Backend | None = None) -> ReuseIndex:
        """Read an index written by :meth:`save`.

        Raises
        ------
        ReuseIndexError
            Nothing saved there, or the snapshot is truncated, corrupt (a checksum does not
            match) or of another format or fingerprint version (then rebuild it).
        """
        snap = read_snapshot(Path(directory))
        manifest = snap.manifest
        if manifest.get("fingerprint") != FINGERPRINT_VERSION or manifest.get("views") != list(
            _VIEW_NAMES
        ):
            raise ReuseIndexError(
                f"{directory}: fingerprints of version {manifest.get('fingerprint')}, this "
                f"build makes {FINGERPRINT_VERSION}: rebuild the index"
            )
        view = snap.columns["view"].astype(np.int8)
        if len(view) and (view.min() < 0 or view.max() >= len(_VIEW_NAMES)):
            raise ReuseIndexError(f"{directory}: entries name views that do not exist")
        if any(len(r) != len(ReuseRecord.__slots__) for r in snap.records):
            raise ReuseIndexError(f"{directory}: records of another shape")
        index = cls(backend=backend or manifest.get("backend", "flat"))
        with index._lock.write():
            index._install(
                [ReuseRecord(*r) for r in snap.records],
                snap.columns["phash"].astype(np.uint64),
                snap.columns["dhash"].astype(np.uint64),
                snap.columns["owner"].astype(np.int32),
                view,
            )
        return index
