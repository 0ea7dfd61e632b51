"""Reuse detection: the same photo used as evidence in more than one claim.

``fingerprint(photo)`` hashes a claim photo (pHash and dHash of the photo, its mirror image
and sub-windows); a :class:`ReuseIndex` holds earlier claims' fingerprints; and
``detect_reuse(fp, index, ...)`` says whether the photo was used before, and where.
"""

from vericlaim.reuse.detect import DEFAULT_RULE, MatchRule, ReuseDecision, detect_reuse
from vericlaim.reuse.fingerprint import FINGERPRINT_VERSION, VIEWS, Fingerprint, fingerprint
from vericlaim.reuse.index import ReuseIndex, ReuseMatch, ReuseRecord
from vericlaim.reuse.shards import ShardedReuseIndex

__all__ = [
    "DEFAULT_RULE",
    "FINGERPRINT_VERSION",
    "VIEWS",
    "Fingerprint",
    "MatchRule",
    "ReuseDecision",
    "ReuseIndex",
    "ReuseMatch",
    "ReuseRecord",
    "ShardedReuseIndex",
    "detect_reuse",
    "fingerprint",
]
