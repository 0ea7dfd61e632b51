"""Several reuse indexes behind one interface, for when one index outgrows one machine.

Photos are assigned to shards by a prefix of a hash: the first hex digits of the photo's
sha256 (of its claim and media ids when the service has no sha256), modulo the number of
shards. All of a photo's entries live in one shard, so removing a claim and deduplicating
matches stay local; the load spreads evenly whatever the photos look like.

Why not shard by a prefix of the *perceptual* hash: a re-saved copy may differ from the
original in any bit, the prefix included, so a radius search would still have to visit
every shard whose prefix is within the radius, which for the radii used here is all of
them, and the shards would be as uneven as the photos (flat product shots crowd a few
prefixes). Hamming search has no prefix to prune on; sharding buys memory and parallel
scans, not less work per query.

How to scale out: give each shard its own process or machine (each one a
:class:`~vericlaim.reuse.index.ReuseIndex` saved to and loaded from its own folder, see
:meth:`ShardedReuseIndex.save`), send every query to all shards in parallel and merge the
answers with :func:`merge_matches`; send each write to the shard :func:`shard_of` names.
The service rebuilds each shard from the rows of its database whose sha256 falls in it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from vericlaim.errors import ReuseIndexError
from vericlaim.reuse.fingerprint import Fingerprint
from vericlaim.reuse.index import Backend, ReuseIndex, ReuseMatch, ReuseRecord

__all__ = ["ShardedReuseIndex", "merge_matches", "shard_of"]

_MANIFEST = "shards.json"


def shard_of(record: ReuseRecord, shards: int) -> int:
    """The shard a photo belongs to: its sha256's first 8 hex digits modulo ``shards``."""
    digest = record.sha256.lower()
    if len(digest) < 8 or any(c not in "0123456789abcdef" for c in digest[:8]):
        key = f"{record.claim_id}\x00{record.media_id}".encode()
        digest = hashlib.sha256(key).hexdigest()
    return int(digest[:8], 16) % shards


def merge_matches(
    parts: Iterable[Sequence[ReuseMatch]], limit: int | None = None
) -> list[ReuseMatch]:
    """Merge the closest-first answers of several shards into one closest-first list."""
    merged = [m for part in parts for m in part]
    merged.sort(key=lambda m: (m.phash_distance, m.dhash_distance, m.record.key))
    return merged if limit is None else merged[:limit]


class ShardedReuseIndex:
    """``shards`` reuse indexes in one process, with the interface of one.

    Parameters
    ----------
    shards : int
        The number of sub-indexes (fixed for the life of a saved index).
    backend : {"flat", "multihash"}
        The backend of every shard.
    """

    def __init__(self, shards: int = 4, *, backend: Backend = "flat") -> None:
        if shards < 1:
            raise ValueError("a sharded index needs at least one shard")
        self.backend: Backend = backend
        self.parts = [ReuseIndex(backend=backend) for _ in range(shards)]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @property
    def entries(self) -> int:
        return sum(p.entries for p in self.parts)

    def add(self, record: ReuseRecord, fp: Fingerprint) -> int:
        # The photo may have been indexed under another sha256 before (a corrected row).
        for i, part in enumerate(self.parts):
            if i != shard_of(record, len(self.parts)) and record.key in part:
                part.remove(*record.key)
        return self.parts[shard_of(record, len(self.parts))].add(record, fp)

    def add_many(self, rows: Iterable[tuple[ReuseRecord, Fingerprint]]) -> int:
        groups: list[list[tuple[ReuseRecord, Fingerprint]]] = [[] for _ in self.parts]
        for record, fp in rows:
            groups[shard_of(record, len(self.parts))].append((record, fp))
        return sum(part.add_many(g) for part, g in zip(self.parts, groups, strict=True) if g)

    def remove(self, claim_id: str, media_id: str | None = None) -> int:
        return sum(part.remove(claim_id, media_id) for part in self.parts)

    def by_sha256(self, sha256: str) -> list[ReuseRecord]:
        return [r for part in self.parts for r in part.by_sha256(sha256)]

    def search(
        self,
        fp: Fingerprint,
        *,
        phash_radius: int,
        dhash_radius: int = 64,
        mirrored: bool = True,
        limit: int | None = None,
    ) -> list[ReuseMatch]:
        return merge_matches(
            (
                p.search(
                    fp,
                    phash_radius=phash_radius,
                    dhash_radius=dhash_radius,
                    mirrored=mirrored,
                    limit=limit,
                )
                for p in self.parts
            ),
            limit,
        )

    def nearest(self, fp: Fingerprint, k: int = 10, *, mirrored: bool = True) -> list[ReuseMatch]:
        return merge_matches((p.nearest(fp, k, mirrored=mirrored) for p in self.parts), k)

    @classmethod
    def rebuild(
        cls,
        rows: Iterable[tuple[ReuseRecord, Fingerprint]],
        *,
        shards: int = 4,
        backend: Backend = "flat",
    ) -> ShardedReuseIndex:
        index = cls(shards, backend=backend)
        index.add_many(rows)
        return index

    def save(self, directory: str | Path) -> Path:
        """Save every shard to ``directory/shard-NNN`` (each atomically), then the list."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        for i, part in enumerate(self.parts):
            part.save(root / f"shard-{i:03d}")
        tmp = root / f"{_MANIFEST}.tmp"
        tmp.write_text(json.dumps({"shards": len(self.parts), "backend": self.backend}), "utf-8")
        os.replace(tmp, root / _MANIFEST)
        return root

    @classmethod
    def load(cls, directory: str | Path) -> ShardedReuseIndex:
        root = Path(directory)
        try:
            manifest = json.loads((root / _MANIFEST).read_text("utf-8"))
            shards = int(manifest["shards"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ReuseIndexError(f"{root}: no readable sharded reuse index ({exc})") from exc
        index = cls(shards, backend=manifest.get("backend", "flat"))
        index.parts = [ReuseIndex.load(root / f"shard-{i:03d}") for i in range(shards)]
        return index
