"""Vericlaim's exception tree.

Every error that reaches a user is one of these, translated at the boundary where
a foreign library failed (``raise EvidenceError(...) from exc``)::

    VericlaimError
     ├── EvidenceError            a media file cannot be used as evidence
     │    ├── EvidenceNotFound       the path does not exist or is not a file
     │    ├── UnsupportedFormat      the content is not a supported image or video
     │    ├── CorruptMedia           truncated or undecodable content
     │    └── LimitExceeded          too many bytes, pixels, frames or seconds
     ├── AnalyzerError            an analyzer could not finish (the runner turns it
     │                            into a ``failed`` finding; it never escapes a check)
     ├── PolicyError              the scoring policy file is invalid
     ├── ReuseIndexError          a saved reuse index is missing, corrupt or of another
     │                            version (rebuild it from the database)
     ├── ConfigurationError       settings are invalid
     ├── StorageError             the database or the blob store failed its contract
     │    ├── NotFound               no record with that id (or not visible to the actor)
     │    ├── BlobNotFound           no blob with that sha256 in the store
     │    ├── BlobCorrupt            a blob's bytes no longer hash to its name
     │    ├── DecryptionError        encrypted data cannot be read (unknown key id, tampering)
     │    └── LeaseLost              a job's lease passed to another worker
     ├── WorkflowError            a claim cannot move that way
     │    ├── TransitionNotAllowed   no transition for this state and event
     │    ├── RoleNotAllowed         the transition exists, not for the actor's role
     │    └── GuardRejected          the transition's condition does not hold
     ├── PermissionDenied         the actor's tenant may not touch this record
     └── IdempotencyConflict      an idempotency key reused with a different request

Each ``EvidenceError`` carries ``source`` (the file name or label) and ``cause`` and
renders as one line: ``claim.jpg: truncated JPEG data``.
"""

from __future__ import annotations

__all__ = [
    "AnalyzerError",
    "BlobCorrupt",
    "BlobNotFound",
    "ConfigurationError",
    "CorruptMedia",
    "DecryptionError",
    "EvidenceError",
    "EvidenceNotFound",
    "GuardRejected",
    "IdempotencyConflict",
    "LeaseLost",
    "LimitExceeded",
    "NotFound",
    "PermissionDenied",
    "PolicyError",
    "ReuseIndexError",
    "RoleNotAllowed",
    "StorageError",
    "TransitionNotAllowed",
    "UnsupportedFormat",
    "VericlaimError",
    "WorkflowError",
]


class VericlaimError(Exception):
    """Base of every error Vericlaim raises on purpose."""


class EvidenceError(VericlaimError):
    """A media file cannot be used as evidence."""

    def __init__(self, source: str, cause: str) -> None:
        self.source = source
        self.cause = cause
        super().__init__(f"{source}: {cause}")


class EvidenceNotFound(EvidenceError):
    """The path does not exist, or is not a regular file."""


class UnsupportedFormat(EvidenceError):
    """The content is neither a supported image nor a supported video."""


class CorruptMedia(EvidenceError):
    """The content claims a supported format but cannot be decoded."""


class LimitExceeded(EvidenceError):
    """The content is larger than the configured limits allow."""


class AnalyzerError(VericlaimError):
    """An analyzer could not finish its work on one photo."""


class PolicyError(VericlaimError):
    """The scoring policy is malformed."""


class ReuseIndexError(VericlaimError):
    """A reuse index cannot be loaded or does not accept a fingerprint."""


class ConfigurationError(VericlaimError):
    """Settings are invalid or unsafe for the environment."""


class StorageError(VericlaimError):
    """The database or the blob store did not keep its contract."""


class NotFound(StorageError):
    """No record with that id, or none the actor may see (the two read the same)."""

    def __init__(self, kind: str, record_id: str) -> None:
        self.kind = kind
        self.record_id = record_id
        super().__init__(f"{kind} {record_id}: not found")


class BlobNotFound(StorageError):
    """The blob store holds no blob with that sha256."""


class BlobCorrupt(StorageError):
    """A stored blob's bytes no longer hash to the sha256 it is stored under."""

    def __init__(self, sha256: str, actual: str) -> None:
        self.sha256 = sha256
        self.actual = actual
        super().__init__(f"blob {sha256}: content hashes to {actual}, refusing to use it")


class DecryptionError(StorageError):
    """Encrypted data cannot be read: an unknown key id, a wrong key or tampered bytes."""


class LeaseLost(StorageError):
    """A worker's lease on a job expired and the job passed to another worker."""


class WorkflowError(VericlaimError):
    """A claim cannot make the requested move."""

    def __init__(self, message: str, *, state: str = "", event: str = "") -> None:
        self.state = state
        self.event = event
        super().__init__(message)


class TransitionNotAllowed(WorkflowError):
    """The workflow has no transition for this state and event."""


class RoleNotAllowed(WorkflowError):
    """The transition exists, but not for the actor's role."""


class GuardRejected(WorkflowError):
    """The transition exists for this role, but its condition does not hold now."""


class PermissionDenied(VericlaimError):
    """The actor's tenant or role may not read or change this record."""


class IdempotencyConflict(VericlaimError):
    """An idempotency key was reused with a different request."""
