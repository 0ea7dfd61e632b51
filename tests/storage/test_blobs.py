from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from vericlaim.errors import BlobCorrupt, BlobNotFound, StorageError
from vericlaim.storage.blobs import BlobStore


def test_put_names_the_blob_by_its_sha256_under_two_levels(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"packing video bytes"
    sha = store.put(data)
    assert sha == hashlib.sha256(data).hexdigest()
    assert store.path(sha) == tmp_path / sha[:2] / sha[2:4] / sha
    assert store.get(sha) == data
    assert not (store.path(sha).stat().st_mode & 0o222), "a blob is written read-only"


def test_a_blob_is_never_rewritten(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sha = store.put(b"listing photo")
    before = store.path(sha).stat()
    assert store.put(b"listing photo") == sha
    after = store.path(sha).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_every_read_rehashes_and_refuses_changed_bytes(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sha = store.put(b"claim photo")
    path = store.path(sha)
    path.chmod(0o644)
    path.write_bytes(b"claim photo, edited afterwards")
    with pytest.raises(BlobCorrupt) as info:
        store.get(sha)
    assert info.value.sha256 == sha and info.value.actual != sha
    with pytest.raises(BlobCorrupt):  # storing the true bytes again does not paper over it
        store.put(b"claim photo")


def test_missing_blob_and_a_name_that_is_not_a_sha256(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.get("a" * 64)
    with pytest.raises(BlobNotFound):
        store.path("../../etc/passwd")


def test_a_failed_write_leaves_neither_the_blob_nor_a_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)

    def crash(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "link", crash)
    with pytest.raises(StorageError, match="cannot write"):
        store.put(b"half a video")
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files == []


def test_temporary_files_live_beside_the_blob_so_the_final_link_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = BlobStore(tmp_path)
    seen: list[tuple[Path, Path]] = []
    real_link = os.link

    def spy(src: str | Path, dst: str | Path) -> None:
        seen.append((Path(src), Path(dst)))
        real_link(src, dst)

    monkeypatch.setattr(os, "link", spy)
    sha = store.put(b"photo")
    ((src, dst),) = seen
    assert dst == store.path(sha) and src.parent == dst.parent and src.name.startswith(".tmp-")
    assert not src.exists()
