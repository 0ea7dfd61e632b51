"""Confirmed-fraud records: signed export, verified import on another platform, and the
buyer's record across platforms (every test on SQLite and PostgreSQL)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from tests.cases.test_buyers import _decide
from tests.cases.world import BUYER_CONTACT, BUYER_PHONE, World, build_world, submit
from tests.dbsupport import PG_URL, Db
from vericlaim.cases import service
from vericlaim.cases.fraud_records import (
    SCHEMA,
    canonical_json,
    export_records,
    import_records,
    public_key_b64,
)
from vericlaim.cases.model import Actor, ServiceContext
from vericlaim.cases.workflow import Role
from vericlaim.cli import app
from vericlaim.settings import get_settings
from vericlaim.storage.db import create_schema, make_engine, session_factory, transaction
from vericlaim.storage.tables import ClaimMedia, ExternalFraudRecord

KEY_A = base64.b64encode(bytes(range(32))).decode()
KEY_OTHER = base64.b64encode(bytes(range(1, 33))).decode()
TRUSTED = {"platform-a-2026": public_key_b64(KEY_A)}
ADMIN = Actor("key_admin", Role.ADMIN, None)


def _export(db: Db, **kwargs: object) -> list[str]:
    args: dict[str, object] = {
        "signing_key": KEY_A,
        "key_id": "platform-a-2026",
        "issuer": "platform-a",
    }
    args.update(kwargs)
    return list(export_records(db.sessions, **args))  # type: ignore[arg-type]


def _fraud_world(db: Db) -> tuple[World, list[str], str]:
    """Two fabricated claims (1,800 + 1,500 CNY) and one honest one."""
    world = build_world(db)
    fake_1 = submit(db, world, key="a", amount_fen=180_000)
    fake_2 = submit(db, world, key="b", amount_fen=150_000)
    honest = submit(db, world, key="c", amount_fen=20_000)
    with transaction(db.sessions) as s:
        media = s.scalars(select(ClaimMedia).where(ClaimMedia.claim_id == fake_1)).one()
        media.fingerprint = b"\x01\x02\xfe\xff"
    _decide(db, fake_1, fabricated=True)
    db.clock.advance(hours=2)
    _decide(db, fake_2, fabricated=True)
    _decide(db, honest, fabricated=False)
    return world, [fake_1, fake_2], honest


@pytest.fixture
def other_sessions(
    db: Db, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[sessionmaker[Session]]:
    """A second, empty database on the same backend: another platform."""
    engine: Engine
    if db.backend == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'platform-b.db'}")
    else:
        schema, url = request.getfixturevalue("pg_schema_factory")()
        assert url == PG_URL
        engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    create_schema(engine)
    yield session_factory(engine)
    engine.dispose()


def test_export_holds_confirmed_fraud_only_and_no_personal_data(db: Db) -> None:
    world, fakes, honest = _fraud_world(db)
    lines = _export(db)
    records = [json.loads(line) for line in lines]
    assert [r["claim_id"] for r in records] == fakes
    assert honest not in "".join(lines)
    first = records[0]
    assert first["schema"] == SCHEMA and first["issuer"] == "platform-a"
    assert first["key_id"] == "platform-a-2026"
    assert first["amount_fen"] == 180_000 and first["currency"] == "CNY"
    assert first["reason_codes"] == ["evidence.fabricated"]
    assert first["photos"][0]["fingerprint"] == "0102feff"
    assert len(first["photos"][0]["sha256"]) == 64
    assert records[1]["photos"][0]["fingerprint"] is None
    with transaction(db.sessions) as s:
        history = service.buyer_history(s, db.ctx, world.reviewer, world.buyer_id)
    assert {r["buyer_hash"] for r in records} == {history.identity_hash}
    text = "\n".join(lines)
    personal = [BUYER_CONTACT.name, BUYER_CONTACT.phone, BUYER_CONTACT.address, BUYER_PHONE]
    personal += ["Zhang", "13800138000", "浦东", "cracked", "茶壶", world.buyer_id]
    for plain in personal:
        assert plain not in text, plain
    # --since keeps the later decision only.
    later = _export(db, since=db.clock.now)
    assert [json.loads(line)["claim_id"] for line in later] == fakes[1:]


def test_round_trip_to_another_platform_counts_in_the_buyer_history(
    db: Db, other_sessions: sessionmaker[Session]
) -> None:
    _fraud_world(db)
    lines = _export(db)
    report = import_records(other_sessions, lines, trusted_keys=TRUSTED)
    assert (report.accepted, report.duplicates, report.rejected) == (2, 0, [])
    again = import_records(other_sessions, [*lines, ""], trusted_keys=TRUSTED)
    assert (again.accepted, again.duplicates, again.rejected) == (0, 2, [])
    with transaction(other_sessions) as s:
        assert s.scalar(select(func.count(ExternalFraudRecord.id))) == 2

    settings = get_settings(data_dir=db.ctx.settings.data_dir.parent / "b", fraud_issuer="b")
    ctx_b = ServiceContext.from_settings(settings, clock=db.clock)
    with transaction(other_sessions) as s:
        buyer = service.register_buyer(s, ctx_b, ADMIN, identifier=BUYER_PHONE)
        history = service.buyer_history(s, ctx_b, ADMIN, buyer.id)
    assert (history.claims, history.confirmed_fabricated, history.fabricated_amount_fen) == (
        0,
        0,
        0,
    )
    assert history.external_fabricated == 2
    assert history.external_fabricated_amount_fen == 330_000
    assert history.escalate  # 3,300 CNY across platforms >= 3,000 CNY


def test_tampered_and_unknown_key_lines_are_rejected_and_never_stored(
    db: Db, other_sessions: sessionmaker[Session]
) -> None:
    _fraud_world(db)
    good, second = _export(db)
    tampered = json.loads(good)
    tampered["amount_fen"] = 1
    foreign = _export(db, signing_key=KEY_OTHER, key_id="stranger")[1]
    forged = json.loads(second)
    forged["issuer"] = "platform-x"  # another field changed under the same signature
    forged_body = json.dumps(forged)
    lines = [json.dumps(tampered), foreign, "not json", forged_body, second]
    report = import_records(other_sessions, lines, trusted_keys=TRUSTED)
    assert report.accepted == 1
    assert [n for n, _ in report.rejected] == [1, 2, 3, 4]
    assert "bad signature" in report.rejected[0][1]
    assert "unknown key id" in report.rejected[1][1]
    assert "not JSON" in report.rejected[2][1]
    with transaction(other_sessions) as s:
        stored = s.scalars(select(ExternalFraudRecord)).all()
    assert [(r.claim_ref, r.amount_fen) for r in stored] == [
        (json.loads(second)["claim_id"], 150_000)
    ]


def test_the_signature_covers_the_canonical_json() -> None:
    record = {"b": 1, "a": "茶", "signature": "x"}
    assert canonical_json(record) == '{"a":"茶","b":1}'.encode()


@pytest.fixture
def cli_env(db: Db, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    if db.backend != "sqlite":
        pytest.skip("the command line is exercised on the SQLite data dir")
    data = tmp_path / "cli-data"
    monkeypatch.setenv("VERICLAIM_DATA_DIR", str(data))
    monkeypatch.delenv("VERICLAIM_DATABASE_URL", raising=False)
    monkeypatch.setenv("VERICLAIM_FRAUD_TRUSTED_KEYS", json.dumps(TRUSTED))
    return data


def test_cli_import_and_export(db: Db, cli_env: Path, tmp_path: Path) -> None:
    _fraud_world(db)
    exported = tmp_path / "fraud.jsonl"
    exported.write_text("\n".join(_export(db)) + "\nnot json\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["fraud", "import", str(exported)])
    assert result.exit_code == 0, result.output
    assert "imported 2 records, 0 already held, 1 rejected" in result.stdout
    assert f"{exported}:3: rejected: not JSON" in result.stderr
    result = runner.invoke(app, ["fraud", "import", str(exported)])
    assert "imported 0 records, 2 already held, 1 rejected" in result.stdout

    out = tmp_path / "mine.jsonl"
    result = runner.invoke(
        app, ["fraud", "export", "--since", "2026-01-01T00:00Z", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text("utf-8") == ""  # this platform decided nothing itself
    assert "exported 0 records" in result.stderr
    result = runner.invoke(app, ["fraud", "public-key"])
    assert result.exit_code == 0 and "dev" in json.loads(result.stdout)


def test_cli_import_of_an_unreadable_file_exits_2_naming_it(
    db: Db, cli_env: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.jsonl"
    result = CliRunner().invoke(app, ["fraud", "import", str(missing)])
    assert result.exit_code == 2
    assert str(missing) in result.stderr and len(result.stderr.strip().splitlines()) == 1
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00bad")
    result = CliRunner().invoke(app, ["fraud", "import", str(binary)])
    assert result.exit_code == 2 and str(binary) in result.stderr
    result = CliRunner().invoke(app, ["fraud", "export", "--since", "yesterday"])
    assert result.exit_code == 2
