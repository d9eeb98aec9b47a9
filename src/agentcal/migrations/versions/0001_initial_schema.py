"""Initial schema: tenancy, bots, Cal.com integrations and Google Calendar functions.

Why: agentcal's first release. Secrets live in `<name>_ciphertext` + `<name>_key_id`
column pairs (AES-256-GCM, see `agentcal.crypto.keyring`), never in clear. Timestamps are
`timestamptz` on PostgreSQL and UTC text on SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "institutions",
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institutions")),
        sa.UniqueConstraint("name", name=op.f("uq_institutions_name")),
    )
    op.create_table(
        "units",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_units_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        sa.UniqueConstraint("institution_id", "name", name=op.f("uq_units_institution_id_name")),
    )
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_units_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "users",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_users_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("institution_id", "email", name=op.f("uq_users_institution_id_email")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_email"), ["email"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_users_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "access_tokens",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_access_tokens_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_access_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_access_tokens_token_hash")),
    )
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_tokens_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_access_tokens_user_id"), ["user_id"], unique=False)

    op.create_table(
        "bots",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_bots_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["units.id"], name=op.f("fk_bots_unit_id_units"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
    )
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bots_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_bots_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "calcom_integrations",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("calcom_username", sa.String(length=100), nullable=False),
        sa.Column("api_key_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("api_key_key_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_mask", sa.String(length=32), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("check_availability_enabled", sa.Boolean(), nullable=False),
        sa.Column("create_booking_enabled", sa.Boolean(), nullable=False),
        sa.Column("default_event_type_id", sa.BigInteger(), nullable=True),
        sa.Column("default_event_type_slug", sa.String(length=100), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["bots.id"],
            name=op.f("fk_calcom_integrations_bot_id_bots"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_calcom_integrations_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["units.id"],
            name=op.f("fk_calcom_integrations_unit_id_units"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calcom_integrations")),
    )
    with op.batch_alter_table("calcom_integrations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calcom_integrations_bot_id"), ["bot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_calcom_integrations_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_calcom_integrations_unit_id_calcom_integrations_created_at"),
            ["unit_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "functions",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("unity_id", sa.Uuid(), nullable=False),
        sa.Column("bot_id", sa.Uuid(), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("icon_file_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.Boolean(), nullable=False),
        sa.Column("color", sa.String(length=32), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("is_activated", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"], ["bots.id"], name=op.f("fk_functions_bot_id_bots"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_functions_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["unity_id"], ["units.id"], name=op.f("fk_functions_unity_id_units"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_functions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_functions")),
    )
    with op.batch_alter_table("functions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_functions_bot_id"), ["bot_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_functions_institution_id_functions_created_at"),
            ["institution_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_functions_unity_id"), ["unity_id"], unique=False)

    op.create_table(
        "google_calendar_plugins",
        sa.Column("function_id", sa.Uuid(), nullable=False),
        sa.Column("google_id", sa.String(length=64), nullable=False),
        sa.Column("calendar_id", sa.String(length=255), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("google_user", sa.JSON(), nullable=False),
        sa.Column("google_token_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("google_token_key_id", sa.String(length=32), nullable=True),
        sa.Column("google_refresh_token_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("google_refresh_token_key_id", sa.String(length=32), nullable=True),
        sa.Column("notification_type", sa.String(length=16), nullable=True),
        sa.Column("notification_content_type", sa.String(length=16), nullable=True),
        sa.Column("notification_content", sa.Text(), nullable=True),
        sa.Column("notification_delay_ms", sa.Integer(), nullable=False),
        sa.Column("notification_wait_for_speech", sa.Integer(), nullable=False),
        sa.Column("notification_target_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("notification_target_key_id", sa.String(length=32), nullable=True),
        sa.Column("working_hours", sa.JSON(), nullable=False),
        sa.Column("slot_minutes", sa.Integer(), nullable=False),
        sa.Column("min_notice_minutes", sa.Integer(), nullable=False),
        sa.Column("buffer_minutes", sa.Integer(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("check_availability_enabled", sa.Boolean(), nullable=False),
        sa.Column("create_booking_enabled", sa.Boolean(), nullable=False),
        sa.Column("create_meet_link", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["function_id"],
            ["functions.id"],
            name=op.f("fk_google_calendar_plugins_function_id_functions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_google_calendar_plugins")),
        sa.UniqueConstraint("function_id", name=op.f("uq_google_calendar_plugins_function_id")),
    )


def downgrade() -> None:
    op.drop_table("google_calendar_plugins")
    with op.batch_alter_table("functions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_functions_unity_id"))
        batch_op.drop_index(batch_op.f("ix_functions_institution_id_functions_created_at"))
        batch_op.drop_index(batch_op.f("ix_functions_bot_id"))

    op.drop_table("functions")
    with op.batch_alter_table("calcom_integrations", schema=None) as batch_op:
        batch_op.drop_index(
            batch_op.f("ix_calcom_integrations_unit_id_calcom_integrations_created_at")
        )
        batch_op.drop_index(batch_op.f("ix_calcom_integrations_institution_id"))
        batch_op.drop_index(batch_op.f("ix_calcom_integrations_bot_id"))

    op.drop_table("calcom_integrations")
    with op.batch_alter_table("bots", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bots_unit_id"))
        batch_op.drop_index(batch_op.f("ix_bots_institution_id"))

    op.drop_table("bots")
    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_tokens_user_id"))
        batch_op.drop_index(batch_op.f("ix_access_tokens_institution_id"))

    op.drop_table("access_tokens")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_institution_id"))
        batch_op.drop_index(batch_op.f("ix_users_email"))

    op.drop_table("users")
    with op.batch_alter_table("units", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_units_institution_id"))

    op.drop_table("units")
    op.drop_table("institutions")
