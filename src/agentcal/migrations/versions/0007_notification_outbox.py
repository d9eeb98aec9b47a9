"""The notification outbox, and each function's webhook signing secret.

Why: notifications were named in tool results but never sent. A booking change now
writes its notification to `notifications` in the transaction of its audit record,
and workers deliver it with retries; webhooks are signed with a secret per function.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("function_kind", sa.String(length=32), nullable=False),
        sa.Column("function_id", sa.Uuid(), nullable=False),
        sa.Column("tool_call_id", sa.Uuid(), nullable=True),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("payload_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("payload_key_id", sa.String(length=32), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claim_id", sa.Uuid(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_notifications_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_status_notifications_due_at"),
            ["status", "due_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_institution_id_notifications_created_at"),
            ["institution_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_notifications_function_id"), ["function_id"], unique=False
        )
    with op.batch_alter_table("google_calendar_plugins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("notification_secret_ciphertext", sa.LargeBinary(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("notification_secret_key_id", sa.String(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("google_calendar_plugins", schema=None) as batch_op:
        batch_op.drop_column("notification_secret_key_id")
        batch_op.drop_column("notification_secret_ciphertext")
    op.drop_table("notifications")
