"""The content-addressed blob store: evidence bytes under ``blobs/ab/cd/<sha256>``.

A blob is written once, atomically (a temporary file in the same folder, fsync, then a
hard link to its final name, which fails rather than replace an existing blob), and
never rewritten. Every read hashes the bytes again and raises :class:`BlobCorrupt` when
they no longer match the name, so a flipped bit or an edited file never reaches an
analyzer or a dossier.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from pathlib import Path

from vericlaim.errors import BlobCorrupt, BlobNotFound, StorageError

__all__ = ["BlobStore"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Blobs under ``root`` (usually ``<data_dir>/blobs``)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        """Where the blob named ``sha256`` lives (whether or not it exists)."""
        if not _SHA256.fullmatch(sha256):
            raise BlobNotFound(f"{sha256!r} is not a sha256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its sha256; storing the same bytes again is a no-op
        (the existing blob is checked, not replaced)."""
        sha256 = hashlib.sha256(data).hexdigest()
        final = self.path(sha256)
        if final.is_file():
            self.get(sha256)  # an existing blob must still be intact
            return sha256
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=final.parent)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as tmp_file:
                    tmp_file.write(data)
                    tmp_file.flush()
                    os.fsync(tmp_file.fileno())
                os.chmod(tmp, 0o444)
                with contextlib.suppress(FileExistsError):  # a concurrent writer was first
                    os.link(tmp, final)
            finally:
                tmp.unlink(missing_ok=True)
            _fsync_dir(final.parent)
        except OSError as exc:
            raise StorageError(f"blob {sha256}: cannot write ({exc.strerror or exc})") from exc
        self.get(sha256)
        return sha256

    def get(self, sha256: str) -> bytes:
        """The blob's bytes, after checking that they still hash to ``sha256``."""
        path = self.path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(f"blob {sha256}: not in the store") from exc
        except OSError as exc:
            raise StorageError(f"blob {sha256}: cannot read ({exc.strerror or exc})") from exc
        actual = hashlib.sha256(data).hexdigest()
        if actual != sha256:
            raise BlobCorrupt(sha256, actual)
        return data


def _fsync_dir(folder: Path) -> None:
    """Make the new name durable too (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
