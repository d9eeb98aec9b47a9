"""Idempotency claims are leases.

Why: a claim left `running` by a process that died was taken over only once it was a
minute old, so a repeat after a crash waited that long. A claim now carries the end of
its lease, renewed every few seconds while its call runs; once the lease has lapsed, a
repeat takes the claim over. Claims made before this migration (or by a version
without leases) have none, and are judged by their age as before.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("lease_expires_at")
