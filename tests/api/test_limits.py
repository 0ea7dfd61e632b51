"""Idempotency, upload limits, bad media, rate limits, errors without tracebacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import Api, make_api, open_shop, submit
from tests.dbsupport import Db
from vericlaim.api.limits import RateLimited, RateLimiter
from vericlaim.cases import service


def test_the_same_idempotency_key_twice_makes_one_claim(api: Api) -> None:
    shop = open_shop(api)
    first: Any = submit(api, shop, key="order-1-claim")
    second: Any = submit(api, shop, key="order-1-claim")
    assert first.status_code == second.status_code == 202
    assert first.json()["id"] == second.json()["id"]
    listed = api.client.get("/claims", headers=api.auth("platform")).json()
    assert len(listed) == 1
    different: Any = submit(api, shop, key="order-1-claim", amount_fen=100)
    assert different.status_code == 409
    assert different.json()["error"] == "idempotency_conflict"
    missing = api.client.post(
        "/claims",
        data={"order_id": shop.order_id, "buyer_id": shop.buyer_id, "claim_type": "refund_only"},
        headers=api.auth("platform"),
    )
    assert missing.status_code == 422


def test_a_corrupt_photo_is_422_naming_the_file(api: Api) -> None:
    shop = open_shop(api)
    response: Any = submit(api, shop, photos=[("broken.jpg", b"\xff\xd8\xff\xe0 not a jpeg")])
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "bad_evidence" and body["file"] == "broken.jpg"
    assert body["detail"].startswith("broken.jpg: ") and "\n" not in body["detail"]
    assert api.client.get("/claims", headers=api.auth("platform")).json() == []


@pytest.fixture
def small_api(db: Db, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(db, tmp_path, max_bytes=60_000, max_request_bytes=150_000)


def test_a_file_over_the_limit_is_413(small_api: Api) -> None:
    shop = open_shop(small_api)
    big = b"\xff\xd8" + b"\0" * 70_000
    response: Any = submit(small_api, shop, photos=[("huge.jpg", big)])
    assert response.status_code == 413
    assert "huge.jpg" in response.json()["detail"]


def test_a_request_over_the_limit_is_413_while_it_streams(small_api: Api) -> None:
    shop = open_shop(small_api)
    parts = [(f"p{i}.jpg", b"\xff\xd8" + b"\1" * 50_000) for i in range(4)]
    response: Any = submit(small_api, shop, photos=parts)
    assert response.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(20):
            yield b"x" * 10_000

    streamed = small_api.client.post(
        "/claims",
        content=chunks(),
        headers={**small_api.auth("platform"), "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert streamed.status_code == 413


def test_a_missing_or_unknown_key_is_401(api: Api) -> None:
    assert api.client.get("/claims").status_code == 401
    wrong = api.client.get("/claims", headers={"Authorization": "Bearer vck_nope"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"] == "Bearer"


def test_the_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 3, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("k")
    with pytest.raises(RateLimited) as caught:
        limiter.check("k")
    assert caught.value.retry_after == pytest.approx(0.5)
    limiter.check("other")  # buckets are per key
    now[0] += 0.5
    limiter.check("k")


@pytest.fixture
def limited_api(db: Db, tmp_path: Path) -> Iterator[Api]:
    yield from make_api(db, tmp_path, rate_limit_per_second=0.01, rate_limit_burst=2)


def test_a_key_over_its_rate_gets_429_with_retry_after(limited_api: Api) -> None:
    c = limited_api.client
    reviewer = limited_api.auth("reviewer")
    statuses = [c.get("/claims", headers=reviewer).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = c.get("/claims", headers=limited_api.auth("reviewer"))
    assert int(refused.headers["Retry-After"]) >= 1
    assert c.get("/claims", headers=limited_api.auth("admin")).status_code == 200


def test_an_unexpected_error_is_500_with_a_request_id_and_no_traceback(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(service, "list_claims", broken)
    response = api.client.get("/claims", headers=api.auth("reviewer"))
    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal" and body["request_id"] == response.headers["X-Request-ID"]
    assert "secret" not in response.text and "Traceback" not in response.text
