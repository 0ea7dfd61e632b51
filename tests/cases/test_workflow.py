"""The transition table, exhaustively: every state × event × role, pure and stored."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tests.cases.world import build_world, submit
from tests.dbsupport import START, Db
from vericlaim.cases._moves import load_claim, move
from vericlaim.cases.model import Actor
from vericlaim.cases.workflow import (
    TRANSITIONS,
    ClaimState,
    ClockKind,
    Event,
    Facts,
    Role,
    Transition,
    fire,
    route_after_analysis,
    transitions_from,
)
from vericlaim.errors import (
    GuardRejected,
    RoleNotAllowed,
    TransitionNotAllowed,
    WorkflowError,
)
from vericlaim.storage.tables import Analysis, AuditEntry, Clock, new_id

ALL_CLOCKS_DUE_LATER = {kind: START + timedelta(hours=1) for kind in ClockKind}
ALL_CLOCKS_OVER = {kind: START - timedelta(hours=1) for kind in ClockKind}


def facts_passing(transition: Transition) -> Facts:
    """Facts under which the transition's guard holds."""
    base = {"now": START, "amount_fen": 1000, "auto_approve_max_fen": 5000}
    guard = transition.guard
    if guard == "auto_approve_allowed":
        return Facts(**base, verdict="likely_authentic", recommended_action="approve")
    if guard == "evidence_suspicious":
        return Facts(**base, verdict="likely_manipulated", recommended_action="human_review")
    if guard == "evidence_inconclusive":
        return Facts(**base, verdict="inconclusive", recommended_action="request_more_evidence")
    if guard == "within_appeal_window":
        return Facts(**base, due=ALL_CLOCKS_DUE_LATER)
    return Facts(**base, due=ALL_CLOCKS_OVER)


def facts_failing(transition: Transition) -> Facts:
    """Facts under which the transition's guard does not hold."""
    guard = transition.guard
    if guard == "within_appeal_window":
        return Facts(now=START, due=ALL_CLOCKS_OVER)
    if guard == "auto_approve_allowed":  # authentic, but above the limit
        return Facts(
            now=START,
            verdict="likely_authentic",
            recommended_action="approve",
            amount_fen=10_000,
            auto_approve_max_fen=5000,
        )
    if guard in {"evidence_suspicious", "evidence_inconclusive"}:
        return Facts(now=START, verdict="likely_authentic", recommended_action="approve")
    return Facts(now=START, due=ALL_CLOCKS_DUE_LATER)


TABLE = {(t.source, t.event): t for t in TRANSITIONS}
CASES = [(s, e) for s in ClaimState for e in Event]


@pytest.mark.parametrize(("state", "event"), CASES, ids=[f"{s}-{e}" for s, e in CASES])
def test_every_state_and_event(state: ClaimState, event: Event) -> None:
    transition = TABLE.get((state, event))
    for role in Role:
        if transition is None:
            with pytest.raises(TransitionNotAllowed):
                fire(state, event, role, Facts(now=START, due=ALL_CLOCKS_OVER))
        elif role not in transition.roles:
            with pytest.raises(RoleNotAllowed):
                fire(state, event, role, facts_passing(transition))
        else:
            assert fire(state, event, role, facts_passing(transition)).target == transition.target
            if transition.guard is not None:
                with pytest.raises(GuardRejected, match=transition.guard):
                    fire(state, event, role, facts_failing(transition))


def test_every_state_but_closed_has_a_way_out_and_closed_has_none() -> None:
    for state in ClaimState:
        moves = [t for t in transitions_from(state) if t.target != state]
        assert bool(moves) == (state != ClaimState.CLOSED), state


def test_only_a_person_decides_and_only_the_system_routes() -> None:
    decide = TABLE[(ClaimState.IN_REVIEW, Event.DECIDE)]
    assert decide.roles == {Role.REVIEWER, Role.ADMIN}
    for t in TRANSITIONS:
        if t.event.value.startswith("route_") or t.event.value.endswith(("_timeout", "_expired")):
            assert t.roles == {Role.SYSTEM}, t


def test_unknown_state_or_event_is_a_workflow_error() -> None:
    with pytest.raises(TransitionNotAllowed):
        fire("teleported", "decide", "reviewer", Facts(now=START))
    with pytest.raises(WorkflowError):
        fire("in_review", "bribe", "reviewer", Facts(now=START))


