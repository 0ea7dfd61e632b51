"""Tenants, API keys and the audit log: administrators only."""

from __future__ import annotations

from fastapi import APIRouter

from vericlaim.api.deps import ServiceDep, allow
from vericlaim.api.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    AuditProblemPublic,
    AuditReportPublic,
    TenantCreate,
    TenantPublic,
)
from vericlaim.cases import service
from vericlaim.cases.workflow import Role

router = APIRouter(tags=["admin"], dependencies=[allow(Role.ADMIN)])


@router.post("/tenants", response_model=TenantPublic, status_code=201)
def create_tenant(body: TenantCreate, run: ServiceDep) -> TenantPublic:
    return TenantPublic.of(run(service.create_tenant, name=body.name, kind=body.kind))


@router.post("/api-keys", response_model=ApiKeyIssued, status_code=201)
def issue_api_key(body: ApiKeyCreate, run: ServiceDep) -> ApiKeyIssued:
    """The key is in this answer only; the database keeps its hash."""
    issued = run(
        service.issue_api_key, tenant_id=body.tenant_id, role=Role(body.role), name=body.name
    )
    return ApiKeyIssued.of(issued)


@router.get("/audit/verify", response_model=AuditReportPublic)
def verify_audit(run: ServiceDep) -> AuditReportPublic:
    """Walk the hash-chained audit log; every edited, deleted or inserted row is a problem."""
    report = run(service.verify_audit)
    problems = [AuditProblemPublic(seq=p.seq, problem=p.problem) for p in report.problems]
    return AuditReportPublic(ok=report.ok, rows=report.rows, problems=problems)
