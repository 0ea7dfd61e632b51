"""The reuse index: add, search, remove, save, load, rebuild, sharding, concurrency."""

from __future__ import annotations

import hashlib
import itertools
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import textured_image
from vericlaim.errors import ReuseIndexError, VericlaimError
from vericlaim.reuse import (
    VIEWS,
    Fingerprint,
    ReuseIndex,
    ReuseRecord,
    ShardedReuseIndex,
    detect_reuse,
    fingerprint,
)
from vericlaim.reuse.shards import shard_of


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [textured_image(240, 180, seed=100 + s) for s in range(8)]


@pytest.fixture(scope="module")
def fps(photos: list[np.ndarray]) -> list[Fingerprint]:
    return [fingerprint(p) for p in photos]


def _sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def _record(i: int, claim: str | None = None) -> ReuseRecord:
    return ReuseRecord(
        claim or f"claim-{i}", f"media-{i}", sha256=_sha(i), tenant="shop-a", buyer_key="b"
    )


@pytest.fixture(params=["flat", "multihash"])
def index(request: pytest.FixtureRequest, fps: list[Fingerprint]) -> ReuseIndex:
    idx = ReuseIndex(backend=request.param)
    idx.add_many((_record(i), fp) for i, fp in enumerate(fps))
    return idx


def test_add_and_search(index: ReuseIndex, fps: list[Fingerprint]) -> None:
    assert len(index) == len(fps)
    assert index.entries == sum(int(f.usable[0].sum()) for f in fps)
    found = index.search(fps[3], phash_radius=10, dhash_radius=12)
    assert [m.record.claim_id for m in found] == ["claim-3"]
    best = found[0]
    assert (best.phash_distance, best.dhash_distance, best.mirrored) == (0, 0, False)
    assert best.views_matched >= len(VIEWS)  # deduplicated: one match per photo


def test_nearest_returns_k_photos(index: ReuseIndex, fps: list[Fingerprint]) -> None:
    near = index.nearest(fps[2], k=3)
    assert len({m.record.key for m in near}) == len(near)
    assert near[0].record.claim_id == "claim-2" and near[0].phash_distance == 0
    assert all(a.phash_distance <= b.phash_distance for a, b in itertools.pairwise(near))


def test_mirror_is_found_through_the_query_mirror(index: ReuseIndex, photos) -> None:
    found = index.search(fingerprint(photos[5][:, ::-1]), phash_radius=10, dhash_radius=12)
    assert found and found[0].record.claim_id == "claim-5" and found[0].mirrored
    assert not index.search(
        fingerprint(photos[5][:, ::-1]), phash_radius=10, dhash_radius=12, mirrored=False
    )


def test_remove_and_replace(index: ReuseIndex, fps: list[Fingerprint]) -> None:
    assert index.remove("claim-3") == 1
    assert index.search(fps[3], phash_radius=10) == []
    assert index.by_sha256(_sha(3)) == []
    assert index.remove("claim-3") == 0
    assert index.remove("claim-4", "media-4") == 1
    # Re-adding the same (claim, media) replaces it.
    index.add(_record(1), fps[6])
    assert len(index) == len(fps) - 2
    hits = {m.record.claim_id for m in index.search(fps[6], phash_radius=0)}
    assert hits == {"claim-1", "claim-6"}
    assert index.search(fps[1], phash_radius=0) == []


def test_removal_compacts(fps: list[Fingerprint]) -> None:
    index = ReuseIndex()
    index.add_many((_record(i), fp) for i, fp in enumerate(fps))
    for i in range(6):
        index.remove(f"claim-{i}")
    assert len(index) == 2
    assert index.entries == sum(int(f.usable[0].sum()) for f in fps[6:])
    assert index._faiss.ntotal == index.entries  # compacted
    assert index.search(fps[7], phash_radius=0)[0].record.claim_id == "claim-7"


def test_save_load_round_trip(index: ReuseIndex, fps: list[Fingerprint], tmp_path: Path) -> None:
    index.remove("claim-0")
    index.save(tmp_path / "idx")
    index.save(tmp_path / "idx")  # a second save replaces the first
    assert len(list((tmp_path / "idx").glob("snapshot-*"))) == 1
    loaded = ReuseIndex.load(tmp_path / "idx")
    assert loaded.backend == index.backend
    assert sorted(loaded.records(), key=str) == sorted(index.records(), key=str)
    for fp in fps:
        a = index.search(fp, phash_radius=12)
        b = loaded.search(fp, phash_radius=12)
        assert a == b


