"""The service commands: keys, claims, audit verify (SQLite under a temporary data dir)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.api.conftest import doctored_photo, listing_photo
from tests.cases.world import build_world, submit
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.cases.background import Background
from vericlaim.cases.model import Actor, MediaUpload
from vericlaim.cases.workflow import Role
from vericlaim.cli import app
from vericlaim.storage.db import make_engine, session_factory, transaction


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VERICLAIM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("VERICLAIM_DATABASE_URL", raising=False)
    return tmp_path / "data"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_keys_claims_and_audit_from_the_command_line(data_dir: Path, tmp_path: Path) -> None:
    code, out = _run(
        "keys", "create", "--role", "platform", "--tenant", "Mall", "--kind", "platform"
    )
    assert code == 0, out
    platform = json.loads(out)
    assert platform["api_key"].startswith("vck_") and platform["role"] == "platform"
    code, out = _run(
        "keys", "create", "--role", "merchant", "--tenant", "Shop", "--kind", "merchant"
    )
    merchant = json.loads(out)

    from vericlaim.cases.model import ServiceContext
    from vericlaim.settings import get_settings

    settings = get_settings()
    sessions = session_factory(make_engine(settings=settings))
    ctx = ServiceContext.from_settings(settings)
    with transaction(sessions) as s:
        shop_actor = service.authenticate(s, merchant["api_key"])
        platform_actor = service.authenticate(s, platform["api_key"])
        assert shop_actor and platform_actor
        shop = service.register_merchant(s, ctx, shop_actor, name="Teapots", external_ref="s")
        product = service.register_product(s, ctx, shop_actor, merchant_id=shop.id, sku="T")
        service.add_reference_media(
            s,
            ctx,
            shop_actor,
            product_id=product.id,
            upload=MediaUpload(listing_photo(), "listing.jpg"),
        )
        buyer = service.register_buyer(s, ctx, platform_actor, identifier="13800138000")
        order = service.record_order(
            s,
            ctx,
            shop_actor,
            merchant_id=shop.id,
            product_id=product.id,
            external_ref="o",
            amount_fen=9_900,
            ordered_at=ctx.now(),
            buyer_id=buyer.id,
        )
    photo = tmp_path / "crack.jpg"
    photo.write_bytes(doctored_photo())
    args = ["claims", "submit", "--order", order.id, "--buyer", buyer.id, "--amount", "9900"]
    code, out = _run(*args, "--api-key", platform["api_key"], str(photo))
    assert code == 0, out
    claim = json.loads(out)
    assert claim["created"] is True and claim["state"] == "received"
    code, out = _run(*args, "--api-key", platform["api_key"], str(photo))
    assert json.loads(out)["id"] == claim["id"] and json.loads(out)["created"] is False

    background = Background(sessions, ctx, workers=1, scheduler=False).start()
    try:
        for _ in range(300):
            code, out = _run("claims", "show", claim["id"], "--api-key", merchant["api_key"])
            if json.loads(out)["verdict"] is not None:
                break
            time.sleep(0.1)
    finally:
        background.close()
    shown = json.loads(out)
    assert shown["verdict"]["verdict"] == "likely_manipulated"
    code, out = _run("claims", "list", "--api-key", merchant["api_key"])
    assert [json.loads(line)["id"] for line in out.splitlines()] == [claim["id"]]
    code, out = _run("claims", "show", claim["id"], "--api-key", "vck_wrong")
    assert code == 2

    assert _run("audit", "verify")[0] == 0
    with sessions() as s, s.begin():
        s.execute(text("UPDATE audit_log SET action = 'edited' WHERE seq = 2"))
    code, out = _run("audit", "verify")
    assert code == 1 and "row 2: row content does not match its hash" in out


def test_background_threads_analyse_and_stop(db: Db) -> None:
    world = build_world(db)
    claim_id = submit(db, world, enqueue=True)
    background = Background(db.sessions, db.ctx, workers=2, scheduler=True).start()
    try:
        for _ in range(300):
            with transaction(db.sessions) as s:
                if service.latest_analysis(s, db.ctx, world.admin, claim_id) is not None:
                    break
            time.sleep(0.1)
    finally:
        background.close(timeout=30)
    assert not any(t.is_alive() for t in background.threads)
    with transaction(db.sessions) as s:
        assert service.latest_analysis(s, db.ctx, world.admin, claim_id) is not None
    _ = Actor, Role  # the world's actors are built from these
