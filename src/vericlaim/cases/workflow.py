"""The claim workflow as data: states, events, and the one table of transitions.

::

    received ─start_analysis─> analysing ─┬─ route_auto_approve ──> auto_approved ─┐
                                          ├─ route_to_merchant ───> awaiting_merchant
                                          ├─ route_request_evidence > awaiting_buyer_evidence
                                          └─ route_to_review / analysis_failed > in_review
    awaiting_merchant ── merchant_respond / merchant_timeout ──> in_review
    awaiting_buyer_evidence ── buyer_submit_evidence ──> analysing (the re-shoot is analysed)
    awaiting_buyer_evidence ── buyer_timeout ──> in_review
    in_review ── decide (a person) ──> decided ── appeal ──> in_review
    decided / auto_approved ── appeal_window_expired / close ──> closed

Clock events that change nothing but the record (reminders, a missed review target)
are transitions from a state to itself, so they are in the table and in the audit log
like every other move. :func:`fire` is pure: it checks the table, the actor's role and
the transition's guard, and says where the claim goes; the service layer applies it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from vericlaim.errors import GuardRejected, RoleNotAllowed, TransitionNotAllowed

__all__ = [
    "CLOCK_FOR_STATE",
    "GUARDS",
    "SUSPICIOUS_VERDICTS",
    "TERMINAL_STATES",
    "TRANSITIONS",
    "ClaimState",
    "ClockKind",
    "Event",
    "Facts",
    "Role",
    "Transition",
    "fire",
    "route_after_analysis",
    "transitions_from",
]


class ClaimState(StrEnum):
    RECEIVED = "received"
    ANALYSING = "analysing"
    AUTO_APPROVED = "auto_approved"
    AWAITING_MERCHANT = "awaiting_merchant"
    AWAITING_BUYER_EVIDENCE = "awaiting_buyer_evidence"
    IN_REVIEW = "in_review"
    DECIDED = "decided"
    CLOSED = "closed"


class Event(StrEnum):
    START_ANALYSIS = "start_analysis"
    ROUTE_AUTO_APPROVE = "route_auto_approve"
    ROUTE_TO_MERCHANT = "route_to_merchant"
    ROUTE_REQUEST_EVIDENCE = "route_request_evidence"
    ROUTE_TO_REVIEW = "route_to_review"
    ANALYSIS_FAILED = "analysis_failed"
    REQUEST_MERCHANT_RESPONSE = "request_merchant_response"
    REQUEST_BUYER_EVIDENCE = "request_buyer_evidence"
    MERCHANT_RESPOND = "merchant_respond"
    MERCHANT_REMINDER = "merchant_reminder"
    MERCHANT_TIMEOUT = "merchant_timeout"
    BUYER_SUBMIT_EVIDENCE = "buyer_submit_evidence"
    BUYER_REMINDER = "buyer_reminder"
    BUYER_TIMEOUT = "buyer_timeout"
    REVIEW_OVERDUE = "review_overdue"
    DECIDE = "decide"
    APPEAL = "appeal"
    APPEAL_WINDOW_EXPIRED = "appeal_window_expired"
    CLOSE = "close"
    WITHDRAW = "withdraw"


class Role(StrEnum):
    """Who acts: the four API roles, and the system itself (workers, clocks)."""

    PLATFORM = "platform"
    MERCHANT = "merchant"
    REVIEWER = "reviewer"
    ADMIN = "admin"
    SYSTEM = "system"


class ClockKind(StrEnum):
    MERCHANT_RESPONSE = "merchant_response"
    BUYER_RESHOOT = "buyer_reshoot"
    REVIEWER_FIRST_RESPONSE = "reviewer_first_response"
    APPEAL_WINDOW = "appeal_window"


SUSPICIOUS_VERDICTS = frozenset({"likely_manipulated", "likely_ai_generated", "review"})
"""Verdicts that pause any automatic refund and extend the merchant's window."""

TERMINAL_STATES = frozenset({ClaimState.CLOSED})

CLOCK_FOR_STATE: Mapping[ClaimState, ClockKind] = {
    ClaimState.AWAITING_MERCHANT: ClockKind.MERCHANT_RESPONSE,
    ClaimState.AWAITING_BUYER_EVIDENCE: ClockKind.BUYER_RESHOOT,
    ClaimState.IN_REVIEW: ClockKind.REVIEWER_FIRST_RESPONSE,
    ClaimState.DECIDED: ClockKind.APPEAL_WINDOW,
    ClaimState.AUTO_APPROVED: ClockKind.APPEAL_WINDOW,
}
"""The clock that runs while a claim is in a state; it stops when the claim leaves."""