@pytest.mark.parametrize(
    ("verdict", "action", "amount", "paused", "expected"),
    [
        ("likely_manipulated", "human_review", 100, False, Event.ROUTE_TO_MERCHANT),
        ("likely_ai_generated", "human_review", 100, False, Event.ROUTE_TO_MERCHANT),
        ("review", "human_review", 100, False, Event.ROUTE_TO_MERCHANT),
        ("inconclusive", "request_more_evidence", 100, False, Event.ROUTE_REQUEST_EVIDENCE),
        ("likely_authentic", "approve", 5000, False, Event.ROUTE_AUTO_APPROVE),
        ("likely_authentic", "approve", 5001, False, Event.ROUTE_TO_REVIEW),
        ("likely_authentic", "approve", 100, True, Event.ROUTE_TO_REVIEW),
    ],
)
def test_routing_after_analysis(
    verdict: str, action: str, amount: int, paused: bool, expected: Event
) -> None:
    facts = Facts(
        now=START,
        amount_fen=amount,
        auto_approve_max_fen=5000,
        verdict=verdict,
        recommended_action=action,
        auto_refund_paused=paused,
    )
    assert route_after_analysis(facts) == expected
    source = ClaimState.ANALYSING
    fire(source, expected, Role.SYSTEM, facts)  # the route always passes its own guard


def _put_in_state(s: Session, db: Db, claim_id: str, state: ClaimState, *, over: bool) -> None:
    """Force a stored claim into ``state`` with one clock of every kind, due in the past
    (``over``) or in the future."""
    claim = load_claim(s, claim_id)
    claim.state = state.value
    for clock in s.scalars(select(Clock).where(Clock.claim_id == claim_id)):
        s.delete(clock)
    due = db.clock() + timedelta(hours=-1 if over else 1)
    for kind in ClockKind:
        s.add(
            Clock(
                id=new_id("clk"),
                claim_id=claim_id,
                kind=kind.value,
                started_at=db.clock() - timedelta(hours=2),
                due_at=due,
            )
        )
    s.flush()


def _stub_verdict(s: Session, db: Db, claim_id: str, facts: Facts | None) -> None:
    """Give the claim an analysis whose verdict passes the analysis guards."""
    for row in s.scalars(select(Analysis).where(Analysis.claim_id == claim_id)):
        s.delete(row)
    if facts is not None and facts.verdict is not None:
        s.add(
            Analysis(
                id=new_id("ana"),
                claim_id=claim_id,
                verdict_json="{}",
                verdict=facts.verdict,
                risk_score=0,
                recommended_action=facts.recommended_action or "",
                policy_version="test",
                analyzer_versions={},
                media_hashes=[],
                created_at=db.clock(),
            )
        )
    s.flush()


def test_every_stored_transition_moves_and_every_other_pair_is_refused(db: Db) -> None:
    """The same table through the service's ``move`` on a stored claim: allowed pairs
    move the claim and leave an audit row; every other pair raises and changes nothing.
    Each pair runs in a transaction that is rolled back afterwards."""
    world = build_world(db, amount_fen=1000)  # small enough for automatic approval
    claim_id = submit(db, world)
    actors = {role: Actor(f"key_{role}", role, None) for role in Role}
    for state in ClaimState:
        for event in Event:
            transition = TABLE.get((state, event))
            role = min(transition.roles) if transition else Role.ADMIN
            with db.sessions() as s, s.begin():
                over = transition is None or transition.guard != "within_appeal_window"
                _put_in_state(s, db, claim_id, state, over=over)
                _stub_verdict(s, db, claim_id, facts_passing(transition) if transition else None)
                audit_rows = s.scalar(select(func.count()).select_from(AuditEntry))
                claim = load_claim(s, claim_id)
                savepoint = s.begin_nested()
                try:
                    move(s, db.ctx, claim, event, actors[role], reason_code="test")
                except WorkflowError:
                    savepoint.rollback()
                    assert transition is None, f"{state} × {event} should move"
                    assert load_claim(s, claim_id).state == state
                else:
                    savepoint.commit()
                    assert transition is not None, f"{state} × {event} should be refused"
                    assert claim.state == transition.target
                    assert s.scalar(select(func.count()).select_from(AuditEntry)) == audit_rows + 1
                s.rollback()
