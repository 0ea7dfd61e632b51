"""Buyer personal data never reaches the database in plaintext; rotation re-encrypts."""

from __future__ import annotations

import base64
import sqlite3
from dataclasses import replace

from sqlalchemy import select, text

from tests.cases.world import BUYER_CONTACT, BUYER_PHONE, build_world, submit
from tests.dbsupport import Db
from vericlaim.cases import service
from vericlaim.storage.crypto import Keyring
from vericlaim.storage.db import transaction
from vericlaim.storage.tables import Base, Buyer

SECRETS = [
    BUYER_CONTACT.name,
    "Zhang Wei",
    BUYER_CONTACT.phone,
    "8613800138000",
    BUYER_CONTACT.address,
    "世纪大道",
]


def _all_text(db: Db) -> str:
    if db.backend == "sqlite":
        path = db.engine.url.database
        assert path
        db.engine.dispose()
        with sqlite3.connect(path) as connection:
            dump = "\n".join(connection.iterdump())
        return dump
    chunks = []
    with db.engine.connect() as c:
        for table in Base.metadata.sorted_tables:
            for row in c.execute(text(f'SELECT * FROM "{table.name}"')):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


def test_no_plaintext_buyer_name_phone_or_address_in_the_database(db: Db) -> None:
    world = build_world(db)
    submit(db, world)
    dump = _all_text(db)
    assert "buyers" in dump or db.backend == "postgresql"
    for secret in SECRETS:
        assert secret not in dump, secret
    with transaction(db.sessions) as s:
        assert service.buyer_contact(s, db.ctx, world.reviewer, world.buyer_id) == BUYER_CONTACT
        found = service.find_buyer(s, db.ctx, "8613800138000")
    assert found is not None and found.id == world.buyer_id


def test_key_rotation_reencrypts_every_contact(db: Db) -> None:
    world = build_world(db)
    new_key = base64.urlsafe_b64encode(bytes(range(1, 33))).decode()
    old_spec = db.ctx.settings.encryption_keys.get_secret_value()
    db.ctx.keyring = Keyring.parse(f"k2:{new_key},{old_spec}")
    with transaction(db.sessions) as s:
        assert service.reencrypt_buyer_contacts(s, db.ctx) == 1
        assert service.reencrypt_buyer_contacts(s, db.ctx) == 0
        buyer = s.scalars(select(Buyer)).one()
        assert buyer.contact_key_id == "k2"
    db.ctx.keyring = Keyring.parse(f"k2:{new_key}")  # the old key is gone
    with transaction(db.sessions) as s:
        assert service.buyer_contact(s, db.ctx, world.admin, world.buyer_id) == BUYER_CONTACT
    with transaction(db.sessions) as s:  # the same phone, written differently: one buyer
        again = service.register_buyer(
            s,
            db.ctx,
            world.platform,
            identifier=BUYER_PHONE.replace("-", " "),
            contact=replace(BUYER_CONTACT, address="北京"),
        )
    assert again.id == world.buyer_id