@dataclass(frozen=True, slots=True)
class Facts:
    """What the guards may look at, gathered by the service before a transition."""

    now: datetime
    amount_fen: int = 0
    auto_approve_max_fen: int = 0
    verdict: str | None = None
    recommended_action: str | None = None
    auto_refund_paused: bool = False
    due: Mapping[ClockKind, datetime] = field(default_factory=dict)
    """Due times of the claim's running clocks."""


def _auto_approve_allowed(facts: Facts) -> str | None:
    if facts.recommended_action != "approve" or facts.verdict != "likely_authentic":
        return "the policy does not recommend approval"
    if facts.auto_refund_paused:
        return "automatic refund is paused for this claim"
    if facts.amount_fen > facts.auto_approve_max_fen:
        return (
            f"amount {facts.amount_fen} fen is above the automatic approval limit "
            f"({facts.auto_approve_max_fen} fen)"
        )
    return None


def _evidence_suspicious(facts: Facts) -> str | None:
    return None if facts.verdict in SUSPICIOUS_VERDICTS else "the evidence is not suspicious"


def _evidence_inconclusive(facts: Facts) -> str | None:
    if facts.recommended_action == "request_more_evidence":
        return None
    return "the policy does not ask for more evidence"


def _clock_over(kind: ClockKind) -> Callable[[Facts], str | None]:
    def guard(facts: Facts) -> str | None:
        due = facts.due.get(kind)
        if due is None:
            return f"no {kind} clock is running"
        return None if facts.now >= due else f"the {kind} clock runs until {due.isoformat()}"

    return guard


def _clock_running(kind: ClockKind) -> Callable[[Facts], str | None]:
    over = _clock_over(kind)

    def guard(facts: Facts) -> str | None:
        if kind not in facts.due:
            return f"no {kind} clock is running"
        return "the appeal window has closed" if over(facts) is None else None

    return guard


GUARDS: Mapping[str, Callable[[Facts], str | None]] = {
    "auto_approve_allowed": _auto_approve_allowed,
    "evidence_suspicious": _evidence_suspicious,
    "evidence_inconclusive": _evidence_inconclusive,
    "merchant_window_over": _clock_over(ClockKind.MERCHANT_RESPONSE),
    "buyer_window_over": _clock_over(ClockKind.BUYER_RESHOOT),
    "review_target_missed": _clock_over(ClockKind.REVIEWER_FIRST_RESPONSE),
    "within_appeal_window": _clock_running(ClockKind.APPEAL_WINDOW),
    "appeal_window_over": _clock_over(ClockKind.APPEAL_WINDOW),
}
"""Named conditions: each returns ``None`` when it holds, else why not."""


@dataclass(frozen=True, slots=True)
class Transition:
    source: ClaimState
    event: Event
    target: ClaimState
    roles: frozenset[Role]
    guard: str | None = None


def _t(
    source: ClaimState, event: Event, target: ClaimState, roles: str, guard: str | None = None
) -> Transition:
    return Transition(source, event, target, frozenset(Role(r) for r in roles.split()), guard)


S, E = ClaimState, Event
_PEOPLE_WHO_REVIEW = "reviewer admin"
_OPEN_BEFORE_DECISION = (
    S.RECEIVED,
    S.ANALYSING,
    S.AWAITING_MERCHANT,
    S.AWAITING_BUYER_EVIDENCE,
    S.IN_REVIEW,
)

