"""Reuse detection across processes: the API and several workers each hold a reuse index
of their own. Each index catches up with the photos the others analysed before it
searches, and exact copies are looked up in the database when an analysis is recorded, so
a photo reused between claims analysed by different processes is still found.

Two processes are simulated by two service contexts on one database, each with its own
:class:`ClaimReuse`."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from tests.cases.test_reuse_service import (
    audit_reasons,
    damage_pixels,
    original,
    other_platform_claim,
)
from tests.cases.world import World, build_world, submit, unrelated_photo
from tests.conftest import encode
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases._reuse import CATCH_UP_MARGIN, REUSE_REASON, ClaimReuse
from vericlaim.cases.jobs import enqueue, process_one
from vericlaim.cases.model import Actor, MediaUpload, ServiceContext
from vericlaim.cases.workflow import Role
from vericlaim.storage.db import make_engine, session_factory, transaction
from vericlaim.storage.tables import Analysis, AnalysisJob, Claim, ClaimMedia

ENTRY_KEYS = {
    "media_id",
    "sha256",
    "claim_media_id",
    "earlier_claim_id",
    "earlier_media_id",
    "match",
    "phash_distance",
    "dhash_distance",
    "views_aligned",
    "views_matched",
    "query_view",
    "indexed_view",
    "mirrored",
    "same_tenant",
    "same_shop",
    "same_buyer",
}


def analyse(db: Db, ctx: ServiceContext, claim_id: str) -> dict[str, Any]:
    """Analyse a claim as a worker of the process whose context is ``ctx`` does: a job,
    computed outside any transaction, recorded in the one that completes the job."""
    with transaction(db.sessions) as s:
        job = s.get(AnalysisJob, enqueue(s, ctx, claim_id))
        assert job is not None
        job.run_after = ctx.now() - timedelta(days=1)  # first in the queue
    assert process_one(db.sessions, ctx, f"worker-{id(ctx)}")
    with transaction(db.sessions) as s:
        view = service.latest_analysis(s, ctx, Actor("key_admin", Role.ADMIN, None), claim_id)
    assert view is not None, "the analysis was not recorded"
    return view.document


def stored_verdict(db: Db, claim_id: str) -> str:
    with transaction(db.sessions) as s:
        return s.scalars(select(Analysis.verdict_json).where(Analysis.claim_id == claim_id)).one()


def media_id_of(db: Db, claim_id: str) -> str:
    with transaction(db.sessions) as s:
        return s.scalars(select(ClaimMedia.id).where(ClaimMedia.claim_id == claim_id)).one()


def same_shop_claim(db: Db, world: World, photo: bytes, *, key: str = "k-2") -> str:
    """A claim by the same buyer on the same platform, for another order of the same shop."""
    with transaction(db.sessions) as s:
        order = service.record_order(
            s,
            db.ctx,
            world.merchant,
            merchant_id=world.merchant_id,
            product_id=world.product_id,
            external_ref=f"o-{key}",
            amount_fen=world.amount_fen,
            ordered_at=db.clock(),
            buyer_id=world.buyer_id,
        )
        submitted = service.submit_claim(
            s,
            db.ctx,
            world.platform,
            idempotency_key=key,
            order_id=order.id,
            buyer_id=world.buyer_id,
            claim_type="refund_only",
            amount_fen=world.amount_fen,
            reason_text="the same photo again",
            media=[MediaUpload(photo, "again.jpg")],
        )
    return submitted.claim.id


def rescaled_copy() -> bytes:
    """The damage photo shrunk to 3/4 and saved again at a lower JPEG quality."""
    small = cv2.resize(damage_pixels(), (240, 180), interpolation=cv2.INTER_AREA)
    return encode(np.ascontiguousarray(small), quality=70)


# --- catch-up: an index learns the photos other processes analysed ----------------------


@pytest.mark.parametrize("earlier", [False, True], ids=["empty-database", "after-others"])
def test_a_photo_analysed_by_another_process_is_found(db: Db, earlier: bool) -> None:
    world = build_world(db)
    if earlier:  # the processes start with a watermark, hours before the claims come
        db.ctx.reuse = ClaimReuse()
        warm = same_shop_claim(db, world, unrelated_photo(), key="warm-up")
        analyse(db, db.ctx, warm)
        db.clock.advance(hours=3)
    first = submit(db, world, photo=original())
    second = other_platform_claim(db, world, rescaled_copy())
    # two processes started before either claim was analysed
    process_a = replace(db.ctx, reuse=ClaimReuse.from_database(db.sessions))
    process_b = replace(db.ctx, reuse=ClaimReuse.from_database(db.sessions))
    assert process_b.reuse is not None
    assert not any(r.claim_id == first for r in process_b.reuse.index.records())

    db.clock.advance(minutes=1)
    assert analyse(db, process_a, first)["duplicates"] == []
    first_analysed = db.clock()
    db.clock.advance(minutes=1)
    document = analyse(db, process_b, second)

    (entry,) = document["duplicates"]
    assert entry["earlier_claim_id"] == first
    assert entry["earlier_media_id"] == media_id_of(db, first)
    assert entry["match"] == "perceptual" and entry["views_aligned"] >= 4
    assert set(entry) == ENTRY_KEYS
    assert REUSE_REASON in audit_reasons(db, second)
    # the watermark is the newest analysis time in the database, not the wall clock
    assert process_b.reuse.watermark == first_analysed


def test_an_analysis_that_commits_late_is_still_caught_up(db: Db) -> None:
    """An analysis stamped before another process's watermark (its transaction was open
    longer) is loaded all the same, within the margin."""
    world = build_world(db)
    db.ctx.reuse = ClaimReuse()
    warm = same_shop_claim(db, world, unrelated_photo(), key="warm-up")
    db.clock.advance(hours=1)
    analyse(db, db.ctx, warm)
    stamped = db.clock()
    process_b = replace(db.ctx, reuse=ClaimReuse.from_database(db.sessions))
    assert process_b.reuse is not None and process_b.reuse.watermark == stamped

    first = submit(db, world, photo=original())
    db.clock.now = stamped - CATCH_UP_MARGIN / 2  # committed after B last looked
    analyse(db, db.ctx, first)
    db.clock.now = stamped + CATCH_UP_MARGIN / 5
    second = other_platform_claim(db, world, encode(damage_pixels(), quality=60))
    document = analyse(db, process_b, second)
    assert [d["earlier_claim_id"] for d in document["duplicates"]] == [first]
    assert process_b.reuse.watermark == stamped  # the newest analysis it has seen


def test_catch_up_skips_photos_the_index_already_holds(db: Db) -> None:
    world = build_world(db)
    first = submit(db, world, photo=original())
    process_a = replace(db.ctx, reuse=ClaimReuse.from_database(db.sessions))
    analyse(db, process_a, first)
    assert process_a.reuse is not None
    db.clock.advance(minutes=1)
    second = other_platform_claim(db, world, unrelated_photo())
    analyse(db, process_a, second)
    keys = [r.key for r in process_a.reuse.index.records()]
    assert len(keys) == len(set(keys)) == 2


def test_a_failed_catch_up_is_logged_and_the_analysis_completes(
    db: Db, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    world = build_world(db)
    first = submit(db, world, photo=original())
    db.ctx.reuse = ClaimReuse.from_database(db.sessions)
    analyse(db, db.ctx, first)
    db.clock.advance(minutes=1)
    second = other_platform_claim(db, world, original())
    # a process whose database answers with errors: a file without the schema
    broken = make_engine(f"sqlite:///{tmp_path / 'broken' / 'no-schema.db'}")
    try:
        process_b = replace(db.ctx, reuse=ClaimReuse(sessions=session_factory(broken)))
        with caplog.at_level(logging.ERROR, logger="vericlaim.cases._reuse"):
            document = analyse(db, process_b, second)
    finally:
        broken.dispose()
    assert any("catch-up" in r.getMessage() for r in caplog.records)
    assert process_b.reuse is not None and process_b.reuse.watermark is None
    # the analysis is recorded, and the exact copy found in the database all the same
    assert [d["earlier_claim_id"] for d in document["duplicates"]] == [first]
    assert first in stored_verdict(db, second)
    # its own photo added as usual
    assert [r.claim_id for r in process_b.reuse.index.records()] == [second]


# --- exact copies: found in the database, whatever the indexes hold ---------------------


@pytest.mark.parametrize("order", ["earlier-first", "later-first"])
def test_an_exact_copy_analysed_elsewhere_flags_only_the_later_claim(db: Db, order: str) -> None:
    world = build_world(db, amount_fen=100)
    first = submit(db, world, photo=original())
    db.clock.advance(minutes=1)
    second = other_platform_claim(db, world, original())
    # two processes whose indexes never see each other
    process_a = replace(db.ctx, reuse=ClaimReuse())
    process_b = replace(db.ctx, reuse=ClaimReuse())
    runs = [(process_a, first), (process_b, second)]
    documents = {
        c: analyse(db, p, c) for p, c in (runs if order == "earlier-first" else runs[::-1])
    }

    assert documents[first]["duplicates"] == []
    (entry,) = documents[second]["duplicates"]
    first_media, second_media = media_id_of(db, first), media_id_of(db, second)
    assert set(entry) == ENTRY_KEYS
    assert entry["media_id"] in {m["media_id"] for m in documents[second]["media"]}
    assert entry["claim_media_id"] == second_media
    assert (entry["earlier_claim_id"], entry["earlier_media_id"]) == (first, first_media)
    assert entry["match"] == "sha256" and entry["query_view"] == "bytes"
    assert (entry["phash_distance"], entry["dhash_distance"]) == (0, 0)
    assert (entry["same_tenant"], entry["same_shop"], entry["same_buyer"]) == (False,) * 3
    # stored with the verdict, and routed: to a person, the refund paused
    assert second_media in stored_verdict(db, second)
    assert REUSE_REASON in audit_reasons(db, second)
    assert REUSE_REASON not in audit_reasons(db, first)
    with transaction(db.sessions) as s:
        claim = s.get(Claim, second)
        assert claim is not None and claim.auto_refund_paused
        assert claim.state not in {"auto_approved", "awaiting_buyer_evidence"}


def test_an_exact_copy_in_the_same_shop_says_so(db: Db) -> None:
    world = build_world(db)
    first = submit(db, world, photo=original())
    db.clock.advance(minutes=1)
    second = same_shop_claim(db, world, original())
    analyse(db, replace(db.ctx, reuse=ClaimReuse()), first)
    (entry,) = analyse(db, replace(db.ctx, reuse=ClaimReuse()), second)["duplicates"]
    assert entry["earlier_claim_id"] == first
    assert (entry["same_tenant"], entry["same_shop"], entry["same_buyer"]) == (True,) * 3


def test_copies_uploaded_at_the_same_instant_flag_exactly_one_claim(db: Db) -> None:
    world = build_world(db)
    first = submit(db, world, photo=original())
    second = other_platform_claim(db, world, original())  # same clock time
    flagged = {
        c: analyse(db, replace(db.ctx, reuse=ClaimReuse()), c)["duplicates"]
        for c in (first, second)
    }
    later = max(first, second)
    assert flagged[min(first, second)] == []
    assert [d["earlier_claim_id"] for d in flagged[later]] == [min(first, second)]


def test_a_copy_the_index_found_is_not_listed_twice(db: Db) -> None:
    world = build_world(db)
    db.ctx.reuse = ClaimReuse()
    first = submit(db, world, photo=original())
    analyse(db, db.ctx, first)
    db.clock.advance(minutes=1)
    second = other_platform_claim(db, world, original())
    (entry,) = analyse(db, db.ctx, second)["duplicates"]
    assert entry["earlier_claim_id"] == first and entry["match"] == "sha256"


# --- inside a caller's transaction (the CLI's analysis) --------------------------------


def test_run_analysis_catches_up_inside_its_own_transaction(db: Db) -> None:
    world = build_world(db)
    first = submit(db, world, photo=original())
    process_b = replace(db.ctx, reuse=ClaimReuse.from_database(db.sessions))
    analyse(db, replace(db.ctx, reuse=ClaimReuse()), first)
    second = other_platform_claim(db, world, encode(damage_pixels(), quality=60))
    with transaction(db.sessions) as s:
        document = service.run_analysis(s, process_b, second).document
    assert [d["earlier_claim_id"] for d in document["duplicates"]] == [first]
    assert document["duplicates"][0]["match"] == "perceptual"


def test_a_failed_catch_up_leaves_the_callers_transaction_usable(
    db: Db, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from vericlaim.cases import _reuse

    def failing(session: Session, **_: Any) -> Any:
        session.execute(text("SELECT * FROM no_such_table"))  # aborts a PostgreSQL transaction
        raise AssertionError("unreachable")

    world = build_world(db)
    first = submit(db, world, photo=original())
    process_b = replace(db.ctx, reuse=ClaimReuse.from_database(db.sessions))
    monkeypatch.setattr(_reuse, "_stored_fingerprints", failing)
    with (
        caplog.at_level(logging.ERROR, logger="vericlaim.cases._reuse"),
        transaction(db.sessions) as s,
    ):
        document = service.run_analysis(s, process_b, first).document
    assert document["duplicates"] == []
    assert any("catch-up" in r.getMessage() for r in caplog.records)
    assert stored_verdict(db, first)
