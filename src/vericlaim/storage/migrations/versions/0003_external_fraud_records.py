"""Confirmed-fraud records imported from consortium platforms (signed JSON Lines).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 07:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "external_fraud_records",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("issuer", sa.String(length=100), nullable=False),
        sa.Column("claim_ref", sa.String(length=100), nullable=False),
        sa.Column("identity_hash", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(length=100), nullable=False),
        sa.Column("record_json", sa.Text(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_fraud_records")),
        sa.UniqueConstraint(
            "issuer", "claim_ref", name=op.f("uq_external_fraud_records_issuer_claim_ref")
        ),
    )
    with op.batch_alter_table("external_fraud_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_external_fraud_records_identity_hash"), ["identity_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("external_fraud_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_fraud_records_identity_hash"))
    op.drop_table("external_fraud_records")
