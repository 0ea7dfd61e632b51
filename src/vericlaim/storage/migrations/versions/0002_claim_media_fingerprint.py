"""Claim media keep their reuse fingerprint (nullable: stored when a claim is analysed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 07:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("claim_media", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("claim_media", schema=None) as batch_op:
        batch_op.drop_column("fingerprint")
