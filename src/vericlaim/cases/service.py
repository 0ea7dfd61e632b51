"""The use cases of the claim service: what the API, the console and the CLI call.

Every function takes a SQLAlchemy ``Session`` inside a transaction the caller owns
(:func:`vericlaim.storage.db.transaction`), a :class:`ServiceContext` (settings, blob
store, keys, clock), usually the acting :class:`Actor`, and plain arguments; it returns
frozen views, never ORM rows. Failures are typed: ``NotFound`` (also for another
tenant's records), ``PermissionDenied``, ``WorkflowError`` and its subclasses,
``IdempotencyConflict``, ``EvidenceError`` for unusable uploads, ``ValueError`` for
malformed arguments.
"""

from __future__ import annotations

from vericlaim.cases._analysis import (
    AnalysisInputs,
    analysis_inputs,
    compute_analysis,
    latest_analysis,
    record_analysis,
    run_analysis,
)
from vericlaim.cases._buyers import (
    buyer_contact,
    buyer_history,
    find_buyer,
    reencrypt_buyer_contacts,
    register_buyer,
)
from vericlaim.cases._catalogue import (
    add_reference_media,
    add_shipping_evidence,
    authenticate,
    create_tenant,
    issue_api_key,
    record_order,
    register_merchant,
    register_product,
    revoke_api_key,
)
from vericlaim.cases._claims import (
    appeal,
    close,
    decide,
    get_claim,
    list_claims,
    merchant_respond,
    request_evidence,
    submit_buyer_evidence,
    submit_claim,
    withdraw,
)
from vericlaim.cases._clocks import tick
from vericlaim.cases._reads import claim_media, verify_audit

__all__ = [
    "AnalysisInputs",
    "add_reference_media",
    "add_shipping_evidence",
    "analysis_inputs",
    "appeal",
    "authenticate",
    "buyer_contact",
    "buyer_history",
    "claim_media",
    "close",
    "compute_analysis",
    "create_tenant",
    "decide",
    "find_buyer",
    "get_claim",
    "issue_api_key",
    "latest_analysis",
    "list_claims",
    "merchant_respond",
    "record_analysis",
    "record_order",
    "reencrypt_buyer_contacts",
    "register_buyer",
    "register_merchant",
    "register_product",
    "request_evidence",
    "revoke_api_key",
    "run_analysis",
    "submit_buyer_evidence",
    "submit_claim",
    "tick",
    "verify_audit",
    "withdraw",
]
