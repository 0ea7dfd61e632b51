"""The reuse index on disk: checksummed snapshots, switched in with one atomic rename.

A folder holds ``CURRENT`` (the name of the snapshot in force) and that snapshot's
sub-folder: ``manifest.json`` (format, fingerprint version, views, counts and the sha256
of every other file), the entry columns as raw little-endian arrays (``phash.bin``,
``dhash.bin``, ``owner.bin``, ``view.bin``) and ``records.jsonl`` (one JSON array per
photo). A snapshot is written whole into a hidden folder, flushed, renamed into place, and
only then named in ``CURRENT`` (written beside it and renamed over it), so a crash at any
point leaves the previous snapshot in force. Reading checks every checksum and count.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vericlaim.errors import ReuseIndexError

__all__ = ["INDEX_FORMAT", "Snapshot", "read_snapshot", "write_snapshot"]

INDEX_FORMAT = "vericlaim.reuse-index/1"
_COLUMNS = {"phash": "<u8", "dhash": "<u8", "owner": "<i4", "view": "i1"}


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a snapshot holds: its manifest, the records (as lists of strings), the columns."""

    manifest: dict[str, Any]
    records: list[list[str]]
    columns: dict[str, np.ndarray]


def write_snapshot(
    root: Path,
    *,
    manifest: dict[str, Any],
    records: Sequence[Sequence[str]],
    columns: dict[str, np.ndarray],
) -> Path:
    """Write a snapshot into ``root`` and make it current; returns its folder."""
    root.mkdir(parents=True, exist_ok=True)
    name = f"snapshot-{uuid.uuid4().hex[:12]}"
    tmp = root / f".{name}.tmp"
    tmp.mkdir()
    try:
        files: dict[str, str] = {}
        for key, dtype in _COLUMNS.items():
            data = np.ascontiguousarray(columns[key].astype(dtype)).tobytes()
            files[f"{key}.bin"] = _write(tmp / f"{key}.bin", data)
        lines = "".join(json.dumps(list(r), ensure_ascii=False) + "\n" for r in records)
        files["records.jsonl"] = _write(tmp / "records.jsonl", lines.encode("utf-8"))
        full = {
            "format": INDEX_FORMAT,
            **manifest,
            "records": len(records),
            "entries": len(columns["phash"]),
            "files": files,
        }
        _write(tmp / "manifest.json", json.dumps(full, indent=1).encode("utf-8"))
        _fsync_dir(tmp)
        os.rename(tmp, root / name)
        _write(root / "CURRENT.tmp", name.encode("ascii"))
        os.replace(root / "CURRENT.tmp", root / "CURRENT")
        _fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in root.glob("snapshot-*"):
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    return root / name


def read_snapshot(root: Path) -> Snapshot:
    """Read and verify the current snapshot of ``root``.

    Raises
    ------
    ReuseIndexError
        Nothing there, a file missing, truncated or altered (checksum), counts that
        disagree, or another format.
    """
    try:
        name = (root / "CURRENT").read_text("ascii").strip()
        snap = root / name
        manifest = json.loads((snap / "manifest.json").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReuseIndexError(f"{root}: no readable reuse index ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != INDEX_FORMAT:
        raise ReuseIndexError(f"{snap}: not a {INDEX_FORMAT} snapshot")
    try:
        blobs: dict[str, bytes] = {}
        for fname, digest in dict(manifest["files"]).items():
            data = (snap / fname).read_bytes()
            if hashlib.sha256(data).hexdigest() != digest:
                raise ReuseIndexError(f"{snap / fname}: checksum mismatch (corrupt or truncated)")
            blobs[fname] = data
        columns = {
            key: np.frombuffer(blobs[f"{key}.bin"], dtype).copy() for key, dtype in _COLUMNS.items()
        }
        records = [json.loads(line) for line in blobs["records.jsonl"].decode().splitlines()]
        if any(not isinstance(r, list) or not all(isinstance(v, str) for v in r) for r in records):
            raise ReuseIndexError(f"{snap}: malformed records")
        n = int(manifest["entries"])
        if any(len(col) != n for col in columns.values()):
            raise ReuseIndexError(f"{snap}: entry columns disagree with the manifest")
        if len(records) != int(manifest["records"]):
            raise ReuseIndexError(f"{snap}: record count disagrees with the manifest")
        owner = columns["owner"]
        if n and (owner.min() < 0 or owner.max() >= len(records)):
            raise ReuseIndexError(f"{snap}: entries point outside the records")
    except ReuseIndexError:
        raise
    except (OSError, KeyError, TypeError, ValueError) as exc:
        raise ReuseIndexError(f"{snap}: unreadable reuse index ({exc})") from exc
    return Snapshot(manifest=manifest, records=records, columns=columns)


def _write(path: Path, data: bytes) -> str:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a folder be opened
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
