"""Claims: submission (idempotent, analysed by a worker), reads, and every workflow move."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Header, Query, UploadFile
from fastapi.responses import Response

from vericlaim.api.deps import ServiceDep, SettingsDep, allow, allow_event
from vericlaim.api.limits import read_upload
from vericlaim.api.schemas import (
    AppealCreate,
    AppealPublic,
    ClaimAction,
    ClaimPublic,
    DecisionCreate,
    DecisionPublic,
    EvidenceRequestCreate,
    EvidenceRequestPublic,
    MerchantResponsePublic,
    VerdictPublic,
)
from vericlaim.cases import service
from vericlaim.cases.workflow import ClaimState, Event, Role

router = APIRouter(prefix="/claims", tags=["claims"])

Photos = Annotated[list[UploadFile], File(description="Photos and videos of the claim.")]
ClaimType = Literal["refund_only", "return_refund", "exchange", "repair"]
_SUBMITTERS = allow(Role.PLATFORM, Role.ADMIN)
_ALL = allow(Role.PLATFORM, Role.MERCHANT, Role.REVIEWER, Role.ADMIN)


@router.post("", response_model=ClaimPublic, status_code=202, dependencies=[_SUBMITTERS])
def submit_claim(
    idempotency_key: Annotated[str, Header(min_length=1, max_length=200)],
    order_id: Annotated[str, Form(max_length=40)],
    buyer_id: Annotated[str, Form(max_length=40)],
    claim_type: Annotated[ClaimType, Form()],
    amount_fen: Annotated[int, Form(gt=0, le=10**12, description="In fen (CNY cents).")],
    photos: Photos,
    run: ServiceDep,
    settings: SettingsDep,
    reason_text: Annotated[str, Form(max_length=4000)] = "",
) -> ClaimPublic:
    """Accepted (202) and queued for analysis; the same ``Idempotency-Key`` again returns
    the first claim, a different request under it is 409."""
    media = [read_upload(photo, settings.max_bytes) for photo in photos]
    submitted = run(
        service.submit_claim,
        idempotency_key=idempotency_key,
        order_id=order_id,
        buyer_id=buyer_id,
        claim_type=claim_type,
        amount_fen=amount_fen,
        media=media,
        reason_text=reason_text,
    )
    return ClaimPublic.of(submitted.claim)


@router.get("", response_model=list[ClaimPublic], dependencies=[_ALL])
def list_claims(
    run: ServiceDep,
    state: Annotated[ClaimState | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[ClaimPublic]:
    """The claims the caller may see, newest first."""
    state_value = state.value if state else None
    claims = run(service.list_claims, state=state_value, limit=limit, offset=offset)
    return [ClaimPublic.of(c) for c in claims]


@router.get("/{claim_id}", response_model=ClaimPublic, dependencies=[_ALL])
def get_claim(claim_id: str, run: ServiceDep) -> ClaimPublic:
    return ClaimPublic.of(run(service.get_claim, claim_id))


@router.get("/{claim_id}/verdict", response_model=VerdictPublic, dependencies=[_ALL])
def get_verdict(claim_id: str, run: ServiceDep) -> VerdictPublic:
    """The latest analysis; ``analysed`` is false while it is queued or running."""
    claim = run(service.get_claim, claim_id)
    return VerdictPublic.of(claim, run(service.latest_analysis, claim_id))


@router.get(
    "/{claim_id}/media/{media_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
    dependencies=[_ALL],
)
def get_media(claim_id: str, media_id: str, run: ServiceDep) -> Response:
    """The file as uploaded, re-hashed on read."""
    media, data = run(service.claim_media, claim_id, media_id)
    headers = {"X-Content-SHA256": media.sha256, "Cache-Control": "private, no-store"}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.post(
    "/{claim_id}/evidence-requests",
    response_model=EvidenceRequestPublic,
    status_code=201,
    dependencies=[allow_event(Event.REQUEST_BUYER_EVIDENCE)],
)
def request_evidence(
    claim_id: str, body: EvidenceRequestCreate, run: ServiceDep
) -> EvidenceRequestPublic:
    """A reviewer asks the buyer for a re-shoot or the merchant for its evidence."""
    request = run(service.request_evidence, claim_id, **body.model_dump())
    return EvidenceRequestPublic.of(request)


@router.post(
    "/{claim_id}/reshoots",
    response_model=ClaimPublic,
    status_code=202,
    dependencies=[allow_event(Event.BUYER_SUBMIT_EVIDENCE)],
)
def submit_reshoot(
    claim_id: str, photos: Photos, run: ServiceDep, settings: SettingsDep
) -> ClaimPublic:
    """The buyer's new photos (sent by its platform); the claim is analysed again."""
    media = [read_upload(photo, settings.max_bytes) for photo in photos]
    return ClaimPublic.of(run(service.submit_buyer_evidence, claim_id, media=media))


@router.post(
    "/{claim_id}/merchant-response",
    response_model=MerchantResponsePublic,
    status_code=201,
    dependencies=[allow_event(Event.MERCHANT_RESPOND)],
)
def merchant_respond(
    claim_id: str,
    message: Annotated[str, Form(min_length=1, max_length=4000)],
    run: ServiceDep,
    settings: SettingsDep,
    files: Annotated[list[UploadFile] | None, File(description="Packing photos/videos.")] = None,
) -> MerchantResponsePublic:
    media = [read_upload(f, settings.max_bytes) for f in files or []]
    return MerchantResponsePublic.of(
        run(service.merchant_respond, claim_id, message=message, media=media)
    )


@router.post(
    "/{claim_id}/decision",
    response_model=DecisionPublic,
    status_code=201,
    dependencies=[allow_event(Event.DECIDE)],
)
def decide(claim_id: str, body: DecisionCreate, run: ServiceDep) -> DecisionPublic:
    return DecisionPublic.of(run(service.decide, claim_id, **body.model_dump()))


@router.post(
    "/{claim_id}/appeal",
    response_model=AppealPublic,
    status_code=201,
    dependencies=[allow_event(Event.APPEAL)],
)
def appeal(claim_id: str, body: AppealCreate, run: ServiceDep) -> AppealPublic:
    return AppealPublic.of(run(service.appeal, claim_id, reason=body.reason))


@router.post(
    "/{claim_id}/close", response_model=ClaimPublic, dependencies=[allow_event(Event.CLOSE)]
)
def close(claim_id: str, body: ClaimAction, run: ServiceDep) -> ClaimPublic:
    return ClaimPublic.of(run(service.close, claim_id, reason_code=body.reason_code))


@router.post(
    "/{claim_id}/withdraw", response_model=ClaimPublic, dependencies=[allow_event(Event.WITHDRAW)]
)
def withdraw(claim_id: str, body: ClaimAction, run: ServiceDep) -> ClaimPublic:
    return ClaimPublic.of(run(service.withdraw, claim_id, reason_code=body.reason_code))