TRANSITIONS: tuple[Transition, ...] = (
    _t(S.RECEIVED, E.START_ANALYSIS, S.ANALYSING, "system"),
    _t(S.ANALYSING, E.ROUTE_AUTO_APPROVE, S.AUTO_APPROVED, "system", "auto_approve_allowed"),
    _t(S.ANALYSING, E.ROUTE_TO_MERCHANT, S.AWAITING_MERCHANT, "system", "evidence_suspicious"),
    _t(
        S.ANALYSING,
        E.ROUTE_REQUEST_EVIDENCE,
        S.AWAITING_BUYER_EVIDENCE,
        "system",
        "evidence_inconclusive",
    ),
    _t(S.ANALYSING, E.ROUTE_TO_REVIEW, S.IN_REVIEW, "system"),
    _t(S.ANALYSING, E.ANALYSIS_FAILED, S.IN_REVIEW, "system"),
    _t(S.IN_REVIEW, E.REQUEST_MERCHANT_RESPONSE, S.AWAITING_MERCHANT, _PEOPLE_WHO_REVIEW),
    _t(S.IN_REVIEW, E.REQUEST_BUYER_EVIDENCE, S.AWAITING_BUYER_EVIDENCE, _PEOPLE_WHO_REVIEW),
    _t(S.IN_REVIEW, E.REVIEW_OVERDUE, S.IN_REVIEW, "system", "review_target_missed"),
    _t(S.AWAITING_MERCHANT, E.MERCHANT_RESPOND, S.IN_REVIEW, "merchant"),
    _t(S.AWAITING_MERCHANT, E.MERCHANT_REMINDER, S.AWAITING_MERCHANT, "system"),
    _t(S.AWAITING_MERCHANT, E.MERCHANT_TIMEOUT, S.IN_REVIEW, "system", "merchant_window_over"),
    _t(S.AWAITING_BUYER_EVIDENCE, E.BUYER_SUBMIT_EVIDENCE, S.ANALYSING, "platform admin"),
    _t(S.AWAITING_BUYER_EVIDENCE, E.BUYER_REMINDER, S.AWAITING_BUYER_EVIDENCE, "system"),
    _t(S.AWAITING_BUYER_EVIDENCE, E.BUYER_TIMEOUT, S.IN_REVIEW, "system", "buyer_window_over"),
    _t(S.IN_REVIEW, E.DECIDE, S.DECIDED, _PEOPLE_WHO_REVIEW),
    _t(S.DECIDED, E.APPEAL, S.IN_REVIEW, "merchant platform admin", "within_appeal_window"),
    _t(S.AUTO_APPROVED, E.APPEAL, S.IN_REVIEW, "merchant platform admin", "within_appeal_window"),
    _t(S.DECIDED, E.APPEAL_WINDOW_EXPIRED, S.CLOSED, "system", "appeal_window_over"),
    _t(S.AUTO_APPROVED, E.APPEAL_WINDOW_EXPIRED, S.CLOSED, "system", "appeal_window_over"),
    _t(S.DECIDED, E.CLOSE, S.CLOSED, _PEOPLE_WHO_REVIEW),
    _t(S.AUTO_APPROVED, E.CLOSE, S.CLOSED, _PEOPLE_WHO_REVIEW),
    *(_t(state, E.WITHDRAW, S.CLOSED, "platform admin") for state in _OPEN_BEFORE_DECISION),
)

_INDEX: Mapping[tuple[ClaimState, Event], Transition] = {
    (t.source, t.event): t for t in TRANSITIONS
}
if len(_INDEX) != len(TRANSITIONS):  # pragma: no cover - a table edit gone wrong
    raise RuntimeError("two transitions share a state and an event")
if any(t.guard is not None and t.guard not in GUARDS for t in TRANSITIONS):  # pragma: no cover
    raise RuntimeError("a transition names an unknown guard")


def transitions_from(state: ClaimState) -> tuple[Transition, ...]:
    """The moves the table allows from ``state``."""
    return tuple(t for t in TRANSITIONS if t.source == state)


def fire(state: str, event: str, role: str, facts: Facts) -> Transition:
    """The transition for ``event`` in ``state`` by an actor with ``role``.

    Raises
    ------
    TransitionNotAllowed
        No such transition (an unknown state or event included).
    RoleNotAllowed
        The transition exists but not for this role.
    GuardRejected
        The role may, but the transition's condition does not hold.
    """
    try:
        key = (ClaimState(state), Event(event))
    except ValueError as exc:
        raise TransitionNotAllowed(str(exc), state=state, event=event) from exc
    transition = _INDEX.get(key)
    if transition is None:
        raise TransitionNotAllowed(
            f"a claim in state {state} does not accept {event}", state=state, event=event
        )
    if role not in transition.roles:
        allowed = ", ".join(sorted(transition.roles))
        raise RoleNotAllowed(
            f"{event} in state {state} is for {allowed}, not {role}", state=state, event=event
        )
    if transition.guard is not None:
        refusal = GUARDS[transition.guard](facts)
        if refusal is not None:
            raise GuardRejected(
                f"{event} in state {state}: {transition.guard}: {refusal}",
                state=state,
                event=event,
            )
    return transition


def route_after_analysis(facts: Facts) -> Event:
    """Where an analysed claim goes: suspicious evidence to the merchant (with a longer
    window), too little evidence back to the buyer, a small claim with authentic evidence
    to automatic approval, everything else to a reviewer."""
    if _evidence_suspicious(facts) is None:
        return Event.ROUTE_TO_MERCHANT
    if _evidence_inconclusive(facts) is None:
        return Event.ROUTE_REQUEST_EVIDENCE
    if _auto_approve_allowed(facts) is None:
        return Event.ROUTE_AUTO_APPROVE
    return Event.ROUTE_TO_REVIEW
