"""Idempotency results stored sealed.

Why: a stored tool-call result names the attendee (name, e-mail, phone) and is kept
24 h for replays; like every other secret it is now encrypted at rest with the
keyring (AES-256-GCM). The clear `result` column stays for rows written before this
migration, which expire within a day; nothing writes it any more.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result_ciphertext", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("result_key_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # Sealed results cannot be opened without the keyring: drop the keys that hold them
    # (a repeat then runs again), as an expired key would be.
    op.execute("DELETE FROM idempotency_keys WHERE result_ciphertext IS NOT NULL")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("result_key_id")
        batch_op.drop_column("result_ciphertext")