def test_rebuild_equals_incremental(index: ReuseIndex, fps: list[Fingerprint]) -> None:
    rebuilt = ReuseIndex.rebuild(((_record(i), fp) for i, fp in enumerate(fps)))
    for fp in fps:
        assert rebuilt.search(fp, phash_radius=12) == index.search(fp, phash_radius=12)


def test_add_codes_matches_add(fps: list[Fingerprint]) -> None:
    a, b = ReuseIndex(), ReuseIndex()
    a.add_many((_record(i), fp) for i, fp in enumerate(fps))
    b.add_codes(
        [_record(i) for i in range(len(fps))],
        np.stack([f.phash[0] for f in fps]),
        np.stack([f.dhash[0] for f in fps]),
        np.stack([f.usable[0] for f in fps]),
    )
    assert a.search(fps[0], phash_radius=10) == b.search(fps[0], phash_radius=10)


@pytest.mark.parametrize("damage", ["truncate", "flip", "manifest", "current", "missing"])
def test_corrupt_index_gives_a_typed_error(index: ReuseIndex, tmp_path: Path, damage: str) -> None:
    snap = index.save(tmp_path / "idx")
    if damage == "truncate":
        data = (snap / "phash.bin").read_bytes()
        (snap / "phash.bin").write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        data = bytearray((snap / "records.jsonl").read_bytes())
        data[5] ^= 0x01
        (snap / "records.jsonl").write_bytes(bytes(data))
    elif damage == "manifest":
        (snap / "manifest.json").write_text("{not json", "utf-8")
    elif damage == "current":
        (tmp_path / "idx" / "CURRENT").write_text("snapshot-gone", "ascii")
    else:
        (snap / "owner.bin").unlink()
    with pytest.raises(ReuseIndexError) as info:
        ReuseIndex.load(tmp_path / "idx")
    assert isinstance(info.value, VericlaimError)


def test_load_of_nothing_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(ReuseIndexError):
        ReuseIndex.load(tmp_path / "none")


def test_other_fingerprint_version_is_refused(fps: list[Fingerprint]) -> None:
    fp = fps[0]
    odd = Fingerprint("reuse-fp/0", fp.views, fp.phash, fp.dhash, fp.usable)
    with pytest.raises(ReuseIndexError):
        ReuseIndex().add(_record(0), odd)


def test_sharded_index_behaves_like_one(fps: list[Fingerprint], tmp_path: Path) -> None:
    rows = [(_record(i), fp) for i, fp in enumerate(fps)]
    single = ReuseIndex.rebuild(rows)
    sharded = ShardedReuseIndex.rebuild(rows, shards=3)
    assert len(sharded) == len(single) and sharded.entries == single.entries
    assert sum(len(p) > 0 for p in sharded.parts) >= 2
    for fp in fps:
        assert sharded.search(fp, phash_radius=12) == single.search(fp, phash_radius=12)
    assert sharded.remove("claim-2") == 1
    sharded.save(tmp_path / "sh")
    loaded = ShardedReuseIndex.load(tmp_path / "sh")
    assert len(loaded) == len(fps) - 1
    assert [m.record.claim_id for m in loaded.search(fps[4], phash_radius=10)] == ["claim-4"]
    assert 0 <= shard_of(ReuseRecord("c", "m"), 3) < 3


def test_many_readers_one_writer(fps: list[Fingerprint]) -> None:
    index = ReuseIndex()
    index.add(_record(0), fps[0])
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                found = index.search(fps[0], phash_radius=10)
                assert found and found[0].record.claim_id == "claim-0"
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for round_ in range(30):
        i = 1 + round_ % (len(fps) - 1)
        index.add(_record(i, claim=f"w{round_}"), fps[i])
        if round_ % 3 == 0:
            index.remove(f"w{round_}")
    stop.set()
    for t in readers:
        t.join()
    assert not errors
    assert len(index) == 1 + 30 - 10


def test_detect_reuse_decision(index: ReuseIndex, fps: list[Fingerprint], photos) -> None:
    decision = detect_reuse(fingerprint(photos[1][:, ::-1]), index, claim_id="new")
    assert decision.reused and decision.status == "ok"
    assert decision.claims == ("claim-1",)
    own = detect_reuse(fps[1], index, claim_id="claim-1")
    assert not own.reused
    flat = fingerprint(np.zeros((40, 40, 3), np.uint8))
    exact = detect_reuse(flat, index, sha256=_sha(2), claim_id="new")
    assert exact.status == "not_applicable" and exact.reused
    assert exact.matches[0].query_view == "bytes"
    fresh = detect_reuse(fingerprint(textured_image(240, 180, seed=999)), index)
    assert not fresh.reused and fresh.matches == ()
