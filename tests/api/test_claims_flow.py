"""End to end through HTTP: a shop, a claim with photos, the worker, the verdict."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api, doctored_photo, listing_photo, open_shop, submit
from tests.conftest import encode, textured_image
from vericlaim.cases import jobs
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import ExternalFraudRecord


def _run_workers(api: Api) -> int:
    return jobs.run_worker(api.db.sessions, api.ctx, worker_id="test", until_idle=True)


def test_a_doctored_listing_photo_comes_back_likely_manipulated(api: Api) -> None:
    shop = open_shop(api)
    response: Any = submit(api, shop, photos=[("crack.jpg", doctored_photo())])
    assert response.status_code == 202, response.text
    claim = response.json()
    assert claim["state"] == "received" and claim["amount_fen"] == 12_900
    assert [m["filename"] for m in claim["media"]] == ["crack.jpg"]

    pending = api.client.get(f"/claims/{claim['id']}/verdict", headers=api.auth("platform"))
    assert pending.status_code == 200 and pending.json()["analysed"] is False

    assert _run_workers(api) == 1
    verdict = api.client.get(f"/claims/{claim['id']}/verdict", headers=api.auth("merchant"))
    assert verdict.status_code == 200, verdict.text
    body = verdict.json()
    assert body["analysed"] is True
    assert body["verdict"] == "likely_manipulated"
    assert body["document"]["schema"] == "vericlaim.verdict/1"
    assert body["state"] == "awaiting_merchant"

    shown = api.client.get(f"/claims/{claim['id']}", headers=api.auth("reviewer")).json()
    media_id = shown["media"][0]["id"]
    photo = api.client.get(f"/claims/{claim['id']}/media/{media_id}", headers=api.auth("merchant"))
    assert photo.status_code == 200 and photo.content == doctored_photo()
    assert photo.headers["X-Content-SHA256"] == shown["media"][0]["sha256"]
    hidden = api.client.get(
        f"/claims/{claim['id']}/media/{media_id}", headers=api.auth("merchant_other")
    )
    assert hidden.status_code == 404


def test_the_workflow_runs_through_http(api: Api) -> None:
    shop = open_shop(api)
    claim_id = submit(api, shop).json()["id"]  # type: ignore[attr-defined]
    _run_workers(api)
    c = api.client
    answer = c.post(
        f"/claims/{claim_id}/merchant-response",
        data={"message": "packed intact, see the video"},
        files=[("files", ("packing.jpg", listing_photo(), "image/jpeg"))],
        headers=api.auth("merchant"),
    )
    assert answer.status_code == 201, answer.text
    assert len(answer.json()["media_hashes"]) == 1
    ask = c.post(
        f"/claims/{claim_id}/evidence-requests",
        json={"requested_from": "buyer", "message": "please photograph the crack again"},
        headers=api.auth("reviewer"),
    )
    assert ask.status_code == 201, ask.text
    reshoot = c.post(
        f"/claims/{claim_id}/reshoots",
        files=[("photos", ("again.jpg", encode(textured_image(320, 240, seed=11)), "image/jpeg"))],
        headers=api.auth("platform"),
    )
    assert reshoot.status_code == 202, reshoot.text
    assert reshoot.json()["state"] == "analysing"
    _run_workers(api)
    state = c.get(f"/claims/{claim_id}", headers=api.auth("platform")).json()["state"]
    if state == "awaiting_merchant":
        again = c.post(
            f"/claims/{claim_id}/merchant-response",
            data={"message": "same answer"},
            headers=api.auth("merchant"),
        )
        assert again.status_code == 201, again.text
    decision = c.post(
        f"/claims/{claim_id}/decision",
        json={
            "outcome": "denied",
            "reason_code": "evidence.fabricated",
            "fabricated_evidence": True,
        },
        headers=api.auth("reviewer"),
    )
    assert decision.status_code == 201, decision.text
    appeal = c.post(
        f"/claims/{claim_id}/appeal",
        json={"reason": "the buyer disagrees"},
        headers=api.auth("platform"),
    )
    assert appeal.status_code == 201, appeal.text
    wrong = c.post(f"/claims/{claim_id}/close", json={}, headers=api.auth("reviewer"))
    assert wrong.status_code == 409 and wrong.json()["error"] == "workflow"
    # The re-decision carries the same timestamp (the clock stands still): the claim must
    # still count once in the buyer's record.
    c.post(
        f"/claims/{claim_id}/decision",
        json={
            "outcome": "denied",
            "reason_code": "evidence.fabricated",
            "fabricated_evidence": True,
        },
        headers=api.auth("reviewer"),
    )
    closed = c.post(f"/claims/{claim_id}/close", json={}, headers=api.auth("admin"))
    assert closed.status_code == 200 and closed.json()["state"] == "closed"

    history = c.get(f"/buyers/{shop.buyer_id}/history", headers=api.auth("reviewer")).json()
    assert history["confirmed_fabricated"] == 1 and history["fabricated_amount_fen"] == 12_900
    listed = c.get("/claims", params={"state": "closed"}, headers=api.auth("merchant")).json()
    assert [x["id"] for x in listed] == [claim_id]
    assert c.get("/claims", headers=api.auth("merchant_other")).json() == []
    audit = c.get("/audit/verify", headers=api.auth("admin")).json()
    assert audit["ok"] is True and audit["rows"] > 10


def test_withdraw_before_a_decision(api: Api) -> None:
    shop = open_shop(api)
    claim_id = submit(api, shop).json()["id"]  # type: ignore[attr-defined]
    gone = api.client.post(
        f"/claims/{claim_id}/withdraw",
        json={"reason_code": "buyer.withdrew"},
        headers=api.auth("platform"),
    )
    assert gone.status_code == 200 and gone.json()["state"] == "closed"
    assert _run_workers(api) == 1  # the queued job finds nothing left to analyse


def test_pagination_and_filters(api: Api) -> None:
    shop = open_shop(api)
    ids = [
        submit(api, shop, key=f"k-{i}").json()["id"]  # type: ignore[attr-defined]
        for i in range(3)
    ]
    page = api.client.get("/claims", params={"limit": 2}, headers=api.auth("platform")).json()
    rest = api.client.get(
        "/claims", params={"limit": 2, "offset": 2}, headers=api.auth("platform")
    ).json()
    assert sorted(x["id"] for x in page + rest) == sorted(ids)
    assert len(page) == 2 and len(rest) == 1
    bad = api.client.get("/claims", params={"state": "nonsense"}, headers=api.auth("platform"))
    assert bad.status_code == 422


def test_buyer_history_shows_fraud_records_imported_from_other_platforms(api: Api) -> None:
    shop = open_shop(api)
    c = api.client
    before = c.get(f"/buyers/{shop.buyer_id}/history", headers=api.auth("reviewer")).json()
    assert before["external_fabricated"] == 0 and before["external_fabricated_amount_fen"] == 0
    assert before["escalate"] is False
    now = api.db.clock()
    with transaction(api.db.sessions) as s:
        for n, fen in enumerate((120_000, 190_000)):
            s.add(
                ExternalFraudRecord(
                    id=f"ext-{n}",
                    issuer="platform-b",
                    claim_ref=f"b-claim-{n}",
                    identity_hash=before["identity_hash"],
                    amount_fen=fen,
                    currency="CNY",
                    decided_at=now,
                    key_id="platform-b-2026",
                    record_json="{}",
                    imported_at=now,
                )
            )
    after = c.get(f"/buyers/{shop.buyer_id}/history", headers=api.auth("reviewer")).json()
    assert after["external_fabricated"] == 2
    assert after["external_fabricated_amount_fen"] == 310_000
    assert after["fabricated_amount_fen"] == 0  # this platform's own claims only
    assert after["escalate"] is True  # 3,100 CNY from the other platform reaches 3,000 CNY
