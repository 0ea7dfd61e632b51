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
     └── ConfigurationError       settings are invalid

Each ``EvidenceError`` carries ``source`` (the file name or label) and ``cause`` and
renders as one line: ``claim.jpg: truncated JPEG data``.
"""

from __future__ import annotations

__all__ = [
    "AnalyzerError",
    "ConfigurationError",
    "CorruptMedia",
    "EvidenceError",
    "EvidenceNotFound",
    "LimitExceeded",
    "PolicyError",
    "ReuseIndexError",
    "UnsupportedFormat",
    "VericlaimError",
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
