"""Voice channels, the index of bookings agentcal made, and each bot's language.

Why: voice platforms (Vapi, Retell, ElevenLabs) call a bot's tools through a channel
of their own, authenticated by a channel secret; a caller asks for "my appointment" by
phone number, so the bookings agentcal makes are indexed by keyed hashes of the
attendee's e-mail and phone; results are written in the bot's language.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _stamps() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("function_kind", sa.String(length=32), nullable=False),
        sa.Column("function_id", sa.Uuid(), nullable=False),
        sa.Column("provider_booking_id", sa.String(length=255), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("email_hmac", sa.String(length=64), nullable=True),
        sa.Column("phone_hmac", sa.String(length=64), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_bookings_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
        sa.UniqueConstraint(
            "function_kind",
            "function_id",
            "provider_booking_id",
            name=op.f("uq_bookings_function_kind_function_id_provider_booking_id"),
        ),
    )
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bookings_function_id_bookings_email_hmac"),
            ["function_id", "email_hmac"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_bookings_function_id_bookings_phone_hmac"),
            ["function_id", "phone_hmac"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_bookings_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "channels",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("secret_digest", sa.String(length=64), nullable=False),
        sa.Column("signing_key_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("signing_key_key_id", sa.String(length=32), nullable=True),
        *_stamps(),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_channels_bot_id_bots"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_channels_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channels")),
    )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_bot_id"), ["bot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_channels_institution_id"), ["institution_id"], unique=False
        )

    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), server_default="en", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_column("language")
    op.drop_table("channels")
    op.drop_table("bookings")
